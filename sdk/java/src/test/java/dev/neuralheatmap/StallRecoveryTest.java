package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neuralheatmap.v1.GetAnomaliesRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A stream that stalls inside the bridge is noticed and resumed exactly (as
 * tests/sdk/test_stall_recovery.py shows for Python, Go and TypeScript): with {@code
 * --test-faults mute@1,freeze@2} the bridge's first anomaly stream never gets an anomaly (its
 * watchdog ends it UNAVAILABLE) and the second goes silent after its first heartbeat (only the
 * client's idle bound notices); the third is healthy.
 */
class StallRecoveryTest {
  private static final int BURSTS = 6;
  private static final int PER_BURST = 3;

  @Test
  void mutedAndFrozenStreamsAreReopenedAndEveryAnomalyArrivesOnce() throws Exception {
    String model = "java-stall";
    try (LiveStack stack =
            new LiveStack("--heartbeat-interval", "0.3", "--stall-timeout", "1.5", "--test-faults", "mute@1,freeze@2");
        NeuralHeatmapClient client = NeuralHeatmapClient.builder(stack.target()).build()) {
      List<NeuralHeatmapException> reconnects = new CopyOnWriteArrayList<>();
      SubscribeOptions options =
          SubscribeOptions.defaults()
              .afterSequence(0)
              .modelIds(model)
              .idleTimeout(Duration.ofSeconds(2))
              .onReconnect((cause, delay, after) -> reconnects.add(cause));
      List<Long> got = new ArrayList<>();
      try (AnomalyStream stream = client.subscribeAnomalies(options)) {
        CompletableFuture<Void> producer =
            CompletableFuture.runAsync(
                () -> {
                  for (int burst = 0; burst < BURSTS; burst++) {
                    client.ingestActivations(LiveStack.nanFrames(model, PER_BURST, burst));
                    LiveProcess.sleep(1500); // idle: heartbeats are due
                  }
                });
        CompletableFuture.runAsync(stream::close, CompletableFuture.delayedExecutor(90, TimeUnit.SECONDS));
        while (got.size() < BURSTS * PER_BURST && stream.hasNext()) {
          got.add(stream.next().getSequence());
        }
        producer.get(60, TimeUnit.SECONDS);
      }
      List<Long> logged =
          client
              .getAnomalies(GetAnomaliesRequest.newBuilder().setModelId(model).setAfterSequence(0).setLimit(1000).build())
              .getAnomaliesList()
              .stream()
              .map(a -> a.getSequence())
              .toList();
      assertEquals(logged, got, "every anomaly once, in order; reconnects: " + reconnects);
      assertTrue(
          reconnects.stream().anyMatch(e -> e.getMessage().contains("idle bound")),
          "the frozen stream was not reopened by the idle bound: " + reconnects);
      assertTrue(
          reconnects.stream().anyMatch(e -> e.reason().orElse("").equals("STREAM_STALLED")),
          "the muted stream did not end STREAM_STALLED: " + reconnects);
    }
  }
}
