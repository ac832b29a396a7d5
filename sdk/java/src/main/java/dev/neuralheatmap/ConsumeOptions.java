package dev.neuralheatmap;

import dev.neuralheatmap.v1.Severity;
import java.util.List;
import java.util.Objects;

/**
 * How {@link NeuralHeatmapClient#consume} subscribes and recovers. Immutable; each
 * method below returns a changed copy:
 *
 * <pre>{@code
 * ConsumeOptions.defaults().shared(true)               // a member of the group
 * ConsumeOptions.defaults().modelIds("mlp-a").minSeverity(Severity.SEVERITY_HIGH)
 * }</pre>
 *
 * @param shared join the consumer group of that name: each anomaly goes to one member, and one
 *     not acknowledged within the group's ack deadline goes to another member
 * @param minSeverity only this severity or worse; unspecified means any (plain consumers only:
 *     the bridge refuses a filter on a group, whose every member must be able to take every
 *     anomaly)
 * @param modelIds only these models; empty means every model (plain consumers only)
 * @param backoff waits between reopenings of the stream (and, with {@code maxAttempts}, how
 *     many in a row before giving up)
 */
public record ConsumeOptions(
    boolean shared, Severity minSeverity, List<String> modelIds, Backoff backoff) {

  /** Copies the model ids so later changes to the caller's list do not leak in. */
  public ConsumeOptions {
    Objects.requireNonNull(minSeverity, "minSeverity");
    Objects.requireNonNull(backoff, "backoff");
    modelIds = List.copyOf(modelIds);
  }

  /**
   * A plain consumer of every anomaly, reopening with the shared backoff up to {@link
   * Policy#STREAM_RECONNECT_LIMIT} times in a row ({@link Backoff#STREAM_DEFAULT}).
   */
  public static ConsumeOptions defaults() {
    return new ConsumeOptions(
        false, Severity.SEVERITY_UNSPECIFIED, List.of(), Backoff.STREAM_DEFAULT);
  }

  /** A member of the consumer group ({@code true}) or a plain consumer. */
  public ConsumeOptions shared(boolean member) {
    return new ConsumeOptions(member, minSeverity, modelIds, backoff);
  }

  /** Only this severity or worse. */
  public ConsumeOptions minSeverity(Severity severity) {
    return new ConsumeOptions(shared, severity, modelIds, backoff);
  }

  /** Only these models. */
  public ConsumeOptions modelIds(String... ids) {
    return new ConsumeOptions(shared, minSeverity, List.of(ids), backoff);
  }

  /** Another backoff between reopenings. */
  public ConsumeOptions backoff(Backoff b) {
    return new ConsumeOptions(shared, minSeverity, modelIds, b);
  }
}
