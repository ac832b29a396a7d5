package neuralheatmap

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// Go values of the service's messages: time.Time for timestamps, []float32 for tensors,
// map[string]any for metadata (integers as int64, see Metadata). Messages with none of those (Filter, Layout, ThemeSettings,
// LayerStatistics, ExportResult, ...) are returned as the generated types.

// Location is a unit's place on the heatmap canvas.
type Location struct{ X, Y float64 }

// Layer is a layer as the server knows it.
type Layer struct {
	ID                   string
	Units, Width, Height uint32
	Frames               uint64
	// UnitLocations is filled when ListModels is called with IncludeUnits; index = unit index.
	UnitLocations []Location
}

// Model is a watched network with its layers.
type Model struct {
	ID          string
	Layers      []Layer
	Frames      uint64
	First, Last time.Time
}

// Pattern is a periodic, trend or state-change pattern in one layer's activity series.
type Pattern struct {
	Type nhv1.PatternType
	// TypeName is the pattern kind as the server named it (set even when Type is unspecified
	// because the name is not in this SDK's enum).
	TypeName                    string
	ModelID, LayerID            string
	Frequency, Amplitude, Phase *float64 // set for periodic patterns
	Confidence                  float64
	Start, End                  time.Time // zero when unset
	Metadata                    map[string]any
	// Unit is the unit whose own series this is (UnitGranularity), nil for a layer's series;
	// Location is its canvas cell.
	Unit     *uint32
	Location *nhv1.Location
}

// TemporalStatistics are per-layer statistics of a model (or of every model).
type TemporalStatistics struct {
	ModelID                                                        string
	Layers                                                         []*nhv1.LayerStatistics
	IncreasingTrends, DecreasingTrends, FlatTrends, PeriodicLayers uint32
	// Units has every selected unit's statistics (UnitGranularity), layer by layer.
	Units []*nhv1.UnitStatistics
	// OscillatingUnits are the selected units whose periodicity passes the server's
	// periodic threshold, strongest first.
	OscillatingUnits []*nhv1.OscillatingUnit
	// Raw is everything else the server reported.
	Raw map[string]any
}

// AnomalyPage is one page of the anomaly log.
type AnomalyPage struct {
	Anomalies []*nhv1.Anomaly
	// First and Last are the oldest retained and newest sequence of the log (0: empty).
	First, Last uint64
}

// Matrix is a square row-major matrix with its labels.
type Matrix struct {
	Labels []string
	Size   int
	// Values holds Size*Size elements, row-major.
	Values   []float32
	Metadata map[string]any
	Time     time.Time
}

// At returns element (i, j).
func (m *Matrix) At(i, j int) float32 { return m.Values[i*m.Size+j] }

// Comparison is how similar two or more models' representations are.
type Comparison struct {
	ModelIDs []string
	// Similarity is the [n, n] row-major mean best-layer CKA matrix, in ModelIDs order.
	Similarity []float64
	// Metrics maps metric name -> model id -> value.
	Metrics  map[string]map[string]float64
	Layers   []*nhv1.LayerSimilarity
	Steps    uint64
	Metadata map[string]any
}

// SimilarityAt returns the similarity of ModelIDs[i] and ModelIDs[j].
func (c *Comparison) SimilarityAt(i, j int) float64 { return c.Similarity[i*len(c.ModelIDs)+j] }

// HeatmapFrame is the newest activations of one layer, laid out on the canvas.
type HeatmapFrame struct {
	Time          time.Time
	ModelID       string
	Layer         string
	Intensity     float64 // mean activation
	Hottest       Location
	Step          int64 // -1 when unknown
	Width, Height uint32
	Values        []float32 // one per unit
}

// TemporalUpdate is a fresh set of temporal patterns.
type TemporalUpdate struct {
	Time                 time.Time
	Patterns             []Pattern
	Trends, StateChanges []map[string]any
}

// Update is one message of StreamUpdates: exactly one field is set.
type Update struct {
	Heatmap     *HeatmapFrame
	Correlation *Matrix
	Temporal    *TemporalUpdate
	Anomalies   *nhv1.AnomalyUpdate
	// View is the stored filter, theme and layout, whole: sent only when UpdateTypes names
	// UPDATE_TYPE_VIEW, once when the stream opens and after every change by any client.
	View *nhv1.ViewUpdate
}

