/**
 * The TypeScript client of the Neural Heatmap bridge: one hand-written method per RPC of
 * neural_heatmap.v1.NeuralHeatmapService (RPC_METHODS names them), over any Connect
 * transport. This module imports nothing of Node or of the browser: node.ts builds the client
 * over connect-node's gRPC transport (HTTP/2) and adds Node streams and files; web.ts builds
 * it over connect-web's Connect or gRPC-Web transport. Results are plain objects (views.ts:
 * Dates, numbers, Float32Array tensors), failures are typed errors (errors.ts), idempotent
 * calls retry by the shared policy (retry.ts), streams are AsyncIterables that stop on the
 * caller's AbortSignal. `client.rpc` is the generated client for anything else.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Code,
  createClient,
  type CallOptions as ConnectCallOptions,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { cancelledError, linkSignals } from "./abort.js";
import { resumableAnomalies, type ResumeOptions } from "./anomalies.js";
import { consumeLoop, type ConsumeOptions } from "./consumers.js";
import { clientError, toNeuralHeatmapError } from "./errors.js";
import type { Granularity, PatternType } from "./gen/neural_heatmap/v1/analytics_pb.js";
import { Severity } from "./gen/neural_heatmap/v1/common_pb.js";
import { ExportFormat } from "./gen/neural_heatmap/v1/export_pb.js";
import { ActivationFrameSchema, type ActivationFrame } from "./gen/neural_heatmap/v1/ingest_pb.js";
import {
  IngestActivationsRequestSchema,
  NeuralHeatmapService,
  type IngestActivationsRequest,
} from "./gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import type { RenderKind } from "./gen/neural_heatmap/v1/render_pb.js";
import { UpdateType } from "./gen/neural_heatmap/v1/updates_pb.js";
import { LayoutSchema, ThemeSettingsSchema, type Layout, type Theme, type ThemeSettings } from "./gen/neural_heatmap/v1/view_pb.js";
import { DEFAULT_ADDRESS, DEFAULT_MAX_MESSAGE_BYTES, RETRY_SAFE } from "./policy_gen.js";
import { withRetry, type RetryOptions } from "./retry.js";
import { reopening, type StreamOptions } from "./streams.js";
import { float32Tensor } from "./tensor.js";
import { layerHealthOf, type LayerHealth, type UnitSelector } from "./units.js";
import {
  anomalyOf,
  comparisonOf,
  correlationMatrixOf,
  dateOf,
  exportedFileOf,
  exportResultOf,
  filterOf,
  heatmapOf,
  ingestResultOf,
  modelOf,
  patternOf,
  statisticsOf,
  temporalUpdateOf,
  viewStateOf,
  type Anomaly,
  type AnomalyPage,
  type CorrelationMatrixView,
  type ExportedFile,
  type ExportResult,
  type Filter,
  type HeatmapFrame,
  type IngestResult,
  type Model,
  type ModelComparison,
  type TemporalPattern,
  type TemporalStatistics,
  type TemporalUpdate,
  type Update,
} from "./views.js";
import { VERSION_HEADER, isLoopback, plaintextTokenRefusal } from "./version.js";

/**
 * Every RPC of the service and the client method that calls it. Which of them are retried
 * on the policy's UNAVAILABLE/DEADLINE_EXCEEDED is the protos' idempotency_level (RETRY_SAFE,
 * generated): a Set replaces state, an export rewrites the same file, a download restarts
 * only before its first byte. The completeness test (src/test/completeness.test.ts) checks
 * this against the service descriptor.
 */
export const RPC_METHODS = {
  ListModels: { method: "listModels" },
  GetCorrelationMatrix: { method: "getCorrelationMatrix" },
  GetTemporalPatterns: { method: "getTemporalPatterns" },
  GetTemporalStatistics: { method: "getTemporalStatistics" },
  GetAnomalies: { method: "getAnomalies" },
  SetFilter: { method: "setFilter" },
  ClearFilter: { method: "clearFilter" },
  GetFilter: { method: "getFilter" },
  SetTheme: { method: "setTheme" },
  GetTheme: { method: "getTheme" },
  SetLayout: { method: "setLayout" },
  GetLayout: { method: "getLayout" },
  CompareModels: { method: "compareModels" },
  RenderHeatmap: { method: "renderHeatmap" },
  ExportCorrelationMatrix: { method: "exportCorrelationMatrix" },
  ListExports: { method: "listExports" },
  DownloadExport: { method: "downloadExport" },
  SubscribeHeatmap: { method: "subscribeHeatmap" },
  SubscribeCorrelations: { method: "subscribeCorrelations" },
  SubscribeTemporal: { method: "subscribeTemporal" },
  SubscribeAnomalies: { method: "anomalies" },
  StreamUpdates: { method: "streamUpdates" },
  IngestActivations: { method: "ingest" },
  AckAnomalies: { method: "ackAnomalies" },
  GetLayerHealth: { method: "getLayerHealth" },
} as const satisfies Record<keyof typeof RETRY_SAFE, { method: keyof NeuralHeatmapClient }>;

