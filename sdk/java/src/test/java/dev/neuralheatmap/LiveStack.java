package dev.neuralheatmap;

import dev.neuralheatmap.v1.ActivationFrame;
import dev.neuralheatmap.v1.GetAnomaliesRequest;
import dev.neuralheatmap.v1.GetAnomaliesResponse;
import dev.neuralheatmap.v1.ListModelsRequest;
import dev.neuralheatmap.v1.NeuralHeatmapServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One real server (anomaly cooldown 0: every non-finite frame is an anomaly) and a bridge in
 * front of it, optionally requiring a token or TLS; the bridge can be killed and restarted on
 * the same port.
 */
final class LiveStack implements AutoCloseable {
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  final Path dir;
  final int serverPort = LiveProcess.freePort();
  final int bridgePort = LiveProcess.freePort();
  private final LiveProcess server;
  private LiveProcess bridge;
  private final List<String> bridgeArgs;

  /**
   * Starts both; {@code bridgeFlags} are extra bridge flags ({@code --token T}, TLS, or the
   * test-only {@code --test-faults PLAN}).
   */
  LiveStack(String... bridgeFlags) {
    this(false, List.of(), bridgeFlags);
  }

  /** Starts both with extra server flags (e.g. a short {@code --consumer-ack-deadline}). */
  static LiveStack withServerFlags(String... serverFlags) {
    return new LiveStack(false, List.of(serverFlags));
  }

  /**
   * A bridge in front of tests/support/crafted_upstream.py instead of the server: answers the
   * real server cannot give (kinds outside the enums, metadata of every JSON kind).
   */
  static LiveStack crafted() {
    return new LiveStack(true, List.of());
  }

