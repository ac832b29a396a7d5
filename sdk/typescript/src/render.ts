/**
 * Rendering: the server draws the heatmap canvas or the correlation matrix as a PNG in a
 * theme (one implementation for every client); this returns the PNG file's bytes.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { NeuralHeatmapService } from "./gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { RenderHeatmapRequestSchema } from "./gen/neural_heatmap/v1/render_pb.js";

/**
 * Calls RenderHeatmap and returns the PNG bytes. An unspecified `kind` draws the heatmap,
 * an unspecified `theme` uses the stored theme, `width`/`height` 0 mean 800 x 600.
 */
export async function renderHeatmap(
  rpc: Client<typeof NeuralHeatmapService>,
  req: MessageInitShape<typeof RenderHeatmapRequestSchema> = {},
  call?: CallOptions,
): Promise<Uint8Array> {
  return (await rpc.renderHeatmap(create(RenderHeatmapRequestSchema, req), call)).png;
}
