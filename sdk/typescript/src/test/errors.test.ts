import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ERROR_CLASS_BY_CODE,
  NeuralHeatmapError,
  NotFoundError,
  ResourceExhaustedError,
  codeName,
  toNeuralHeatmapError,
} from "../errors.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";

test("every status code but OK has its own error class", () => {
  const codes = Object.values(Code).filter((c): c is Code => typeof c === "number");
  assert.equal(codes.length, 16);
  const names = new Set(codes.map((c) => ERROR_CLASS_BY_CODE[c].name));
  assert.equal(names.size, 16);
  for (const c of codes) {
    const e = toNeuralHeatmapError(new ConnectError("x", c));
    assert.ok(e instanceof NeuralHeatmapError && e instanceof ERROR_CLASS_BY_CODE[c]);
    assert.equal(e.code, c);
    assert.equal(e.name, ERROR_CLASS_BY_CODE[c].name);
  }
  assert.deepEqual([Code.NotFound, Code.Canceled, Code.DeadlineExceeded].map(codeName), ["NOT_FOUND", "CANCELLED", "DEADLINE_EXCEEDED"]);
});

test("the google.rpc details become fields: reason, domain, metadata, field violations, retry delay", () => {
  const ce = new ConnectError("slow down", Code.ResourceExhausted, undefined, [
    { desc: ErrorInfoSchema, value: { reason: "OVERLOADED", domain: "neural-heatmap.dev", metadata: { route: "/x" } } },
    { desc: BadRequestSchema, value: { fieldViolations: [{ field: "limit", description: "too big" }] } },
    { desc: RetryInfoSchema, value: { retryDelay: create(DurationSchema, { seconds: 1n, nanos: 500_000_000 }) } },
  ]);
  const e = toNeuralHeatmapError(ce);
  assert.ok(e instanceof ResourceExhaustedError);
  assert.equal(e.reason, "OVERLOADED");
  assert.equal(e.domain, "neural-heatmap.dev");
  assert.deepEqual(e.errorMetadata, { route: "/x" });
  assert.deepEqual(e.fieldViolations, [{ field: "limit", description: "too big" }]);
  assert.equal(e.retryDelayMs, 1500);
  assert.equal(e.message, "[RESOURCE_EXHAUSTED] slow down");
  assert.equal(toNeuralHeatmapError(e), e);
  assert.ok(!(e instanceof NotFoundError));
});
