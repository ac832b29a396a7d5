import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { MetadataValueSchema } from "../gen/neural_heatmap/v1/metadata_pb.js";
import { metadataMap } from "../metadata.js";

test("metadata integers stay integers, big ones as bigint, nesting and null kept", () => {
  const v = (init: Parameters<typeof create<typeof MetadataValueSchema>>[1]) => create(MetadataValueSchema, init);
  const got = metadataMap({
    step: v({ kind: { case: "intValue", value: 4900n } }),
    big: v({ kind: { case: "intValue", value: 2n ** 62n } }),
    mean: v({ kind: { case: "doubleValue", value: 0.5 } }),
    ok: v({ kind: { case: "boolValue", value: true } }),
    none: v({}),
    list: v({
      kind: {
        case: "listValue",
        value: { values: [v({ kind: { case: "intValue", value: 1n } }), v({ kind: { case: "mapValue", value: { fields: { name: v({ kind: { case: "stringValue", value: "x" } }) } } } })] },
      },
    }),
  });
  assert.deepEqual(got, { step: 4900, big: 2n ** 62n, mean: 0.5, ok: true, none: null, list: [1, { name: "x" }] });
  assert.ok(Number.isInteger(got.step));
});