  private LiveStack(boolean crafted, List<String> serverFlags, String... bridgeFlags) {
    try {
      dir = Files.createTempDirectory("nh-java-");
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    server =
        crafted
            ? new LiveProcess(
                "crafted-upstream",
                List.of("tests.support.crafted_upstream", "--port", Integer.toString(serverPort)),
                dir,
                this::serverHealthy)
            : new LiveProcess(
            "server",
            Stream.concat(Stream.of(
                "neural_heatmap_server",
                "--host",
                "127.0.0.1",
                "--port",
                Integer.toString(serverPort),
                "--no-source",
                "--data-dir",
                dir.resolve("data").toString(),
                "--export-dir",
                dir.resolve("exports").toString(),
                "--anomaly-cooldown",
                "0",
                "--correlation-interval",
                "0.5",
                "--temporal-interval",
                "0.5"), serverFlags.stream()).toList(),
            dir,
            this::serverHealthy);
    bridgeArgs = new ArrayList<>();
    // --test-faults is no production flag: the test tree's entry module runs the bridge with
    // faults in chosen anomaly streams (tests/support/faulty_bridge.py).
    bridgeArgs.addAll(
        List.of(
            List.of(bridgeFlags).contains("--test-faults")
                ? "tests.support.faulty_bridge"
                : "neural_heatmap_bridge",
            "--listen",
            target(),
            "--upstream",
            serverUrl(),
            "--health-interval",
            "0.3",
            // The web port (Connect, gRPC-Web) off: bridges of parallel test runs must not all
            // bind its default 8090; a later --web-port in bridgeFlags wins.
            "--web-port",
            "0"));
    bridgeArgs.addAll(List.of(bridgeFlags));
    server.start();
    startBridge();
  }

  /** The bridge's host:port. */
  String target() {
    return "127.0.0.1:" + bridgePort;
  }

  /** The server's base URL. */
  String serverUrl() {
    return "http://127.0.0.1:" + serverPort;
  }

  /** Starts the bridge (again), ready once it answers a call (any status but UNAVAILABLE). */
  void startBridge() {
    bridge = new LiveProcess("bridge", bridgeArgs, dir, this::bridgeAnswers).start();
  }

  /** SIGKILLs the bridge. */
  void killBridge() {
    bridge.kill();
  }

  private boolean serverHealthy() {
    try {
      var req = HttpRequest.newBuilder(URI.create(serverUrl() + "/health")).timeout(Duration.ofSeconds(1)).build();
      return HTTP.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private boolean bridgeAnswers() {
    if (bridgeArgs.contains("--tls-cert")) { // the plaintext probe cannot talk to it: it listens
      try (var socket = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), bridgePort)) {
        return socket.isConnected();
      } catch (IOException e) {
        return false;
      }
    }
    ManagedChannel ch = ManagedChannelBuilder.forTarget(target()).usePlaintext().build();
    try {
      NeuralHeatmapServiceGrpc.newBlockingStub(ch)
          .withDeadlineAfter(1, TimeUnit.SECONDS)
          .listModels(ListModelsRequest.getDefaultInstance());
      return true;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode() != io.grpc.Status.Code.UNAVAILABLE
          && e.getStatus().getCode() != io.grpc.Status.Code.DEADLINE_EXCEEDED;
    } finally {
      ch.shutdownNow();
    }
  }

  /**
   * Posts frames to the server over HTTP JSON, as a training job does while the bridge is down:
   * one frame per layer, unit 0 NaN (one non-finite anomaly each).
   */
  void postNanFrames(String model, int layers, int step) {
    StringBuilder body = new StringBuilder("{\"frames\": [");
    for (int i = 0; i < layers; i++) {
      body.append(i == 0 ? "" : ",")
          .append("{\"model_id\": \"").append(model).append("\", \"layer_id\": \"l").append(i)
          .append("\", \"timestamp\": ").append(1760000000 + step).append(", \"step\": ").append(step)
          .append(", \"values\": [\"NaN\", 0.25, 0.25, 0.25]}");
    }
    body.append("]}");
    var req =
        HttpRequest.newBuilder(URI.create(serverUrl() + "/api/activations"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
            .build();
    try {
      int status = HTTP.send(req, HttpResponse.BodyHandlers.ofString()).statusCode();
      if (status != 200) {
        throw new IllegalStateException("POST /api/activations answered " + status);
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** One frame per layer at {@code step}, unit 0 NaN: one non-finite anomaly per layer. */
  static List<ActivationFrame> nanFrames(String model, int layers, int step) {
    List<ActivationFrame> out = new ArrayList<>();
    for (int i = 0; i < layers; i++) {
      out.add(
          ActivationFrame.newBuilder()
              .setModelId(model)
              .setLayerId("l" + i)
              .setStep(step)
              .setTimestamp(com.google.protobuf.Timestamp.newBuilder().setSeconds(1760000000L + step))
              .setValues(Tensors.float32(new float[] {Float.NaN, 0.25f, 0.25f, 0.25f}))
              .build());
    }
    return out;
  }

  /** {@code steps} clean frames of three 4-unit layers: two in phase, one opposite, one ramp. */
  static List<ActivationFrame> sineFrames(String model, int steps) {
    List<ActivationFrame> out = new ArrayList<>();
    for (int k = 0; k < steps; k++) {
      double t = k * 0.05;
      float s = (float) Math.sin(2 * Math.PI * 2 * t);
      float[][] layers = {
        {s, 1.2f * s, 1.4f * s, 1.6f * s},
        {-s, -1.1f * s, -1.2f * s, -1.3f * s},
        {0.1f * k, 0.1f * k + 1, 0.1f * k + 2, 0.1f * k + 3},
      };
      for (int l = 0; l < layers.length; l++) {
        out.add(
            ActivationFrame.newBuilder()
                .setModelId(model)
                .setLayerId(new String[] {"a", "b", "c"}[l])
                .setStep(k)
                .setTimestamp(
                    com.google.protobuf.Timestamp.newBuilder()
                        .setSeconds(1760000000L + k / 20)
                        .setNanos((k % 20) * 50_000_000))
                .setValues(Tensors.float32(layers[l]))
                .build());
      }
    }
    return out;
  }

  /** Every logged sequence of a model, oldest first. */
  static List<Long> logged(NeuralHeatmapClient client, String model) {
    List<Long> out = new ArrayList<>();
    long after = 0;
    while (true) {
      GetAnomaliesResponse page =
          client.getAnomalies(
              GetAnomaliesRequest.newBuilder().setModelId(model).setAfterSequence(after).setLimit(1000).build());
      if (page.getAnomaliesCount() == 0) {
        return out;
      }
      page.getAnomaliesList().forEach(a -> out.add(a.getSequence()));
      after = out.get(out.size() - 1);
    }
  }

  @Override
  public void close() {
    if (bridge != null) {
      bridge.close();
    }
    server.close();
  }
}
