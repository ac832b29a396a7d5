/**
 * Aborting, by every means a caller has (ABORT_STYLES), stops each kind of client operation
 * within a generous bound, against the real server and bridge: durable `consume`, the
 * resumable anomaly stream, a reopening stream and `streamUpdates` while they wait for
 * messages, and while they wait to reconnect to a stopped bridge (a backoff far longer than
 * the bound); unary calls and downloads while they wait to retry. Streams and `consume` end
 * quietly; calls reject with RequestCancelledError carrying the signal's reason. Garbage is
 * collected all the while, so a signal the client held only weakly would be lost here.
 * Last, a process that aborted all of these exits by itself: no timer or stream is left.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NeuralHeatmapClient } from "../node.js";
import { RequestCancelledError } from "../errors.js";
import { UpdateType } from "../gen/neural_heatmap/v1/updates_pb.js";
import { ABORT_STYLES, drain, within } from "../testing/abort.js";
import { freePort, startBridge, startServer, type Launched } from "../testing/live.js";

/** How long stopping may take: generous, against a wait that would otherwise last 30 s. */
const BOUND_MS = 5_000;
/** When the signals abort: the stream is open (or the reconnect wait has begun) by then. */
const ABORT_AFTER_MS = 400;
/** A backoff far longer than the bound: only the abort can end its wait. */
const SLOW = { initialMs: 30_000, maxMs: 30_000, jitter: 0 };

let server: Launched & { url: string };
let bridge: Launched & { target: string };
/** A client of the running bridge, where streams wait for messages that do not come. */
let live: NeuralHeatmapClient;
/** A client of a stopped bridge (nothing listens on its port): every call is UNAVAILABLE. */
let stopped: NeuralHeatmapClient;
let stoppedTarget: string;
let consumers = 0;

before(async () => {
  server = await startServer();
  bridge = await startBridge(server.url);
  live = connect({ address: bridge.target });
  stoppedTarget = `127.0.0.1:${await freePort()}`;
  stopped = connect({ address: stoppedTarget });
});

after(async () => {
  live?.close();
  stopped?.close();
  await bridge?.stop();
  await server?.stop();
});

/** Asserts that `p` rejects with RequestCancelledError carrying `signal`'s reason. */
async function rejectsCancelled(p: Promise<unknown>, signal: AbortSignal): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RequestCancelledError, `${String(e)}`);
    assert.equal(e.codeName, "CANCELLED");
    assert.equal((e.cause as { cause?: unknown }).cause, signal.reason);
    return true;
  });
}

for (const style of ABORT_STYLES) {
  test(`consume resolves on ${style.name}, waiting for anomalies and in a reconnect backoff`, async () => {
    const never = (): never => assert.fail("no anomaly was logged");
    await Promise.all(
      [live, stopped].map((client) =>
        within(
          BOUND_MS,
          `consume via ${client === live ? "the bridge" : "a stopped bridge"}`,
          client.consume(`abort-${++consumers}`, never, { signal: style.make(ABORT_AFTER_MS), backoff: SLOW }),
        ),
      ),
    );
  });

  test(`streams end quietly on ${style.name}, waiting for messages and in a reconnect backoff`, async () => {
    const reconnects: number[] = [];
    const onReconnect = (_e: unknown, delayMs: number): void => void reconnects.push(delayMs);
    const signal = (): AbortSignal => style.make(ABORT_AFTER_MS);
    const streams: [string, AsyncIterable<unknown>][] = [
      ["anomalies, waiting", live.anomalies({ signal: signal() })],
      ["subscribeHeatmap, waiting", live.subscribeHeatmap({}, { signal: signal() })],
      ["streamUpdates, waiting", live.streamUpdates({ types: [UpdateType.ANOMALY] }, { signal: signal() })],
      ["anomalies, backoff", stopped.anomalies({ afterSequence: 0n, backoff: SLOW, onReconnect, signal: signal() })],
      ["subscribeHeatmap, backoff", stopped.subscribeHeatmap({}, { reconnect: SLOW, onReconnect, signal: signal() })],
      // Without afterSequence it first reads the log head: a unary call in its retry wait.
      ["streamUpdates, reading the head", stopped.streamUpdates({}, { reconnect: SLOW, signal: signal() })],
    ];
    const counts = await Promise.all(streams.map(([what, it]) => within(BOUND_MS, what, drain(it))));
    assert.deepEqual(counts, [0, 0, 0, 0, 0, 0]);
    if (!style.name.includes("already")) assert.deepEqual(reconnects, [SLOW.initialMs, SLOW.initialMs]);
  });

  test(`a call and a download reject with RequestCancelledError on ${style.name}, waiting to retry`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "nh-ts-abort-"));
    try {
      const cases: [string, AbortSignal, (s: AbortSignal) => Promise<unknown>][] = [
        ["listModels", style.make(ABORT_AFTER_MS), (signal) => stopped.listModels({}, { signal, retry: SLOW })],
        ["downloadExport", style.make(ABORT_AFTER_MS), (signal) => drain(stopped.downloadExport("m.csv", { signal, retry: SLOW }))],
        ["downloadExportTo", style.make(ABORT_AFTER_MS), (signal) => stopped.downloadExportTo("m.csv", join(dir, "m.csv"), { signal, retry: SLOW })],
      ];
      await Promise.all(cases.map(([what, signal, call]) => within(BOUND_MS, what, rejectsCancelled(call(signal), signal))));
      assert.equal(existsSync(join(dir, "m.csv.part")) || existsSync(join(dir, "m.csv")), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a process that aborted a consume, streams, a call and a download exits by itself", async () => {
  const child = fileURLToPath(new URL("../testing/abort_child.js", import.meta.url));
  const proc = spawn(process.execPath, [child, bridge.target, stoppedTarget], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  try {
    assert.equal(await within(15_000, "the child process", exited), 0, out);
  } finally {
    proc.kill("SIGKILL");
  }
  assert.match(out, /all stopped/);
});
