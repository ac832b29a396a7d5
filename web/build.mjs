// Builds the dashboard into the bridge package (bridge/neural_heatmap_bridge/_web/), checked in
// like generated code: type-checks web/src, bundles src/main.ts with esbuild (minified, no
// source map, no timestamps: the same sources give the same bytes) and copies index.html.
// Run by `make gen` (scripts/gen.sh); `make check-gen` fails when the output is stale.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const WEB = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(WEB, "..");
const SDK = join(ROOT, "sdk/typescript");
// esbuild and the SDK's dependencies are installed once, in sdk/typescript/node_modules.
const { build } = createRequire(join(SDK, "package.json"))("esbuild");
const OUT = join(ROOT, "bridge/neural_heatmap_bridge/_web");

execFileSync(join(SDK, "node_modules/.bin/tsc"), ["-p", join(WEB, "tsconfig.json")], { stdio: "inherit" });
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: [join(WEB, "src/main.ts")],
  outfile: join(OUT, "app.js"),
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  alias: { "@neural-heatmap/client/web": join(SDK, "src/web.ts") },
  nodePaths: [join(SDK, "node_modules")],
  logLevel: "warning",
});
copyFileSync(join(WEB, "index.html"), join(OUT, "index.html"));
