/** The generated messages, schemas and service descriptor ("@neural-heatmap/client/gen"). */
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
