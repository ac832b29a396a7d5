package neuralheatmap_test

import (
	"errors"
	"iter"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

// plantedFrames: layer "osc" has 64 noisy units, unit 23 oscillating at 3 Hz; layer "relu"
// has 64 positive units, unit 50 dead from step 150; 200 steps at 50 Hz.
func plantedFrames(model string) iter.Seq[neuralheatmap.Frame] {
	start := time.Unix(1760000000, 0)
	rng := rand.New(rand.NewPCG(4, 2))
	return func(yield func(neuralheatmap.Frame) bool) {
		for k := range 200 {
			osc, relu := make([]float32, 64), make([]float32, 64)
			for u := range 64 {
				osc[u] = float32(0.1 * rng.NormFloat64())
				relu[u] = float32(math.Abs(rng.NormFloat64()) + 0.05)
			}
			osc[23] += float32(0.5 * math.Sin(2*math.Pi*3*float64(k)/50))
			if k >= 150 {
				relu[50] = 0
			}
			at := start.Add(time.Duration(k) * 20 * time.Millisecond)
			for layer, values := range map[string][]float32{"osc": osc, "relu": relu} {
				if !yield(neuralheatmap.Frame{ModelID: model, LayerID: layer, Values: values, Time: at, Step: int64(k)}) {
					return
				}
			}
		}
	}
}

func TestUnitTemporalAndLayerHealth(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	if res, err := c.IngestActivations(ctx, plantedFrames("go-unit"), neuralheatmap.BatchSize(64)); err != nil || res.Accepted != 400 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	const bin = 50.0 / 200 // one periodogram bin of a 4 s series, Hz

	stats, err := c.TemporalStatistics(ctx, neuralheatmap.Models("go-unit"), neuralheatmap.Layers("osc"),
		neuralheatmap.UnitGranularity())
	if err != nil {
		t.Fatal(err)
	}
	if len(stats.Units) != 64 || len(stats.OscillatingUnits) != 1 {
		t.Fatalf("%d units, oscillating %v", len(stats.Units), stats.OscillatingUnits)
	}
	osc := stats.OscillatingUnits[0]
	if osc.GetUnit() != 23 || math.Abs(osc.GetFrequency()-3) > bin || osc.GetLocation().GetX() != 7 || osc.GetLocation().GetY() != 2 {
		t.Fatalf("oscillating unit %v", osc)
	}

	patterns, err := c.TemporalPatterns(ctx, neuralheatmap.Models("go-unit"), neuralheatmap.Layers("osc"),
		neuralheatmap.UnitGranularity(), neuralheatmap.UnitRange(20, 30), neuralheatmap.Units(1))
	if err != nil {
		t.Fatal(err)
	}
	var periodic []neuralheatmap.Pattern
	for _, p := range patterns {
		if p.TypeName == "periodic" {
			periodic = append(periodic, p)
		}
	}
	if len(periodic) != 1 || periodic[0].Unit == nil || *periodic[0].Unit != 23 || math.Abs(*periodic[0].Frequency-3) > bin {
		t.Fatalf("periodic patterns %+v", periodic)
	}

	_, err = c.TemporalPatterns(ctx, neuralheatmap.Models("go-unit"), neuralheatmap.Layers("osc"),
		neuralheatmap.UnitGranularity(), neuralheatmap.Units(64))
	if !errors.Is(err, neuralheatmap.ErrInvalidArgument) || !strings.Contains(err.Error(), "has 64 units") {
		t.Fatalf("unit 64 of 64: %v", err)
	}

	health, err := c.LayerHealth(ctx, neuralheatmap.Models("go-unit"), neuralheatmap.Layers("relu"), neuralheatmap.TopK(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(health) != 1 || len(health[0].GetDeadUnits()) != 1 || len(health[0].GetTopSpikes()) != 3 {
		t.Fatalf("health %v", health)
	}
	dead := health[0].GetDeadUnits()[0]
	if dead.GetUnit() != 50 || dead.GetSinceStep() != 150 || dead.GetFrames() != 50 ||
		dead.GetLocation().GetX() != 2 || dead.GetLocation().GetY() != 6 {
		t.Fatalf("dead unit %v", dead)
	}
}
