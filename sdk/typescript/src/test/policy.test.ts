/**
 * The TypeScript SDK runs on the policy files every client shares (protos/policy/retry.json,
 * client.json) and retries exactly the RPCs the protos declare idempotent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Code } from "@connectrpc/connect";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Backoff, streamBackoff } from "../backoff.js";
import { NeuralHeatmapService } from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { RESUMABLE_CODES } from "../anomalies.js";
import {
  BACKOFF_INITIAL_MS,
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_MULTIPLIER,
  DEFAULT_ADDRESS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_RETRY_DEADLINE_MS,
  RETRY_SAFE,
  STREAM_RECONNECT_CODES,
  STREAM_RECONNECT_LIMIT,
  UNARY_RETRY_CODES,
} from "../policy_gen.js";

// dist/test/policy.test.js -> the repository root is four levels up.
const policy = JSON.parse(
  readFileSync(new URL("../../../../protos/policy/retry.json", import.meta.url), "utf8"),
) as {
  unary_retry_codes: string[];
  stream_reconnect_codes: string[];
  backoff: { initial_seconds: number; multiplier: number; max_seconds: number; jitter: string };
};

/** Code.DeadlineExceeded -> "DEADLINE_EXCEEDED", the policy file's spelling. */
const canonical = (c: Code): string => Code[c].replace(/(?<=[a-z])(?=[A-Z])/g, "_").toUpperCase();

test("generated constants equal the policy file", () => {
  assert.deepEqual(UNARY_RETRY_CODES.map(canonical), policy.unary_retry_codes);
  assert.deepEqual(STREAM_RECONNECT_CODES.map(canonical), policy.stream_reconnect_codes);
  assert.equal(BACKOFF_INITIAL_MS, policy.backoff.initial_seconds * 1000);
  assert.equal(BACKOFF_MAX_MS, policy.backoff.max_seconds * 1000);
  assert.equal(BACKOFF_MULTIPLIER, policy.backoff.multiplier);
  assert.equal(BACKOFF_JITTER, { none: 0, equal: 0.5, full: 1 }[policy.backoff.jitter]);
});

test("the default backoff and the resumable codes are the policy's", () => {
  const b = new Backoff();
  assert.deepEqual([b.initialMs, b.maxMs, b.multiplier, b.jitter], [
    policy.backoff.initial_seconds * 1000,
    policy.backoff.max_seconds * 1000,
    policy.backoff.multiplier,
    0.5,
  ]);
  assert.deepEqual([...RESUMABLE_CODES].map(canonical).sort(), [...policy.stream_reconnect_codes].sort());
  assert.ok(!RESUMABLE_CODES.has(Code.InvalidArgument) && !RESUMABLE_CODES.has(Code.OutOfRange));
});

const facts = JSON.parse(
  readFileSync(new URL("../../../../protos/policy/client.json", import.meta.url), "utf8"),
) as {
  max_message_bytes: number;
  retry_budget_seconds: number;
  stream_idle_timeout_seconds: number;
  stream_reconnect_limit: number;
  bridge: { host: string; port: number };
};

test("the client facts equal the facts file", () => {
  assert.equal(DEFAULT_MAX_MESSAGE_BYTES, facts.max_message_bytes);
  assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 256 * 1024 * 1024, "docs say 256 MiB");
  assert.equal(DEFAULT_RETRY_DEADLINE_MS, facts.retry_budget_seconds * 1000);
  assert.equal(DEFAULT_IDLE_TIMEOUT_MS, facts.stream_idle_timeout_seconds * 1000);
  assert.equal(STREAM_RECONNECT_LIMIT, facts.stream_reconnect_limit);
  assert.equal(DEFAULT_ADDRESS, `${facts.bridge.host}:${facts.bridge.port}`);
  // Streams and consumers give up after the limit; a unary call's Backoff is bounded by time.
  assert.equal(streamBackoff().maxAttempts, facts.stream_reconnect_limit);
  assert.equal(streamBackoff({ maxAttempts: 3 }).maxAttempts, 3);
  assert.equal(new Backoff().maxAttempts, Number.POSITIVE_INFINITY);
});

test("RETRY_SAFE is each RPC's idempotency_level in the protos", () => {
  const methods = NeuralHeatmapService.methods;
  assert.deepEqual(Object.keys(RETRY_SAFE).sort(), methods.map((m) => m.name).sort());
  for (const m of methods) {
    const declared = m.idempotency !== MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN;
    assert.equal(RETRY_SAFE[m.name as keyof typeof RETRY_SAFE], declared, m.name);
  }
  assert.equal(RETRY_SAFE.IngestActivations, false, "a retry could store frames twice");
  assert.equal(RETRY_SAFE.ListModels, true);
});
