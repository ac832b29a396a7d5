/**
 * Every hand-written method against the real server and bridge (started here, on free
 * loopback ports): values that could be wrong, typed errors with their google.rpc details,
 * AbortSignal and close(). An interceptor records which RPC each call reached; the last
 * test checks that together they reached every RPC of the service.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Interceptor } from "@connectrpc/connect";
import { connect, type NeuralHeatmapClient } from "../node.js";
import {
  InvalidArgumentError,
  NeuralHeatmapError,
  NotFoundError,
  RequestCancelledError,
  UnauthenticatedError,
} from "../errors.js";
import { ExportFormat } from "../gen/neural_heatmap/v1/export_pb.js";
import { Severity } from "../gen/neural_heatmap/v1/common_pb.js";
import { AnomalyType, Granularity, PatternType } from "../gen/neural_heatmap/v1/analytics_pb.js";
import { RenderKind } from "../gen/neural_heatmap/v1/render_pb.js";
import { NeuralHeatmapService } from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { UpdateType } from "../gen/neural_heatmap/v1/updates_pb.js";
import { Theme } from "../gen/neural_heatmap/v1/view_pb.js";
import { startBridge, startServer, type Launched } from "../testing/live.js";
import type { FrameInit } from "../client.js";

const TOKEN = "ts-s3cret";
const UNITS = 16;
const FRAMES = 128;
const RATE_HZ = 20;

let server: Launched & { url: string };
let bridge: Launched & { target: string };
let client: NeuralHeatmapClient;
const reached = new Set<string>();
const record: Interceptor = (next) => async (req) => {
  reached.add(req.method.name);
  return next(req);
};

/** Layer a: a 0.5 Hz sine; b = 2a + 1 (correlation 1 with a); c: a rising line. */
function seedFrames(model: string, t0: number): FrameInit[] {
  const out: FrameInit[] = [];
  for (let i = 0; i < FRAMES; i++) {
    const t = i / RATE_HZ;
    const sine = 0.4 * Math.sin(2 * Math.PI * 0.5 * t);
    const unit = (base: number) => Float32Array.from({ length: UNITS }, (_, u) => base + 0.02 * u);
    const timestamp = new Date(t0 + t * 1000);
    out.push({ modelId: model, layerId: "a", values: unit(sine), timestamp, step: i });
    out.push({ modelId: model, layerId: "b", values: unit(2 * sine + 1), timestamp, step: i });
    out.push({ modelId: model, layerId: "c", values: unit(i / FRAMES), timestamp, step: i });
  }
  return out;
}

/** A frame with one NaN unit: exactly one critical non_finite anomaly in `model`. */
function nanFrame(model: string): FrameInit {
  const values = Float32Array.from({ length: UNITS }, (_, u) => 0.01 * u);
  values[5] = Number.NaN;
  return { modelId: model, layerId: "x", values };
}

before(async () => {
  server = await startServer(["--anomaly-cooldown", "0", "--correlation-interval", "0.5",
    "--temporal-interval", "0.5", "--heatmap-hz", "50"]);
  bridge = await startBridge(server.url, ["--token", TOKEN]);
  client = connect({ address: bridge.target, token: TOKEN, timeoutMs: 20_000, interceptors: [record] });
  const t0 = Date.now() - (FRAMES / RATE_HZ) * 1000 - 1000;
  const r = await client.ingest([...seedFrames("m1", t0), ...seedFrames("m2", t0)], { batchSize: 100 });
  assert.equal(r.framesAccepted, 6 * FRAMES, JSON.stringify(r.rejections));
  assert.equal(typeof r.details["upstream_requests"], "number");
});

after(async () => {
  client?.close();
  await bridge?.stop();
  await server?.stop();
});

test("listModels: models, layers and counts as numbers, times as Dates", async () => {
  const models = await client.listModels({ includeUnits: true });
  const m1 = models.find((m) => m.modelId === "m1");
  assert.ok(m1, JSON.stringify(models.map((m) => m.modelId)));
  assert.deepEqual(m1.layers.map((l) => l.layerId).sort(), ["a", "b", "c"]);
  const a = m1.layers.find((l) => l.layerId === "a")!;
  assert.equal(a.units, UNITS);
  assert.equal(a.frames, FRAMES);
  assert.equal(a.unitsDetail.length, UNITS);
  assert.ok(m1.lastTimestamp instanceof Date && m1.lastTimestamp.getTime() > Date.now() - 60_000);
});

