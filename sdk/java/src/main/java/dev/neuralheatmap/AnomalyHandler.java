package dev.neuralheatmap;

import dev.neuralheatmap.v1.Anomaly;

/**
 * What a {@link DurableConsumer} does with each anomaly. Returning normally is what acknowledges
 * the anomaly; throwing ends the consumer with that exception instead, leaving the anomaly
 * unacknowledged so the service delivers it again (the same rule in every SDK).
 */
@FunctionalInterface
public interface AnomalyHandler {
  /**
   * Handles one anomaly, on the consumer's thread, one at a time in the order received.
   *
   * @param anomaly the anomaly
   * @throws Exception anything: it ends the consumer and becomes its {@link
   *     DurableConsumer#done()} failure, as it is
   */
  void handle(Anomaly anomaly) throws Exception;
}
