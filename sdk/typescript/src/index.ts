/**
 * @neural-heatmap/client: the TypeScript client of the Neural Heatmap gRPC bridge.
 * The generated messages and schemas are under "@neural-heatmap/client/gen".
 */
export {
  bearerToken,
  baseUrl,
  RPC_METHODS,
  type CallOptions,
  type ClientOptions,
  type FrameInit,
  type TimeRangeInit,
  type TransportFactory,
  type TransportInit,
} from "./client.js";
export { connect, NeuralHeatmapClient, type ConnectOptions } from "./node.js";
export * from "./errors.js";
export { VERSION, VERSION_HEADER } from "./version.js";
export * from "./views.js";
export * from "./units.js";
export { withRetry, type RetryOptions } from "./retry.js";
export { reopening, type StreamOptions } from "./streams.js";
export type { ConsumeOptions } from "./consumers.js";
export {
  resumableAnomalies,
  isResumable,
  RESUMABLE_CODES,
  type OpenAnomalyStream,
  type ResumeOptions,
} from "./anomalies.js";
export { Backoff, sleep, streamBackoff, type BackoffOptions } from "./backoff.js";
export { metadataValue, metadataMap, type MetadataPlain } from "./metadata.js";
export * from "./policy_gen.js";
export { PARTITIONS, partition } from "./partition.js";
export { tensorToFloat32Array, tensorToFloat64Array, float32Tensor, elementCount, TensorError } from "./tensor.js";
export { Granularity, PatternType, AnomalyType } from "./gen/neural_heatmap/v1/analytics_pb.js";
export { Severity } from "./gen/neural_heatmap/v1/common_pb.js";
export { ExportFormat } from "./gen/neural_heatmap/v1/export_pb.js";
export { UpdateType } from "./gen/neural_heatmap/v1/updates_pb.js";
export { Theme } from "./gen/neural_heatmap/v1/view_pb.js";
export { RenderKind } from "./gen/neural_heatmap/v1/render_pb.js";
export { DataType } from "./gen/neural_heatmap/v1/tensor_pb.js";
export { Code } from "@connectrpc/connect";
