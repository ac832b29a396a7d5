/**
 * TypeScript conformance runner: executes tests/conformance/scenarios.json against a live
 * bridge, calling methods by name through the generated service descriptor with requests
 * parsed by fromJson and answers rendered by toJson. Same output and semantics as the
 * Python runner (tests/conformance/runner.py) and the Go runner (sdk/go/conformance).
 *
 *   node dist/conformance/runner.js --target 127.0.0.1:50051 [--auth-target H:P --token T]
 *        [--run ts] [--scenarios path] [--only a,b] [--out results.json]
 */
import { create, fromJson, toJson, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { ActivationFrameSchema, type ActivationFrame } from "../gen/neural_heatmap/v1/ingest_pb.js";
import {
  IngestActivationsRequestSchema,
  NeuralHeatmapService,
  type IngestActivationsRequest,
} from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { DataType, TensorSchema } from "../gen/neural_heatmap/v1/tensor_pb.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../client.js";
import { tensorToFloat32Array, tensorToFloat64Array } from "../tensor.js";

type Json = JsonValue;
type Obj = { [k: string]: Json };
type Step = Obj & { rpc: string };
type Env = Map<string, Json>;

class CheckFailed extends Error {}

const MISSING = Symbol("missing");
const DEFAULT = Symbol("default"); // a field absent from an existing object (proto-JSON omits defaults)
type Resolved = Json | typeof MISSING | typeof DEFAULT;

const VAR = /\$\{([A-Za-z0-9_]+)\}/g;
const WHOLE_VAR = /^\$\{([A-Za-z0-9_]+)\}$/;

interface Options {
  target: string;
  authTarget?: string;
  token?: string;
  run: string;
  only: string[];
  scenarios: string;
  out?: string;
}

// ------------------------------------------------------------------------------ substitution

function lookup(env: Env, name: string): Json {
  if (!env.has(name)) throw new CheckFailed(`variable \${${name}} is not set`);
  return env.get(name)!;
}

function toText(v: Json): string {
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function substitute(v: Json, env: Env): Json {
  if (typeof v === "string") {
    const whole = WHOLE_VAR.exec(v);
    if (whole) return lookup(env, whole[1]!);
    return v.replace(VAR, (_, name: string) => toText(lookup(env, name)));
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, env));
  if (v !== null && typeof v === "object") {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) out[k] = substitute(x as Json, env);
    return out;
  }
  return v;
}

// ------------------------------------------------------------------------------ paths

function splitDots(path: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of path) {
    if (ch === "[") depth++;
    else if (ch === "]") depth--;
    if (ch === "." && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

type Segment = { name: string | null; selectors: string[] };

function splitPath(path: string): Segment[] {
  return splitDots(path).map((part) => {
    const m = /^([^.[\]]+)?((?:\[[^\]]*\])*)$/.exec(part);
    if (!m) throw new CheckFailed(`bad path ${JSON.stringify(path)}`);
    const selectors = [...(m[2] ?? "").matchAll(/\[([^\]]*)\]/g)].map((x) => x[1]!);
    return { name: m[1] ?? null, selectors };
  });
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function resolve(doc: Json, path: string): Resolved {
  return resolveSegs(doc, splitPath(path));
}

function resolveSegs(start: Json, segs: Segment[]): Resolved {
  let cur: Json = start;
  for (let i = 0; i < segs.length; i++) {
    const { name, selectors } = segs[i]!;
    if (name !== null) {
      if (!isObj(cur)) return MISSING;
      if (!(name in cur)) return i === segs.length - 1 && selectors.length === 0 ? DEFAULT : MISSING;
      cur = cur[name]!;
    }
    for (let j = 0; j < selectors.length; j++) {
      const sel = selectors[j]!;
      if (!Array.isArray(cur)) return MISSING;
      if (sel === "*") {
        const rest: Segment[] =
          j + 1 < selectors.length ? [{ name: null, selectors: selectors.slice(j + 1) }, ...segs.slice(i + 1)] : segs.slice(i + 1);
        return cur.map((item) => resolveSegs(item, rest)).filter((x) => x !== MISSING) as Json[];
      }
      if (/^-?\d+$/.test(sel)) {
        let idx = Number(sel);
        if (idx < -cur.length || idx >= cur.length) return MISSING;
        if (idx < 0) idx += cur.length;
        cur = cur[idx]!;
        continue;
      }
      const conds = sel.split(",").map((c) => {
        const at = c.indexOf("=");
        return [c.slice(0, at), c.slice(at + 1)] as const;
      });
      const found: Json | undefined = cur.find((item) => isObj(item) && conds.every(([k, v]) => toText(item[k] ?? "") === v));
      if (found === undefined) return MISSING;
      cur = found;
    }
  }
  return cur;
}

// ------------------------------------------------------------------------------ checks

function num(v: Resolved): number {
  if (v === DEFAULT) return 0;
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v))) return Number(v);
  if (typeof v === "string" && (v === "NaN" || v === "Infinity" || v === "-Infinity")) return Number(v);
  throw new CheckFailed(`expected a number, got ${short(v)}`);
}

