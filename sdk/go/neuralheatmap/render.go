package neuralheatmap

import (
	"context"

	"google.golang.org/grpc"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// RenderHeatmap asks the server to draw the heatmap canvas (Kind unspecified or
// RENDER_KIND_HEATMAP) or the correlation matrix (RENDER_KIND_CORRELATION) and returns
// the PNG file's bytes. An unspecified Theme means the stored theme; Width/Height 0 mean
// 800 x 600. The full answer (size and theme drawn) is Client.RPC.RenderHeatmap's.
func (c *Client) RenderHeatmap(ctx context.Context, req *nhv1.RenderHeatmapRequest, opts ...grpc.CallOption) ([]byte, error) {
	resp, err := c.RPC.RenderHeatmap(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	return resp.GetPng(), nil
}
