// Package gentest checks that the generated Go code is complete and round-trips on the wire.
package gentest

import (
	"encoding/binary"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

func TestCorrelationMatrixRoundTripKeepsRawBytes(t *testing.T) {
	values := []float32{1, 0.5, 0.5, 1}
	raw := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	in := &nhv1.GetCorrelationMatrixResponse{Matrix: &nhv1.CorrelationMatrix{
		Matrix:    &nhv1.Tensor{Shape: []int64{2, 2}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT32, Data: raw},
		Labels:    []string{"m/a", "m/b"},
		Timestamp: timestamppb.Now(),
	}}
	wire, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &nhv1.GetCorrelationMatrixResponse{}
	if err := proto.Unmarshal(wire, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("round trip changed the message: %v != %v", in, out)
	}
	got := math.Float32frombits(binary.LittleEndian.Uint32(out.GetMatrix().GetMatrix().GetData()[4:]))
	if got != 0.5 {
		t.Fatalf("element [0,1] = %v, want 0.5", got)
	}
}

func TestServiceDescriptorHasEveryStreamingKind(t *testing.T) {
	sd := nhv1.File_neural_heatmap_v1_neural_heatmap_service_proto.Services().ByName("NeuralHeatmapService")
	if sd == nil {
		t.Fatal("NeuralHeatmapService missing from the generated descriptor")
	}
	kinds := map[string][2]bool{
		"GetAnomalies":       {false, false},
		"SubscribeAnomalies": {false, true},
		"StreamUpdates":      {false, true},
		"IngestActivations":  {true, false},
	}
	for name, want := range kinds {
		m := sd.Methods().ByName(protoreflect.Name(name))
		if m == nil {
			t.Fatalf("method %s missing", name)
		}
		if m.IsStreamingClient() != want[0] || m.IsStreamingServer() != want[1] {
			t.Errorf("%s streaming = (%v, %v), want %v", name, m.IsStreamingClient(), m.IsStreamingServer(), want)
		}
	}
	// The generated client interface exposes the same methods.
	var _ nhv1.NeuralHeatmapServiceClient = nhv1.NewNeuralHeatmapServiceClient(nil)
}

func TestSeverityOrderIsMeaningful(t *testing.T) {
	if !(nhv1.Severity_SEVERITY_LOW < nhv1.Severity_SEVERITY_MEDIUM &&
		nhv1.Severity_SEVERITY_MEDIUM < nhv1.Severity_SEVERITY_HIGH &&
		nhv1.Severity_SEVERITY_HIGH < nhv1.Severity_SEVERITY_CRITICAL) {
		t.Fatal("severity enum values must grow with severity")
	}
}
