package neuralheatmap_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"math"
	"slices"
	"testing"
	"time"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

func dial(t *testing.T, addr string, opts ...neuralheatmap.Option) (*neuralheatmap.Client, context.Context) {
	t.Helper()
	c, err := neuralheatmap.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c, ctx
}

func ingest(t *testing.T, c *neuralheatmap.Client, ctx context.Context, model string, steps int, nanAt ...int) {
	t.Helper()
	res, err := c.IngestActivations(ctx, sineFrames(model, steps, nanAt...), neuralheatmap.BatchSize(64))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != uint64(2*steps) || res.Rejected != 0 {
		t.Fatalf("ingest %s: %+v", model, res)
	}
}

func TestQueriesReturnGoValues(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	ingest(t, c, ctx, "go-q", 200, 50)

	models, err := c.ListModels(ctx, neuralheatmap.IncludeUnits())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(models, func(m neuralheatmap.Model) bool { return m.ID == "go-q" })
	if i < 0 {
		t.Fatalf("go-q not listed: %+v", models)
	}
	m := models[i]
	if len(m.Layers) != 2 || m.Layers[0].Units != 4 || len(m.Layers[0].UnitLocations) != 4 || m.Frames != 400 {
		t.Fatalf("model %+v", m)
	}
	if want := time.Unix(1760000000, 0).Add(199 * 50 * time.Millisecond); m.Last.Sub(want).Abs() > time.Microsecond {
		t.Fatalf("last timestamp %v, want %v", m.Last, want)
	}
	if loc := m.Layers[0].UnitLocations[3]; loc != (neuralheatmap.Location{X: 1, Y: 1}) {
		t.Fatalf("unit 3 at %+v", loc)
	}

	unit, err := c.CorrelationMatrix(ctx, neuralheatmap.Models("go-q"), neuralheatmap.Layers("a"), neuralheatmap.UnitGranularity(),
		neuralheatmap.Between(time.Unix(1760000001, 0), time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if unit.Size != 4 || len(unit.Values) != 16 || math.Abs(float64(unit.At(1, 2))-1) > 1e-5 {
		t.Fatalf("unit matrix %d %v", unit.Size, unit.Values)
	}
	if samples, ok := unit.Metadata["samples"].(int64); !ok || samples < 100 {
		t.Fatalf("metadata integers must arrive as int64: %#v", unit.Metadata)
	}

	stats, err := c.TemporalStatistics(ctx, neuralheatmap.Models("go-q"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.ModelID != "go-q" || len(stats.Layers) != 2 || stats.Layers[0].GetSamples() == 0 {
		t.Fatalf("statistics %+v", stats)
	}

	var patterns []neuralheatmap.Pattern
	deadline := time.Now().Add(20 * time.Second)
	for len(patterns) == 0 && time.Now().Before(deadline) {
		if patterns, err = c.TemporalPatterns(ctx, neuralheatmap.Models("go-q"),
			neuralheatmap.PatternTypes(nhv1.PatternType_PATTERN_TYPE_PERIODIC)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(patterns) == 0 {
		t.Fatal("no periodic pattern in a 2 Hz sine")
	}
	p := patterns[0]
	if p.Type != nhv1.PatternType_PATTERN_TYPE_PERIODIC || p.TypeName != "periodic" || p.Frequency == nil ||
		math.Abs(*p.Frequency-2) > 0.2 || p.ModelID != "go-q" {
		t.Fatalf("pattern %+v", p)
	}

	page, err := c.Anomalies(ctx, neuralheatmap.Models("go-q"), neuralheatmap.After(0), neuralheatmap.Limit(1),
		neuralheatmap.MinSeverity(nhv1.Severity_SEVERITY_HIGH))
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Anomalies) != 1 || page.Anomalies[0].GetAnomalyType() != nhv1.AnomalyType_ANOMALY_TYPE_NON_FINITE ||
		page.Anomalies[0].GetAnomalyTypeName() != "non_finite" ||
		page.Last < page.Anomalies[0].GetSequence() {
		t.Fatalf("anomaly page %+v", page)
	}

	ingest(t, c, ctx, "go-q2", 200)
	cmp, err := c.CompareModels(ctx, []string{"go-q", "go-q2"}, neuralheatmap.Metrics("cka", "mean_activation"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Similarity) != 4 || math.Abs(cmp.SimilarityAt(0, 0)-1) > 1e-6 || cmp.Metrics["mean_activation"] == nil {
		t.Fatalf("comparison %+v", cmp)
	}
}

func TestViewStateRoundTrips(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	set, err := c.SetFilter(ctx, &nhv1.Filter{ModelIds: []string{"go-view"}, IntensityRange: &nhv1.IntensityRange{Min: -1, Max: 1}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Filter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.GetModelIds(), []string{"go-view"}) || got.GetIntensityRange().GetMax() != 1 || set.GetIntensityRange().GetMin() != -1 {
		t.Fatalf("filter set %v, read %v", set, got)
	}
	if err := c.ClearFilter(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err = c.Filter(ctx); err != nil || len(got.GetModelIds()) != 0 {
		t.Fatalf("filter after clear: %v %v", got, err)
	}

	if _, err := c.SetTheme(ctx, nhv1.Theme_THEME_CUSTOM, []string{"#000000", "#ffffff"}); err != nil {
		t.Fatal(err)
	}
	theme, err := c.Theme(ctx)
	if err != nil || theme.GetTheme() != nhv1.Theme_THEME_CUSTOM || !slices.Equal(theme.GetCustomColors(), []string{"#000000", "#ffffff"}) {
		t.Fatalf("theme %v %v", theme, err)
	}
	if _, err := c.SetTheme(ctx, nhv1.Theme_THEME_CUSTOM, []string{"#zzzzzz"}); !errors.Is(err, neuralheatmap.ErrInvalidArgument) {
		t.Fatalf("custom theme with a colour that is none: %v", err)
	}
	if _, err := c.SetTheme(ctx, nhv1.Theme_THEME_THERMAL, nil); err != nil {
		t.Fatal(err)
	}

	layout := &nhv1.Layout{PanelPositions: map[string]*nhv1.PanelPosition{"heatmap": {X: 10, Y: 20}}, ZOrder: []string{"heatmap"}}
	if _, err := c.SetLayout(ctx, layout); err != nil {
		t.Fatal(err)
	}
	read, err := c.Layout(ctx)
	if err != nil || read.GetPanelPositions()["heatmap"].GetY() != 20 || !slices.Equal(read.GetZOrder(), []string{"heatmap"}) {
		t.Fatalf("layout %v %v", read, err)
	}
}

func TestExportsListAndDownload(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	ingest(t, c, ctx, "go-exp", 100)
	res, err := c.ExportCorrelationMatrix(ctx, "go-exp.json", nhv1.ExportFormat_EXPORT_FORMAT_JSON, neuralheatmap.Models("go-exp"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := c.ListExports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(files, func(f *nhv1.ExportedFile) bool { return f.GetName() == "go-exp.json" })
	if i < 0 || files[i].GetSize() != res.GetBytes() {
		t.Fatalf("listed %v, exported %v", files, res)
	}
	var sink countingWriter
	n, err := c.DownloadExport(ctx, "go-exp.json", &sink)
	if err != nil || uint64(n) != res.GetBytes() || sink.n != n {
		t.Fatalf("downloaded %d (%d written), %v; exported %d", n, sink.n, err, res.GetBytes())
	}
	full := errors.New("disk full")
	if n, err := c.DownloadExport(ctx, "go-exp.json", failingWriter{full}); !errors.Is(err, full) || n != 0 {
		t.Fatalf("a failing writer: %d bytes, %v", n, err)
	}
	_, err = c.DownloadExport(ctx, "no-such-file.csv", &sink)
	var e *neuralheatmap.Error
	if !errors.Is(err, neuralheatmap.ErrNotFound) || !errors.As(err, &e) || e.Reason != "NOT_FOUND" || e.Domain != "neural-heatmap.dev" {
		t.Fatalf("missing export: %v", err)
	}
}

type countingWriter struct{ n int64 }

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestStreamsAreIterators(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	ingest(t, c, ctx, "go-live", 100, 10)

	feed, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // the heatmap stream carries frames ingested while it is open
		for feed.Err() == nil {
			_, _ = c.IngestActivations(feed, sineFrames("go-live", 1))
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for f, err := range c.SubscribeHeatmap(ctx, neuralheatmap.Models("go-live"), neuralheatmap.Layers("b")) {
		if err != nil {
			t.Fatal(err)
		}
		if f.ModelID != "go-live" || f.Layer != "b" || f.Width != 2 || f.Height != 2 || len(f.Values) != 4 || f.Time.IsZero() {
			t.Fatalf("heatmap frame %+v", f)
		}
		break
	}
	stop()

	for m, err := range c.SubscribeCorrelations(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Size < 2 || len(m.Values) != m.Size*m.Size || len(m.Labels) != m.Size {
			t.Fatalf("correlation update %+v", m)
		}
		break
	}
	for u, err := range c.SubscribeTemporal(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if u.Time.IsZero() {
			t.Fatalf("temporal update %+v", u)
		}
		break
	}
	for u, err := range c.StreamUpdates(ctx, neuralheatmap.UpdateTypes(nhv1.UpdateType_UPDATE_TYPE_ANOMALY),
		neuralheatmap.Models("go-live"), neuralheatmap.After(0)) {
		if err != nil {
			t.Fatal(err)
		}
		if u.Anomalies == nil || u.Anomalies.GetAnomalies()[0].GetModelId() != "go-live" {
			t.Fatalf("update %+v", u)
		}
		break
	}
	for _, err := range c.SubscribeHeatmap(ctx, neuralheatmap.Models("go-no-such-model")) {
		if !errors.Is(err, neuralheatmap.ErrNotFound) {
			t.Fatalf("stream of a missing model: %v", err)
		}
	}
}

func TestViewUpdatesArePushed(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	other, _ := dial(t, bridgeAddress)
	before, err := c.Theme(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := nhv1.Theme_THEME_CONTOUR
	if before.GetTheme() == want {
		want = nhv1.Theme_THEME_PLASMA
	}
	defer func() { _, _ = c.SetTheme(ctx, before.GetTheme(), before.GetCustomColors()) }()
	seen := 0
	for u, err := range c.StreamUpdates(ctx, neuralheatmap.UpdateTypes(nhv1.UpdateType_UPDATE_TYPE_VIEW)) {
		if err != nil {
			t.Fatal(err)
		}
		if u.View == nil {
			t.Fatalf("not a view update: %+v", u)
		}
		seen++
		if seen == 1 { // the stored state when the stream opened; now another client changes it
			if u.View.GetTheme().GetTheme() != before.GetTheme() {
				t.Fatalf("first view %v, stored theme %v", u.View, before)
			}
			if _, err := other.SetTheme(ctx, want, nil); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if u.View.GetTheme().GetTheme() != want {
			t.Fatalf("view after the change: %v", u.View)
		}
		break
	}
}

func TestAuthErrorsAreTyped(t *testing.T) {
	anon, ctx := dial(t, authBridgeAddress)
	_, err := anon.ListModels(ctx)
	var e *neuralheatmap.Error
	if !errors.Is(err, neuralheatmap.ErrUnauthenticated) || !errors.As(err, &e) || e.Reason == "" {
		t.Fatalf("no token: %v", err)
	}
	wrong, ctx := dial(t, authBridgeAddress, neuralheatmap.WithToken("wrong"), neuralheatmap.WithInsecureToken())
	if _, err := wrong.ListModels(ctx); !errors.Is(err, neuralheatmap.ErrUnauthenticated) {
		t.Fatalf("wrong token: %v", err)
	}
	good, ctx := dial(t, authBridgeAddress, neuralheatmap.WithToken(token), neuralheatmap.WithInsecureToken())
	if _, err := good.ListModels(ctx); err != nil {
		t.Fatalf("right token: %v", err)
	}
}

func TestRenderHeatmapDrawsPNGs(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	ingest(t, c, ctx, "go-render", 100)
	img, err := c.RenderHeatmap(ctx, neuralheatmap.Models("go-render"), neuralheatmap.RenderCorrelation(),
		neuralheatmap.InTheme(nhv1.Theme_THEME_PLASMA), neuralheatmap.ImageSize(300, 200))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := img.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := decoded.Bounds(); b.Dx() != 300 || b.Dy() != 200 || img.Width != 300 || img.Height != 200 {
		t.Fatalf("size %dx%d (answer %dx%d), want 300x200", b.Dx(), b.Dy(), img.Width, img.Height)
	}
	if img.Theme != nhv1.Theme_THEME_PLASMA || img.Kind != nhv1.RenderKind_RENDER_KIND_CORRELATION {
		t.Fatalf("drawn as %v %v", img.Theme, img.Kind)
	}
	_, err = c.RenderHeatmap(ctx, neuralheatmap.Models("go-render"), neuralheatmap.ImageSize(5000, 0))
	var e *neuralheatmap.Error
	if !errors.Is(err, neuralheatmap.ErrInvalidArgument) || !errors.As(err, &e) || e.Reason == "" {
		t.Fatalf("width 5000: %v", err)
	}
}

func TestAnomaliesOfSeveralModels(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	for _, m := range []string{"go-a1", "go-a2", "go-a3"} {
		ingest(t, c, ctx, m, 20, 5)
	}
	page, err := c.Anomalies(ctx, neuralheatmap.Models("go-a1", "go-a3"), neuralheatmap.After(0), neuralheatmap.Limit(1000))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range page.Anomalies {
		seen[a.GetModelId()] = true
	}
	if len(seen) != 2 || !seen["go-a1"] || !seen["go-a3"] {
		t.Fatalf("anomalies of %v, want go-a1 and go-a3", seen)
	}
}
