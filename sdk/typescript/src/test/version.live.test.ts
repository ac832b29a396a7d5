import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../node.js";
import { VERSION } from "../version.js";
import { REPO_ROOT, startBridge, startServer, type Launched } from "../testing/live.js";

let server: Launched & { url: string };
let bridge: Launched & { target: string };

before(async () => {
  server = await startServer();
  bridge = await startBridge(server.url);
});

after(async () => {
  await bridge?.stop();
  await server?.stop();
});

test("the bridge reports the contract version, which is this package's", async () => {
  const client = connect(bridge.target);
  try {
    assert.equal(await client.bridgeVersion(), VERSION);
  } finally {
    client.close();
  }
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "sdk", "typescript", "package.json"), "utf8")) as { version: string };
  assert.equal(pkg.version, VERSION);
  assert.equal(readFileSync(join(REPO_ROOT, "protos", "VERSION"), "utf8").trim(), VERSION);
});