/** The settings of a client, whatever its transport (node.ts and web.ts add their own). */
export interface ClientOptions {
  /** "host:port" or a URL ("http://host:port", "https://host:port"); default localhost:50051. */
  address?: string;
  /** true for TLS (https). */
  tls?: boolean;
  /**
   * Sent on every call as `authorization: Bearer <token>`. Over plaintext only to a loopback
   * address unless `insecureToken`; otherwise the constructor throws (the same rule and
   * words as the Python and Go SDKs).
   */
  token?: string;
  /** Send `token` over plaintext to a non-loopback address anyway (a network you trust). */
  insecureToken?: boolean;
  /** Default deadline of unary calls in ms, retries included (none when unset). */
  timeoutMs?: number;
  /** Retry of idempotent calls (default: the shared policy); false: never retry. */
  retry?: RetryOptions | false;
  /** Per-message limit in both directions (default 256 MiB). */
  maxMessageBytes?: number;
  /** Extra interceptors, run after the auth one. */
  interceptors?: Interceptor[];
}

/** What a transport is built from: the same for connect-node's and connect-web's. */
export interface TransportInit {
  baseUrl: string;
  interceptors: Interceptor[];
  readMaxBytes: number;
  writeMaxBytes: number;
}

/** Builds the transport a client calls through (node.ts: gRPC; web.ts: Connect, gRPC-Web). */
export type TransportFactory = (init: TransportInit) => Transport;

/** Options of one unary call. */
export interface CallOptions {
  /** Cancels the call (it then rejects with RequestCancelledError). */
  signal?: AbortSignal;
  /** Deadline of the call in ms, retries included (default: ClientOptions.timeoutMs). */
  timeoutMs?: number;
  /** Extra request headers (gRPC metadata). */
  headers?: ConnectCallOptions["headers"];
  /** This call's retry (idempotent calls only); false: one attempt. */
  retry?: RetryOptions | false;
}

