import type { Fault } from './fault.ts';
import type { LinkEnd, NetnsLink } from './netns-link.ts';

/**
 * Network storage whose server lives at the far end of a NetnsLink: a test takes the link
 * down and brings it back, which is also its Fault (the storage end goes down). Disposing
 * of it stops the server and deletes the namespaces.
 */
export abstract class LinkStorage implements Fault {
  protected constructor(readonly link: NetnsLink) {}

  /** Prefix for a command that must run in the link's host namespace (and talk TCP over the link). */
  get wrapCommand(): string[] {
    return this.link.wrapCommand;
  }

  /** Take the link down (default: the storage end; the host end then has no carrier). */
  cut(end: LinkEnd = 'storage'): void {
    this.link.cut(end);
  }

  restore(end: LinkEnd = 'storage'): void {
    this.link.restore(end);
  }

  async begin(): Promise<void> {
    this.cut();
  }

  async end(): Promise<void> {
    this.restore();
  }

  /** Stop the server and delete the namespaces; it is an error if the server had died. Idempotent. */
  abstract stop(): Promise<void>;

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
