/**
 * The browser entry point against a real bridge's web port, run in Node (whose fetch is the
 * browser's API): unary calls over Connect and gRPC-Web, the pushed view on streamUpdates, and
 * the token rule with the same typed error as over gRPC.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { NeuralHeatmapError } from "../errors.js";
import { UpdateType } from "../gen/neural_heatmap/v1/updates_pb.js";
import { Theme } from "../gen/neural_heatmap/v1/view_pb.js";
import { connect } from "../node.js";
import { freePort, startBridge, startServer, type Launched } from "../testing/live.js";
import { connectWeb } from "../web.js";

const TOKEN = "ts-web-token";
let server: Launched & { url: string };
let bridge: Launched & { target: string };
let web: string;

before(async () => {
  server = await startServer();
  const port = await freePort();
  bridge = await startBridge(server.url, ["--web-port", String(port), "--token", TOKEN]);
  web = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(web);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100)); // the web port listens a moment after gRPC
    }
  }
});

after(async () => {
  await bridge?.stop();
  await server?.stop();
});

test("Connect and gRPC-Web answer the same as gRPC", async () => {
  const grpc = connect({ address: bridge.target, token: TOKEN });
  const viaConnect = connectWeb({ address: web, token: TOKEN });
  const viaGrpcWeb = connectWeb({ address: web, token: TOKEN, protocol: "grpc-web" });
  const viaJson = connectWeb({ address: web, token: TOKEN, json: true });
  try {
    await grpc.setTheme(Theme.CONTOUR);
    for (const c of [viaConnect, viaGrpcWeb, viaJson]) {
      assert.equal((await c.getTheme()).theme, Theme.CONTOUR);
      assert.deepEqual(await c.listModels(), await grpc.listModels());
    }
  } finally {
    for (const c of [grpc, viaConnect, viaGrpcWeb, viaJson]) c.close();
  }
});

test("streamUpdates over Connect starts with the stored view and follows a change made over gRPC", async () => {
  const grpc = connect({ address: bridge.target, token: TOKEN });
  const page = connectWeb({ address: web, token: TOKEN });
  const stop = new AbortController();
  try {
    await grpc.setTheme(Theme.THERMAL);
    const views = page.streamUpdates({ types: [UpdateType.VIEW] }, { signal: stop.signal });
    const first = await views.next();
    assert.ok(!first.done && first.value.kind === "view");
    assert.equal(first.value.view.theme.theme, Theme.THERMAL);
    await grpc.setTheme(Theme.PLASMA);
    const second = await views.next();
    assert.ok(!second.done && second.value.kind === "view");
    assert.equal(second.value.view.theme.theme, Theme.PLASMA);
  } finally {
    stop.abort();
    grpc.close();
    page.close();
  }
});

test("without the token the web port refuses with UNAUTHENTICATED, as the gRPC port does", async () => {
  const page = connectWeb({ address: web });
  try {
    await assert.rejects(page.getTheme(), (e) => e instanceof NeuralHeatmapError && e.code === Code.Unauthenticated);
  } finally {
    page.close();
  }
});
