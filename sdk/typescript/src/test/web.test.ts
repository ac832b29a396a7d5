/**
 * The browser entry point reaches nothing of Node: esbuild bundles src/web.ts for the browser
 * platform (where any `node:` import or connect-node fails the build), and the bundle's inputs
 * name neither node.ts nor connect-node. The same client class serves both entry points.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { NeuralHeatmapClient as Core, RPC_METHODS } from "../client.js";
import { NeuralHeatmapClient as NodeClient } from "../node.js";
import { connectWeb, NeuralHeatmapClient as WebClient } from "../web.js";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

test("src/web.ts bundles for the browser without any Node module", async () => {
  const out = await build({
    entryPoints: [resolve(SRC, "web.ts")],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(out.metafile.inputs);
  assert.ok(inputs.some((i) => i.endsWith("src/client.ts")), "the shared client is in the bundle");
  for (const i of inputs) {
    assert.ok(!/src\/node\.ts$|connect-node|^node:/.test(i), `Node-only module in the browser bundle: ${i}`);
  }
});

test("the web and Node clients are the same client with every RPC's method", () => {
  assert.equal(WebClient, Core);
  assert.ok(NodeClient.prototype instanceof Core);
  const web = connectWeb({ address: "http://127.0.0.1:1" });
  for (const { method } of Object.values(RPC_METHODS)) {
    assert.equal(typeof (web as unknown as Record<string, unknown>)[method], "function", method);
  }
  assert.equal(web.baseUrl, "http://127.0.0.1:1");
  web.close();
});

test("a token over plaintext to another host is refused in the browser too", () => {
  assert.throws(() => connectWeb({ address: "http://example.com:8090", token: "t" }), /refusing to send a bearer token/);
});
