/**
 * The plain value types both views.ts and units.ts build results from. They live here, not
 * in views.ts, so that views.ts -> units.ts stays one-way (no import cycle;
 * test/imports.test.ts keeps it so). views.ts re-exports them, so the package exports them
 * once, as before.
 */
import type { MetadataPlain } from "./metadata.js";

/**
 * Server-side notes of a result as a plain object (from `map<string, MetadataValue>`): an
 * integer the server sent is a `number` when it is a safe integer and a `bigint` beyond 2^53,
 * so it is never rounded; fractions are numbers, JSON null is null (metadata.ts).
 */
export type Metadata = { [key: string]: MetadataPlain };

/** A point on the canvas. */
export interface Point {
  x: number;
  y: number;
}
