package neuralheatmap

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// TestRenderHeatmapLive needs a live bridge with model "m1" (tests/sdk/test_render.py runs
// it with NEURAL_HEATMAP_TEST_TARGET set); without one it is skipped.
func TestRenderHeatmapLive(t *testing.T) {
	target := os.Getenv("NEURAL_HEATMAP_TEST_TARGET")
	if target == "" {
		t.Skip("NEURAL_HEATMAP_TEST_TARGET is not set")
	}
	client, err := Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data, err := client.RenderHeatmap(ctx, &nhv1.RenderHeatmapRequest{
		Kind: nhv1.RenderKind_RENDER_KIND_CORRELATION, ModelId: "m1",
		Theme: nhv1.Theme_THEME_PLASMA, Width: 300, Height: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 200 {
		t.Fatalf("size %dx%d, want 300x200", b.Dx(), b.Dy())
	}
	_, err = client.RenderHeatmap(ctx, &nhv1.RenderHeatmapRequest{ModelId: "m1", Width: 5000})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("width 5000: %v, want InvalidArgument", err)
	}
}