// IngestResult says how many frames were stored and why others were not.
type IngestResult struct {
	Accepted, Rejected uint64
	Rejections         []*nhv1.FrameRejection
	Details            map[string]any
}

// Frame is one step of one layer for IngestActivations.
type Frame struct {
	ModelID, LayerID string
	Values           []float32
	// Time the activations were taken; the zero time means arrival time.
	Time time.Time
	// Step is the training step; negative means unknown.
	Step int64
}

func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func timestampOf(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func locationOf(l *nhv1.Location) Location { return Location{X: l.GetX(), Y: l.GetY()} }

func modelOf(m *nhv1.Model) Model {
	out := Model{ID: m.GetModelId(), Frames: m.GetFrames(), First: timeOf(m.GetFirstTimestamp()), Last: timeOf(m.GetLastTimestamp())}
	for _, l := range m.GetLayers() {
		layer := Layer{ID: l.GetLayerId(), Units: l.GetUnits(), Width: l.GetWidth(), Height: l.GetHeight(), Frames: l.GetFrames()}
		if d := l.GetUnitsDetail(); len(d) > 0 {
			layer.UnitLocations = make([]Location, len(d))
			for _, u := range d {
				if int(u.GetIndex()) < len(d) {
					layer.UnitLocations[u.GetIndex()] = locationOf(u.GetLocation())
				}
			}
		}
		out.Layers = append(out.Layers, layer)
	}
	return out
}

func patternOf(p *nhv1.TemporalPattern) Pattern {
	return Pattern{
		Type: p.GetPatternType(), TypeName: p.GetPatternTypeName(),
		ModelID: p.GetModelId(), LayerID: p.GetLayerId(),
		Frequency: p.Frequency, Amplitude: p.Amplitude, Phase: p.Phase,
		Confidence: p.GetConfidence(), Start: timeOf(p.GetStartTime()), End: timeOf(p.GetEndTime()),
		Metadata: Metadata(p.GetMetadata()),
		Unit:     p.Unit, Location: p.GetLocation(),
	}
}

func matrixOf(cm *nhv1.CorrelationMatrix) (*Matrix, error) {
	out := &Matrix{Labels: cm.GetLabels(), Metadata: Metadata(cm.GetMetadata()), Time: timeOf(cm.GetTimestamp())}
	t := cm.GetMatrix()
	if t == nil || len(t.GetShape()) == 0 {
		return out, nil
	}
	shape := t.GetShape()
	if len(shape) != 2 || shape[0] != shape[1] {
		return nil, fmt.Errorf("neuralheatmap: correlation matrix is not square: %v", shape)
	}
	vals, err := Float32s(t)
	if err != nil {
		return nil, err
	}
	out.Size = int(shape[0])
	out.Values = vals
	return out, nil
}

func heatmapOf(u *nhv1.HeatmapUpdate) (*HeatmapFrame, error) {
	f := &HeatmapFrame{
		Time: timeOf(u.GetTimestamp()), ModelID: u.GetModelId(), Layer: u.GetLayer(),
		Intensity: u.GetIntensity(), Hottest: locationOf(u.GetLocation()), Step: u.GetStep(),
		Width: u.GetWidth(), Height: u.GetHeight(),
	}
	if u.GetValues() != nil {
		vals, err := Float32s(u.GetValues())
		if err != nil {
			return nil, err
		}
		f.Values = vals
	}
	return f, nil
}

func temporalOf(u *nhv1.TemporalUpdate) *TemporalUpdate {
	out := &TemporalUpdate{Time: timeOf(u.GetTimestamp())}
	for _, p := range u.GetPatterns() {
		out.Patterns = append(out.Patterns, patternOf(p))
	}
	for _, s := range u.GetTrends() {
		out.Trends = append(out.Trends, Metadata(s.GetFields()))
	}
	for _, s := range u.GetStateChanges() {
		out.StateChanges = append(out.StateChanges, Metadata(s.GetFields()))
	}
	return out
}

func frameOf(f Frame) *nhv1.ActivationFrame {
	af := &nhv1.ActivationFrame{ModelId: f.ModelID, LayerId: f.LayerID, Values: Float32Tensor(f.Values), Timestamp: timestampOf(f.Time)}
	if f.Step >= 0 {
		step := f.Step
		af.Step = &step
	}
	return af
}
