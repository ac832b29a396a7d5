import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { baseUrl, bearerToken } from "../client.js";
import { connect } from "../node.js";
import { UnavailableError } from "../errors.js";

test("addresses become base URLs; TLS picks https", () => {
  assert.equal(baseUrl("localhost:50051", false), "http://localhost:50051");
  assert.equal(baseUrl("bridge.internal:443", true), "https://bridge.internal:443");
  assert.equal(baseUrl("https://x:1/", false), "https://x:1");
  assert.equal(connect({ address: "127.0.0.1:9", tls: true }).baseUrl, "https://127.0.0.1:9");
  assert.equal(connect("127.0.0.1:9").baseUrl, "http://127.0.0.1:9");
});

test("the bearer interceptor sets the authorization metadata", async () => {
  const header = new Headers();
  const seen: string[] = [];
  const next = async (req: { header: Headers }) => {
    seen.push(req.header.get("authorization") ?? "");
    return { ok: true };
  };
  // The interceptor only touches req.header, so a minimal request is enough here.
  const intercept = bearerToken("s3cret")(next as never) as unknown as (r: { header: Headers }) => Promise<unknown>;
  await intercept({ header });
  assert.deepEqual(seen, ["Bearer s3cret"]);
});

test("calling an unreachable bridge fails with UNAVAILABLE once the retries' deadline is spent", async () => {
  const client = connect({ address: "127.0.0.1:1", timeoutMs: 1500 });
  let retries = 0;
  const started = Date.now();
  await assert.rejects(
    client.listModels({}, { retry: { onRetry: () => void retries++ } }),
    (e: unknown) => e instanceof UnavailableError && e.code === Code.Unavailable,
  );
  assert.ok(retries >= 1, String(retries));
  assert.ok(Date.now() - started < 10_000);
  client.close();
});
