package neuralheatmap

import (
	"bytes"
	"context"
	"io"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// Image is a rendered PNG with what it shows.
type Image struct {
	// PNG is the file's bytes.
	PNG           []byte
	Width, Height uint32
	// Theme is the theme it was drawn in (the stored one when the call named none).
	Theme nhv1.Theme
	Kind  nhv1.RenderKind
}

// WriteTo writes the PNG to w (io.WriterTo): img.WriteTo(file) saves it.
func (img *Image) WriteTo(w io.Writer) (int64, error) { return bytes.NewReader(img.PNG).WriteTo(w) }

// RenderHeatmap draws the heatmap canvas (or, with RenderCorrelation, the correlation
// matrix) as a PNG (options: Models (the first), Layers, Between, InTheme, ImageSize,
// RenderCorrelation). Unset options fall back to the stored view filter and theme.
func (c *Client) RenderHeatmap(ctx context.Context, opts ...CallOption) (*Image, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.RenderHeatmapRequest{
		Kind: cfg.renderKind, ModelId: first(cfg.modelIDs), LayerIds: cfg.layerIDs,
		Theme: cfg.theme, CustomColors: cfg.customColors, Width: cfg.width, Height: cfg.height,
		TimeRange: cfg.timeRange(),
	}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_RenderHeatmap_FullMethodName, func(ctx context.Context) (*nhv1.RenderHeatmapResponse, error) {
		return c.RPC.RenderHeatmap(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	return &Image{PNG: resp.GetPng(), Width: resp.GetWidth(), Height: resp.GetHeight(), Theme: resp.GetTheme(), Kind: resp.GetKind()}, nil
}
