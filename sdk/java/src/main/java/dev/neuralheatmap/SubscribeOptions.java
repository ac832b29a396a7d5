package dev.neuralheatmap;

import dev.neuralheatmap.v1.Severity;
import java.time.Duration;
import java.util.List;

/**
 * What {@link NeuralHeatmapClient#subscribeAnomalies} streams and how it recovers. Immutable;
 * each {@code with...} returns a copy:
 *
 * <pre>{@code
 * SubscribeOptions.defaults().afterSequence(0).modelIds("mlp-a").minSeverity(Severity.SEVERITY_HIGH)
 * }</pre>
 *
 * @param afterSequence deliver every anomaly after this sequence (a replay first); null means
 *     only new ones: the stream then starts after the log head it reads first, so even a
 *     reconnect before the first anomaly loses nothing
 * @param minSeverity only this severity or worse; unspecified means any
 * @param modelIds only these models; empty means every model
 * @param backoff waits between reconnects (and, with {@code maxAttempts}, how many in a row)
 * @param idleTimeout reopen a stream that brought neither an anomaly nor a heartbeat for this
 *     long, once it has seen one heartbeat (the bridge sends one every 2 s of silence, so such a
 *     stream is stuck, not quiet); zero or negative means no bound
 * @param onReconnect told about every reconnect, or null
 */
public record SubscribeOptions(
    Long afterSequence,
    Severity minSeverity,
    List<String> modelIds,
    Backoff backoff,
    Duration idleTimeout,
    ReconnectListener onReconnect) {

  /** The idle bound every SDK uses by default ({@link Policy#STREAM_IDLE_TIMEOUT}). */
  public static final Duration DEFAULT_IDLE_TIMEOUT = Policy.STREAM_IDLE_TIMEOUT;

  /** Told before each reconnect. */
  @FunctionalInterface
  public interface ReconnectListener {
    /**
     * A stream broke and is about to be reopened.
     *
     * @param cause why it broke (an UNAVAILABLE one for a clean end or an idle stream)
     * @param delay the wait before reopening
     * @param afterSequence the sequence it resumes after
     */
    void reconnecting(NeuralHeatmapException cause, Duration delay, long afterSequence);
  }

  /** Copies the model ids so later changes to the caller's list do not leak in. */
  public SubscribeOptions {
    modelIds = List.copyOf(modelIds);
  }

  /**
   * Only new anomalies, any severity and model, the shared backoff ({@link
   * Backoff#STREAM_DEFAULT}) and the shared idle bound.
   */
  public static SubscribeOptions defaults() {
    return new SubscribeOptions(
        null,
        Severity.SEVERITY_UNSPECIFIED,
        List.of(),
        Backoff.STREAM_DEFAULT,
        DEFAULT_IDLE_TIMEOUT,
        null);
  }

  /** Resume after this sequence. */
  public SubscribeOptions afterSequence(long sequence) {
    return new SubscribeOptions(sequence, minSeverity, modelIds, backoff, idleTimeout, onReconnect);
  }

  /** Only this severity or worse. */
  public SubscribeOptions minSeverity(Severity severity) {
    return new SubscribeOptions(afterSequence, severity, modelIds, backoff, idleTimeout, onReconnect);
  }

  /** Only these models. */
  public SubscribeOptions modelIds(String... ids) {
    return new SubscribeOptions(afterSequence, minSeverity, List.of(ids), backoff, idleTimeout, onReconnect);
  }

  /** Another backoff between reconnects. */
  public SubscribeOptions backoff(Backoff b) {
    return new SubscribeOptions(afterSequence, minSeverity, modelIds, b, idleTimeout, onReconnect);
  }

  /** Another idle bound (zero: none). */
  public SubscribeOptions idleTimeout(Duration timeout) {
    return new SubscribeOptions(afterSequence, minSeverity, modelIds, backoff, timeout, onReconnect);
  }

  /** A listener told about every reconnect. */
  public SubscribeOptions onReconnect(ReconnectListener listener) {
    return new SubscribeOptions(afterSequence, minSeverity, modelIds, backoff, idleTimeout, listener);
  }
}
