/** partition() against protos/policy/partition.json, the table Python and Go check too. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PARTITIONS, fnv1a32, partition } from "../partition.js";

// dist/test/partition.test.js -> the repository root is four levels up.
const table = JSON.parse(
  readFileSync(new URL("../../../../protos/policy/partition.json", import.meta.url), "utf8"),
) as { partitions: number; vectors: { model_id: string; fnv1a32: number; partition: number }[] };

test("every vector of the partition table", () => {
  assert.equal(table.partitions, PARTITIONS);
  assert.ok(table.vectors.length >= 10);
  for (const v of table.vectors) {
    assert.equal(fnv1a32(new TextEncoder().encode(v.model_id)), v.fnv1a32, v.model_id);
    assert.equal(partition(v.model_id), v.partition, v.model_id);
  }
});
