package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neuralheatmap.v1.Anomaly;
import dev.neuralheatmap.v1.Model;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The bridge dies and comes back: anomalies resume exactly once, idempotent calls retry. */
class ResilienceTest {
  /** Ingests once the restarted bridge takes calls (ingest itself is never retried by the client). */
  private static void ingestRetrying(NeuralHeatmapClient client, List<dev.neuralheatmap.v1.ActivationFrame> frames) {
    for (int attempt = 0; ; attempt++) {
      try {
        client.ingestActivations(frames);
        return;
      } catch (UnavailableException e) {
        if (attempt > 50) {
          throw e;
        }
        LiveProcess.sleep(100);
      }
    }
  }

  @Test
  void anomaliesResumeExactlyOnceAcrossABridgeKill() throws Exception {
    String model = "java-resume";
    int layers = 4;
    int rounds = 24;
    try (LiveStack stack = new LiveStack();
        NeuralHeatmapClient client = NeuralHeatmapClient.builder(stack.target()).build()) {
      for (int step = 0; step < 6; step++) {
        client.ingestActivations(LiveStack.nanFrames(model, layers, step));
      }
      List<NeuralHeatmapException> reconnects = new CopyOnWriteArrayList<>();
      SubscribeOptions options =
          SubscribeOptions.defaults()
              .afterSequence(0)
              .modelIds(model)
              .onReconnect((cause, delay, after) -> reconnects.add(cause));
      List<Long> got = new ArrayList<>();
      try (AnomalyStream stream = client.subscribeAnomalies(options)) {
        while (got.size() < 10) {
          got.add(stream.next().getSequence());
        }
        stack.killBridge();
        for (int step = 6; step < 12; step++) { // logged while the bridge is down: replayed later
          stack.postNanFrames(model, layers, step);
        }
        CompletableFuture<Void> producer =
            CompletableFuture.runAsync(
                () -> {
                  stack.startBridge();
                  for (int step = 12; step < rounds; step++) {
                    ingestRetrying(client, LiveStack.nanFrames(model, layers, step));
                  }
                });
        // A stuck stream must fail the test, not hang it: close it after a generous bound.
        var guard = CompletableFuture.delayedExecutor(90, TimeUnit.SECONDS);
        CompletableFuture.runAsync(stream::close, guard);
        while (got.size() < rounds * layers && stream.hasNext()) {
          Anomaly a = stream.next();
          got.add(a.getSequence());
          assertEquals(model, a.getModelId());
        }
        producer.get(60, TimeUnit.SECONDS);
        assertEquals(rounds * layers, got.size(), "stream ended early; reconnects: " + reconnects);
        assertEquals(got.get(got.size() - 1), stream.lastSequence());
      }
      assertEquals(LiveStack.logged(client, model), got, "every logged anomaly once, in order");
      assertTrue(!reconnects.isEmpty(), "the bridge kill did not break the stream");
      assertTrue(
          reconnects.stream().allMatch(e -> Policy.STREAM_RECONNECT_CODES.contains(e.code())),
          reconnects.toString());
    }
  }

  @Test
  void idempotentCallsRetryOnUnavailableUntilTheBridgeIsBack() throws Exception {
    try (LiveStack stack = new LiveStack();
        NeuralHeatmapClient client =
            NeuralHeatmapClient.builder(stack.target()).timeout(Duration.ofSeconds(20)).build()) {
      client.ingestActivations(LiveStack.nanFrames("java-retry", 1, 0));
      stack.killBridge();
      CompletableFuture<List<Model>> models = client.listModelsAsync(false);
      LiveProcess.sleep(1000);
      assertTrue(
          !models.isDone(),
          () -> "the call is waiting for the bridge, not finished: " + models.handle((v, e) -> e == null ? v : e).join());
      stack.startBridge();
      assertTrue(
          models.get(20, TimeUnit.SECONDS).stream().anyMatch(m -> m.getModelId().equals("java-retry")));

      stack.killBridge();
      // Fresh clients (the old channel may still be tearing its connection down): ingest is not
      // idempotent, so it fails at once instead of retrying for its 30 s; a bounded retry gives up.
      try (NeuralHeatmapClient fresh = NeuralHeatmapClient.builder(stack.target()).build();
          NeuralHeatmapClient once =
              NeuralHeatmapClient.builder(stack.target()).retry(Backoff.DEFAULT.withMaxAttempts(2)).build()) {
        long start = System.nanoTime();
        assertThrows(UnavailableException.class, () -> fresh.ingestActivations(LiveStack.nanFrames("x", 1, 0)));
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos(), "ingest was retried");
        var e = assertThrows(UnavailableException.class, once::getLayout);
        assertEquals(io.grpc.Status.Code.UNAVAILABLE, e.code());
      }
      stack.startBridge();
    }
  }

  @Test
  void tokensAndTls() throws Exception {
    Path dir = Files.createTempDirectory("nh-java-tls");
    Path key = dir.resolve("bridge.key");
    Path cert = dir.resolve("bridge.pem");
    Process openssl =
        new ProcessBuilder(
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.toString(),
                "-out", cert.toString(), "-days", "1", "-subj", "/CN=bridge",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
            .redirectErrorStream(true)
            .start();
    assertEquals(0, openssl.waitFor(), new String(openssl.getInputStream().readAllBytes()));
    try (LiveStack stack =
        new LiveStack("--token", "s3cret", "--tls-cert", cert.toString(), "--tls-key", key.toString())) {
      try (NeuralHeatmapClient good =
          NeuralHeatmapClient.builder(stack.target()).tls(cert.toFile()).token("s3cret").build()) {
        assertEquals(List.of(), good.listExports());
      }
      try (NeuralHeatmapClient none = NeuralHeatmapClient.builder(stack.target()).tls(cert.toFile()).build();
          NeuralHeatmapClient wrong =
              NeuralHeatmapClient.builder(stack.target()).tls(cert.toFile()).token("wrong").build()) {
        var e = assertThrows(UnauthenticatedException.class, none::getTheme);
        assertEquals(io.grpc.Status.Code.UNAUTHENTICATED, e.code());
        assertThrows(UnauthenticatedException.class, () -> wrong.listModels(false));
      }
      // Plaintext: a loopback address may carry the token (the rule every SDK shares, see
      // TokenRuleTest); any other address is refused before a call is made.
      var plain = assertThrows(
          IllegalStateException.class,
          () -> NeuralHeatmapClient.builder("bridge.example:50051").token("s3cret").build());
      assertTrue(plain.getMessage().contains("over plaintext"), plain.getMessage());
    }
  }
}
