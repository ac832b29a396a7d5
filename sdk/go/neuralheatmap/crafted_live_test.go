package neuralheatmap_test

import (
	"reflect"
	"testing"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
	"github.com/neural-heatmap/neural-heatmap/sdk/go/internal/livestack"
	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

// Answers the real server cannot give (tests/support/crafted_upstream.py) reach the Go SDK
// intact: kinds outside the enums by name, metadata integers as int64, nesting and nulls.
func TestUnknownKindsAndMetadataIntegersSurviveTheWire(t *testing.T) {
	upstream, err := livestack.StartCrafted()
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Stop()
	bridge, err := livestack.StartBridge(upstream.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer bridge.Stop()
	c, ctx := dial(t, bridge.Address())

	page, err := c.Anomalies(ctx, neuralheatmap.After(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Anomalies) != 1 {
		t.Fatalf("anomalies %v", page.Anomalies)
	}
	a := page.Anomalies[0]
	if a.GetAnomalyType() != nhv1.AnomalyType_ANOMALY_TYPE_UNSPECIFIED || a.GetAnomalyTypeName() != "gradient_explosion" {
		t.Fatalf("type %v named %q", a.GetAnomalyType(), a.GetAnomalyTypeName())
	}
	md := neuralheatmap.Metadata(a.GetMetadata())
	want := map[string]any{
		"step": int64(4900), "unit": int64(0), "negative": int64(-1 << 63), "huge": float64(1 << 70),
		"ratio": 0.25, "whole_float": 3.0, "flag": true, "off": false, "name": "fc1", "missing": nil,
		"window": []any{int64(1), 2.5, nil, true, "x", map[string]any{"k": int64(3)}},
		"nested": map[string]any{"steps": []any{int64(10), int64(20)}, "deep": map[string]any{"n": int64(7)}},
	}
	if !reflect.DeepEqual(md, want) {
		t.Fatalf("metadata\n got %#v\nwant %#v", md, want)
	}

	patterns, err := c.TemporalPatterns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(patterns) != 1 || patterns[0].TypeName != "chirp" || patterns[0].Type != nhv1.PatternType_PATTERN_TYPE_UNSPECIFIED ||
		patterns[0].Metadata["change_index"] != int64(42) {
		t.Fatalf("patterns %+v", patterns)
	}
	for u, err := range c.SubscribeTemporal(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Trends) != 1 || u.Trends[0]["samples"] != int64(512) || u.Patterns[0].TypeName != "chirp" {
			t.Fatalf("temporal update %+v", u)
		}
		break
	}
}
