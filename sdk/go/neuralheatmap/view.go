package neuralheatmap

import (
	"context"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// The dashboard's view state. Setting replaces the whole value, so repeating a Set changes
// nothing and these calls retry like queries.

// SetFilter replaces the view filter and returns the filter now in force.
func (c *Client) SetFilter(ctx context.Context, f *nhv1.Filter, opts ...CallOption) (*nhv1.Filter, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_SetFilter_FullMethodName, func(ctx context.Context) (*nhv1.SetFilterResponse, error) {
		return c.RPC.SetFilter(ctx, &nhv1.SetFilterRequest{Filter: f}, cfg.grpcOpts...)
	})
	return resp.GetFilter(), err
}

// ClearFilter removes the view filter.
func (c *Client) ClearFilter(ctx context.Context, opts ...CallOption) error {
	cfg := newCallConfig(opts)
	_, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_ClearFilter_FullMethodName, func(ctx context.Context) (*nhv1.ClearFilterResponse, error) {
		return c.RPC.ClearFilter(ctx, &nhv1.ClearFilterRequest{}, cfg.grpcOpts...)
	})
	return err
}

// Filter returns the view filter in force (an empty Filter when none).
func (c *Client) Filter(ctx context.Context, opts ...CallOption) (*nhv1.Filter, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetFilter_FullMethodName, func(ctx context.Context) (*nhv1.GetFilterResponse, error) {
		return c.RPC.GetFilter(ctx, &nhv1.GetFilterRequest{}, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	if resp.GetFilter() == nil {
		return &nhv1.Filter{}, nil
	}
	return resp.GetFilter(), nil
}

// SetTheme replaces the theme; customColors ("#rrggbb") are required for THEME_CUSTOM.
func (c *Client) SetTheme(ctx context.Context, theme nhv1.Theme, customColors []string, opts ...CallOption) (*nhv1.ThemeSettings, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_SetTheme_FullMethodName, func(ctx context.Context) (*nhv1.SetThemeResponse, error) {
		return c.RPC.SetTheme(ctx, &nhv1.SetThemeRequest{Theme: theme, CustomColors: customColors}, cfg.grpcOpts...)
	})
	return resp.GetTheme(), err
}

// Theme returns the theme in force.
func (c *Client) Theme(ctx context.Context, opts ...CallOption) (*nhv1.ThemeSettings, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetTheme_FullMethodName, func(ctx context.Context) (*nhv1.GetThemeResponse, error) {
		return c.RPC.GetTheme(ctx, &nhv1.GetThemeRequest{}, cfg.grpcOpts...)
	})
	return resp.GetTheme(), err
}

// SetLayout replaces the panel layout and returns the layout now in force.
func (c *Client) SetLayout(ctx context.Context, l *nhv1.Layout, opts ...CallOption) (*nhv1.Layout, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_SetLayout_FullMethodName, func(ctx context.Context) (*nhv1.SetLayoutResponse, error) {
		return c.RPC.SetLayout(ctx, &nhv1.SetLayoutRequest{Layout: l}, cfg.grpcOpts...)
	})
	return resp.GetLayout(), err
}

// Layout returns the panel layout in force.
func (c *Client) Layout(ctx context.Context, opts ...CallOption) (*nhv1.Layout, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetLayout_FullMethodName, func(ctx context.Context) (*nhv1.GetLayoutResponse, error) {
		return c.RPC.GetLayout(ctx, &nhv1.GetLayoutRequest{}, cfg.grpcOpts...)
	})
	return resp.GetLayout(), err
}
