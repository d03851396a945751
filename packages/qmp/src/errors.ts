/** Anything the QMP client reports; catch this one to catch them all (python qmp's QMPError). */
export class QmpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** QEMU answered a command with `{"error": ...}`. */
export class QmpCommandError extends QmpError {
  constructor(
    readonly command: string,
    /** QEMU's error class: "GenericError", "CommandNotFound", "DeviceNotFound", ... */
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}

/** A command got no reply, or an awaited event did not arrive, in time. */
export class QmpTimeoutError extends QmpError {
  constructor(
    /** The command name, or `event NAME`. */
    readonly what: string,
    readonly timeoutMs: number,
    detail = '',
  ) {
    super(`${what}: timed out after ${timeoutMs} ms${detail}`);
  }
}

/** The connection is gone (QEMU exited, the socket closed, or close() was called). */
export class QmpDisconnectedError extends QmpError {}

/** connect() could not reach QEMU or the handshake failed. */
export class QmpConnectError extends QmpError {}

/** The server sent something that is not valid QMP; `line` is what it sent. */
export class QmpProtocolError extends QmpError {
  constructor(
    message: string,
    readonly line: string,
  ) {
    super(message);
  }
}
