/**
 * Nothing lost on the wire, through this client: a real bridge in front of the crafted
 * upstream (tests/support/crafted_upstream.py) that names an anomaly type and a pattern type
 * outside the enums and sends metadata of every JSON kind. The names arrive in
 * anomalyTypeName/patternTypeName, integers stay integers (bigint beyond 2^53).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NeuralHeatmapClient } from "../node.js";
import { AnomalyType, PatternType } from "../gen/neural_heatmap/v1/analytics_pb.js";
import { Severity } from "../gen/neural_heatmap/v1/common_pb.js";
import { startBridge, startCraftedUpstream, type Launched } from "../testing/live.js";

let upstream: Launched & { url: string };
let bridge: Launched & { target: string };
let client: NeuralHeatmapClient;

before(async () => {
  upstream = await startCraftedUpstream();
  bridge = await startBridge(upstream.url);
  client = connect({ address: bridge.target, timeoutMs: 20_000 });
});

after(async () => {
  client?.close();
  await bridge?.stop();
  await upstream?.stop();
});

test("an anomaly type outside the enum arrives by name, its metadata typed", async () => {
  const [a] = (await client.getAnomalies({ afterSequence: 0n })).anomalies;
  assert.ok(a);
  assert.equal(a.anomalyType, AnomalyType.UNSPECIFIED);
  assert.equal(a.anomalyTypeName, "gradient_explosion");
  assert.equal(a.severity, Severity.HIGH);
  assert.deepEqual(a.metadata, {
    step: 4900,
    unit: 0,
    negative: -(2n ** 63n),
    huge: 2 ** 70,
    ratio: 0.25,
    whole_float: 3,
    flag: true,
    off: false,
    name: "fc1",
    missing: null,
    window: [1, 2.5, null, true, "x", { k: 3 }],
    nested: { steps: [10, 20], deep: { n: 7 } },
  });
});

test("a pattern type outside the enum arrives by name, in a query and on the stream", async () => {
  const [p] = await client.getTemporalPatterns();
  assert.ok(p);
  assert.equal(p.patternType, PatternType.UNSPECIFIED);
  assert.equal(p.patternTypeName, "chirp");
  assert.deepEqual(p.metadata, { model_id: "crafted", layer_id: "fc1", change_index: 42 });
  for await (const u of client.subscribeTemporal()) {
    assert.deepEqual(u.patterns.map((x) => x.patternTypeName), ["chirp"]);
    assert.deepEqual(u.trends, [{ layer_id: "fc1", samples: 512, rising: true }]);
    break;
  }
});
