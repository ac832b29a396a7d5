/**
 * Exponential backoff with jitter for reconnecting streams. The defaults are the policy
 * every client shares (protos/policy/retry.json, generated into policy_gen.ts).
 */
import {
  BACKOFF_INITIAL_MS,
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_MULTIPLIER,
  STREAM_RECONNECT_LIMIT,
} from "./policy_gen.js";

export interface BackoffOptions {
  /** First delay in milliseconds (default: the policy's, 100). */
  initialMs?: number;
  /** Largest delay in milliseconds (default: the policy's, 5000). */
  maxMs?: number;
  /** Growth per attempt (default: the policy's, 2). */
  multiplier?: number;
  /**
   * Fraction of the delay drawn at random, 0..1: delay * (1 - jitter * r). Default: the
   * policy's equal jitter, 0.5 (each delay in [cap/2, cap]).
   */
  jitter?: number;
  /**
   * Give up after this many consecutive failed attempts (default Infinity; live streams and
   * consumers: STREAM_RECONNECT_LIMIT).
   */
  maxAttempts?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  readonly jitter: number;
  readonly maxAttempts: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? BACKOFF_INITIAL_MS;
    this.maxMs = opts.maxMs ?? BACKOFF_MAX_MS;
    this.multiplier = opts.multiplier ?? BACKOFF_MULTIPLIER;
    this.jitter = Math.min(Math.max(opts.jitter ?? BACKOFF_JITTER, 0), 1);
    this.maxAttempts = opts.maxAttempts ?? Number.POSITIVE_INFINITY;
    this.random = opts.random ?? Math.random;
    if (this.initialMs < 0 || this.maxMs < this.initialMs || this.multiplier < 1) {
      throw new RangeError("backoff needs 0 <= initialMs <= maxMs and multiplier >= 1");
    }
  }

  /** Delay before retry number `attempt` (0-based), never above maxMs. */
  delayMs(attempt: number): number {
    const base = Math.min(this.maxMs, this.initialMs * Math.pow(this.multiplier, Math.max(0, attempt)));
    return Math.round(base * (1 - this.jitter * this.random()));
  }
}

/**
 * The backoff of a live stream or durable consumer: `opts` as given, or the policy's with
 * maxAttempts defaulting to STREAM_RECONNECT_LIMIT consecutive failed reopenings (as every SDK).
 */
export function streamBackoff(opts?: Backoff | BackoffOptions): Backoff {
  return opts instanceof Backoff ? opts : new Backoff({ maxAttempts: STREAM_RECONNECT_LIMIT, ...opts });
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
