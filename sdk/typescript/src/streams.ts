/**
 * Live streams that reopen themselves: heatmap frames, correlation matrices, temporal
 * patterns and `streamUpdates`. They carry the newest state, so a reopened stream simply
 * goes on; the anomaly part of `streamUpdates` resumes after the last sequence it yielded,
 * as the anomaly stream does (anomalies.ts). They reopen on the policy's stream codes
 * (STREAM_RECONNECT_CODES) and on a transport cancel the caller did not ask for, with the
 * shared backoff; the caller's abort (or `client.close()`) ends them without an error; any
 * other failure is thrown as a typed error.
 */
import { Code, ConnectError, type CallOptions as ConnectCallOptions } from "@connectrpc/connect";
import { Backoff, sleep, streamBackoff, type BackoffOptions } from "./backoff.js";
import { toNeuralHeatmapError } from "./errors.js";
import { STREAM_RECONNECT_CODES } from "./policy_gen.js";

const REOPEN = new Set<Code>(STREAM_RECONNECT_CODES);

export interface StreamOptions {
  /** Ends the stream (the loop then finishes without an error). */
  signal?: AbortSignal;
  /** Headers sent with every (re)opened call. */
  headers?: ConnectCallOptions["headers"];
  /** Reopen on transient failures (default true), with this backoff if an object. */
  reconnect?: boolean | Backoff | BackoffOptions;
  /** Told about every reopening: the failure and the wait before it. */
  onReconnect?: (error: ConnectError, delayMs: number) => void;
}

/** Opens the stream once; `progress()` tells the loop a message arrived (resets the backoff). */
export type OpenStream<T> = (signal: AbortSignal, progress: () => void) => AsyncIterable<T>;

/** Yields what `open` yields, reopening it per the policy until the caller stops. */
export async function* reopening<T>(open: OpenStream<T>, opts: StreamOptions): AsyncGenerator<T, void, undefined> {
  const outer = opts.signal;
  const reconnect = opts.reconnect ?? true;
  const backoff = streamBackoff(typeof reconnect === "object" ? reconnect : undefined);
  let failures = 0;
  while (!outer?.aborted) {
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(outer?.reason);
    outer?.addEventListener("abort", onAbort, { once: true });
    let error: ConnectError;
    try {
      yield* open(ctl.signal, () => {
        failures = 0;
      });
      error = new ConnectError("stream ended", Code.Unavailable);
    } catch (e) {
      if (outer?.aborted) return;
      error = ConnectError.from(e);
      // connect-node reports a connection that died under the stream as CANCELED.
      const transportCancel = error.code === Code.Canceled && !ctl.signal.aborted;
      if (reconnect === false || (!REOPEN.has(error.code) && !transportCancel)) throw toNeuralHeatmapError(error);
    } finally {
      outer?.removeEventListener("abort", onAbort);
      ctl.abort();
    }
    if (reconnect === false) return;
    if (failures >= backoff.maxAttempts) throw toNeuralHeatmapError(error);
    const delay = backoff.delayMs(failures++);
    opts.onReconnect?.(error, delay);
    try {
      await sleep(delay, outer);
    } catch {
      return;
    }
  }
}
