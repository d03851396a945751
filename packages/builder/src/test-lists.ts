/** Which of QEMU's own tests the project runs. */

/** The block unit tests both sides (base and series) have (the series' own test-block-io-hang exists only on one). */
export const SUITE_UNIT_TESTS = ['test-block-backend', 'test-bdrv-drain', 'test-block-iothread'];
/** qos-test paths with one of these nodes run in the qtest suite. */
export const SUITE_QTEST_NODES = /^(virtio-blk|virtio-scsi)\b/;

/** QEMU's own tests that the series adds or must keep passing, on the default and the ASan build. */
export const QEMU_UNIT_TESTS = ['test-block-io-hang', ...SUITE_UNIT_TESTS];
export const QEMU_QTESTS = ['io-hang-test'];
export const QEMU_IOTESTS = ['io-hang'];
