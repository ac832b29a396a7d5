export {
  connect,
  bearerToken,
  baseUrl,
  NeuralHeatmapClient,
  DEFAULT_MAX_MESSAGE_BYTES,
  type ConnectOptions,
  type CorrelationMatrixView,
} from "./client.js";
export { resumableAnomalies, isResumable, RESUMABLE_CODES, type OpenAnomalyStream, type ResumeOptions } from "./anomalies.js";
export { renderHeatmap } from "./render.js";
export { Backoff, sleep, type BackoffOptions } from "./backoff.js";
export { metadataValue, metadataMap, type MetadataPlain } from "./metadata.js";
export * from "./policy_gen.js";
export { tensorToFloat32Array, tensorToFloat64Array, float32Tensor, elementCount, TensorError } from "./tensor.js";
export * from "./gen/neural_heatmap/v1/analytics_pb.js";
export * from "./gen/neural_heatmap/v1/common_pb.js";
export * from "./gen/neural_heatmap/v1/export_pb.js";
export * from "./gen/neural_heatmap/v1/ingest_pb.js";
export * from "./gen/neural_heatmap/v1/metadata_pb.js";
export * from "./gen/neural_heatmap/v1/models_pb.js";
export * from "./gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
export * from "./gen/neural_heatmap/v1/render_pb.js";
export * from "./gen/neural_heatmap/v1/tensor_pb.js";
export * from "./gen/neural_heatmap/v1/updates_pb.js";
export * from "./gen/neural_heatmap/v1/view_pb.js";
