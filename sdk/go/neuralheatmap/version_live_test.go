package neuralheatmap_test

import (
	"testing"

	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

// The bridge reports the contract version in a header on every RPC; BridgeVersion reads it.
func TestBridgeVersionIsTheSDKVersion(t *testing.T) {
	c, ctx := dial(t, bridgeAddress)
	got, err := c.BridgeVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != neuralheatmap.Version {
		t.Fatalf("bridge version %q, SDK %q", got, neuralheatmap.Version)
	}
}
