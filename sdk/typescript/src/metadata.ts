/**
 * Typed metadata (neural_heatmap.v1.MetadataValue) as plain JavaScript values. Unlike
 * google.protobuf.Struct, an integer the server sent stays an integer: a `number` when it
 * is a safe integer, a `bigint` beyond 2^53 (where a `number` would round it).
 */
import type { MetadataValue } from "./gen/neural_heatmap/v1/metadata_pb.js";

/** A JSON value whose integers may be bigints (see the module comment). */
export type MetadataPlain =
  | null
  | boolean
  | number
  | bigint
  | string
  | MetadataPlain[]
  | { [key: string]: MetadataPlain };

/** One MetadataValue as a plain value; no kind set is JSON null. */
export function metadataValue(value: MetadataValue): MetadataPlain {
  const kind = value.kind;
  switch (kind.case) {
    case "intValue":
      return Number.isSafeInteger(Number(kind.value)) ? Number(kind.value) : kind.value;
    case "doubleValue":
    case "stringValue":
    case "boolValue":
      return kind.value;
    case "listValue":
      return kind.value.values.map(metadataValue);
    case "mapValue":
      return metadataMap(kind.value.fields);
    default:
      return null;
  }
}

/** A map<string, MetadataValue> field (metadata, raw, details, MetadataMap.fields) as an object. */
export function metadataMap(fields: { [key: string]: MetadataValue }): { [key: string]: MetadataPlain } {
  const out: { [key: string]: MetadataPlain } = {};
  for (const [key, value] of Object.entries(fields)) out[key] = metadataValue(value);
  return out;
}