function isZero(v: Json): boolean {
  return (
    v === 0 || v === "" || v === false || v === null ||
    (Array.isArray(v) && v.length === 0) ||
    (isObj(v) && Object.keys(v).length === 0) ||
    (typeof v === "string" && (v.endsWith("_UNSPECIFIED") || v === "0"))
  );
}

function equal(actual: Resolved, expected: Json): boolean {
  if (actual === DEFAULT) return isZero(expected);
  if (actual === MISSING) return false;
  if (typeof expected === "boolean" || typeof actual === "boolean") return actual === expected;
  if (typeof expected === "number" || typeof actual === "number") {
    try {
      return num(actual) === num(expected);
    } catch {
      return false;
    }
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => equal(actual[i]!, e));
  }
  if (isObj(expected)) {
    if (!isObj(actual)) return false;
    const ka = Object.keys(actual).sort();
    const ke = Object.keys(expected).sort();
    return JSON.stringify(ka) === JSON.stringify(ke) && ke.every((k) => equal(actual[k]!, expected[k]!));
  }
  return actual === expected;
}

function short(v: Resolved): string {
  if (v === MISSING) return "<missing>";
  if (v === DEFAULT) return "<default>";
  const text = JSON.stringify(v);
  return text.length <= 200 ? text : text.slice(0, 200) + "...";
}

function asList(v: Resolved, path: string): Json[] {
  if (v === DEFAULT) return [];
  if (!Array.isArray(v)) throw new CheckFailed(`${path}: expected a list, got ${short(v)}`);
  return v;
}

