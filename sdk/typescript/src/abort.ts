/**
 * Cancellation the garbage collector cannot lose, and the one error an abort becomes.
 *
 * Node 20 holds the sources of `AbortSignal.any()` only weakly, and an
 * `AbortSignal.timeout()` signal is held by its timer only weakly too (nodejs/node#57736): a
 * timeout signal that nothing but a composite refers to can be collected before it fires,
 * and the composite then never aborts. That is how `consume(..., { signal:
 * AbortSignal.timeout(ms) })` once ran on while an `AbortController`'s signal (which its
 * controller keeps alive) stopped it. `linkSignals` listens on every source instead: a
 * pending timeout signal with an abort listener is kept alive until it fires. The listeners
 * are removed by `release()` when the operation ends, so the client's long-lived close signal
 * does not gather one listener per call.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { toNeuralHeatmapError, type NeuralHeatmapError } from "./errors.js";

/** A signal that aborts when any of its sources does, until released. */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** Stops following the sources; call it once the operation has ended. */
  release(): void;
}

/** Links the given signals (undefined ones are skipped); aborted at once if one already is. */
export function linkSignals(...sources: (AbortSignal | undefined)[]): LinkedSignal {
  const ctl = new AbortController();
  const live = sources.filter((s): s is AbortSignal => s !== undefined);
  const release = (): void => {
    for (const s of live) s.removeEventListener("abort", onAbort);
  };
  function onAbort(this: AbortSignal): void {
    ctl.abort(this.reason);
    release();
  }
  const aborted = live.find((s) => s.aborted);
  if (aborted) ctl.abort(aborted.reason);
  else for (const s of live) s.addEventListener("abort", onAbort);
  return { signal: ctl.signal, release };
}

/**
 * What a call the caller aborted rejects with, whatever the abort's reason: a plain
 * `abort()` (an AbortError), `AbortSignal.timeout()` (a TimeoutError), `abort(reason)` with
 * any value, or `client.close()`. The reason is the `cause` of the error's ConnectError
 * cause (`err.cause.cause`).
 */
export function cancelledError(signal: AbortSignal): NeuralHeatmapError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
  return toNeuralHeatmapError(new ConnectError(`cancelled by the caller's signal (${why})`, Code.Canceled, undefined, undefined, reason));
}
