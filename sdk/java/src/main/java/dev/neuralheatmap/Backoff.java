package dev.neuralheatmap;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The wait before a retry or a reconnect: before retry number {@code n} (0-based) the cap is
 * {@code min(max, initial * multiplier^n)}, and the share {@code jitter} of it is drawn at random
 * ({@code wait = cap * (1 - jitter * r)}, {@code r} uniform in [0, 1)), so clients that lost the
 * bridge together do not come back in lockstep.
 *
 * @param initial the first cap
 * @param max the largest cap
 * @param multiplier growth of the cap per failed attempt (at least 1)
 * @param jitter share of each wait drawn at random, 0 (none) to 1 (full)
 * @param maxAttempts retries (or reconnects) in a row, without progress, before giving up; 0
 *     means no bound (for unary calls the call's deadline still bounds them)
 */
public record Backoff(
    Duration initial, Duration max, double multiplier, double jitter, int maxAttempts) {

  /** The policy every client shares (protos/policy/retry.json, generated into {@link Policy}). */
  public static final Backoff DEFAULT =
      new Backoff(
          Policy.BACKOFF_INITIAL, Policy.BACKOFF_MAX, Policy.BACKOFF_MULTIPLIER, Policy.BACKOFF_JITTER, 0);

  /**
   * The default of live streams and durable consumers: {@link #DEFAULT}, giving up after {@link
   * Policy#STREAM_RECONNECT_LIMIT} reconnects in a row without progress (as every SDK).
   */
  public static final Backoff STREAM_DEFAULT = DEFAULT.withMaxAttempts(Policy.STREAM_RECONNECT_LIMIT);

  /** Checks the numbers, so a bad policy fails where it is made rather than at the first retry. */
  public Backoff {
    if (initial.isNegative() || max.compareTo(initial) < 0 || multiplier < 1) {
      throw new IllegalArgumentException("backoff needs 0 <= initial <= max and multiplier >= 1");
    }
    if (jitter < 0 || jitter > 1 || maxAttempts < 0) {
      throw new IllegalArgumentException("backoff needs 0 <= jitter <= 1 and maxAttempts >= 0");
    }
  }

  /** This backoff with another bound on consecutive failed attempts (0: none). */
  public Backoff withMaxAttempts(int attempts) {
    return new Backoff(initial, max, multiplier, jitter, attempts);
  }

  /** The wait before retry number {@code attempt} (0-based). */
  public Duration delay(int attempt) {
    double cap = initial.toNanos() * Math.pow(multiplier, attempt);
    if (cap > max.toNanos() || Double.isInfinite(cap)) {
      cap = max.toNanos();
    }
    double r = ThreadLocalRandom.current().nextDouble();
    return Duration.ofNanos((long) (cap * (1 - jitter * r)));
  }

  /** Whether another retry is allowed after {@code failures} retries in a row. */
  boolean allows(int failures) {
    return maxAttempts == 0 || failures < maxAttempts;
  }
}
