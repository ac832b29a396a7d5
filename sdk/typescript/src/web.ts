/**
 * The browser's entry point ("@neural-heatmap/client/web"): the same client as the Node one
 * (client.ts, every RPC's method, views, typed errors, retries, reopening streams) over
 * connect-web's Connect or gRPC-Web transport (fetch, HTTP/1.1 or later). Nothing reachable
 * from here imports Node: a test (src/test/web.test.ts) bundles it for the browser. Browsers
 * cannot send client streams, so `ingest` is refused by the transport; everything else works.
 */
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { NeuralHeatmapClient, type ClientOptions } from "./client.js";

export interface WebConnectOptions extends ClientOptions {
  /** The bridge's Connect port, e.g. `location.origin` for the page it serves. */
  address: string;
  /** "connect" (default) or "grpc-web". */
  protocol?: "connect" | "grpc-web";
  /** Protobuf binary (default) or, for the Connect protocol only, JSON messages. */
  json?: boolean;
}

/** A client over the Connect protocol (or gRPC-Web) at `opts.address`. */
export function connectWeb(opts: WebConnectOptions): NeuralHeatmapClient {
  return new NeuralHeatmapClient(opts, (init) =>
    opts.protocol === "grpc-web"
      ? createGrpcWebTransport({ ...init, useBinaryFormat: true })
      : createConnectTransport({ ...init, useBinaryFormat: !opts.json }),
  );
}

export { NeuralHeatmapClient, bearerToken, RPC_METHODS, type CallOptions, type ClientOptions } from "./client.js";
export * from "./errors.js";
export { VERSION, VERSION_HEADER } from "./version.js";
export * from "./views.js";
export * from "./units.js";
export * from "./policy_gen.js";
export { THEME_DATA, type Theme as ThemeData } from "./themes_gen.js";
export { Backoff, sleep, type BackoffOptions } from "./backoff.js";
export { tensorToFloat32Array, float32Tensor, elementCount, TensorError } from "./tensor.js";
export { Granularity, PatternType, AnomalyType } from "./gen/neural_heatmap/v1/analytics_pb.js";
export { Severity } from "./gen/neural_heatmap/v1/common_pb.js";
export { UpdateType } from "./gen/neural_heatmap/v1/updates_pb.js";
export { Theme, type Layout, type ThemeSettings } from "./gen/neural_heatmap/v1/view_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
