import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DataType, TensorSchema } from "../gen/neural_heatmap/v1/tensor_pb.js";
import { float32Tensor, tensorToFloat32Array, tensorToFloat64Array, TensorError } from "../tensor.js";

function le32(values: number[], offset = 0): Uint8Array {
  const buf = new Uint8Array(offset + values.length * 4);
  const dv = new DataView(buf.buffer);
  values.forEach((v, i) => dv.setFloat32(offset + i * 4, v, true));
  return buf.subarray(offset);
}

test("aligned float32 bytes decode as a view, not a copy", () => {
  const data = le32([1, 0.5, 0.5, 1]);
  const t = create(TensorSchema, { shape: [2n, 2n], dtype: DataType.FLOAT32, data });
  const arr = tensorToFloat32Array(t);
  assert.deepEqual(Array.from(arr), [1, 0.5, 0.5, 1]);
  assert.equal(arr.buffer, data.buffer);
});

test("unaligned float32 bytes are copied and still exact", () => {
  const data = le32([0.1, -2.5, 3e-8], 1); // byteOffset 1
  assert.equal(data.byteOffset % 4, 1);
  const arr = tensorToFloat32Array(create(TensorSchema, { shape: [3n], dtype: DataType.FLOAT32, data }));
  assert.notEqual(arr.buffer, data.buffer);
  assert.deepEqual(Array.from(arr), [Math.fround(0.1), -2.5, Math.fround(3e-8)]);
});

test("float64 tensors decode, and narrow to float32 on request", () => {
  const data = new Uint8Array(16);
  const dv = new DataView(data.buffer);
  dv.setFloat64(0, 1 / 3, true);
  dv.setFloat64(8, -1, true);
  const t = create(TensorSchema, { shape: [2n], dtype: DataType.FLOAT64, data });
  assert.deepEqual(Array.from(tensorToFloat64Array(t)), [1 / 3, -1]);
  assert.deepEqual(Array.from(tensorToFloat32Array(t)), [Math.fround(1 / 3), -1]);
});

test("a byte count that does not match the shape is an error", () => {
  const t = create(TensorSchema, { shape: [3n, 3n], dtype: DataType.FLOAT32, data: new Uint8Array(32) });
  assert.throws(() => tensorToFloat32Array(t), TensorError);
  const u = create(TensorSchema, { shape: [1n], dtype: DataType.UNSPECIFIED, data: new Uint8Array(4) });
  assert.throws(() => tensorToFloat32Array(u), TensorError);
});

test("float32Tensor round-trips little-endian", () => {
  const t = float32Tensor([1.5, -0.25, Number.NaN]);
  assert.deepEqual(t.shape, [3n]);
  assert.equal(t.dtype, DataType.FLOAT32);
  assert.deepEqual(Array.from(t.data.subarray(0, 4)), [0, 0, 0xc0, 0x3f]); // 1.5f LE
  const back = tensorToFloat32Array(t);
  assert.equal(back[1], -0.25);
  assert.ok(Number.isNaN(back[2]));
  assert.throws(() => float32Tensor([1, 2, 3], [2, 2]), TensorError);
});
