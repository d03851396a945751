/**
 * Zod schemas for what a QMP server sends (docs/interop/qmp-spec.rst in QEMU) and for the
 * `data` of the events iohang waits for (qapi/*.json in QEMU 10.0, plus the events the
 * iohang series adds). Event data objects are loose: a field QEMU adds later is kept, not
 * rejected.
 */
import { z } from 'zod';

const versionTriple = z.object({ major: z.number().int(), minor: z.number().int(), micro: z.number().int() });

export const greetingSchema = z.object({
  QMP: z.object({
    version: z.object({ qemu: versionTriple, package: z.string() }),
    capabilities: z.array(z.string()),
  }),
});
export type QmpGreeting = z.infer<typeof greetingSchema>;

// Every command we send carries a string id; QEMU echoes it back verbatim.
const id = z.string().optional();

export const returnSchema = z.object({ return: z.unknown(), id });

export const errorSchema = z.object({
  error: z.object({ class: z.string(), desc: z.string() }),
  id,
});

const timestamp = z.object({ seconds: z.number().int(), microseconds: z.number().int() });
export type QmpTimestamp = z.infer<typeof timestamp>;

export const eventSchema = z.object({
  event: z.string(),
  // Events without members (STOP, RESUME) have no `data` at all.
  data: z.record(z.string(), z.unknown()).default({}),
  timestamp,
});

export type QmpMessage =
  | { kind: 'greeting'; greeting: QmpGreeting }
  | { kind: 'return'; id: string | undefined; value: unknown }
  | { kind: 'error'; id: string | undefined; errorClass: string; desc: string }
  | { kind: 'event'; event: string; data: Record<string, unknown>; timestamp: QmpTimestamp };

/** Classifies one decoded JSON message; throws an Error saying what is wrong with it. */
export function parseMessage(json: unknown): QmpMessage {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
  const check = <T>(schema: z.ZodType<T>, kind: string): T => {
    const r = schema.safeParse(json);
    if (!r.success) throw new Error(`malformed ${kind}: ${z.prettifyError(r.error)}`);
    return r.data;
  };
  if ('event' in json) return { kind: 'event', ...check(eventSchema, 'event') };
  if ('return' in json) {
    const m = check(returnSchema, 'reply');
    return { kind: 'return', id: m.id, value: m.return };
  }
  if ('error' in json) {
    const m = check(errorSchema, 'error reply');
    return { kind: 'error', id: m.id, errorClass: m.error.class, desc: m.error.desc };
  }
  if ('QMP' in json) return { kind: 'greeting', greeting: check(greetingSchema, 'greeting') };
  throw new Error('neither a reply, an error, an event nor a greeting');
}

const qomDevice = { 'qom-path': z.string(), device: z.string(), 'node-name': z.string().optional() };

/** `data` of the events we use, by event name. */
export const eventDataSchemas = {
  BLOCK_IO_ERROR: z.looseObject({
    ...qomDevice,
    operation: z.enum(['read', 'write']),
    action: z.enum(['ignore', 'report', 'stop']),
    nospace: z.boolean().optional(),
    reason: z.string(),
  }),
  STOP: z.looseObject({}),
  RESUME: z.looseObject({}),
  SHUTDOWN: z.looseObject({
    guest: z.boolean(),
    reason: z.enum([
      'none',
      'host-error',
      'host-qmp-quit',
      'host-qmp-system-reset',
      'host-signal',
      'host-ui',
      'guest-shutdown',
      'guest-reset',
      'guest-panic',
      'subsystem-reset',
      'snapshot-load',
    ]),
  }),
  JOB_STATUS_CHANGE: z.looseObject({
    id: z.string(),
    status: z.enum(['undefined', 'created', 'running', 'paused', 'ready', 'standby', 'waiting', 'pending', 'aborting', 'concluded', 'null']),
  }),
  BLOCK_JOB_COMPLETED: z.looseObject({
    type: z.enum(['commit', 'stream', 'mirror', 'backup', 'create', 'amend', 'snapshot-load', 'snapshot-save', 'snapshot-delete']),
    device: z.string(),
    len: z.number().int(),
    offset: z.number().int(),
    speed: z.number().int(),
    error: z.string().optional(),
  }),
  // QEMU 10.0's BLOCK_JOB_ERROR carries the failed operation and the action taken, not progress.
  BLOCK_JOB_ERROR: z.looseObject({
    device: z.string(),
    operation: z.enum(['read', 'write']),
    action: z.enum(['ignore', 'report', 'stop']),
  }),
  // Added by the iohang series (patches/).
  BLOCK_IO_HANG: z.looseObject({ ...qomDevice, set: z.boolean() }),
  BLOCK_IO_HANG_TIMEOUT: z.looseObject({ ...qomDevice, set: z.boolean() }),
};

export type KnownEventName = keyof typeof eventDataSchemas;
export type EventData<N extends KnownEventName> = z.infer<(typeof eventDataSchemas)[N]>;

export function isKnownEvent(name: string): name is KnownEventName {
  return Object.hasOwn(eventDataSchemas, name);
}

/** Validates the `data` of a known event; throws an Error naming the bad fields. */
export function parseEvent<N extends KnownEventName>(name: N, data: unknown): EventData<N> {
  const r = eventDataSchemas[name].safeParse(data);
  if (!r.success) throw new Error(`${name} data does not match its schema: ${z.prettifyError(r.error)}`);
  return r.data as EventData<N>;
}
