/**
 * Arguments and results of the commands iohang uses, after QEMU 10.0's qapi/*.json.
 * Results are typed, not validated: QEMU is the authority on its own replies, and the
 * structs list only the members we read (QEMU sends more).
 */

export type RunState =
  | 'debug'
  | 'inmigrate'
  | 'internal-error'
  | 'io-error'
  | 'paused'
  | 'postmigrate'
  | 'prelaunch'
  | 'finish-migrate'
  | 'restore-vm'
  | 'running'
  | 'save-vm'
  | 'shutdown'
  | 'suspended'
  | 'watchdog'
  | 'guest-panicked'
  | 'colo';

export interface StatusInfo {
  running: boolean;
  status: RunState;
}

export interface VersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface BlockDeviceInfo {
  file: string;
  'node-name'?: string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  active: boolean;
  encrypted: boolean;
  image: { filename: string; format: string; 'virtual-size': number; [member: string]: unknown };
}

/** The errors that I/O hang may park (the series' BlockIOHangError). */
export type BlockIOHangError = 'eio' | 'enospc' | 'etimedout' | 'enotconn' | 'econnreset' | 'eshutdown';

/** One direction's settings and state (BlockIOHangDirection). */
export interface BlockIOHangDirection {
  timeout: number;
  'retry-interval': number;
  'timed-out': boolean;
}

/** The I/O hang series' BlockIOHangInfo (query-block, present while I/O hang is on). */
export interface BlockIOHangInfo {
  read: BlockIOHangDirection;
  write: BlockIOHangDirection;
  errors: BlockIOHangError[];
  hung: boolean;
  'hung-since'?: number;
  'parked-requests': number;
  'timed-out': boolean;
}

export interface BlockInfo {
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
  tray_open?: boolean;
  'io-status'?: 'ok' | 'failed' | 'nospace';
  'io-hang'?: BlockIOHangInfo;
}

/** BlockdevOptions: a union over ~50 drivers; the driver's own members go alongside. */
export interface BlockdevOptions {
  driver: string;
  'node-name'?: string;
  [member: string]: unknown;
}

type Empty = Record<string, never>;

/** Known commands: `args: undefined` means the command takes no arguments. */
export interface QmpCommands {
  qmp_capabilities: { args: { enable?: string[] } | undefined; result: Empty };
  'query-status': { args: undefined; result: StatusInfo };
  'query-block': { args: undefined; result: BlockInfo[] };
  'query-named-block-nodes': { args: { flat?: boolean } | undefined; result: BlockDeviceInfo[] };
  'query-version': { args: undefined; result: VersionInfo };
  stop: { args: undefined; result: Empty };
  cont: { args: undefined; result: Empty };
  quit: { args: undefined; result: Empty };
  'blockdev-add': { args: BlockdevOptions; result: Empty };
  'blockdev-del': { args: { 'node-name': string }; result: Empty };
  'blockdev-reopen': { args: { options: BlockdevOptions[] }; result: Empty };
  /** The I/O hang series: change settings at run time; absent members keep their value. */
  'block-io-hang-set': {
    args: {
      id: string;
      enable?: boolean;
      timeout?: number;
      'retry-interval'?: number;
      'read-timeout'?: number;
      'write-timeout'?: number;
      'read-retry-interval'?: number;
      'write-retry-interval'?: number;
      errors?: BlockIOHangError[];
    };
    result: Empty;
  };
  /** The I/O hang series: send a parked request now (the others follow if it succeeds). */
  'block-io-hang-retry': { args: { id: string }; result: Empty };
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; result: string };
}

export type KnownCommand = keyof QmpCommands;

export interface ExecuteOptions {
  /** Default 30 000. */
  timeoutMs?: number;
}

/** execute()'s parameters after the command name: typed for known commands. */
export type ExecuteArgs<C extends string> = C extends KnownCommand
  ? undefined extends QmpCommands[C]['args']
    ? [args?: QmpCommands[C]['args'], opts?: ExecuteOptions]
    : [args: QmpCommands[C]['args'], opts?: ExecuteOptions]
  : [args?: Record<string, unknown>, opts?: ExecuteOptions];

export type ExecuteResult<C extends string> = C extends KnownCommand ? QmpCommands[C]['result'] : unknown;
