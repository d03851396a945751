/** QEMU answered a command with `{"error": ...}`. */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    /** QEMU's error class: "GenericError", "CommandNotFound", "DeviceNotFound", ... */
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${command}: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
  }
}

/** A command got no reply, or an awaited event did not arrive, in time. */
export class QmpTimeoutError extends Error {
  constructor(
    /** The command name, or `event NAME`. */
    readonly what: string,
    readonly timeoutMs: number,
    detail = '',
  ) {
    super(`${what}: timed out after ${timeoutMs} ms${detail}`);
    this.name = 'QmpTimeoutError';
  }
}

/** The connection is gone (QEMU exited, the socket closed, or close() was called). */
export class QmpDisconnectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpDisconnectedError';
  }
}

/** connect() could not reach QEMU or the handshake failed. */
export class QmpConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpConnectError';
  }
}

/** The server sent something that is not valid QMP; `line` is what it sent. */
export class QmpProtocolError extends Error {
  constructor(
    message: string,
    readonly line: string,
  ) {
    super(message);
    this.name = 'QmpProtocolError';
  }
}
