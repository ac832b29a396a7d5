/**
 * One surface, checked: every RPC of the service (from the generated descriptor) has a
 * hand-written client method, and the mapping names nothing else. (Which are retried is
 * policy.test.ts's; surface.live.test.ts also checks that the methods reach every RPC on the
 * wire.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NeuralHeatmapClient, RPC_METHODS } from "../client.js";
import { NeuralHeatmapService } from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";

test("every RPC of the service has a hand-written client method", () => {
  const rpcs = NeuralHeatmapService.methods.map((m) => m.name).sort();
  const mapped = Object.keys(RPC_METHODS).sort();
  const missing = rpcs.filter((r) => !mapped.includes(r));
  assert.deepEqual(missing, [], `RPCs without a TypeScript method: ${missing.join(", ")}`);
  assert.deepEqual(mapped, rpcs, "RPC_METHODS names RPCs the service does not have");
  for (const [rpc, { method }] of Object.entries(RPC_METHODS)) {
    const fn = (NeuralHeatmapClient.prototype as unknown as Record<string, unknown>)[method];
    assert.equal(typeof fn, "function", `${rpc} -> ${method} is not a client method`);
  }
});
