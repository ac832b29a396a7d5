/**
 * The partition of a model id in the sharded shape (docs/deploy.md): FNV-1a 32 of the
 * id's UTF-8 bytes modulo PARTITIONS, the same function as the contract's
 * neural_heatmap_contract.partition in Python and Partition in Go;
 * protos/policy/partition.json holds the test vectors every language checks.
 */

/** Partitions of the model space; a server owns a set of them. */
export const PARTITIONS = 64;

/** FNV-1a 32 of `bytes` (an unsigned 32-bit integer). */
export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h = Math.imul(h ^ b, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The partition (0 to PARTITIONS - 1) that owns `modelId`. */
export function partition(modelId: string): number {
  return fnv1a32(new TextEncoder().encode(modelId)) % PARTITIONS;
}
