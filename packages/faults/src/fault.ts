/**
 * What every fault injector is to a test: begin() makes the storage fail, end() makes it
 * work again (both idempotent), and disposing of it frees what it holds (a filter node, a
 * daemon, a network namespace), ending the fault first if it is on.
 */
export interface Fault extends AsyncDisposable {
  begin(): Promise<void>;
  end(): Promise<unknown>;
}