function check(doc: Json, spec: Obj, digests: Map<string, string>): void {
  const path = spec.path as string;
  const v = resolve(doc, path);
  if ("exists" in spec) {
    const exists = v !== MISSING && v !== DEFAULT;
    if (exists !== spec.exists) throw new CheckFailed(`${path}: exists is ${exists}, expected ${String(spec.exists)}`);
    return;
  }
  if (v === MISSING) throw new CheckFailed(`${path}: not found`);
  for (const [op, want] of Object.entries(spec)) {
    if (op === "path" || op === "tol") continue;
    switch (op) {
      case "eq":
        if (!equal(v, want!)) throw new CheckFailed(`${path}: got ${short(v)}, expected ${short(want!)}`);
        break;
      case "approx": {
        const tol = Number(spec.tol ?? 1e-9);
        if (!(Math.abs(num(v) - Number(want)) <= tol)) throw new CheckFailed(`${path}: got ${short(v)}, expected ${String(want)} +- ${tol}`);
        break;
      }
      case "gt":
      case "ge":
      case "lt":
      case "le": {
        const a = num(v);
        const b = num(want!);
        const ok = { gt: a > b, ge: a >= b, lt: a < b, le: a <= b }[op];
        if (!ok) throw new CheckFailed(`${path}: got ${short(v)}, expected ${op} ${short(want!)}`);
        break;
      }
      case "len": {
        const n = asList(v, path).length;
        if (n !== Number(want)) throw new CheckFailed(`${path}: length ${n}, expected ${String(want)}`);
        break;
      }
      case "len_ge": {
        const n = asList(v, path).length;
        if (n < Number(want)) throw new CheckFailed(`${path}: length ${n}, expected >= ${String(want)}`);
        break;
      }
      case "contains": {
        const items = asList(v, path);
        if (!items.some((x) => equal(x, want!))) throw new CheckFailed(`${path}: ${short(items)} does not contain ${short(want!)}`);
        break;
      }
      case "all_eq":
        for (const x of asList(v, path)) if (!equal(x, want!)) throw new CheckFailed(`${path}: element ${short(x)} != ${short(want!)}`);
        break;
      case "all_gt":
        for (const x of asList(v, path)) if (!(num(x) > num(want!))) throw new CheckFailed(`${path}: element ${short(x)} not > ${short(want!)}`);
        break;
      case "strictly_increasing": {
        const nums = asList(v, path).map(num);
        const increasing = nums.every((x, i) => i === 0 || x > nums[i - 1]!);
        if (increasing !== want) throw new CheckFailed(`${path}: ${JSON.stringify(nums)} strictly increasing is not ${String(want)}`);
        break;
      }
      case "tensor":
        checkTensor(v, want as Obj, path, digests);
        break;
      default:
        throw new CheckFailed(`${path}: unknown check ${JSON.stringify(op)}`);
    }
  }
}

function checkTensor(t: Resolved, spec: Obj, path: string, digests: Map<string, string>): void {
  if (!isObj(t)) throw new CheckFailed(`${path}: not a tensor: ${short(t)}`);
  // Decode through the SDK's own typed-array view, as applications do.
  const msg = fromJson(TensorSchema, t);
  const shape = msg.shape.map(Number);
  const dtype = DataType[msg.dtype] ? `DATA_TYPE_${DataType[msg.dtype]}` : String(msg.dtype);
  let values: Float32Array | Float64Array;
  try {
    values = msg.dtype === DataType.FLOAT64 ? tensorToFloat64Array(msg) : tensorToFloat32Array(msg);
  } catch (e) {
    throw new CheckFailed(`${path}: ${(e as Error).message}`);
  }
  if (spec.shape !== undefined && JSON.stringify(shape) !== JSON.stringify(spec.shape)) {
    throw new CheckFailed(`${path}: shape ${JSON.stringify(shape)}, expected ${JSON.stringify(spec.shape)}`);
  }
  if (spec.dtype !== undefined && dtype !== spec.dtype) throw new CheckFailed(`${path}: dtype ${dtype}, expected ${String(spec.dtype)}`);
  if (spec.symmetric_unit_diagonal !== undefined) {
    const tol = Number(spec.symmetric_unit_diagonal);
    if (shape.length !== 2 || shape[0] !== shape[1]) throw new CheckFailed(`${path}: not square: ${JSON.stringify(shape)}`);
    const n = shape[0]!;
    for (let i = 0; i < n; i++) {
      const d = values[i * n + i]!;
      if (!(Math.abs(d - 1) <= tol)) throw new CheckFailed(`${path}: diagonal [${i},${i}] = ${d}, expected 1`);
      for (let j = i + 1; j < n; j++) {
        const a = values[i * n + j]!;
        const b = values[j * n + i]!;
        if (!(Math.abs(a - b) <= tol)) throw new CheckFailed(`${path}: [${i},${j}] = ${a} but [${j},${i}] = ${b}`);
      }
    }
  }
  if (spec.abs_le !== undefined) {
    const lim = Number(spec.abs_le);
    values.forEach((x, k) => {
      if (!(Math.abs(x) <= lim)) throw new CheckFailed(`${path}: element ${k} = ${x} exceeds ${lim} in magnitude`);
    });
  }
  for (const el of (spec.elements as number[][] | undefined) ?? []) {
    const [i, j, want, tol] = el as [number, number, number, number];
    const x = values[i * shape[1]! + j]!;
    if (!(Math.abs(x - want) <= tol)) throw new CheckFailed(`${path}: [${i},${j}] = ${x}, expected ${want} +- ${tol}`);
  }
  if (spec.digest !== undefined) {
    digests.set(String(spec.digest), createHash("sha256").update(msg.data).digest("hex"));
  }
}

