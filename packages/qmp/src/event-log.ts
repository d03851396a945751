/**
 * Every event since connect, in order, and ways to wait for them. A wait first searches what
 * has arrived, then listens, within one synchronous step, so an event that arrived before the
 * call cannot be missed.
 */
import { QmpDisconnectedError, QmpProtocolError, QmpTimeoutError } from './errors.ts';
import type { EventData, KnownEventName, QmpTimestamp } from './schema.ts';

export interface QmpEvent<N extends string = string, D = Record<string, unknown>> {
  /** Position in the log: 0 for the first event after connect, then +1 per event. */
  seq: number;
  event: N;
  data: D;
  /** QEMU's clock when it emitted the event. */
  timestamp: QmpTimestamp;
}

/** QEMU's wall clock for an event, ms since the epoch (the same clock as Date.now()). */
export function eventMs(e: Pick<QmpEvent, 'timestamp'>): number {
  return e.timestamp.seconds * 1000 + e.timestamp.microseconds / 1000;
}

/** What waitEvent() resolves to: typed `data` for known events. */
export type EventFor<N extends string> = N extends KnownEventName ? QmpEvent<N, EventData<N>> : QmpEvent;

export interface WaitEventOptions<E> {
  predicate?: (e: E) => boolean;
  /** Default 30 000. */
  timeoutMs?: number;
  /** Only events with seq >= since count (from mark()); default 0, i.e. all. */
  since?: number;
}

export class EventLog {
  readonly #events: QmpEvent[] = [];
  /** seq -> why a known event's data failed its schema. */
  readonly #invalid = new Map<number, string>();
  /** Called after every push and on close. */
  readonly #listeners = new Set<() => void>();
  #closed: string | undefined;

  all(): readonly QmpEvent[] {
    return this.#events;
  }

  /** The seq the next event will get. */
  mark(): number {
    return this.#events.length;
  }

  push(event: Omit<QmpEvent, 'seq'>, invalid?: string): void {
    const seq = this.#events.length;
    this.#events.push({ seq, ...event });
    if (invalid !== undefined) this.#invalid.set(seq, invalid);
    for (const l of [...this.#listeners]) l();
  }

  /** No more events will come; waits that found nothing reject with `why`. */
  close(why: string): void {
    this.#closed ??= why;
    for (const l of [...this.#listeners]) l();
  }

  wait<N extends string>(name: N, opts: WaitEventOptions<EventFor<N>> = {}): Promise<EventFor<N>> {
    const { predicate, timeoutMs = 30_000, since = 0 } = opts;
    return new Promise((resolve, reject) => {
      let next = since;
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        fn();
      };
      // Looks at every event not looked at yet; settles the promise on a match or on close.
      const check = () => {
        try {
          for (; next < this.#events.length; next++) {
            const e = this.#events[next]!;
            if (e.event !== name) continue;
            const invalid = this.#invalid.get(e.seq);
            if (invalid !== undefined) throw new QmpProtocolError(`event ${name} (seq ${e.seq}): ${invalid}`, JSON.stringify(e));
            if (!predicate || predicate(e as EventFor<N>)) return finish(() => resolve(e as EventFor<N>));
          }
        } catch (err) {
          return finish(() => reject(err));
        }
        if (this.#closed !== undefined) {
          finish(() => reject(new QmpDisconnectedError(`event ${name}: ${this.#closed}; ${this.#arrivedSince(since)}`)));
        }
      };
      const timer = setTimeout(
        () => finish(() => reject(new QmpTimeoutError(`event ${name}`, timeoutMs, `; ${this.#arrivedSince(since)}`))),
        timeoutMs,
      );
      this.#listeners.add(check);
      check();
    });
  }

  /** Events from `since` on, then new ones as they arrive; ends after close(). */
  async *stream(since = 0): AsyncGenerator<QmpEvent> {
    for (let next = since; ; ) {
      while (next < this.#events.length) yield this.#events[next++]!;
      if (this.#closed !== undefined) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#listeners.delete(wake);
          resolve();
        };
        this.#listeners.add(wake);
      });
    }
  }

  #arrivedSince(since: number): string {
    const names = this.#events.slice(since).map((e) => e.event);
    return `events since seq ${since}: ${names.length ? names.join(', ') : '(none)'}`;
  }
}
