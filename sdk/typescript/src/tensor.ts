/**
 * Tensors travel as raw little-endian bytes with a shape and a dtype (see tensor.proto).
 * Decoding is one typed-array view over the received bytes; a copy is made only when the
 * bytes are not aligned to the element size (or the host is big-endian).
 */
import { create } from "@bufbuild/protobuf";
import { DataType, TensorSchema, type Tensor } from "./gen/neural_heatmap/v1/tensor_pb.js";

// Read from a typed array (not node:os) so the module runs in browsers too.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Thrown when a tensor's bytes do not match its shape and dtype. */
export class TensorError extends Error {
  override name = "TensorError";
}

/** Number of elements a shape describes (1 for a scalar shape []). */
export function elementCount(shape: readonly (bigint | number)[]): number {
  let n = 1;
  for (const d of shape) {
    const v = Number(d);
    if (!Number.isSafeInteger(v) || v < 0) throw new TensorError(`bad dimension ${String(d)}`);
    n *= v;
  }
  return n;
}

function itemSize(dtype: DataType): number {
  switch (dtype) {
    case DataType.FLOAT32:
      return 4;
    case DataType.FLOAT64:
      return 8;
    default:
      throw new TensorError(`unsupported tensor dtype ${DataType[dtype] ?? dtype}`);
  }
}

function checkedBytes(t: Tensor): { count: number; bytes: Uint8Array } {
  const count = elementCount(t.shape);
  const size = itemSize(t.dtype);
  if (t.data.byteLength !== count * size) {
    throw new TensorError(
      `tensor of shape [${t.shape.join(", ")}] and ${DataType[t.dtype]} needs ${count * size} bytes, got ${t.data.byteLength}`,
    );
  }
  return { count, bytes: t.data };
}

/**
 * A float32 tensor as a Float32Array. The array is a view over the message's bytes when they
 * are 4-byte aligned (the usual case), otherwise a copy. A float64 tensor is narrowed (copied).
 */
export function tensorToFloat32Array(t: Tensor): Float32Array {
  const { count, bytes } = checkedBytes(t);
  if (t.dtype === DataType.FLOAT64) return Float32Array.from(tensorToFloat64Array(t));
  if (!LITTLE_ENDIAN_HOST) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Float32Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, true));
  }
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  return new Float32Array(bytes.slice().buffer, 0, count);
}

/** A float64 (or float32, widened) tensor as a Float64Array; a view when aligned. */
export function tensorToFloat64Array(t: Tensor): Float64Array {
  const { count, bytes } = checkedBytes(t);
  if (t.dtype === DataType.FLOAT32) return Float64Array.from(tensorToFloat32Array(t));
  if (!LITTLE_ENDIAN_HOST) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Float64Array.from({ length: count }, (_, i) => dv.getFloat64(i * 8, true));
  }
  if (bytes.byteOffset % 8 === 0) return new Float64Array(bytes.buffer, bytes.byteOffset, count);
  return new Float64Array(bytes.slice().buffer, 0, count);
}

/** Builds a float32 tensor (shape [n] unless given) from numbers, little-endian. */
export function float32Tensor(values: ArrayLike<number>, shape?: readonly number[]): Tensor {
  const n = values.length;
  const data = new Uint8Array(n * 4);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < n; i++) dv.setFloat32(i * 4, values[i]!, true);
  const dims = shape ?? [n];
  if (elementCount(dims) !== n) throw new TensorError(`shape [${dims.join(", ")}] does not hold ${n} values`);
  return create(TensorSchema, { shape: dims.map((d) => BigInt(d)), dtype: DataType.FLOAT32, data });
}
