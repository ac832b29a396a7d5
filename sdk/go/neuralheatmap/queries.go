package neuralheatmap

import (
	"context"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// ListModels returns every model with its layers (options: IncludeUnits).
func (c *Client) ListModels(ctx context.Context, opts ...CallOption) ([]Model, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_ListModels_FullMethodName, func(ctx context.Context) (*nhv1.ListModelsResponse, error) {
		return c.RPC.ListModels(ctx, &nhv1.ListModelsRequest{IncludeUnits: cfg.includeUnits}, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	models := make([]Model, 0, len(resp.GetModels()))
	for _, m := range resp.GetModels() {
		models = append(models, modelOf(m))
	}
	return models, nil
}

// CorrelationMatrix returns the Pearson correlation matrix between layer (or, with
// UnitGranularity, unit) activity series (options: Models, Layers, Between,
// UnitGranularity, UseViewFilter).
func (c *Client) CorrelationMatrix(ctx context.Context, opts ...CallOption) (*Matrix, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.GetCorrelationMatrixRequest{
		ModelIds: cfg.modelIDs, LayerIds: cfg.layerIDs, Granularity: cfg.granularity,
		UseViewFilter: cfg.useViewFilter, TimeRange: cfg.timeRange(),
	}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetCorrelationMatrix_FullMethodName, func(ctx context.Context) (*nhv1.GetCorrelationMatrixResponse, error) {
		return c.RPC.GetCorrelationMatrix(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	return matrixOf(resp.GetMatrix())
}

// TemporalPatterns returns the periodic, trend and state-change patterns found in activity
// series (options: Models (the first), Layers (the first), Window, PatternTypes,
// UseViewFilter; UnitGranularity for each unit's own series, with Units and UnitRange
// choosing units, every unit by default).
func (c *Client) TemporalPatterns(ctx context.Context, opts ...CallOption) ([]Pattern, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.GetTemporalPatternsRequest{
		ModelId: first(cfg.modelIDs), LayerId: first(cfg.layerIDs),
		TimeWindow: uint64(cfg.window.Milliseconds()), PatternTypes: cfg.patternTypes,
		UseViewFilter: cfg.useViewFilter, Granularity: cfg.granularity,
		Units: cfg.units, UnitRanges: cfg.unitRanges,
	}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetTemporalPatterns_FullMethodName, func(ctx context.Context) (*nhv1.GetTemporalPatternsResponse, error) {
		return c.RPC.GetTemporalPatterns(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Pattern, 0, len(resp.GetPatterns()))
	for _, p := range resp.GetPatterns() {
		out = append(out, patternOf(p))
	}
	return out, nil
}

// TemporalStatistics returns per-layer temporal statistics (options: Models (the first;
// none means every model), Layers (the first), UseViewFilter; UnitGranularity adds
// per-unit statistics and the oscillating units, with Units and UnitRange choosing units).
func (c *Client) TemporalStatistics(ctx context.Context, opts ...CallOption) (*TemporalStatistics, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.GetTemporalStatisticsRequest{
		ModelId: first(cfg.modelIDs), LayerId: first(cfg.layerIDs), UseViewFilter: cfg.useViewFilter,
		Granularity: cfg.granularity, Units: cfg.units, UnitRanges: cfg.unitRanges,
	}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetTemporalStatistics_FullMethodName, func(ctx context.Context) (*nhv1.GetTemporalStatisticsResponse, error) {
		return c.RPC.GetTemporalStatistics(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	s := resp.GetStatistics()
	return &TemporalStatistics{
		ModelID: s.GetModelId(), Layers: s.GetLayers(),
		IncreasingTrends: s.GetIncreasingTrends(), DecreasingTrends: s.GetDecreasingTrends(),
		FlatTrends: s.GetFlatTrends(), PeriodicLayers: s.GetPeriodicLayers(),
		Units: s.GetUnits(), OscillatingUnits: s.GetOscillatingUnits(),
		Raw: Metadata(s.GetRaw()),
	}, nil
}

// LayerHealth returns per layer its dead and saturated units (index, canvas cell, since
// which step) and the units with the largest recent spike scores, however few units are
// affected (options: Models (the first), Layers (the first), TopK).
func (c *Client) LayerHealth(ctx context.Context, opts ...CallOption) ([]*nhv1.LayerHealth, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.GetLayerHealthRequest{ModelId: first(cfg.modelIDs), LayerId: first(cfg.layerIDs), TopK: cfg.topK}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetLayerHealth_FullMethodName, func(ctx context.Context) (*nhv1.GetLayerHealthResponse, error) {
		return c.RPC.GetLayerHealth(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetLayers(), nil
}

// Anomalies returns one page of logged anomalies in ascending sequence: the newest page, or
// with After the page after a sequence (options: Models (every one; none means every
// model), Severity, MinSeverity, Limit, After).
func (c *Client) Anomalies(ctx context.Context, opts ...CallOption) (*AnomalyPage, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.GetAnomaliesRequest{
		ModelIds: cfg.modelIDs, Severity: cfg.severity, MinSeverity: cfg.minSeverity,
		Limit: cfg.limit, AfterSequence: cfg.afterSeq,
	}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_GetAnomalies_FullMethodName, func(ctx context.Context) (*nhv1.GetAnomaliesResponse, error) {
		return c.RPC.GetAnomalies(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	return &AnomalyPage{Anomalies: resp.GetAnomalies(), First: resp.GetFirstSequence(), Last: resp.GetLastSequence()}, nil
}

// CompareModels returns CKA similarity between two or more models and per-metric
// comparisons (options: Metrics).
func (c *Client) CompareModels(ctx context.Context, modelIDs []string, opts ...CallOption) (*Comparison, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.CompareModelsRequest{ModelIds: modelIDs, Metrics: cfg.metrics}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_CompareModels_FullMethodName, func(ctx context.Context) (*nhv1.CompareModelsResponse, error) {
		return c.RPC.CompareModels(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return nil, err
	}
	cmp := resp.GetComparison()
	out := &Comparison{
		ModelIDs: cmp.GetModelIds(), Layers: cmp.GetLayerSimilarity(), Steps: cmp.GetSteps(),
		Metrics: map[string]map[string]float64{}, Metadata: Metadata(cmp.GetMetadata()),
	}
	for _, m := range cmp.GetMetrics() {
		out.Metrics[m.GetMetric()] = m.GetValues()
	}
	if t := cmp.GetSimilarityMatrix(); t != nil && len(t.GetShape()) > 0 {
		if out.Similarity, err = Float64s(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
