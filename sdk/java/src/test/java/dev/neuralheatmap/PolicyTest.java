package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.protobuf.DescriptorProtos.MethodOptions.IdempotencyLevel;
import com.google.protobuf.Descriptors;
import dev.neuralheatmap.v1.NeuralHeatmapServiceGrpc;
import io.grpc.protobuf.ProtoServiceDescriptorSupplier;
import com.google.gson.JsonParser;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;

/** The Java client runs on the one policy file every client shares (protos/policy/retry.json). */
class PolicyTest {
  private static JsonObject policy() throws IOException {
    return JsonParser.parseString(
            Files.readString(LiveProcess.REPO.resolve("protos/policy/retry.json")))
        .getAsJsonObject();
  }

  private static Set<Status.Code> codes(JsonObject policy, String key) {
    return StreamSupport.stream(policy.getAsJsonArray(key).spliterator(), false)
        .map(e -> Status.Code.valueOf(e.getAsString()))
        .collect(Collectors.toSet());
  }

  @Test
  void constantsEqualThePolicyFile() throws IOException {
    JsonObject p = policy();
    assertEquals(codes(p, "unary_retry_codes"), Policy.UNARY_RETRY_CODES);
    assertEquals(codes(p, "stream_reconnect_codes"), Policy.STREAM_RECONNECT_CODES);
    JsonObject b = p.getAsJsonObject("backoff");
    assertEquals(
        Duration.ofMillis(Math.round(b.get("initial_seconds").getAsDouble() * 1000)),
        Policy.BACKOFF_INITIAL);
    assertEquals(
        Duration.ofMillis(Math.round(b.get("max_seconds").getAsDouble() * 1000)), Policy.BACKOFF_MAX);
    assertEquals(b.get("multiplier").getAsDouble(), Policy.BACKOFF_MULTIPLIER);
    double fraction = Map.of("none", 0.0, "equal", 0.5, "full", 1.0).get(b.get("jitter").getAsString());
    assertEquals(fraction, Policy.BACKOFF_JITTER);
  }

  @Test
  void clientFactsEqualTheFactsFile() throws IOException {
    JsonObject f =
        JsonParser.parseString(
                Files.readString(LiveProcess.REPO.resolve("protos/policy/client.json")))
            .getAsJsonObject();
    int maxBytes = f.get("max_message_bytes").getAsInt();
    assertEquals(256 << 20, maxBytes, "docs say 256 MiB");
    assertEquals(maxBytes, Policy.MAX_MESSAGE_BYTES);
    assertEquals(maxBytes, NeuralHeatmapClient.DEFAULT_MAX_MESSAGE_BYTES);
    Duration idle =
        Duration.ofMillis(Math.round(f.get("stream_idle_timeout_seconds").getAsDouble() * 1000));
    assertEquals(idle, SubscribeOptions.defaults().idleTimeout());
    int limit = f.get("stream_reconnect_limit").getAsInt();
    assertEquals(limit, SubscribeOptions.defaults().backoff().maxAttempts());
    assertEquals(limit, ConsumeOptions.defaults().backoff().maxAttempts());
    JsonObject bridge = f.getAsJsonObject("bridge");
    assertEquals(
        bridge.get("host").getAsString() + ":" + bridge.get("port").getAsInt(),
        NeuralHeatmapClient.DEFAULT_ADDRESS);
  }

  @Test
  void retrySafeIsTheProtosIdempotencyLevel() {
    Descriptors.ServiceDescriptor service =
        ((ProtoServiceDescriptorSupplier)
                NeuralHeatmapServiceGrpc.getServiceDescriptor().getSchemaDescriptor())
            .getServiceDescriptor();
    assertEquals(service.getMethods().size(), Policy.RETRY_SAFE.size());
    int safe = 0;
    for (Descriptors.MethodDescriptor m : service.getMethods()) {
      boolean want = m.getOptions().getIdempotencyLevel() != IdempotencyLevel.IDEMPOTENCY_UNKNOWN;
      assertEquals(want, Policy.retrySafe(m.getName()), m.getName());
      safe += want ? 1 : 0;
    }
    assertTrue(safe > 0 && safe < service.getMethods().size(), safe + " retry-safe RPCs");
    assertTrue(!Policy.retrySafe("IngestActivations") && !Policy.retrySafe("NoSuchRpc"));
  }

  @Test
  void aWriteOnAClosedConnectionIsUnavailableSoItIsRetried() {
    // What grpc-java's Netty transport reports when a call is written on a connection the peer
    // has just closed (grpc/grpc-java#10120): seen here when a bridge is killed mid-test.
    var lost =
        Status.UNKNOWN
            .withDescription("channel closed")
            .withCause(new java.nio.channels.ClosedChannelException())
            .asRuntimeException();
    NeuralHeatmapException e = NeuralHeatmapException.from(lost);
    assertTrue(e instanceof UnavailableException, e.toString());
    assertTrue(Policy.UNARY_RETRY_CODES.contains(e.code()));
    assertTrue(e.getMessage().contains("channel closed"), e.getMessage());
    var other = Status.UNKNOWN.withDescription("boom").asRuntimeException();
    assertEquals(Status.Code.UNKNOWN, NeuralHeatmapException.from(other).code(), "only a closed channel");
  }

  @Test
  void delaysFollowTheBackoffShape() {
    Backoff b = Backoff.DEFAULT;
    for (int attempt = 0; attempt < 12; attempt++) {
      double cap = Math.min(5000, 100 * Math.pow(2, attempt));
      for (int i = 0; i < 50; i++) {
        double ms = b.delay(attempt).toNanos() / 1e6;
        assertTrue(ms >= cap / 2 && ms <= cap, attempt + ": " + ms + " outside [cap/2, cap] of " + cap);
      }
    }
    assertTrue(b.allows(1_000_000), "no bound by default");
    assertTrue(!b.withMaxAttempts(2).allows(2) && b.withMaxAttempts(2).allows(1));
    assertThrows(
        IllegalArgumentException.class,
        () -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1), 2, 0.5, 0));
  }
}
