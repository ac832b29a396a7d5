package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neuralheatmap.v1.Anomaly;
import dev.neuralheatmap.v1.AnomalyType;
import dev.neuralheatmap.v1.GetAnomaliesRequest;
import dev.neuralheatmap.v1.GetTemporalPatternsRequest;
import dev.neuralheatmap.v1.PatternType;
import dev.neuralheatmap.v1.TemporalPattern;
import dev.neuralheatmap.v1.TemporalUpdate;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Answers the real server cannot give (tests/support/crafted_upstream.py, through a real bridge)
 * reach the Java client intact: kinds outside the enums by name, metadata integers as Long,
 * nesting and nulls.
 */
class CraftedUpstreamTest {
  @Test
  void unknownKindsAndMetadataIntegersSurviveTheWire() {
    try (LiveStack stack = LiveStack.crafted();
        NeuralHeatmapClient client = NeuralHeatmapClient.builder(stack.target()).build()) {
      List<Anomaly> anomalies =
          client.getAnomalies(GetAnomaliesRequest.newBuilder().setAfterSequence(0).build()).getAnomaliesList();
      assertEquals(1, anomalies.size(), anomalies.toString());
      Anomaly a = anomalies.get(0);
      assertEquals(AnomalyType.ANOMALY_TYPE_UNSPECIFIED, a.getAnomalyType());
      assertEquals("gradient_explosion", a.getAnomalyTypeName());

      Map<String, Object> md = Values.toJava(a.getMetadataMap());
      Map<String, Object> want = new HashMap<>();
      want.put("step", 4900L);
      want.put("unit", 0L);
      want.put("negative", Long.MIN_VALUE);
      want.put("huge", 0x1p70);
      want.put("ratio", 0.25);
      want.put("whole_float", 3.0);
      want.put("flag", true);
      want.put("off", false);
      want.put("name", "fc1");
      want.put("missing", null);
      want.put("window", Arrays.asList(1L, 2.5, null, true, "x", Map.of("k", 3L)));
      want.put("nested", Map.of("steps", List.of(10L, 20L), "deep", Map.of("n", 7L)));
      assertEquals(want, md);
      assertNull(md.get("missing"));
      assertEquals(Long.class, md.get("step").getClass(), "an integer stays an integer");

      List<TemporalPattern> patterns = client.getTemporalPatterns(GetTemporalPatternsRequest.getDefaultInstance());
      assertEquals(1, patterns.size(), patterns.toString());
      assertEquals(PatternType.PATTERN_TYPE_UNSPECIFIED, patterns.get(0).getPatternType());
      assertEquals("chirp", patterns.get(0).getPatternTypeName());
      assertEquals(42L, Values.toJava(patterns.get(0).getMetadataMap()).get("change_index"));

      try (ServerStream<TemporalUpdate> temporal = client.subscribeTemporal()) {
        TemporalUpdate u = temporal.next();
        assertEquals(1, u.getTrendsCount());
        assertEquals(512L, Values.toJava(u.getTrends(0)).get("samples"));
        assertEquals("chirp", u.getPatterns(0).getPatternTypeName());
      }
      assertTrue(Values.toJava(Map.of()).isEmpty());
    }
  }
}