/** Interceptor that adds `authorization: Bearer <token>` to every request. */
export function bearerToken(token: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** Turns "host:port" or a URL into the transport's base URL. */
export function baseUrl(address: string, tls: boolean): string {
  if (/^[a-z]+:\/\//i.test(address)) return address.replace(/\/+$/, "");
  return `${tls ? "https" : "http"}://${address}`;
}

/** A time range of a query: Dates (or ms since the epoch); an open end is unbounded. */
export interface TimeRangeInit {
  start?: Date | number;
  end?: Date | number;
}

function timeRange(r: TimeRangeInit | undefined) {
  const ts = (d: Date | number | undefined) => (d === undefined ? undefined : timestampFromDate(new Date(d)));
  return r ? { start: ts(r.start), end: ts(r.end) } : undefined;
}

/** A frame to ingest: one layer's unit values at one moment. */
export interface FrameInit {
  modelId: string;
  layerId: string;
  values: Float32Array | readonly number[];
  /** Default: the server's receive time. */
  timestamp?: Date | number;
  step?: number | bigint;
}

function frameOf(f: FrameInit | ActivationFrame): ActivationFrame {
  if ("$typeName" in f) return f;
  return create(ActivationFrameSchema, {
    modelId: f.modelId,
    layerId: f.layerId,
    values: float32Tensor(f.values),
    timestamp: f.timestamp === undefined ? undefined : timestampFromDate(new Date(f.timestamp)),
    step: f.step === undefined ? undefined : BigInt(f.step),
  });
}

export class NeuralHeatmapClient {
  /** The generated client: every RPC of neural_heatmap.v1.NeuralHeatmapService, raw messages. */
  readonly rpc: Client<typeof NeuralHeatmapService>;
  readonly baseUrl: string;
  private readonly closing = new AbortController();
  private readonly timeoutMs: number | undefined;
  private readonly retry: RetryOptions | false;

  /** A client over the transport `transport` builds (node.ts's `connect`, web.ts's `connectWeb`). */
  constructor(opts: ClientOptions, transport: TransportFactory) {
    this.baseUrl = baseUrl(opts.address ?? DEFAULT_ADDRESS, opts.tls ?? false);
    this.timeoutMs = opts.timeoutMs;
    this.retry = opts.retry ?? {};
    const interceptors: Interceptor[] = [];
    if (opts.token) {
      const url = new URL(this.baseUrl);
      if (url.protocol === "http:" && !opts.insecureToken && !isLoopback(url.hostname)) {
        throw plaintextTokenRefusal(url.host);
      }
      interceptors.push(bearerToken(opts.token));
    }
    interceptors.push(...(opts.interceptors ?? []));
    const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.rpc = createClient(
      NeuralHeatmapService,
      transport({ baseUrl: this.baseUrl, interceptors, readMaxBytes: max, writeMaxBytes: max }),
    );
  }

  /**
   * Ends every open stream (their loops finish) and cancels calls in flight. The client
   * cannot be used afterwards.
   */
  close(): void {
    this.closing.abort(new Error("client closed"));
  }

  /**
   * One unary call: typed errors, the deadline, and the retry when the RPC is idempotent. The
   * caller's abort (by any means) or close() rejects it with RequestCancelledError, also
   * while it waits between retries.
   */
  private async unary<T>(
    rpc: keyof typeof RPC_METHODS,
    call: CallOptions | undefined,
    fn: (opts: ConnectCallOptions) => Promise<T>,
  ): Promise<T> {
    const { signal, release } = linkSignals(call?.signal, this.closing.signal);
    const retry = RETRY_SAFE[rpc] ? (call?.retry ?? this.retry) : false;
    try {
      signal.throwIfAborted();
      return await withRetry(
        (timeoutMs) => fn({ signal, timeoutMs, headers: call?.headers }),
        retry,
        call?.timeoutMs ?? this.timeoutMs,
        signal,
      );
    } catch (e) {
      throw signal.aborted ? cancelledError(signal) : toNeuralHeatmapError(e);
    } finally {
      release();
    }
  }

  /**
   * A stream under the caller's signal and close(): either of them ends it quietly (its calls are
   * cancelled, its timers cleared), any other failure is a typed error.
   */
  private async *guarded<T>(
    caller: AbortSignal | undefined,
    run: (signal: AbortSignal) => AsyncIterable<T>,
  ): AsyncGenerator<T, void, undefined> {
    const { signal, release } = linkSignals(caller, this.closing.signal);
    try {
      yield* run(signal);
    } catch (e) {
      if (signal.aborted) return;
      throw toNeuralHeatmapError(e);
    } finally {
      release();
    }
  }

  // ------------------------------------------------------------------ models and analytics

  /** Every model with its layers (and every unit's canvas location with includeUnits). */
  /**
   * The contract version the bridge reports in its `x-neural-heatmap-version` header (read
   * from a ListModels call, retried like any read), or "" from a bridge too old to send one.
   * Same MAJOR (before 1.0: same MINOR) as VERSION means compatible.
   */
  async bridgeVersion(call?: CallOptions): Promise<string> {
    let version = "";
    await this.unary("ListModels", call, (o) =>
      this.rpc.listModels({}, { ...o, onHeader: (h) => void (version = h.get(VERSION_HEADER) ?? "") }),
    );
    return version;
  }

  async listModels(opts: { includeUnits?: boolean } = {}, call?: CallOptions): Promise<Model[]> {
    const r = await this.unary("ListModels", call, (o) => this.rpc.listModels({ includeUnits: opts.includeUnits ?? false }, o));
    return r.models.map(modelOf);
  }

  /**
   * The Pearson correlation matrix between layer (or unit) series, its values a Float32Array
   * view. Without `useViewFilter` the stored view filter is ignored.
   */
  async getCorrelationMatrix(
    req: {
      modelIds?: string[];
      layerIds?: string[];
      granularity?: Granularity;
      timeRange?: TimeRangeInit;
      useViewFilter?: boolean;
    } = {},
    call?: CallOptions,
  ): Promise<CorrelationMatrixView> {
    const r = await this.unary("GetCorrelationMatrix", call, (o) =>
      this.rpc.getCorrelationMatrix({ ...req, timeRange: timeRange(req.timeRange) }, o),
    );
    return correlationMatrixOf(r.matrix);
  }

  /**
   * Periodic, trend and state-change patterns of the activity series; with
   * `granularity: Granularity.UNIT` of each selected unit's own series (`units`,
   * `unitRanges`; every unit by default), each pattern naming its `unit` and `location`.
   */
  async getTemporalPatterns(
    req: {
      modelId?: string;
      layerId?: string;
      /** Look back this many ms from the newest frame; 0 or unset: the whole window. */
      timeWindowMs?: number;
      patternTypes?: PatternType[];
      useViewFilter?: boolean;
      granularity?: Granularity;
    } & UnitSelector = {},
    call?: CallOptions,
  ): Promise<TemporalPattern[]> {
    const r = await this.unary("GetTemporalPatterns", call, (o) =>
      this.rpc.getTemporalPatterns(
        {
          modelId: req.modelId,
          layerId: req.layerId,
          timeWindow: BigInt(Math.round(req.timeWindowMs ?? 0)),
          patternTypes: req.patternTypes,
          useViewFilter: req.useViewFilter,
          granularity: req.granularity,
          units: req.units,
          unitRanges: req.unitRanges,
        },
        o,
      ),
    );
    return r.patterns.map(patternOf);
  }

  /**
   * Per-layer temporal statistics (trend, periodicity, level changes); with
   * `granularity: Granularity.UNIT` also per selected unit, and the units that oscillate.
   */
  async getTemporalStatistics(
    req: { modelId?: string; layerId?: string; useViewFilter?: boolean; granularity?: Granularity } & UnitSelector = {},
    call?: CallOptions,
  ): Promise<TemporalStatistics> {
    const r = await this.unary("GetTemporalStatistics", call, (o) => this.rpc.getTemporalStatistics(req, o));
    return statisticsOf(r.statistics);
  }

  /**
   * Each layer's dead and saturated units (index, canvas cell, since which step) and the
   * units with the largest recent spike scores, however few units are affected.
   */
  async getLayerHealth(
    req: { modelId?: string; layerId?: string; /** 0 or unset: the server's 5. */ topK?: number } = {},
    call?: CallOptions,
  ): Promise<LayerHealth[]> {
    const r = await this.unary("GetLayerHealth", call, (o) => this.rpc.getLayerHealth(req, o));
    return r.layers.map(layerHealthOf);
  }

  /** One page of the anomaly log, ascending: the newest page, or the page after `afterSequence`. */
  async getAnomalies(
    req: {
      /** Only this model (the seed's form); with `modelIds`, these models too. */
      modelId?: string;
      /** Only these models (empty or unset: every model, unless `modelId` is set). */
      modelIds?: string[];
      /** Only this exact severity. */
      severity?: Severity;
      /** Only this severity or worse. */
      minSeverity?: Severity;
      /** At most this many (0 or unset: the server's default, 100). */
      limit?: number;
      afterSequence?: bigint | number;
    } = {},
    call?: CallOptions,
  ): Promise<AnomalyPage> {
    const after = req.afterSequence === undefined ? undefined : BigInt(req.afterSequence);
    const r = await this.unary("GetAnomalies", call, (o) => this.rpc.getAnomalies({ ...req, afterSequence: after }, o));
    return { anomalies: r.anomalies.map(anomalyOf), lastSequence: r.lastSequence, firstSequence: r.firstSequence };
  }

  /** CKA similarity between two or more models and per-metric comparisons. */
  async compareModels(modelIds: string[], metrics: string[] = [], call?: CallOptions): Promise<ModelComparison> {
    const r = await this.unary("CompareModels", call, (o) => this.rpc.compareModels({ modelIds, metrics }, o));
    return comparisonOf(r.comparison);
  }

  /**
   * A PNG the server draws: the heatmap canvas of `modelId` (its `layerIds`, the frame at the
   * end of `timeRange`), or with `kind: RenderKind.CORRELATION` the correlation matrix; in the
   * stored theme unless `theme` is set; `width`/`height` 0 or unset mean 800 x 600. Resolves
   * to the PNG file's bytes.
   */
  async renderHeatmap(
    req: {
      kind?: RenderKind;
      modelId?: string;
      layerIds?: string[];
      theme?: Theme;
      customColors?: string[];
      width?: number;
      height?: number;
      timeRange?: TimeRangeInit;
    } = {},
    call?: CallOptions,
  ): Promise<Uint8Array> {
    const r = await this.unary("RenderHeatmap", call, (o) =>
      this.rpc.renderHeatmap({ ...req, timeRange: timeRange(req.timeRange) }, o),
    );
    return r.png;
  }

  // ------------------------------------------------------------------ view state

  /** Replaces the stored view filter; returns the filter now in force. */
  async setFilter(
    filter: Partial<Omit<Filter, "timeRange">> & { timeRange?: TimeRangeInit },
    call?: CallOptions,
  ): Promise<Filter> {
    const r = await this.unary("SetFilter", call, (o) =>
      this.rpc.setFilter({ filter: { ...filter, timeRange: timeRange(filter.timeRange) } }, o),
    );
    return filterOf(r.filter);
  }

  /** Removes the stored view filter. */
  async clearFilter(call?: CallOptions): Promise<void> {
    await this.unary("ClearFilter", call, (o) => this.rpc.clearFilter({}, o));
  }

  /** The stored view filter (empty lists and no ranges when none is set). */
  async getFilter(call?: CallOptions): Promise<Filter> {
    return filterOf((await this.unary("GetFilter", call, (o) => this.rpc.getFilter({}, o))).filter);
  }

  /** Replaces the theme (`customColors`, "#rrggbb", are required for Theme.CUSTOM). */
  async setTheme(theme: Theme, customColors: string[] = [], call?: CallOptions): Promise<ThemeSettings> {
    const r = await this.unary("SetTheme", call, (o) => this.rpc.setTheme({ theme, customColors }, o));
    return r.theme ?? create(ThemeSettingsSchema);
  }

  /** The theme in force. */
  async getTheme(call?: CallOptions): Promise<ThemeSettings> {
    const r = await this.unary("GetTheme", call, (o) => this.rpc.getTheme({}, o));
    return r.theme ?? create(ThemeSettingsSchema);
  }

  /** Replaces the panel layout; returns the layout now in force. */
  async setLayout(
    layout: MessageInitShape<typeof LayoutSchema>,
    call?: CallOptions,
  ): Promise<Layout> {
    return (await this.unary("SetLayout", call, (o) => this.rpc.setLayout({ layout }, o))).layout ?? create(LayoutSchema);
  }

  /** The panel layout in force. */
  async getLayout(call?: CallOptions): Promise<Layout> {
    return (await this.unary("GetLayout", call, (o) => this.rpc.getLayout({}, o))).layout ?? create(LayoutSchema);
  }

  // ------------------------------------------------------------------ exports

  /** Has the server write the correlation matrix into its export directory. */
  async exportCorrelationMatrix(
    req: { filename: string; format?: ExportFormat; modelIds?: string[]; layerIds?: string[]; useViewFilter?: boolean },
    call?: CallOptions,
  ): Promise<ExportResult> {
    const r = await this.unary("ExportCorrelationMatrix", call, (o) =>
      this.rpc.exportCorrelationMatrix({ ...req, format: req.format ?? ExportFormat.CSV }, o),
    );
    return exportResultOf(r.result);
  }

  /** The files in the server's export directory. */
  async listExports(call?: CallOptions): Promise<ExportedFile[]> {
    return (await this.unary("ListExports", call, (o) => this.rpc.listExports({}, o))).files.map(exportedFileOf);
  }

  /**
   * One exported file as its chunks (node.ts's client returns a Node Readable instead). A
   * failure before the first byte is retried by the policy; one after it ends the iteration
   * with the error (a partial file is never passed off as whole: DATA_LOSS when the bytes stop
   * short of the announced size or skip). Aborting the call's signal (or close()) ends it
   * with RequestCancelledError.
   */
  async *downloadExport(name: string, call?: CallOptions): AsyncIterable<Uint8Array> {
    const { signal, release } = linkSignals(call?.signal, this.closing.signal);
    try {
      yield* this.downloadChunks(name, call, signal);
    } finally {
      release();
    }
  }

  /** The signal close() aborts: what node.ts links its downloads to. */
  protected get closed(): AbortSignal {
    return this.closing.signal;
  }

  /** The chunks of one download; `signal` (the caller's and close()) cancels it to the end. */
  protected async *downloadChunks(
    name: string,
    call: CallOptions | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    let written = 0;
    let total: bigint | undefined;
    // Each attempt reads until its first chunk; only then may bytes leave this generator.
    // The stream outlives the unary part, so it follows `signal` rather than the attempt's.
    const first = await this.unary("DownloadExport", { ...call, signal }, async (o) => {
      const it = this.rpc.downloadExport({ name }, { ...o, signal })[Symbol.asyncIterator]();
      const head = await it.next();
      return { it, head };
    });
    try {
      let step = first.head;
      while (!step.done) {
        const msg = step.value;
        if (msg.offset !== BigInt(written)) {
          throw clientError(Code.DataLoss, `download of ${name}: chunk at byte ${msg.offset}, expected ${written}`);
        }
        total = msg.totalSize;
        written += msg.chunk.byteLength;
        yield msg.chunk;
        step = await first.it.next();
      }
    } catch (e) {
      throw signal.aborted ? cancelledError(signal) : toNeuralHeatmapError(e);
    } finally {
      await first.it.return?.();
    }
    if (total !== undefined && BigInt(written) !== total) {
      throw clientError(Code.DataLoss, `download of ${name} ended at byte ${written} of ${total}`);
    }
  }

  // ------------------------------------------------------------------ live streams

  /** Heatmap frames as the server renders them (a slow reader gets the newest per layer). */
  subscribeHeatmap(
    req: { modelIds?: string[]; layerIds?: string[] } = {},
    opts: StreamOptions = {},
  ): AsyncGenerator<HeatmapFrame, void, undefined> {
    const rpc = this.rpc;
    return this.guarded(opts.signal, (stop) =>
      reopening(
        async function* (signal, progress) {
          for await (const m of rpc.subscribeHeatmap(req, { signal, headers: opts.headers })) {
            progress();
            if (m.update) yield heatmapOf(m.update);
          }
        },
        { ...opts, signal: stop },
      ),
    );
  }

  /** Correlation matrices as the server recomputes them. */
  subscribeCorrelations(opts: StreamOptions = {}): AsyncGenerator<CorrelationMatrixView, void, undefined> {
    const rpc = this.rpc;
    return this.guarded(opts.signal, (stop) =>
      reopening(
        async function* (signal, progress) {
          for await (const m of rpc.subscribeCorrelations({}, { signal, headers: opts.headers })) {
            progress();
            if (m.update?.matrix) yield correlationMatrixOf(m.update.matrix);
          }
        },
        { ...opts, signal: stop },
      ),
    );
  }

  /** Temporal patterns (and trends, state changes) as the server recomputes them. */
  subscribeTemporal(opts: StreamOptions = {}): AsyncGenerator<TemporalUpdate, void, undefined> {
    const rpc = this.rpc;
    return this.guarded(opts.signal, (stop) =>
      reopening(
        async function* (signal, progress) {
          for await (const m of rpc.subscribeTemporal({}, { signal, headers: opts.headers })) {
            progress();
            if (m.update) yield temporalUpdateOf(m.update);
          }
        },
        { ...opts, signal: stop },
      ),
    );
  }

  /**
   * Acknowledges a durable consumer's anomalies: for a plain consumer everything up to
   * `sequence`, for a group member that one anomaly. Resolves to the consumer's cursor after.
   */
  async ackAnomalies(consumer: string, sequence: bigint, call?: CallOptions): Promise<bigint> {
    const r = await this.unary("AckAnomalies", call, (o) => this.rpc.ackAnomalies({ consumer, sequence }, o));
    return r.ackedSequence;
  }

  /**
   * Runs `handler` on every anomaly of durable consumer `consumer` (the service keeps its
   * cursor; see consumers.ts) until `opts.signal` aborts (by any means) or close(), then
   * resolves; a handler's error ends it.
   */
  async consume(consumer: string, handler: (anomaly: Anomaly) => unknown, opts: ConsumeOptions = {}): Promise<void> {
    const { signal, release } = linkSignals(opts.signal, this.closing.signal);
    try {
      await consumeLoop(this, consumer, handler, { ...opts, signal });
    } finally {
      release();
    }
  }

  /**
   * Every anomaly after `afterSequence` (or from now on), exactly once, in order, reopening
   * the stream after the last one it yielded when it breaks (see anomalies.ts). Break out of
   * the loop or abort `signal` to stop; other failures throw a typed error.
   */
  anomalies(
    opts: ResumeOptions & { minSeverity?: Severity; modelIds?: string[]; headers?: ConnectCallOptions["headers"] } = {},
  ): AsyncGenerator<Anomaly, void, undefined> {
    const minSeverity = opts.minSeverity ?? Severity.UNSPECIFIED;
    const modelIds = opts.modelIds ?? [];
    const rpc = this.rpc;
    const head = async (signal: AbortSignal): Promise<bigint> => (await this.getAnomalies({ limit: 1 }, { signal })).lastSequence;
    return this.guarded(opts.signal, async function* (signal) {
      const anomalies = resumableAnomalies(
        (afterSequence, s) => rpc.subscribeAnomalies({ minSeverity, modelIds, afterSequence }, { signal: s, headers: opts.headers }),
        { headSequence: () => head(signal), ...opts, signal },
      );
      for await (const a of anomalies) yield anomalyOf(a);
    });
  }

  /**
   * Several kinds of update on one stream (`types`; empty: every kind but VIEW, which is sent
   * only when named), reopened like the others; its anomaly part resumes after the last
   * sequence yielded, exactly once (without `afterSequence` it first reads the log head).
   * Heartbeats are not yielded.
   */
  streamUpdates(
    req: { types?: UpdateType[]; afterSequence?: bigint; minSeverity?: Severity; modelIds?: string[] } = {},
    opts: StreamOptions = {},
  ): AsyncGenerator<Update, void, undefined> {
    const types = req.types ?? [];
    const wantsAnomalies = types.length === 0 || types.includes(UpdateType.ANOMALY);
    const rpc = this.rpc;
    const head = async (signal: AbortSignal): Promise<bigint> => (await this.getAnomalies({ limit: 1 }, { signal })).lastSequence;
    return this.guarded(opts.signal, async function* (stop) {
      let last = req.afterSequence ?? (wantsAnomalies ? await head(stop) : undefined);
      yield* reopening<Update>(
        async function* (signal, progress) {
          const stream = rpc.streamUpdates({ ...req, afterSequence: last }, { signal, headers: opts.headers });
          for await (const m of stream) {
            progress();
            const u = m.update;
            switch (u.case) {
              case "heatmap":
                yield { kind: "heatmap", heatmap: heatmapOf(u.value) };
                break;
              case "correlation":
                if (u.value.matrix) yield { kind: "correlation", correlation: correlationMatrixOf(u.value.matrix) };
                break;
              case "temporal":
                yield { kind: "temporal", temporal: temporalUpdateOf(u.value) };
                break;
              case "anomaly": {
                const fresh = u.value.anomalies.filter((a) => last === undefined || a.sequence > last);
                if (fresh.length === 0) break;
                last = fresh[fresh.length - 1]!.sequence;
                yield {
                  kind: "anomaly",
                  anomalies: fresh.map(anomalyOf),
                  severity: u.value.severity,
                  description: u.value.description,
                  timestamp: dateOf(u.value.timestamp),
                };
                break;
              }
              case "view":
                yield { kind: "view", view: viewStateOf(u.value) };
                break;
              default: // anomaly_heartbeat: the stream is alive; nothing to yield
            }
          }
        },
        { ...opts, signal: stop },
      );
    });
  }

  // ------------------------------------------------------------------ ingestion

  /**
   * Streams frames to the server, `batchSize` per message; resolves to what was stored and
   * why other frames were not. Never retried (a repeat could store frames twice).
   */
  async ingest(
    frames: Iterable<FrameInit | ActivationFrame> | AsyncIterable<FrameInit | ActivationFrame>,
    opts: { batchSize?: number } = {},
    call?: CallOptions,
  ): Promise<IngestResult> {
    const batchSize = opts.batchSize ?? 256;
    async function* batches(): AsyncGenerator<IngestActivationsRequest> {
      let batch: ActivationFrame[] = [];
      for await (const f of frames) {
        batch.push(frameOf(f));
        if (batch.length >= batchSize) {
          yield create(IngestActivationsRequestSchema, { frames: batch });
          batch = [];
        }
      }
      if (batch.length > 0) yield create(IngestActivationsRequestSchema, { frames: batch });
    }
    return ingestResultOf(await this.unary("IngestActivations", call, (o) => this.rpc.ingestActivations(batches(), o)));
  }
}
