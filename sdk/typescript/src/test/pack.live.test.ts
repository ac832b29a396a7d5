/**
 * The published shape: `npm pack` (whose prepack builds from a clean copy of the sources)
 * gives a tarball that installs with plain `npm install` in an empty folder outside the
 * repository, type-checks as ESM through its `exports` map, hides everything else, and runs
 * a small program against a live bridge.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { NeuralHeatmapService } from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { REPO_ROOT, startBridge, startServer, type Launched } from "../testing/live.js";

const run = promisify(execFile);
const PKG = join(REPO_ROOT, "sdk", "typescript");
const NODE_MODULES = realpathSync(join(PKG, "node_modules"));

let server: Launched & { url: string };
let bridge: Launched & { target: string };
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "nh-ts-pack-"));
  server = await startServer();
  bridge = await startBridge(server.url);
});

after(async () => {
  await bridge?.stop();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const PROGRAM = `
import { connect, NotFoundError, Severity } from "@neural-heatmap/client";
import { NeuralHeatmapService } from "@neural-heatmap/client/gen";
const client = connect(process.argv[2]);
const ingested = await client.ingest([1, 2, 3].map((i) => ({ modelId: "packed", layerId: "a", values: [i, 2 * i] })));
const models = await client.listModels();
let notFound = "";
try { await client.listExports(); await client.downloadExportTo("missing.csv", process.stdout); }
catch (e) { notFound = e instanceof NotFoundError ? e.reason : String(e); }
client.close();
console.log(JSON.stringify({ accepted: ingested.framesAccepted, models: models.map((m) => m.modelId),
  notFound, rpcs: NeuralHeatmapService.methods.length, critical: Severity.CRITICAL }));
`;

const TYPED = `
import { connect, NotFoundError, type Anomaly, type CorrelationMatrixView } from "@neural-heatmap/client";
import { AnomalySchema } from "@neural-heatmap/client/gen";
export async function use(address: string): Promise<number> {
  const client = connect({ address, timeoutMs: 1000 });
  const m: CorrelationMatrixView = await client.getCorrelationMatrix({ modelIds: ["x"] });
  const f: Float32Array = m.values;
  for await (const a of client.anomalies({ afterSequence: 0n })) { const s: bigint = (a satisfies Anomaly).sequence; void s; break; }
  void AnomalySchema.typeName; void NotFoundError;
  return f.length;
}
`;

test("npm pack builds a tarball that installs and runs outside the repository", { timeout: 300_000 }, async () => {
  // A clean copy of the sources: prepack must build everything from nothing.
  const src = join(work, "src-copy");
  for (const f of ["package.json", "tsconfig.json"]) cpSync(join(PKG, f), join(src, f));
  cpSync(join(PKG, "src"), join(src, "src"), {
    recursive: true,
    filter: (p) => !/[/\\]src[/\\](test|testing|conformance)([/\\]|$)/.test(p.slice(PKG.length)),
  });
  symlinkSync(NODE_MODULES, join(src, "node_modules"));
  await run("npm", ["pack", "--pack-destination", work, "--loglevel=error"], { cwd: src });
  const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, readdirSync(work).join(","));

  const app = join(work, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "nh-packed-app", private: true, type: "module" }));
  await run("npm", ["install", join(work, tarball), "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd: app });

  // Types: ESM through the exports map, strict, NodeNext.
  writeFileSync(join(app, "typed.ts"), TYPED);
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
    compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true,
      types: ["node"], typeRoots: [join(NODE_MODULES, "@types")] },
    files: ["typed.ts"],
  }));
  await run(join(NODE_MODULES, ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: app });

  // Only the exports map's entries are reachable.
  writeFileSync(join(app, "deep.mjs"), `import("@neural-heatmap/client/dist/client.js").then(() => console.log("open"), (e) => console.log(e.code));`);
  assert.equal((await run("node", ["deep.mjs"], { cwd: app })).stdout.trim(), "ERR_PACKAGE_PATH_NOT_EXPORTED");

  writeFileSync(join(app, "main.mjs"), PROGRAM);
  const { stdout } = await run("node", ["main.mjs", bridge.target], { cwd: app, timeout: 60_000 });
  const out = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
  assert.deepEqual(out, { accepted: 3, models: ["packed"], notFound: "NOT_FOUND", rpcs: NeuralHeatmapService.methods.length, critical: 4 });
});
