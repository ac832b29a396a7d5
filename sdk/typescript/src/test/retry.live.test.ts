/**
 * The retry policy against a real bridge whose upstream is down (connection refused:
 * UNAVAILABLE, reason UPSTREAM_UNAVAILABLE) and then started: an idempotent call retries
 * until the server is up; a non-idempotent one (IngestActivations) is tried exactly once.
 * An interceptor counts the attempts that reached the bridge.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code, type Interceptor } from "@connectrpc/connect";
import { connect, type NeuralHeatmapClient } from "../node.js";
import { UnavailableError } from "../errors.js";
import { freePort, startBridge, startServer, type Launched } from "../testing/live.js";

let upstreamPort: number;
let bridge: Launched & { target: string };
let server: (Launched & { url: string }) | undefined;
let client: NeuralHeatmapClient;
const attempts: string[] = [];
const count: Interceptor = (next) => async (req) => {
  attempts.push(req.method.name);
  return next(req);
};

before(async () => {
  upstreamPort = await freePort();
  bridge = await startBridge(`http://127.0.0.1:${upstreamPort}`, ["--upstream-timeout", "2"]);
  client = connect({ address: bridge.target, interceptors: [count] });
});

after(async () => {
  client?.close();
  await bridge?.stop();
  await server?.stop();
});

test("a non-idempotent call is not retried: one attempt, UNAVAILABLE", async () => {
  attempts.length = 0;
  await assert.rejects(client.ingest([{ modelId: "m", layerId: "l", values: [1, 2] }]), (e) => {
    assert.ok(e instanceof UnavailableError, String(e));
    assert.equal(e.reason, "UPSTREAM_UNAVAILABLE");
    return true;
  });
  assert.deepEqual(attempts, ["IngestActivations"]);
});

test("retry: false makes an idempotent call a single attempt", async () => {
  attempts.length = 0;
  await assert.rejects(client.listModels({}, { retry: false }), UnavailableError);
  assert.deepEqual(attempts, ["ListModels"]);
});

test("an idempotent call retries on UNAVAILABLE until the upstream comes up", async () => {
  attempts.length = 0;
  const codes: Code[] = [];
  let starting: Promise<void> | undefined;
  const models = await client.listModels({}, {
    timeoutMs: 60_000,
    retry: {
      initialMs: 50,
      maxMs: 500,
      onRetry: (err, _delay, n) => {
        codes.push(err.code);
        // After the second failure, bring the upstream up on the port the bridge points at.
        if (n === 2) starting = startServer([], upstreamPort).then((s) => void (server = s));
      },
    },
  });
  await starting;
  assert.ok(Array.isArray(models));
  assert.ok(attempts.length >= 3, String(attempts.length));
  assert.ok(attempts.every((m) => m === "ListModels"));
  assert.deepEqual(new Set(codes), new Set([Code.Unavailable]));
  assert.equal(codes.length, attempts.length - 1);
});