test("getCorrelationMatrix: a Float32Array view; b = 2a + 1 correlates 1 with a", async () => {
  const m = await client.getCorrelationMatrix({ modelIds: ["m1"] });
  assert.ok(m.values instanceof Float32Array);
  assert.equal(m.size, 3);
  assert.equal(m.values.length, 9);
  const ia = m.labels.indexOf("m1/a");
  const ib = m.labels.indexOf("m1/b");
  assert.ok(ia >= 0 && ib >= 0, m.labels.join(","));
  assert.ok(Math.abs(m.at(ia, ib) - 1) < 1e-4, String(m.at(ia, ib)));
  assert.equal(m.at(ia, ia), m.values[ia * m.size + ia]);
  // metadata is plain values; the server's integers arrive as integers (int64 on the wire).
  assert.equal(m.metadata["samples"], FRAMES);
  assert.equal(m.metadata["method"], "pearson");
  assert.deepEqual(m.metadata["layer_ids"], ["a", "b", "c"]);
});

test("renderHeatmap: PNG bytes of the requested size", async () => {
  const png = await client.renderHeatmap({ kind: RenderKind.CORRELATION, modelId: "m1", theme: Theme.PLASMA, width: 300, height: 200 });
  assert.equal(Buffer.from(png.subarray(0, 8)).toString("hex"), "89504e470d0a1a0a");
  const ihdr = new DataView(png.buffer, png.byteOffset + 16, 8);
  assert.deepEqual([ihdr.getUint32(0), ihdr.getUint32(4)], [300, 200]);
  await assert.rejects(client.renderHeatmap({ modelId: "m1", width: 50_000 }), InvalidArgumentError);
});

test("temporal statistics and patterns: the rising layer has a positive slope", async () => {
  const s = await client.getTemporalStatistics({ modelId: "m1" });
  assert.equal(s.modelId, "m1");
  const c = s.layers.find((l) => l.layerId === "c");
  assert.ok(c, JSON.stringify(s.layers));
  assert.equal(c.samples, FRAMES);
  assert.ok(c.trendSlope > 0, String(c.trendSlope));
  const patterns = await client.getTemporalPatterns({ modelId: "m1" });
  assert.ok(patterns.length > 0);
  assert.ok(patterns.every((p) => p.modelId === "m1" && typeof p.confidence === "number"));
  const periodic = patterns.find((p) => p.layerId === "a" && p.patternType === PatternType.PERIODIC);
  assert.equal(periodic?.patternTypeName, "periodic", JSON.stringify(patterns.map((p) => [p.layerId, p.patternTypeName])));
});

test("compareModels: a square similarity matrix with 1 on the diagonal", async () => {
  const c = await client.compareModels(["m1", "m2"]);
  assert.deepEqual(c.modelIds, ["m1", "m2"]);
  assert.equal(c.size, 2);
  assert.ok(Math.abs(c.at(0, 0) - 1) < 1e-4 && Math.abs(c.at(1, 1) - 1) < 1e-4, Array.from(c.values).join(","));
  assert.ok(c.metrics.length > 0);
});

test("view state: filter, theme and layout round-trip; clearFilter empties it", async () => {
  const start = new Date(Date.now() - 3_600_000);
  const f = await client.setFilter({ modelIds: ["m1"], layerIds: ["a"], timeRange: { start } });
  assert.deepEqual([f.modelIds, f.layerIds], [["m1"], ["a"]]);
  assert.equal(f.timeRange?.start?.getTime(), start.getTime());
  assert.deepEqual((await client.getFilter()).modelIds, ["m1"]);
  await client.clearFilter();
  assert.deepEqual((await client.getFilter()).modelIds, []);
  const th = await client.setTheme(Theme.CUSTOM, ["#112233", "#445566"]);
  assert.equal(th.theme, Theme.CUSTOM);
  assert.deepEqual((await client.getTheme()).customColors, ["#112233", "#445566"]);
  await client.setLayout({ panelPositions: { main: { x: 10, y: 20 } }, zOrder: ["main"] });
  const l = await client.getLayout();
  assert.equal(l?.panelPositions["main"]?.y, 20);
  assert.deepEqual(l?.zOrder, ["main"]);
});

