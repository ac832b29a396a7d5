/**
 * consume gives up after its backoff's maxAttempts reopenings in a row without a message
 * (STREAM_RECONNECT_LIMIT by default, as every SDK), and a message in between resets the count.
 * The calls are stand-ins for the client's (consumeLoop takes them as an interface);
 * tests/sdk/test_ts_consume.py runs consume against a real bridge.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { consumeLoop, type ConsumerCalls } from "../consumers.js";
import { UnavailableError } from "../errors.js";
import { SubscribeAnomaliesResponseSchema } from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";

const quick = { initialMs: 1, maxMs: 1, multiplier: 1, maxAttempts: 3 };

/** Every stream fails with UNAVAILABLE, after one heartbeat when `beat`; stream `anomalyAt` brings an anomaly. */
function dropping(beat: boolean, anomalyAt = 0): ConsumerCalls & { opens: number } {
  const calls = {
    opens: 0,
    rpc: {
      subscribeAnomalies: async function* () {
        calls.opens++;
        if (calls.opens === anomalyAt) {
          yield create(SubscribeAnomaliesResponseSchema, { update: { anomalies: [{ sequence: 1n }] } });
          return;
        }
        if (beat) yield create(SubscribeAnomaliesResponseSchema, { heartbeat: {} });
        throw new ConnectError("bridge going away", Code.Unavailable);
      },
    } as unknown as ConsumerCalls["rpc"],
    ackAnomalies: async () => 1n,
  };
  return calls;
}

test("consume gives up after maxAttempts reopenings without a message", async () => {
  const calls = dropping(false);
  await assert.rejects(consumeLoop(calls, "c1", () => undefined, { backoff: quick }), UnavailableError);
  assert.equal(calls.opens, 4, "the first stream and 3 reopenings");
});

test("a message in between resets the count", async () => {
  const calls = dropping(true, 8);
  const stop = new Error("stop");
  await assert.rejects(consumeLoop(calls, "c2", () => { throw stop; }, { backoff: quick }), (e) => e === stop);
  assert.equal(calls.opens, 8);
});
