/**
 * An error a user can act on: what went wrong, and how to fix it.
 * The CLI prints `message`, then `fix`, and exits non-zero without a stack trace.
 */
export class IohangError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'IohangError';
  }
}
