package neuralheatmap_test

import (
	"fmt"
	"iter"
	"math"
	"os"
	"testing"
	"time"

	"github.com/neural-heatmap/neural-heatmap/sdk/go/internal/livestack"
	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

// One real server and two real bridges (one open, one requiring token) serve every live test
// and example of this package; the examples dial bridgeAddress as a user dials theirs.
var (
	bridgeAddress     string
	authBridgeAddress string
	serverURL         string
)

const token = "example-token"

func TestMain(m *testing.M) {
	os.Exit(runWithStack(m))
}

func runWithStack(m *testing.M) int {
	server, err := livestack.StartServer(0, "--anomaly-cooldown", "0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.Stop()
	bridge, err := livestack.StartBridge(server.URL())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer bridge.Stop()
	auth, err := livestack.StartBridge(server.URL(), "--token", token)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer auth.Stop()
	serverURL, bridgeAddress, authBridgeAddress = server.URL(), bridge.Address(), auth.Address()
	return m.Run()
}

// sineFrames is a model's training run: every layer a 2 Hz sine over units (the second
// layer inverted), 20 steps per second; unit 0 is NaN at the steps in nanAt.
func sineFrames(model string, steps int, nanAt ...int) iter.Seq[neuralheatmap.Frame] {
	start := time.Unix(1760000000, 0)
	return func(yield func(neuralheatmap.Frame) bool) {
		for k := range steps {
			t := float64(k) / 20
			for i, layer := range []string{"a", "b"} {
				s := math.Sin(2 * math.Pi * 2 * t)
				if i == 1 {
					s = -s
				}
				values := []float32{float32(s), float32(1.5 * s), float32(2 * s), float32(2.5 * s)}
				for _, n := range nanAt {
					if n == k {
						values[0] = float32(math.NaN())
					}
				}
				f := neuralheatmap.Frame{ModelID: model, LayerID: layer, Values: values,
					Time: start.Add(time.Duration(k) * 50 * time.Millisecond), Step: int64(k)}
				if !yield(f) {
					return
				}
			}
		}
	}
}
