/**
 * Retrying idempotent calls: the policy every client shares (protos/policy/, generated into
 * policy_gen.ts). Only calls the protos declare idempotent (RETRY_SAFE) are retried
 * (queries, the Set and Clear calls that replace view state, exports that rewrite the same
 * file, a download that has not delivered a byte yet); `IngestActivations` never is, since
 * a repeat could store frames twice. Only the policy's transient codes (UNAVAILABLE,
 * DEADLINE_EXCEEDED) are retried, with the policy's backoff, until the call's `timeoutMs`
 * (or `RetryOptions.deadlineMs`) is spent.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Backoff, sleep, type BackoffOptions } from "./backoff.js";
import { DEFAULT_RETRY_DEADLINE_MS, UNARY_RETRY_CODES } from "./policy_gen.js";

export interface RetryOptions extends BackoffOptions {
  /** Overall time for all attempts when the call sets no `timeoutMs` (default DEFAULT_RETRY_DEADLINE_MS). */
  deadlineMs?: number;
  /** Codes that count as transient (default: the policy's UNARY_RETRY_CODES). */
  codes?: readonly Code[];
  /** Told before every retry: the failure and the wait. */
  onRetry?: (error: ConnectError, delayMs: number, attempt: number) => void;
}

/** One attempt: gets the time left of the overall budget (undefined: no deadline). */
export type Attempt<T> = (timeoutMs: number | undefined) => Promise<T>;

/**
 * Runs `attempt` until it succeeds, fails with a code the policy does not retry, or the
 * time is spent. `retry: false` makes exactly one attempt. The caller's abort ends it at once.
 */
export async function withRetry<T>(
  attempt: Attempt<T>,
  retry: RetryOptions | false,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (retry === false) return attempt(timeoutMs);
  const codes = new Set(retry.codes ?? UNARY_RETRY_CODES);
  const backoff = new Backoff(retry);
  const budget = timeoutMs ?? retry.deadlineMs ?? DEFAULT_RETRY_DEADLINE_MS;
  const end = Date.now() + budget;
  for (let n = 0; ; n++) {
    try {
      return await attempt(timeoutMs === undefined ? undefined : Math.max(1, end - Date.now()));
    } catch (e) {
      const err = ConnectError.from(e);
      const delay = backoff.delayMs(n);
      if (signal?.aborted || !codes.has(err.code) || n + 1 >= backoff.maxAttempts || end - Date.now() <= delay) {
        throw e;
      }
      retry.onRetry?.(err, delay, n + 1);
      await sleep(delay, signal);
    }
  }
}
