package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import dev.neuralheatmap.v1.*;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Every RPC through the Java client against a real server and bridge. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LiveClientTest {
  private static final String MODEL = "java-live";

  private LiveStack stack;
  private NeuralHeatmapClient client;

  @BeforeAll
  void start() {
    stack = new LiveStack();
    client = NeuralHeatmapClient.builder(stack.target()).build();
    IngestActivationsResponse r = client.ingestActivations(LiveStack.sineFrames(MODEL, 200));
    assertEquals(600, r.getFramesAccepted());
    assertEquals(0, r.getFramesRejected());
  }

  @AfterAll
  void stop() {
    if (client != null) {
      client.close();
    }
    if (stack != null) {
      stack.close();
    }
  }

  /** Polls until the server's asynchronous analytics have an answer. */
  private static <T> T eventually(Supplier<T> call, java.util.function.Predicate<T> ok) {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    T last = call.get();
    while (!ok.test(last) && System.nanoTime() < deadline) {
      LiveProcess.sleep(200);
      last = call.get();
    }
    return last;
  }

  @Test
  void theBridgeReportsTheContractVersion() {
    assertEquals(NeuralHeatmapClient.VERSION, client.bridgeVersion());
  }

  @Test
  void modelsAndTheCorrelationMatrixAsFloatArrays() throws Exception {
    List<Model> models = client.listModelsAsync(true).get();
    Model m = models.stream().filter(x -> x.getModelId().equals(MODEL)).findFirst().orElseThrow();
    assertEquals(List.of("a", "b", "c"), m.getLayersList().stream().map(Layer::getLayerId).sorted().toList());
    assertEquals(4, m.getLayers(0).getUnitsDetailCount(), "include_units fills the unit locations");

    Matrix matrix =
        client.getCorrelationMatrix(GetCorrelationMatrixRequest.newBuilder().addModelIds(MODEL).build());
    assertEquals(3, matrix.size());
    assertArrayEquals(new int[] {3, 3}, matrix.shape());
    assertEquals(9, matrix.values().length);
    int a = matrix.labels().indexOf(MODEL + "/a");
    int b = matrix.labels().indexOf(MODEL + "/b");
    assertTrue(a >= 0 && b >= 0, matrix.labels().toString());
    for (int i = 0; i < 3; i++) {
      assertEquals(1.0, matrix.at(i, i), 1e-5);
    }
    assertEquals(-1.0, matrix.at(a, b), 1e-3, "b is a in opposite phase");
    assertEquals(matrix.at(a, b), matrix.at(b, a));
  }

  @Test
  void temporalAnalyticsAndComparison() {
    List<TemporalPattern> patterns =
        eventually(
            () -> client.getTemporalPatterns(GetTemporalPatternsRequest.newBuilder().setModelId(MODEL).build()),
            p -> !p.isEmpty());
    assertTrue(patterns.stream().allMatch(p -> p.getModelId().equals(MODEL)), patterns.toString());
    assertTrue(
        patterns.stream().anyMatch(p -> p.getPatternType() == PatternType.PATTERN_TYPE_PERIODIC
            && Math.abs(p.getFrequency() - 2.0) < 0.2), patterns.toString());
    TemporalStatistics stats =
        client.getTemporalStatistics(GetTemporalStatisticsRequest.newBuilder().setModelId(MODEL).build());
    assertEquals(3, stats.getLayersCount());
    assertTrue(stats.getLayers(0).getSamples() >= 200, stats.toString());

    client.ingestActivations(LiveStack.sineFrames(MODEL + "-twin", 200));
    ModelComparison c =
        client.compareModels(
            CompareModelsRequest.newBuilder().addModelIds(MODEL).addModelIds(MODEL + "-twin").build());
    float[] similarity = Tensors.floats(c.getSimilarityMatrix());
    assertArrayEquals(new long[] {2, 2}, Tensors.shape(c.getSimilarityMatrix()));
    assertEquals(1.0, similarity[1], 1e-4, "identical data: CKA 1");
  }

  @Test
  void viewStateRoundTrips() throws Exception {
    Filter f = Filter.newBuilder().addModelIds(MODEL).setIntensityRange(IntensityRange.newBuilder().setMin(0).setMax(2)).build();
    assertEquals(f, client.setFilter(f));
    assertEquals(f, client.getFilterAsync().get());
    client.clearFilter();
    assertEquals(Filter.getDefaultInstance(), client.getFilter());

    ThemeSettings t = client.setTheme(Theme.THEME_CUSTOM, "#000000", "#ff8800");
    assertEquals(List.of("#000000", "#ff8800"), t.getCustomColorsList());
    assertEquals(t, client.getTheme());

    Layout layout =
        Layout.newBuilder().putVisibility("heatmap", true).addZOrder("heatmap")
            .putPanelPositions("heatmap", PanelPosition.newBuilder().setX(10).setY(20).build()).build();
    assertEquals(layout, client.setLayoutAsync(layout).get());
    assertEquals(layout, client.getLayout());
  }

  @Test
  void renderingReturnsAPng() throws Exception {
    RenderedImage img =
        client.renderHeatmapAsync(
                RenderHeatmapRequest.newBuilder()
                    .setKind(RenderKind.RENDER_KIND_CORRELATION)
                    .setModelId(MODEL)
                    .setTheme(Theme.THEME_PLASMA)
                    .setWidth(320)
                    .setHeight(240)
                    .build())
            .get();
    assertEquals(320, img.width());
    assertEquals(240, img.height());
    assertEquals(Theme.THEME_PLASMA, img.theme());
    assertEquals(RenderKind.RENDER_KIND_CORRELATION, img.kind());
    assertArrayEquals(
        new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(img.png(), 4), "a PNG file");
    var decoded = javax.imageio.ImageIO.read(new java.io.ByteArrayInputStream(img.png()));
    assertEquals(320, decoded.getWidth());
    assertEquals(240, decoded.getHeight());
  }

  @Test
  void exportListAndDownload() throws Exception {
    ExportResult r =
        client.exportCorrelationMatrix(
            ExportCorrelationMatrixRequest.newBuilder()
                .setFilename("java-matrix.csv")
                .setFormat(ExportFormat.EXPORT_FORMAT_CSV)
                .addModelIds(MODEL)
                .build());
    assertEquals("java-matrix.csv", r.getFilename());
    ExportedFile file =
        client.listExports().stream().filter(x -> x.getName().equals("java-matrix.csv")).findFirst().orElseThrow();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long n = client.downloadExportAsync("java-matrix.csv", out).get();
    assertEquals(file.getSize(), n);
    assertEquals(n, out.size());
    assertTrue(out.toString(java.nio.charset.StandardCharsets.UTF_8).contains(MODEL + "/a"));
  }

  @Test
  void liveStreamsDeliver() {
    try (ServerStream<HeatmapUpdate> heatmap =
            client.subscribeHeatmap(SubscribeHeatmapRequest.newBuilder().addModelIds(MODEL).build());
        ServerStream<CorrelationUpdate> correlations = client.subscribeCorrelations();
        ServerStream<TemporalUpdate> temporal = client.subscribeTemporal();
        ServerStream<StreamUpdatesResponse> updates =
            client.streamUpdates(
                StreamUpdatesRequest.newBuilder().addTypes(UpdateType.UPDATE_TYPE_HEATMAP).addModelIds(MODEL).build())) {
      CompletableFuture<IngestActivationsResponse> more =
          CompletableFuture.supplyAsync(
              () -> {
                LiveProcess.sleep(300); // the subscriptions are open by then
                return client.ingestActivations(LiveStack.sineFrames(MODEL, 5));
              });
      HeatmapUpdate h = heatmap.next();
      assertEquals(MODEL, h.getModelId());
      assertEquals(4, Tensors.floats(h.getValues()).length);
      assertEquals(StreamUpdatesResponse.UpdateCase.HEATMAP, updates.next().getUpdateCase());
      Matrix pushed = Matrix.of(correlations.next().getMatrix());
      assertEquals(pushed.size() * pushed.size(), pushed.values().length);
      assertTrue(pushed.size() > 0);
      assertTrue(temporal.next().hasTimestamp());
      assertEquals(15, more.join().getFramesAccepted());
      heatmap.close(); // before the try block ends: a closed stream ends
      assertFalse(heatmap.hasNext(), "a closed stream ends");
    }
  }

  @Test
  void anomaliesArriveOnceAndHeartbeatsAreHidden() {
    String model = "java-anomalies";
    client.ingestActivations(LiveStack.nanFrames(model, 2, 0));
    try (AnomalyStream s = client.subscribeAnomalies(SubscribeOptions.defaults().afterSequence(0).modelIds(model))) {
      Anomaly first = s.next();
      Anomaly second = s.next();
      assertEquals(model, first.getModelId());
      assertEquals(AnomalyType.ANOMALY_TYPE_NON_FINITE, first.getAnomalyType());
      assertEquals("non_finite", first.getAnomalyTypeName());
      var metadata = Values.toJava(first.getMetadataMap());
      assertTrue(
          metadata.values().stream().anyMatch(Long.class::isInstance),
          "the detector's integers arrive as Long: " + metadata);
      assertTrue(second.getSequence() > first.getSequence());
      assertEquals(second.getSequence(), s.lastSequence());
      GetAnomaliesResponse page =
          client.getAnomalies(GetAnomaliesRequest.newBuilder().setModelId(model).setAfterSequence(0).build());
      assertEquals(List.of(first, second), page.getAnomaliesList());
    }
  }

  /** Unit 23 of "osc" oscillates at 3 Hz among 63 noisy units; unit 50 of "relu" dies at step 150. */
  private static List<ActivationFrame> plantedFrames(String model) {
    java.util.Random rng = new java.util.Random(7);
    List<ActivationFrame> out = new java.util.ArrayList<>();
    for (int k = 0; k < 200; k++) {
      float[] osc = new float[64];
      float[] relu = new float[64];
      for (int u = 0; u < 64; u++) {
        osc[u] = (float) (0.1 * rng.nextGaussian());
        relu[u] = (float) (Math.abs(rng.nextGaussian()) + 0.05);
      }
      osc[23] += (float) (0.5 * Math.sin(2 * Math.PI * 3 * k / 50.0));
      if (k >= 150) {
        relu[50] = 0f;
      }
      com.google.protobuf.Timestamp at =
          com.google.protobuf.Timestamp.newBuilder().setSeconds(1760000000L + k / 50).setNanos((k % 50) * 20_000_000).build();
      for (var layer : java.util.Map.of("osc", osc, "relu", relu).entrySet()) {
        out.add(ActivationFrame.newBuilder().setModelId(model).setLayerId(layer.getKey()).setStep(k)
            .setTimestamp(at).setValues(Tensors.float32(layer.getValue())).build());
      }
    }
    return out;
  }

  @Test
  void unitTemporalAnalysisAndLayerHealthNameSingleUnits() {
    String model = MODEL + "-units";
    assertEquals(400, client.ingestActivations(plantedFrames(model)).getFramesAccepted());
    double bin = 50.0 / 200; // Hz: one periodogram bin of the 4 s series

    TemporalStatistics stats = client.getTemporalStatistics(GetTemporalStatisticsRequest.newBuilder()
        .setModelId(model).setLayerId("osc").setGranularity(Granularity.GRANULARITY_UNIT).build());
    assertEquals(64, stats.getUnitsCount());
    assertEquals(1, stats.getOscillatingUnitsCount(), stats.getOscillatingUnitsList().toString());
    OscillatingUnit osc = stats.getOscillatingUnits(0);
    assertEquals(23, osc.getUnit());
    assertEquals(7.0, osc.getLocation().getX());
    assertEquals(2.0, osc.getLocation().getY());
    assertTrue(Math.abs(osc.getFrequency() - 3.0) <= bin, osc.toString());

    List<TemporalPattern> periodic = client.getTemporalPatterns(GetTemporalPatternsRequest.newBuilder()
        .setModelId(model).setLayerId("osc").setGranularity(Granularity.GRANULARITY_UNIT)
        .addPatternTypes(PatternType.PATTERN_TYPE_PERIODIC)
        .addUnitRanges(UnitRange.newBuilder().setFirst(16).setLast(31)).build());
    assertEquals(List.of(23), periodic.stream().map(TemporalPattern::getUnit).toList());

    var outOfRange = assertThrows(InvalidArgumentException.class, () -> client.getTemporalPatterns(
        GetTemporalPatternsRequest.newBuilder().setModelId(model).setLayerId("osc")
            .setGranularity(Granularity.GRANULARITY_UNIT).addUnits(64).build()));
    assertTrue(outOfRange.statusMessage().contains("has 64 units"), outOfRange.statusMessage());

    List<LayerHealth> health = client.getLayerHealth(
        GetLayerHealthRequest.newBuilder().setModelId(model).setLayerId("relu").setTopK(3).build());
    assertEquals(1, health.size());
    assertEquals(1, health.get(0).getDeadUnitsCount(), health.toString());
    StuckUnit dead = health.get(0).getDeadUnits(0);
    assertEquals(50, dead.getUnit());
    assertEquals(150, dead.getSinceStep());
    assertEquals(50, dead.getFrames());
    assertEquals(2.0, dead.getLocation().getX());
    assertEquals(6.0, dead.getLocation().getY());
    assertEquals(3, health.get(0).getTopSpikesCount());
  }

  @Test
  void failuresAreTypedWithTheirDetails() {
    var notFound =
        assertThrows(
            NotFoundException.class,
            () -> client.downloadExport("no-such-export.csv", new ByteArrayOutputStream()));
    assertEquals(io.grpc.Status.Code.NOT_FOUND, notFound.code());
    assertEquals("NOT_FOUND", notFound.reason().orElseThrow());

    Filter bad = Filter.newBuilder().setIntensityRange(IntensityRange.newBuilder().setMin(2).setMax(1)).build();
    var invalid = assertThrows(InvalidArgumentException.class, () -> client.setFilter(bad));
    assertTrue(invalid.getMessage().startsWith("INVALID_ARGUMENT "), invalid.getMessage());
    assertEquals("INVALID_ARGUMENT", invalid.reason().orElseThrow());
    assertTrue(invalid.statusMessage().contains("intensity"), invalid.statusMessage());

    // Checked at the bridge's edge: BadRequest names the field.
    var edge =
        assertThrows(
            InvalidArgumentException.class,
            () -> client.getAnomalies(GetAnomaliesRequest.newBuilder().setAfterSequence(-1L).build()));
    BadRequest br = edge.detail(BadRequest.class).orElseThrow();
    assertEquals("after_sequence", br.getFieldViolations(0).getField(), br.toString());
    assertEquals("after_sequence", edge.errorMetadata().get("field"));

    var async =
        assertThrows(
            java.util.concurrent.ExecutionException.class,
            () -> client.getCorrelationMatrixAsync(
                    GetCorrelationMatrixRequest.newBuilder().addModelIds("java-nobody").build()).get());
    assertInstanceOf(NotFoundException.class, async.getCause());
    assertInstanceOf(NotFoundException.class, NeuralHeatmapException.from(async));
  }
}
