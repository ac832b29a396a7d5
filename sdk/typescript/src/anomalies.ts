/**
 * A resumable anomaly stream: remembers the last sequence it yielded and, when the stream
 * breaks with a transient status (UNAVAILABLE, ...), reconnects with backoff asking for
 * everything after that sequence. Nothing is yielded twice and nothing is skipped.
 *
 * Liveness: the bridge sends a heartbeat whenever the stream has been idle for a few
 * seconds (--heartbeat-interval, default 2 s), and ends a stream stuck behind the log head
 * with UNAVAILABLE. Heartbeats are never yielded. Once one was seen, a stream
 * that brings neither an anomaly nor a heartbeat for `idleTimeoutMs` is reopened too.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Anomaly } from "./gen/neural_heatmap/v1/analytics_pb.js";
import type { SubscribeAnomaliesResponse } from "./gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { Backoff, sleep, streamBackoff, type BackoffOptions } from "./backoff.js";
import { DEFAULT_IDLE_TIMEOUT_MS, STREAM_RECONNECT_CODES } from "./policy_gen.js";

/**
 * Status codes after which the stream is reopened (the bridge or server went away, or
 * ended the stream with a transient failure): the policy every client shares.
 */
export const RESUMABLE_CODES: ReadonlySet<Code> = new Set(STREAM_RECONNECT_CODES);

/** Opens one subscription that replays everything after `afterSequence` (all new ones when undefined). */
export type OpenAnomalyStream = (
  afterSequence: bigint | undefined,
  signal: AbortSignal,
) => AsyncIterable<SubscribeAnomaliesResponse>;

export interface ResumeOptions {
  /** Resume after this sequence; undefined means only anomalies logged from now on. */
  afterSequence?: bigint;
  /**
   * Called once, before the first subscription, when afterSequence is undefined: returns
   * the log's newest sequence so that a reconnect before the first anomaly loses nothing.
   */
  headSequence?: () => Promise<bigint>;
  backoff?: Backoff | BackoffOptions;
  /** Stops the stream; the iterator then ends without an error. */
  signal?: AbortSignal;
  /**
   * Reopen a stream that brought neither an anomaly nor a heartbeat for this many
   * milliseconds, once the bridge has sent one heartbeat (default DEFAULT_IDLE_TIMEOUT_MS,
   * 15000; 0: no bound).
   */
  idleTimeoutMs?: number;
  /** Told about every reconnect (the error and the delay before it). */
  onReconnect?: (error: ConnectError, delayMs: number, afterSequence: bigint | undefined) => void;
}

export function isResumable(err: unknown): boolean {
  return RESUMABLE_CODES.has(ConnectError.from(err).code);
}

/** Yields anomalies in ascending sequence, exactly once each, across reconnects. */
export async function* resumableAnomalies(
  open: OpenAnomalyStream,
  opts: ResumeOptions = {},
): AsyncGenerator<Anomaly, void, undefined> {
  const backoff = streamBackoff(opts.backoff);
  const outer = opts.signal;
  let last = opts.afterSequence;
  if (last === undefined && opts.headSequence) last = await opts.headSequence();
  let failures = 0;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  let armed = false; // a heartbeat was seen: silence now means "stuck"
  while (!outer?.aborted) {
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(outer?.reason);
    outer?.addEventListener("abort", onAbort, { once: true });
    let idled = false;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const rearm = (): void => {
      clearTimeout(watchdog);
      if (armed && idleMs > 0) {
        watchdog = setTimeout(() => {
          idled = true;
          ctl.abort();
        }, idleMs);
      }
    };
    let error: ConnectError;
    try {
      for await (const resp of open(last, ctl.signal)) {
        if (resp.heartbeat !== undefined) {
          armed = true;
          failures = 0;
        }
        rearm();
        for (const a of resp.update?.anomalies ?? []) {
          if (last !== undefined && a.sequence <= last) continue; // replayed twice: skip
          last = a.sequence;
          failures = 0;
          yield a;
          if (outer?.aborted) return;
        }
      }
      // The server ended the stream without an error: open it again after the last one.
      error = new ConnectError("anomaly stream ended", Code.Unavailable);
    } catch (e) {
      if (outer?.aborted) return;
      error = idled
        ? new ConnectError(`no anomaly and no heartbeat for ${idleMs} ms: the stream is stuck`, Code.Unavailable)
        : ConnectError.from(e);
      // connect-node reports a connection that died under the stream (the bridge was killed,
      // an HTTP/2 RST_STREAM CANCEL or GOAWAY) as CANCELED; we did not cancel, so resume.
      const transportCancel = error.code === Code.Canceled && !ctl.signal.aborted;
      if (!RESUMABLE_CODES.has(error.code) && !transportCancel) throw error;
    } finally {
      clearTimeout(watchdog);
      outer?.removeEventListener("abort", onAbort);
      ctl.abort();
    }
    if (failures >= backoff.maxAttempts) throw error;
    const delay = backoff.delayMs(failures++);
    opts.onReconnect?.(error, delay, last);
    try {
      await sleep(delay, outer);
    } catch {
      return;
    }
  }
}
