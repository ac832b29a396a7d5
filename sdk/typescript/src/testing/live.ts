/**
 * The real server and bridge as child processes for the live tests (the TypeScript side of
 * tests/support): each on a free loopback port, run from the repository's sources with the
 * repository's virtualenv (`NH_PYTHON` overrides the interpreter), stopped with SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** dist/testing/live.js -> the repository root is four levels up. */
export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const PYTHON = process.env["NH_PYTHON"] ?? join(REPO_ROOT, ".venv", "bin", "python");

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** One launched process, its temporary directory and log. */
export class Launched {
  private exited: Promise<void>;

  constructor(
    readonly kind: string,
    readonly port: number,
    private readonly proc: ChildProcess,
    readonly dir: string,
  ) {
    this.exited = new Promise((resolve) => proc.once("exit", () => resolve()));
  }

  /** Its combined output so far (for failure messages). */
  log(): string {
    return readFileSync(join(this.dir, `${this.kind}.log`), "utf8");
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM, SIGKILL after 10 s, then remove the temporary directory. */
  async stop(): Promise<void> {
    if (this.running) {
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function launch(kind: string, port: number, args: string[], ready: () => Promise<boolean>): Promise<Launched> {
  const dir = mkdtempSync(join(tmpdir(), `nh-ts-${kind}-`));
  const log = openSync(join(dir, `${kind}.log`), "a");
  // The repository root too, for the crafted upstream in tests/support.
  const sources = ["server", "bridge", "contract/python", "sdk/python", ""].map((d) => join(REPO_ROOT, d));
  const proc = spawn(PYTHON, args.map((a) => a.replace("{dir}", dir)), {
    cwd: REPO_ROOT,
    stdio: ["ignore", log, log],
    env: { ...process.env, PYTHONPATH: [...sources, process.env["PYTHONPATH"] ?? ""].filter(Boolean).join(":") },
  });
  const p = new Launched(kind, port, proc, dir);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (!p.running) throw new Error(`${kind} exited:\n${p.log()}`);
    if (await ready()) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  await p.stop();
  throw new Error(`${kind} did not become ready`);
}

/** The server (no built-in source) on `port` (a free one by default). */
export async function startServer(extraArgs: string[] = [], port?: number): Promise<Launched & { url: string }> {
  const p = port ?? (await freePort());
  const url = `http://127.0.0.1:${p}`;
  const args = ["-m", "neural_heatmap_server", "--host", "127.0.0.1", "--port", String(p), "--no-source",
    "--data-dir", "{dir}/data", "--export-dir", "{dir}/exports", ...extraArgs];
  const proc = await launch("server", p, args, async () => {
    try {
      return (await fetch(`${url}/health`)).ok;
    } catch {
      return false;
    }
  });
  return Object.assign(proc, { url });
}

/**
 * tests/support/crafted_upstream.py: answers the real server cannot give (anomaly and pattern
 * types outside the enums, metadata of every JSON kind), for a bridge to convert.
 */
export async function startCraftedUpstream(): Promise<Launched & { url: string }> {
  const p = await freePort();
  const url = `http://127.0.0.1:${p}`;
  const proc = await launch("crafted-upstream", p, ["-m", "tests.support.crafted_upstream", "--port", String(p)], async () => {
    try {
      return (await fetch(`${url}/health`)).ok;
    } catch {
      return false;
    }
  });
  return Object.assign(proc, { url });
}

/**
 * The bridge in front of `upstreamUrl` (which need not be up); ready once it accepts connections.
 * Its web port (Connect, gRPC-Web) is off unless `extraArgs` names one (`--web-port N`), so
 * bridges started side by side never share its default 8090.
 */
export async function startBridge(upstreamUrl: string, extraArgs: string[] = []): Promise<Launched & { target: string }> {
  const p = await freePort();
  const target = `127.0.0.1:${p}`;
  const web = extraArgs.includes("--web-port") ? [] : ["--web-port", "0"];
  const args = ["-m", "neural_heatmap_bridge", "--listen", target, "--upstream", upstreamUrl,
    "--health-interval", "0.3", ...web, ...extraArgs];
  const proc = await launch("bridge", p, args, () =>
    new Promise((resolve) => {
      const sock = createConnection({ host: "127.0.0.1", port: p });
      sock.once("connect", () => {
        sock.destroy();
        resolve(true);
      });
      sock.once("error", () => resolve(false));
    }),
  );
  return Object.assign(proc, { target });
}