// ------------------------------------------------------------------------------ generated frames

function layerValue(layer: Obj, k: number, u: number, t: number): number {
  const sig = layer.signal as Obj;
  const amp = Number(sig.amp ?? 1.0);
  const offset = Number(sig.offset ?? 0.0);
  const freq = Number(sig.freq ?? 0.0);
  let s: number;
  switch (sig.kind) {
    case "sine": {
      const w = 2.0 * Math.PI * freq;
      s = amp * Math.sin(w * t) + offset;
      break;
    }
    case "ramp":
      s = Number(sig.slope ?? 0.0) * k + offset;
      break;
    case "multisine": {
      const w = 2.0 * Math.PI * freq * (u + 1);
      s = amp * Math.sin(w * t + 0.5 * u) + offset;
      break;
    }
    default:
      throw new CheckFailed(`unknown signal kind ${JSON.stringify(sig.kind)}`);
  }
  const gain = Number(layer.gain ?? 1.0);
  const spread = Number(layer.spread ?? 0.0);
  const bias = Number(layer.bias ?? 0.0);
  return gain * s * (1.0 + spread * u) + bias;
}

function generateRequests(gen: Obj): IngestActivationsRequest[] {
  const steps = Number(gen.steps);
  const dtMs = Number(gen.dt_ms);
  const batch = Number(gen.batch ?? 100);
  let start = gen.start_s ?? 0;
  if (start === "now") start = Math.floor(Date.now() / 1000) - Math.floor((steps * dtMs + 999) / 1000);
  const startS = Number(start);
  const frames: ActivationFrame[] = [];
  for (let k = 0; k < steps; k++) {
    const ms = k * dtMs;
    const t = ms / 1000.0;
    for (const layer of gen.layers as Obj[]) {
      const units = Number(layer.units);
      const data = new Uint8Array(units * 4);
      const dv = new DataView(data.buffer);
      const nanSteps = (layer.nan_steps as number[] | undefined) ?? [];
      for (let u = 0; u < units; u++) {
        const v = u === 0 && nanSteps.includes(k) ? Number.NaN : layerValue(layer, k, u, t);
        dv.setFloat32(u * 4, v, true);
      }
      frames.push(
        create(ActivationFrameSchema, {
          modelId: String(gen.model_id),
          layerId: String(layer.layer_id),
          values: create(TensorSchema, { shape: [BigInt(units)], dtype: DataType.FLOAT32, data }),
          timestamp: create(TimestampSchema, {
            seconds: BigInt(startS + Math.floor(ms / 1000)),
            nanos: (ms % 1000) * 1_000_000,
          }),
          step: BigInt(k),
        }),
      );
    }
  }
  const out: IngestActivationsRequest[] = [];
  for (let i = 0; i < frames.length; i += batch) {
    out.push(create(IngestActivationsRequestSchema, { frames: frames.slice(i, i + batch) }));
  }
  return out;
}

/** sha256 of every generated frame's tensor bytes in order (equal across languages). */
function generatedDigest(gen: Obj): string {
  const h = createHash("sha256");
  for (const req of generateRequests(gen)) for (const f of req.frames) h.update(f.values!.data);
  return h.digest("hex");
}

// ------------------------------------------------------------------------------ calls

