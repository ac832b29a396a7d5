// The generated TypeScript: every message round-trips on the wire and the service is complete.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary, fromJson, toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { CorrelationMatrixSchema } from "../gen/neural_heatmap/v1/analytics_pb.js";
import { DataType, TensorSchema } from "../gen/neural_heatmap/v1/tensor_pb.js";
import {
  NeuralHeatmapService,
  StreamUpdatesResponseSchema,
} from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";

test("a correlation matrix keeps its raw float32 bytes through binary and JSON", () => {
  const values = new Float32Array([1, 0.25, 0.25, 1]);
  const msg = create(CorrelationMatrixSchema, {
    matrix: create(TensorSchema, {
      shape: [2n, 2n],
      dtype: DataType.FLOAT32,
      data: new Uint8Array(values.buffer),
    }),
    labels: ["m/a", "m/b"],
    timestamp: timestampFromMs(1_700_000_000_000),
  });
  const back = fromBinary(CorrelationMatrixSchema, toBinary(CorrelationMatrixSchema, msg));
  const data = back.matrix!.data;
  const decoded = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  assert.deepEqual(Array.from(decoded), [1, 0.25, 0.25, 1]);
  assert.deepEqual(back.labels, ["m/a", "m/b"]);
  const viaJson = fromJson(CorrelationMatrixSchema, toJson(CorrelationMatrixSchema, msg));
  assert.deepEqual(viaJson.matrix!.data, msg.matrix!.data);
});

test("the service descriptor has every streaming kind", () => {
  const kinds = Object.fromEntries(NeuralHeatmapService.methods.map((m) => [m.name, m.methodKind]));
  assert.equal(kinds["GetAnomalies"], "unary");
  assert.equal(kinds["SubscribeAnomalies"], "server_streaming");
  assert.equal(kinds["StreamUpdates"], "server_streaming");
  assert.equal(kinds["IngestActivations"], "client_streaming");
  assert.equal(kinds["RenderHeatmap"], "unary");
  assert.equal(kinds["AckAnomalies"], "unary");
  assert.equal(kinds["GetLayerHealth"], "unary");
  assert.equal(NeuralHeatmapService.methods.length, 25);
});

test("StreamUpdates carries its kinds as a oneof", () => {
  const field = StreamUpdatesResponseSchema.oneofs[0];
  assert.deepEqual(
    field.fields.map((f) => f.name),
    ["heatmap", "correlation", "temporal", "anomaly", "anomaly_heartbeat", "view"],
  );
});
