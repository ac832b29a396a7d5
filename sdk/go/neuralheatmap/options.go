package neuralheatmap

import (
	"time"

	"google.golang.org/grpc"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// CallOption tunes one call: what it asks for (models, layers, time range, ...) and how it
// is made (retry, gRPC call options). Each method reads the options that apply to its RPC
// (its doc comment names them) and ignores the others, so one option set can be reused.
type CallOption func(*callConfig)

type callConfig struct {
	modelIDs      []string
	layerIDs      []string
	start, end    time.Time
	granularity   nhv1.Granularity
	useViewFilter bool
	window        time.Duration
	patternTypes  []nhv1.PatternType
	severity      nhv1.Severity
	minSeverity   nhv1.Severity
	limit         uint32
	afterSeq      *uint64
	metrics       []string
	updateTypes   []nhv1.UpdateType
	batchSize     int
	includeUnits  bool
	renderKind    nhv1.RenderKind
	theme         nhv1.Theme
	customColors  []string
	width, height uint32
	units         []uint32
	unitRanges    []*nhv1.UnitRange
	topK          uint32
	retry         *Retry
	grpcOpts      []grpc.CallOption
}

func newCallConfig(opts []CallOption) *callConfig {
	cfg := &callConfig{batchSize: DefaultIngestBatch}
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

// timeRange is Between's range on the wire, nil when Between was not given.
func (c *callConfig) timeRange() *nhv1.TimeRange {
	if c.start.IsZero() && c.end.IsZero() {
		return nil
	}
	return &nhv1.TimeRange{Start: timestampOf(c.start), End: timestampOf(c.end)}
}

// Models restricts a query, export, comparison or stream to these model ids
// (CompareModels: the models compared).
func Models(ids ...string) CallOption {
	return func(c *callConfig) { c.modelIDs = append(c.modelIDs, ids...) }
}

// Layers restricts a query, export or heatmap stream to these layer ids
// (TemporalPatterns: the first one only, the RPC takes one layer).
func Layers(ids ...string) CallOption {
	return func(c *callConfig) { c.layerIDs = append(c.layerIDs, ids...) }
}

// Between restricts CorrelationMatrix and RenderHeatmap to frames in [start, end); a zero bound is unbounded.
func Between(start, end time.Time) CallOption {
	return func(c *callConfig) { c.start, c.end = start, end }
}

// UnitGranularity makes CorrelationMatrix correlate units instead of layers, and
// TemporalPatterns and TemporalStatistics analyse each chosen unit's own series.
func UnitGranularity() CallOption {
	return func(c *callConfig) { c.granularity = nhv1.Granularity_GRANULARITY_UNIT }
}

// Units chooses these unit indices of each selected layer for a unit-granularity temporal
// query (with UnitGranularity; without it the server answers InvalidArgument). Repeatable;
// adds to UnitRange.
func Units(indices ...uint32) CallOption {
	return func(c *callConfig) { c.units = append(c.units, indices...) }
}

// UnitRange chooses the units first..last (both included) of each selected layer for a
// unit-granularity temporal query. Repeatable; adds to Units.
func UnitRange(first, last uint32) CallOption {
	return func(c *callConfig) {
		c.unitRanges = append(c.unitRanges, &nhv1.UnitRange{First: first, Last: last})
	}
}

// TopK sets how many units with the largest spike scores LayerHealth lists per layer
// (0: the server's 5).
func TopK(k uint32) CallOption { return func(c *callConfig) { c.topK = k } }

// UseViewFilter fills what the call leaves unset from the stored view filter (SetFilter);
// without it one client's view state never changes another client's answer.
func UseViewFilter() CallOption { return func(c *callConfig) { c.useViewFilter = true } }

// Window makes TemporalPatterns look back this long from the newest frame (millisecond
// precision on the wire; 0 means the whole window).
func Window(d time.Duration) CallOption { return func(c *callConfig) { c.window = d } }

// PatternTypes restricts TemporalPatterns to these kinds.
func PatternTypes(ts ...nhv1.PatternType) CallOption {
	return func(c *callConfig) { c.patternTypes = append(c.patternTypes, ts...) }
}

// Severity restricts Anomalies to exactly this severity.
func Severity(s nhv1.Severity) CallOption { return func(c *callConfig) { c.severity = s } }

// MinSeverity restricts Anomalies and StreamUpdates to this severity or worse.
func MinSeverity(s nhv1.Severity) CallOption { return func(c *callConfig) { c.minSeverity = s } }

// Limit bounds how many anomalies Anomalies returns (0: the server's default, 100).
func Limit(n uint32) CallOption { return func(c *callConfig) { c.limit = n } }

// After makes Anomalies return the page after sequence seq (oldest first) instead of the
// newest page, and StreamUpdates replay the logged anomalies after seq first.
func After(seq uint64) CallOption { return func(c *callConfig) { c.afterSeq = &seq } }

// Metrics names the metrics CompareModels evaluates ("cka", "mean_activation", "sparsity").
func Metrics(names ...string) CallOption {
	return func(c *callConfig) { c.metrics = append(c.metrics, names...) }
}

// UpdateTypes chooses the kinds of update StreamUpdates carries (default: every kind but
// UPDATE_TYPE_VIEW, which is sent only when named).
func UpdateTypes(ts ...nhv1.UpdateType) CallOption {
	return func(c *callConfig) { c.updateTypes = append(c.updateTypes, ts...) }
}

// IncludeUnits makes ListModels fill every layer's UnitLocations.
func IncludeUnits() CallOption { return func(c *callConfig) { c.includeUnits = true } }

// RenderCorrelation makes RenderHeatmap draw the correlation matrix instead of the canvas.
func RenderCorrelation() CallOption {
	return func(c *callConfig) { c.renderKind = nhv1.RenderKind_RENDER_KIND_CORRELATION }
}

// InTheme makes RenderHeatmap draw in this theme instead of the stored one; customColors
// ("#rrggbb", at least two) go with THEME_CUSTOM.
func InTheme(theme nhv1.Theme, customColors ...string) CallOption {
	return func(c *callConfig) { c.theme, c.customColors = theme, customColors }
}

// ImageSize sets RenderHeatmap's image size in pixels (0: the server's default, 800 x 600;
// docs/http-api.md gives the limits).
func ImageSize(width, height uint32) CallOption {
	return func(c *callConfig) { c.width, c.height = width, height }
}

// BatchSize sets how many frames IngestActivations packs into one request message.
func BatchSize(n int) CallOption { return func(c *callConfig) { c.batchSize = max(n, 1) } }

// WithRetry replaces DefaultRetry for this idempotent call. Non-idempotent calls
// (IngestActivations) are never retried, whatever the options say.
func WithRetry(r Retry) CallOption { return func(c *callConfig) { c.retry = &r } }

// WithoutRetry makes one attempt only.
func WithoutRetry() CallOption { return func(c *callConfig) { c.retry = &Retry{MaxAttempts: 1} } }

// WithGRPCOptions passes grpc.CallOptions (headers, compression, ...) to every attempt.
func WithGRPCOptions(opts ...grpc.CallOption) CallOption {
	return func(c *callConfig) { c.grpcOpts = append(c.grpcOpts, opts...) }
}
