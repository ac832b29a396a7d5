package neuralheatmap_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/neural-heatmap/neural-heatmap/sdk/go/internal/livestack"
	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

// attempts counts the calls that reach the wire, per method, through interceptors.
type attempts struct{ unary, stream atomic.Int32 }

func (a *attempts) options() neuralheatmap.Option {
	return neuralheatmap.WithDialOptions(
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			a.unary.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			a.stream.Add(1)
			return streamer(ctx, desc, cc, method, opts...)
		}))
}

// A real bridge whose server is down answers UNAVAILABLE (UPSTREAM_UNAVAILABLE). The
// idempotent ListModels retries with the shared backoff until the server comes up on that
// port and then succeeds; IngestActivations, which is not idempotent, is tried exactly once.
func TestIdempotentCallsRetryOnUnavailableUntilTheUpstreamIsBack(t *testing.T) {
	port, err := livestack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	bridge, err := livestack.StartBridge("http://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer bridge.Stop()
	var n attempts
	c, ctx := dial(t, bridge.Address(), n.options())

	_, err = c.IngestActivations(ctx, sineFrames("go-retry", 2))
	var e *neuralheatmap.Error
	if !errors.Is(err, neuralheatmap.ErrUnavailable) || !errors.As(err, &e) || e.Reason != "UPSTREAM_UNAVAILABLE" {
		t.Fatalf("ingest with the server down: %v", err)
	}
	if got := n.stream.Load(); got != 1 {
		t.Fatalf("IngestActivations made %d attempts; a non-idempotent call must make one", got)
	}

	_, err = c.ListModels(ctx, neuralheatmap.WithRetry(neuralheatmap.Retry{Backoff: neuralheatmap.DefaultBackoff, MaxAttempts: 3}))
	if !errors.Is(err, neuralheatmap.ErrUnavailable) || n.unary.Load() != 3 {
		t.Fatalf("after %d attempts (3 allowed): %v", n.unary.Load(), err)
	}
	if _, err = c.ListModels(ctx, neuralheatmap.WithoutRetry()); !errors.Is(err, neuralheatmap.ErrUnavailable) || n.unary.Load() != 4 {
		t.Fatalf("WithoutRetry made %d attempts: %v", n.unary.Load()-3, err)
	}

	n.unary.Store(0)
	started := make(chan *livestack.Process, 1)
	go func() { // the server comes back while ListModels is retrying
		time.Sleep(300 * time.Millisecond)
		s, err := livestack.StartServer(port)
		if err != nil {
			t.Error(err)
		}
		started <- s
	}()
	models, err := c.ListModels(ctx) // DefaultRetry
	server := <-started
	if server != nil {
		defer server.Stop()
	}
	if err != nil {
		t.Fatalf("ListModels did not recover once the server was up (%d attempts): %v", n.unary.Load(), err)
	}
	if n.unary.Load() < 2 || slices.ContainsFunc(models, func(m neuralheatmap.Model) bool { return m.ID == "go-retry" }) {
		t.Fatalf("%d attempts, models %v: the first attempt must have failed and the ingest stored nothing", n.unary.Load(), models)
	}
}
