import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { AnomalySchema } from "../gen/neural_heatmap/v1/analytics_pb.js";
import { AnomalyHeartbeatSchema, AnomalyUpdateSchema } from "../gen/neural_heatmap/v1/updates_pb.js";
import {
  SubscribeAnomaliesResponseSchema,
  type SubscribeAnomaliesResponse,
} from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { resumableAnomalies, type OpenAnomalyStream } from "../anomalies.js";

function update(...seqs: number[]): SubscribeAnomaliesResponse {
  return create(SubscribeAnomaliesResponseSchema, {
    update: create(AnomalyUpdateSchema, {
      anomalies: seqs.map((s) => create(AnomalySchema, { sequence: BigInt(s), modelId: "m" })),
    }),
  });
}

/** A fake server whose log is 1..n; each connection delivers `perConnection` then fails. */
function flakyServer(n: number, perConnection: number, code = Code.Unavailable, replayOverlap = 1) {
  const opened: (bigint | undefined)[] = [];
  const open: OpenAnomalyStream = (after, signal) => {
    opened.push(after);
    return (async function* () {
      // Misbehaving replay: starts `replayOverlap` before the asked-for point (duplicates).
      let next = Number(after ?? 0n) + 1 - replayOverlap;
      if (next < 1) next = 1;
      for (let i = 0; i < perConnection && next <= n; i++, next++) yield update(next);
      if (next > n) {
        // Live: nothing more until the caller aborts, as a real stream would behave.
        if (signal.aborted) throw signal.reason;
        await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
      }
      throw new ConnectError("bridge went away", code);
    })();
  };
  return { open, opened };
}

async function take(it: AsyncGenerator<{ sequence: bigint }>, n: number): Promise<number[]> {
  const out: number[] = [];
  for await (const a of it) {
    out.push(Number(a.sequence));
    if (out.length >= n) break;
  }
  return out;
}

test("reconnects on UNAVAILABLE and resumes after the last sequence without duplicates", async () => {
  const srv = flakyServer(10, 3);
  const reconnects: (bigint | undefined)[] = [];
  const got = await take(
    resumableAnomalies(srv.open, {
      afterSequence: 0n,
      backoff: { initialMs: 1, maxMs: 2, jitter: 0 },
      onReconnect: (_e, _d, after) => reconnects.push(after),
    }),
    10,
  );
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(srv.opened.slice(0, 4), [0n, 3n, 5n, 7n]);
  assert.ok(reconnects.length >= 3);
});

test("a non-transient status ends the iterator with that error", async () => {
  const srv = flakyServer(10, 2, Code.PermissionDenied, 0);
  const it = resumableAnomalies(srv.open, { afterSequence: 0n, backoff: { initialMs: 1, maxMs: 1 } });
  await assert.rejects(take(it, 5), (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
});

test("gives up after maxAttempts consecutive failures", async () => {
  const open: OpenAnomalyStream = () =>
    (async function* () {
      throw new ConnectError("down", Code.Unavailable);
    })();
  const it = resumableAnomalies(open, { afterSequence: 5n, backoff: { initialMs: 1, maxMs: 1, maxAttempts: 3 } });
  await assert.rejects(take(it, 1), (e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable);
});

test("without a starting sequence it asks for the log head first", async () => {
  const srv = flakyServer(6, 10, Code.Unavailable, 0);
  const got = await take(resumableAnomalies(srv.open, { headSequence: async () => 4n }), 2);
  assert.deepEqual(got, [5, 6]);
  assert.equal(srv.opened[0], 4n);
});

test("aborting the signal ends the iterator quietly", async () => {
  const ctl = new AbortController();
  const srv = flakyServer(2, 10, Code.Unavailable, 0);
  const it = resumableAnomalies(srv.open, { afterSequence: 0n, signal: ctl.signal });
  const got: number[] = [];
  for await (const a of it) {
    got.push(Number(a.sequence));
    if (got.length === 2) ctl.abort();
  }
  assert.deepEqual(got, [1, 2]);
});

test("a CANCELED the caller did not ask for (connection died) is resumed", async () => {
  const srv = flakyServer(6, 2, Code.Canceled, 0);
  const got = await take(
    resumableAnomalies(srv.open, { afterSequence: 0n, backoff: { initialMs: 1, maxMs: 1 } }),
    6,
  );
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(srv.opened.slice(0, 3), [0n, 2n, 4n]);
});

test("heartbeats are never yielded; a stream silent after one is reopened after the last sequence", async () => {
  const opened: (bigint | undefined)[] = [];
  // Each connection: a heartbeat, the next anomaly, then silence until aborted (stuck).
  const open: OpenAnomalyStream = (after, signal) => {
    opened.push(after);
    return (async function* () {
      yield create(SubscribeAnomaliesResponseSchema, {
        heartbeat: create(AnomalyHeartbeatSchema, { lastSequence: (after ?? 0n) + 5n }),
      });
      yield update(Number(after ?? 0n) + 1);
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
    })();
  };
  const reasons: Code[] = [];
  const got = await take(
    resumableAnomalies(open, {
      afterSequence: 0n,
      idleTimeoutMs: 30,
      backoff: { initialMs: 1, maxMs: 1, jitter: 0 },
      onReconnect: (e) => reasons.push(e.code),
    }),
    3,
  );
  assert.deepEqual(got, [1, 2, 3]);
  assert.deepEqual(opened, [0n, 1n, 2n]);
  assert.deepEqual(reasons, [Code.Unavailable, Code.Unavailable]);
});
