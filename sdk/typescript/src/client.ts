/**
 * Thin hand-written layer over the generated NeuralHeatmapService client: connecting
 * (address, TLS, bearer token; always HTTP/2, the gRPC protocol), the correlation matrix as a Float32Array and a resumable
 * anomaly stream. Everything else is the generated client, exposed as `client.rpc`.
 */
import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { SecureClientSessionOptions } from "node:http2";
import type { Anomaly } from "./gen/neural_heatmap/v1/analytics_pb.js";
import type { ActivationFrame } from "./gen/neural_heatmap/v1/ingest_pb.js";
import type { Model } from "./gen/neural_heatmap/v1/models_pb.js";
import { metadataMap, type MetadataPlain } from "./metadata.js";
import {
  GetAnomaliesRequestSchema,
  GetCorrelationMatrixRequestSchema,
  IngestActivationsRequestSchema,
  NeuralHeatmapService,
  type GetAnomaliesResponse,
  type IngestActivationsRequest,
  type IngestActivationsResponse,
  SubscribeAnomaliesRequestSchema,
} from "./gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { resumableAnomalies, type ResumeOptions } from "./anomalies.js";
import { renderHeatmap } from "./render.js";
import type { RenderHeatmapRequestSchema } from "./gen/neural_heatmap/v1/render_pb.js";
import { tensorToFloat32Array } from "./tensor.js";
import { Severity } from "./gen/neural_heatmap/v1/common_pb.js";

/** gRPC's default limit is 4 MiB; matrices are large, so both directions allow 256 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

export interface ConnectOptions {
  /** "host:port" or a URL ("http://host:port", "https://host:port"); default localhost:50051. */
  address?: string;
  /** true for TLS with the system roots, or Node's TLS options (ca, cert, key, servername...). */
  tls?: boolean | SecureClientSessionOptions;
  /** Sent on every call as `authorization: Bearer <token>`. */
  token?: string;
  /** Default deadline of unary calls in ms (none when unset). */
  timeoutMs?: number;
  /** Per-message limit in both directions (default 256 MiB). */
  maxMessageBytes?: number;
  /** Extra interceptors, run after the auth one. */
  interceptors?: Interceptor[];
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

/** A correlation matrix with its values as a row-major Float32Array. */
export interface CorrelationMatrixView {
  labels: string[];
  /** n for an n x n matrix. */
  size: number;
  /** Row-major n*n values; a view over the received bytes when aligned. */
  values: Float32Array;
  timestamp?: Date;
  /** The server's notes; integers stay integers (see metadataValue). */
  metadata: { [key: string]: MetadataPlain };
  /** values[i * size + j]. */
  at(i: number, j: number): number;
}

export class NeuralHeatmapClient {
  /** The generated client: every RPC of neural_heatmap.v1.NeuralHeatmapService. */
  readonly rpc: Client<typeof NeuralHeatmapService>;
  readonly baseUrl: string;

  constructor(opts: ConnectOptions = {}) {
    const tls = opts.tls ?? false;
    this.baseUrl = baseUrl(opts.address ?? "localhost:50051", tls !== false);
    const interceptors: Interceptor[] = [];
    if (opts.token) interceptors.push(bearerToken(opts.token));
    interceptors.push(...(opts.interceptors ?? []));
    const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const transport = createGrpcTransport({
      baseUrl: this.baseUrl,
      interceptors,
      readMaxBytes: max,
      writeMaxBytes: max,
      defaultTimeoutMs: opts.timeoutMs,
      nodeOptions: typeof tls === "object" ? tls : undefined,
    });
    this.rpc = createClient(NeuralHeatmapService, transport);
  }

  /** Every model with its layers (and every unit's canvas location when asked). */
  async listModels(includeUnits = false, call?: CallOptions): Promise<Model[]> {
    return (await this.rpc.listModels({ includeUnits }, call)).models;
  }

  /** The correlation matrix, its values as a Float32Array. */
  async getCorrelationMatrix(
    req: MessageInitShape<typeof GetCorrelationMatrixRequestSchema> = {},
    call?: CallOptions,
  ): Promise<CorrelationMatrixView> {
    const resp = await this.rpc.getCorrelationMatrix(create(GetCorrelationMatrixRequestSchema, req), call);
    const m = resp.matrix;
    const values = m?.matrix ? tensorToFloat32Array(m.matrix) : new Float32Array(0);
    const shape = m?.matrix?.shape.map(Number) ?? [0, 0];
    const size = shape[0] ?? 0;
    if (shape.length !== 2 || shape[1] !== size) throw new Error(`correlation matrix is not square: [${shape.join(", ")}]`);
    const ts = m?.timestamp;
    return {
      labels: m?.labels ?? [],
      size,
      values,
      timestamp: ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined,
      metadata: metadataMap(m?.metadata ?? {}),
      at: (i, j) => values[i * size + j]!,
    };
  }

  /** One page of logged anomalies (ascending sequence). */
  async getAnomalies(
    req: MessageInitShape<typeof GetAnomaliesRequestSchema> = {},
    call?: CallOptions,
  ): Promise<GetAnomaliesResponse> {
    return this.rpc.getAnomalies(create(GetAnomaliesRequestSchema, req), call);
  }

  /**
   * Every anomaly after `afterSequence` (or from now on), exactly once, in order, reconnecting
   * with backoff on UNAVAILABLE. Break out of the loop or abort `signal` to stop.
   */
  anomalies(
    opts: ResumeOptions & { minSeverity?: Severity; modelIds?: string[] } = {},
  ): AsyncGenerator<Anomaly, void, undefined> {
    const minSeverity = opts.minSeverity ?? Severity.UNSPECIFIED;
    const modelIds = opts.modelIds ?? [];
    return resumableAnomalies(
      (afterSequence, signal) =>
        this.rpc.subscribeAnomalies(
          create(SubscribeAnomaliesRequestSchema, { minSeverity, modelIds, afterSequence }),
          { signal },
        ),
      {
        headSequence: async () => (await this.getAnomalies({ limit: 1 })).lastSequence,
        ...opts,
      },
    );
  }

  /** A PNG of the heatmap canvas or (kind RENDER_KIND_CORRELATION) the correlation matrix. */
  async renderHeatmap(
    req: MessageInitShape<typeof RenderHeatmapRequestSchema> = {},
    call?: CallOptions,
  ): Promise<Uint8Array> {
    return renderHeatmap(this.rpc, req, call);
  }

  /** Streams frames to the server in batches of `batchSize` per message. */
  async ingest(
    frames: Iterable<ActivationFrame> | AsyncIterable<ActivationFrame>,
    batchSize = 256,
    call?: CallOptions,
  ): Promise<IngestActivationsResponse> {
    async function* batches(): AsyncGenerator<IngestActivationsRequest> {
      let batch: ActivationFrame[] = [];
      for await (const f of frames) {
        batch.push(f);
        if (batch.length >= batchSize) {
          yield create(IngestActivationsRequestSchema, { frames: batch });
          batch = [];
        }
      }
      if (batch.length > 0) yield create(IngestActivationsRequestSchema, { frames: batch });
    }
    return this.rpc.ingestActivations(batches(), call);
  }
}

/** Connects to a bridge: `connect("localhost:50051")` or `connect({ address, tls, token })`. */
export function connect(opts: string | ConnectOptions = {}): NeuralHeatmapClient {
  return new NeuralHeatmapClient(typeof opts === "string" ? { address: opts } : opts);
}
