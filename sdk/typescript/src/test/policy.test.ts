/** The TypeScript SDK runs on the policy file every client shares (protos/policy/retry.json). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Code } from "@connectrpc/connect";
import { Backoff } from "../backoff.js";
import { RESUMABLE_CODES } from "../anomalies.js";
import {
  BACKOFF_INITIAL_MS,
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_MULTIPLIER,
  STREAM_RECONNECT_CODES,
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
