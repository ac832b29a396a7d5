package neuralheatmap

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// droppingServer ends every anomaly stream with UNAVAILABLE, after one heartbeat when beat;
// its stream number anomalyAt sends an anomaly instead.
type droppingServer struct {
	nhv1.UnimplementedNeuralHeatmapServiceServer
	opens     atomic.Int32
	beat      bool
	anomalyAt int32
}

func (s *droppingServer) SubscribeAnomalies(_ *nhv1.SubscribeAnomaliesRequest, stream grpc.ServerStreamingServer[nhv1.SubscribeAnomaliesResponse]) error {
	if s.opens.Add(1) == s.anomalyAt {
		update := &nhv1.AnomalyUpdate{Anomalies: []*nhv1.Anomaly{{Sequence: 1}}}
		if err := stream.Send(&nhv1.SubscribeAnomaliesResponse{Update: update}); err != nil {
			return err
		}
		<-stream.Context().Done()
		return nil
	}
	if s.beat {
		if err := stream.Send(&nhv1.SubscribeAnomaliesResponse{Heartbeat: &nhv1.AnomalyHeartbeat{}}); err != nil {
			return err
		}
	}
	return status.Error(codes.Unavailable, "bridge going away")
}

func dialDropping(t *testing.T, s *droppingServer) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	nhv1.RegisterNeuralHeatmapServiceServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	c, err := Dial("passthrough:///bufnet",
		WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A durable consumer gives up after its backoff's MaxAttempts reopenings in a row without a
// message (StreamReconnectLimit by default), and a message in between resets the count.
func TestConsumeStopsAfterTheReconnectLimitWithoutProgress(t *testing.T) {
	quick := Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1, MaxAttempts: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	idle := &droppingServer{}
	err := dialDropping(t, idle).Consume(ctx, "c1", func(*nhv1.Anomaly) error { return nil }, &ConsumeOptions{Backoff: quick})
	if !errors.Is(err, ErrUnavailable) || idle.opens.Load() != 4 {
		t.Fatalf("%d opens (want the first and 3 reopenings), %v", idle.opens.Load(), err)
	}
	// Heartbeats on every stream: still reopening at stream 8, where the handler stops it.
	beating := &droppingServer{beat: true, anomalyAt: 8}
	err = dialDropping(t, beating).Consume(ctx, "c2", func(*nhv1.Anomaly) error { return ErrStop }, &ConsumeOptions{Backoff: quick})
	if n := beating.opens.Load(); n != 8 || err != nil {
		t.Fatalf("a stream with heartbeats was given up: %d opens, %v", n, err)
	}
}