function codeName(code: Code): string {
  return (Code[code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

class Caller {
  private readonly client: Client<typeof NeuralHeatmapService>;

  constructor(target: string) {
    const transport = createGrpcTransport({
      baseUrl: /^[a-z]+:\/\//i.test(target) ? target : `http://${target}`,
      readMaxBytes: DEFAULT_MAX_MESSAGE_BYTES,
      writeMaxBytes: DEFAULT_MAX_MESSAGE_BYTES,
    });
    this.client = createClient(NeuralHeatmapService, transport);
  }

  async call(step: Step, headers: Record<string, string>): Promise<Json> {
    const m = NeuralHeatmapService.methods.find((x) => x.name === step.rpc) as DescMethod | undefined;
    if (!m) throw new CheckFailed(`no method ${step.rpc} in ${NeuralHeatmapService.typeName}`);
    const fn = (this.client as unknown as Record<string, (...args: unknown[]) => unknown>)[m.localName]!.bind(this.client);
    const timeoutMs = Number(step.timeout_s ?? 30) * 1000;
    switch (m.methodKind) {
      case "unary": {
        const req = fromJson(m.input, (step.request ?? {}) as Json);
        const resp = await fn(req, { headers, timeoutMs });
        return toJson(m.output, resp as never) as Json;
      }
      case "client_streaming": {
        const reqs = step.generate
          ? generateRequests(step.generate as Obj)
          : ((step.requests as Json[] | undefined) ?? []).map((r) => fromJson(m.input, r));
        async function* source() {
          yield* reqs;
        }
        const resp = await fn(source(), { headers, timeoutMs });
        return toJson(m.output, resp as never) as Json;
      }
      case "server_streaming": {
        const req = fromJson(m.input, (step.request ?? {}) as Json);
        const ctl = new AbortController();
        const timer = setTimeout(() => ctl.abort(new ConnectError("deadline", Code.DeadlineExceeded)), timeoutMs);
        const take = Number(step.take ?? 1);
        const items: Json[] = [];
        try {
          const stream = fn(req, { headers, signal: ctl.signal }) as AsyncIterable<unknown>;
          for await (const msg of stream) {
            const got = resolve(toJson(m.output, msg as never) as Json, String(step.collect));
            if (Array.isArray(got)) items.push(...got);
            else if (got !== MISSING && got !== DEFAULT) items.push(got);
            if (items.length >= take) break;
          }
        } finally {
          clearTimeout(timer);
          ctl.abort();
        }
        if (items.length < take) throw new CheckFailed(`stream ended after ${items.length} of ${take} items`);
        return { items: items.slice(0, take) };
      }
      default:
        throw new CheckFailed(`${m.methodKind} methods are not supported by the runner`);
    }
  }
}

// ------------------------------------------------------------------------------ scenarios

function metadata(step: Step, opts: Options): Record<string, string> {
  const auth = (step.auth as string | undefined) ?? (opts.token ? "token" : "none");
  if (auth === "none") return {};
  if (auth === "wrong") return { authorization: `Bearer wrong-${opts.token ?? "token"}` };
  if (!opts.token) throw new CheckFailed("step needs a token (--token or NEURAL_HEATMAP_TOKEN)");
  return { authorization: `Bearer ${opts.token}` };
}

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runStep(raw: Step, caller: Caller, opts: Options, env: Env, digests: Map<string, string>): Promise<void> {
  const deadline = Date.now() + Number(raw.retry_s ?? 0) * 1000;
  const expectError = raw.expect_error as string | undefined;
  for (;;) {
    try {
      const base: Obj = {};
      for (const [k, v] of Object.entries(raw)) if (k !== "expect" && k !== "capture") base[k] = v;
      const step = substitute(base, env) as Step;
      let result: Json;
      try {
        result = await caller.call(step, metadata(step, opts));
      } catch (e) {
        if (e instanceof CheckFailed) throw e;
        const err = ConnectError.from(e);
        const code = codeName(err.code);
        if (expectError) {
          if (code === expectError) return;
          throw new CheckFailed(`status ${code}, expected ${expectError}`);
        }
        throw new CheckFailed(`status ${code}: ${err.rawMessage}`);
      }
      if (expectError) throw new CheckFailed(`call succeeded, expected status ${expectError}`);
      const captured = new Map<string, Json>();
      for (const [name, path] of Object.entries((raw.capture as Obj | undefined) ?? {})) {
        const v = resolve(result, substitute(path!, env) as string);
        if (v === MISSING || v === DEFAULT) throw new CheckFailed(`capture ${name}: ${String(path)} not found`);
        captured.set(name, v);
      }
      const local: Env = new Map([...env, ...captured]);
      const stepDigests = new Map<string, string>();
      for (const spec of (raw.expect as Obj[] | undefined) ?? []) check(result, substitute(spec, local) as Obj, stepDigests);
      const gen = step.generate as Obj | undefined;
      if (gen && gen.digest !== undefined) stepDigests.set(String(gen.digest), generatedDigest(gen));
      for (const [k, v] of captured) env.set(k, v);
      for (const [k, v] of stepDigests) digests.set(k, v);
      return;
    } catch (e) {
      if (!(e instanceof CheckFailed) || expectError || Date.now() >= deadline) throw e;
      await sleepMs(250);
    }
  }
}

async function runScenarios(opts: Options): Promise<{ results: Record<string, string>; digests: Map<string, string> }> {
  const doc = JSON.parse(readFileSync(opts.scenarios, "utf8")) as { scenarios: (Obj & { name: string; steps: Step[] })[] };
  const results: Record<string, string> = {};
  const digests = new Map<string, string>();
  const callers = new Map<string, Caller>();
  for (const scenario of doc.scenarios) {
    const name = scenario.name;
    if (opts.only.length > 0 && !opts.only.includes(name)) continue;
    try {
      const kind = (scenario.target as string | undefined) ?? "default";
      const target = kind === "auth" ? opts.authTarget : opts.target;
      if (!target) throw new CheckFailed(`scenario needs the ${kind} target (--auth-target)`);
      if (!callers.has(target)) callers.set(target, new Caller(target));
      const env: Env = new Map([["RUN", opts.run]]);
      for (const [i, step] of scenario.steps.entries()) {
        const label = `step ${i + 1} ${step.rpc}` + (step.name ? ` (${String(step.name)})` : "");
        try {
          await runStep(step, callers.get(target)!, opts, env, digests);
        } catch (e) {
          throw new CheckFailed(`${label}: ${(e as Error).message}`);
        }
      }
      results[name] = "PASS";
      console.log(`PASS ${name}`);
    } catch (e) {
      const reason = e instanceof CheckFailed ? e.message : `${(e as Error).name}: ${(e as Error).message}`;
      results[name] = reason;
      console.log(`FAIL ${name}: ${reason}`);
    }
  }
  const failed = Object.values(results).filter((r) => r !== "PASS").length;
  console.log(`${Object.keys(results).length - failed} passed, ${failed} failed`);
  return { results, digests };
}

function parseArgs(argv: string[]): Options {
  const here = dirname(fileURLToPath(import.meta.url));
  const opts: Options = {
    target: "",
    authTarget: process.env.NEURAL_HEATMAP_AUTH_TARGET,
    token: process.env.NEURAL_HEATMAP_TOKEN,
    run: "ts",
    only: [],
    scenarios: resolvePath(here, "../../../../tests/conformance/scenarios.json"),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--target") opts.target = value();
    else if (flag === "--auth-target") opts.authTarget = value();
    else if (flag === "--token") opts.token = value();
    else if (flag === "--run") opts.run = value();
    else if (flag === "--scenarios") opts.scenarios = value();
    else if (flag === "--only") opts.only = value().split(",").filter(Boolean);
    else if (flag === "--out") opts.out = value();
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!opts.target) throw new Error("--target host:port is required");
  return opts;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const { results, digests } = await runScenarios(opts);
  if (opts.out) {
    const sorted = Object.fromEntries([...digests].sort(([a], [b]) => (a < b ? -1 : 1)));
    writeFileSync(opts.out, JSON.stringify({ language: "typescript", run: opts.run, results, digests: sorted }, null, 2));
  }
  return Object.values(results).every((r) => r === "PASS") ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 2;
  },
);