test("exports: written, listed, downloaded as a Readable and into a file, byte for byte", async () => {
  const r = await client.exportCorrelationMatrix({ filename: "ts-matrix.csv", format: ExportFormat.CSV, modelIds: ["m1"] });
  assert.ok(r.bytes > 0);
  const listed = (await client.listExports()).find((f) => f.name === "ts-matrix.csv");
  assert.equal(listed?.size, r.bytes);
  const chunks: Buffer[] = [];
  for await (const b of client.downloadExport("ts-matrix.csv")) chunks.push(b as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  assert.equal(Buffer.byteLength(text), r.bytes);
  assert.match(text, /m1\/a/);
  const dir = mkdtempSync(join(tmpdir(), "nh-ts-dl-"));
  try {
    const path = join(dir, "m.csv");
    assert.equal(await client.downloadExportTo("ts-matrix.csv", path), r.bytes);
    assert.equal(readFileSync(path, "utf8"), text);
    const sink: Buffer[] = [];
    const w = new Writable({ write: (c: Buffer, _e, cb) => (sink.push(c), cb()) });
    assert.equal(await client.downloadExportTo("ts-matrix.csv", w), r.bytes);
    assert.equal(Buffer.concat(sink).toString("utf8"), text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("anomalies: the log page, the resuming stream and streamUpdates agree", async () => {
  const model = "anom-ts";
  const head = (await client.getAnomalies({ limit: 1 })).lastSequence;
  await client.ingest([nanFrame(model)]);
  let page = await client.getAnomalies({ modelId: model, afterSequence: head });
  for (let i = 0; i < 50 && page.anomalies.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    page = await client.getAnomalies({ modelId: model, afterSequence: head });
  }
  assert.equal(page.anomalies.length, 1);
  const a = page.anomalies[0]!;
  assert.equal(a.anomalyType, AnomalyType.NON_FINITE);
  assert.equal(a.anomalyTypeName, "non_finite");
  assert.equal(a.severity, Severity.CRITICAL);
  assert.ok(a.timestamp instanceof Date);
  for await (const s of client.anomalies({ afterSequence: head, modelIds: [model] })) {
    assert.equal(s.sequence, a.sequence);
    assert.equal(s.description, a.description);
    break;
  }
  for await (const u of client.streamUpdates({ types: [UpdateType.ANOMALY], afterSequence: head, modelIds: [model] })) {
    assert.equal(u.kind, "anomaly");
    if (u.kind === "anomaly") assert.deepEqual(u.anomalies.map((x) => x.sequence), [a.sequence]);
    break;
  }
});

test("anomalies of several models: modelIds, and modelId kept beside it", async () => {
  const models = ["anom-ts-1", "anom-ts-2", "anom-ts-3"];
  const head = (await client.getAnomalies({ limit: 1 })).lastSequence;
  await client.ingest(models.map(nanFrame));
  const modelsOf = async (req: { modelId?: string; modelIds?: string[] }): Promise<string[]> => {
    let seen: string[] = [];
    for (let i = 0; i < 50; i++) {
      const page = await client.getAnomalies({ ...req, afterSequence: head, limit: 1000 });
      seen = [...new Set(page.anomalies.map((a) => a.modelId))].sort();
      if (seen.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return seen;
  };
  assert.deepEqual(await modelsOf({ modelIds: ["anom-ts-1", "anom-ts-3"] }), ["anom-ts-1", "anom-ts-3"]);
  assert.deepEqual(await modelsOf({ modelId: "anom-ts-2", modelIds: ["anom-ts-3"] }), ["anom-ts-2", "anom-ts-3"]);
});

test("live streams: a heatmap frame, a correlation matrix and a temporal update arrive", async () => {
  const feed = setInterval(() => {
    void client.ingest(seedFrames("m1", Date.now()).slice(0, 3)).catch(() => undefined);
  }, 200);
  try {
    for await (const h of client.subscribeHeatmap({ modelIds: ["m1"], layerIds: ["a"] })) {
      assert.equal(h.modelId, "m1");
      assert.ok(h.values instanceof Float32Array && h.values.length === UNITS, String(h.values.length));
      break;
    }
    for await (const m of client.subscribeCorrelations()) {
      assert.ok(m.values instanceof Float32Array && m.size > 0);
      break;
    }
    for await (const t of client.subscribeTemporal()) {
      assert.ok(Array.isArray(t.patterns));
      break;
    }
  } finally {
    clearInterval(feed);
  }
});

test("typed errors: NOT_FOUND, INVALID_ARGUMENT naming the field, UNAUTHENTICATED", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nh-ts-dl-"));
  try {
    await assert.rejects(client.downloadExportTo("no-such-file.csv", join(dir, "f.csv")), (e) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.equal(e.codeName, "NOT_FOUND");
      assert.equal(e.reason, "NOT_FOUND");
      return true;
    });
    assert.deepEqual(readdirSync(dir), [], "a failed download leaves no file behind");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(client.exportCorrelationMatrix({ filename: "../escape.csv" }), (e) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.equal(e.reason, "INVALID_ARGUMENT");
    assert.equal(e.domain, "neural-heatmap.dev");
    assert.deepEqual(e.fieldViolations.map((v) => v.field), ["filename"]);
    return true;
  });
  const anonymous = connect({ address: bridge.target, retry: false });
  try {
    await assert.rejects(anonymous.listModels(), (e) => {
      assert.ok(e instanceof UnauthenticatedError && e instanceof NeuralHeatmapError, String(e));
      assert.equal(e.reason, "BRIDGE_UNAUTHENTICATED");
      return true;
    });
  } finally {
    anonymous.close();
  }
});

test("AbortSignal: a cancelled call rejects typed, an aborted stream ends quietly", async () => {
  await assert.rejects(client.listModels({}, { signal: AbortSignal.abort() }), RequestCancelledError);
  const ctl = new AbortController();
  const seen: bigint[] = [];
  setTimeout(() => ctl.abort(), 300);
  for await (const a of client.anomalies({ modelIds: ["m1"], signal: ctl.signal })) seen.push(a.sequence);
  assert.deepEqual(seen, []);
});

test("close() ends open streams and frees the connection", async () => {
  const other = connect({ address: bridge.target, token: TOKEN });
  const loop = (async () => {
    let n = 0;
    for await (const _ of other.subscribeCorrelations()) n++;
    return n;
  })();
  setTimeout(() => other.close(), 300);
  assert.equal(typeof (await loop), "number");
  await assert.rejects(other.listModels(), NeuralHeatmapError);
});

test("ackAnomalies: an unknown consumer is NOT_FOUND, a bad name INVALID_ARGUMENT", async () => {
  // The cursor itself (subscribe, ack, resume) is covered by tests/sdk/test_ts_consume.py
  // and the durable_consumer conformance scenario.
  await assert.rejects(client.ackAnomalies("ts-never-subscribed", 5n), (e) => {
    assert.ok(e instanceof NotFoundError, String(e));
    assert.match(e.message, /no consumer named 'ts-never-subscribed'/);
    return true;
  });
  await assert.rejects(client.ackAnomalies("no/such", 1n), (e) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    return true;
  });
});

/** Normal noise from a seeded generator (mulberry32 + Box-Muller): the same frames every run. */
function noise(seed: number): () => number {
  let a = seed;
  const uniform = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

test("unit granularity and getLayerHealth name the one oscillating and the one dead unit of 64", async () => {
  // 200 steps at 50 Hz: "osc" has unit 23 at 3 Hz among 63 noisy units, "relu" unit 50 dead from step 150.
  const normal = noise(17);
  const frames: FrameInit[] = [];
  const t0 = 1_760_000_000_000;
  for (let k = 0; k < 200; k++) {
    const osc = Float32Array.from({ length: 64 }, () => 0.1 * normal());
    osc[23] += 0.5 * Math.sin((2 * Math.PI * 3 * k) / 50);
    const relu = Float32Array.from({ length: 64 }, () => Math.abs(normal()) + 0.05);
    if (k >= 150) relu[50] = 0;
    const timestamp = new Date(t0 + k * 20);
    frames.push({ modelId: "ts-unit", layerId: "osc", values: osc, timestamp, step: k });
    frames.push({ modelId: "ts-unit", layerId: "relu", values: relu, timestamp, step: k });
  }
  assert.equal((await client.ingest(frames, { batchSize: 100 })).framesAccepted, 400);
  const bin = 50 / 200; // Hz: one periodogram bin of the 4 s series

  const stats = await client.getTemporalStatistics({ modelId: "ts-unit", layerId: "osc", granularity: Granularity.UNIT });
  assert.equal(stats.units.length, 64);
  assert.deepEqual(stats.oscillatingUnits.map((u) => [u.unit, u.location]), [[23, { x: 7, y: 2 }]]);
  assert.ok(Math.abs(stats.oscillatingUnits[0]!.frequency - 3) <= bin, String(stats.oscillatingUnits[0]!.frequency));

  const periodic = await client.getTemporalPatterns({
    modelId: "ts-unit", layerId: "osc", granularity: Granularity.UNIT, patternTypes: [PatternType.PERIODIC],
    units: [1, 2], unitRanges: [{ first: 20, last: 30 }],
  });
  assert.deepEqual(periodic.map((p) => p.unit), [23]);
  await assert.rejects(
    client.getTemporalPatterns({ modelId: "ts-unit", layerId: "osc", granularity: Granularity.UNIT, units: [64] }),
    (e) => e instanceof InvalidArgumentError && /has 64 units/.test(e.message),
  );

  const [relu] = await client.getLayerHealth({ modelId: "ts-unit", layerId: "relu", topK: 3 });
  assert.ok(relu);
  assert.deepEqual(relu.deadUnits.map((u) => [u.unit, u.location, u.sinceStep, u.frames]), [[50, { x: 2, y: 6 }, 150, 50]]);
  assert.equal(relu.topSpikes.length, 3);
  assert.equal(relu.criteria["recent_frames"], 8);
});

test("together the calls above reached every RPC of the service", () => {
  const all = NeuralHeatmapService.methods.map((m) => m.name).sort();
  assert.deepEqual([...reached].sort(), all);
});
