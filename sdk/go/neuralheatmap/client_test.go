package neuralheatmap

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

func le32(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[i*4:], math.Float32bits(v))
	}
	return b
}

func TestFloat32sDecodesLittleEndian(t *testing.T) {
	tn := &nhv1.Tensor{Shape: []int64{2, 2}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT32, Data: le32(1, 0.25, 0.25, 1)}
	got, err := Float32s(tn)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 0.25, 0.25, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	// Unaligned sub-slice decodes the same.
	buf := append([]byte{0xff}, le32(-3.5)...)
	got, err = Float32s(&nhv1.Tensor{Shape: []int64{1}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT32, Data: buf[1:]})
	if err != nil || got[0] != -3.5 {
		t.Fatalf("unaligned: %v %v", got, err)
	}
}

func TestFloat64AndErrors(t *testing.T) {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, math.Float64bits(1.0/3))
	binary.LittleEndian.PutUint64(b[8:], math.Float64bits(-2))
	tn := &nhv1.Tensor{Shape: []int64{2}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT64, Data: b}
	f64, err := Float64s(tn)
	if err != nil || f64[0] != 1.0/3 || f64[1] != -2 {
		t.Fatalf("float64: %v %v", f64, err)
	}
	f32, _ := Float32s(tn)
	if f32[0] != float32(1.0/3) {
		t.Fatalf("narrowing: %v", f32)
	}
	if _, err := Float32s(&nhv1.Tensor{Shape: []int64{3}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT32, Data: le32(1, 2)}); err == nil {
		t.Fatal("short data accepted")
	}
	if _, err := Float32s(&nhv1.Tensor{Shape: []int64{1}, Data: le32(1)}); err == nil {
		t.Fatal("unspecified dtype accepted")
	}
	rt, _ := Float32s(Float32Tensor([]float32{1.5, float32(math.Inf(-1))}))
	if rt[0] != 1.5 || !math.IsInf(float64(rt[1]), -1) {
		t.Fatalf("round trip: %v", rt)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Delay(i); got != w*time.Millisecond {
			t.Fatalf("attempt %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if b.Delay(5000) != time.Second {
		t.Fatal("no cap on huge attempts")
	}
}

// fakeStream delivers seqs then fails with err.
type fakeStream struct {
	seqs []uint64
	err  error
}

func (f *fakeStream) Recv() (*nhv1.SubscribeAnomaliesResponse, error) {
	if len(f.seqs) == 0 {
		return nil, f.err
	}
	s := f.seqs[0]
	f.seqs = f.seqs[1:]
	return &nhv1.SubscribeAnomaliesResponse{Update: &nhv1.AnomalyUpdate{
		Anomalies: []*nhv1.Anomaly{{Sequence: s}}}}, nil
}

func TestResumeNeverDuplicates(t *testing.T) {
	var opened []uint64
	open := func(_ context.Context, after uint64) (AnomalyStream, error) {
		opened = append(opened, after)
		// Replays one already-delivered sequence (as a sloppy server might), 3 per connection.
		var seqs []uint64
		start := after
		if start > 0 {
			start--
		}
		for s := start + 1; s <= start+3 && s <= 10; s++ {
			seqs = append(seqs, s)
		}
		return &fakeStream{seqs: seqs, err: status.Error(codes.Unavailable, "bridge restarting")}, nil
	}
	var got []uint64
	err := resume(context.Background(), open, 0, func(a *nhv1.Anomaly) error {
		got = append(got, a.GetSequence())
		if len(got) == 10 {
			return ErrStop
		}
		return nil
	}, Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("got %v", got)
		}
	}
	if opened[0] != 0 || opened[1] != 3 {
		t.Fatalf("resumed from %v", opened)
	}
}

func TestResumeStopsOnPermanentError(t *testing.T) {
	open := func(context.Context, uint64) (AnomalyStream, error) {
		return &fakeStream{err: status.Error(codes.PermissionDenied, "no")}, nil
	}
	err := resume(context.Background(), open, 0, func(*nhv1.Anomaly) error { return nil }, DefaultBackoff, 0, nil)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("got %v", err)
	}
	boom := errors.New("handler failed")
	open2 := func(context.Context, uint64) (AnomalyStream, error) { return &fakeStream{seqs: []uint64{1}}, nil }
	if err := resume(context.Background(), open2, 0, func(*nhv1.Anomaly) error { return boom }, DefaultBackoff, 0, nil); !errors.Is(err, boom) {
		t.Fatalf("handler error lost: %v", err)
	}
}

type authServer struct {
	nhv1.UnimplementedNeuralHeatmapServiceServer
	seen chan string
}

func (s *authServer) ListModels(ctx context.Context, _ *nhv1.ListModelsRequest) (*nhv1.ListModelsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.seen <- firstOr(md.Get("authorization"), "")
	return &nhv1.ListModelsResponse{}, nil
}

func firstOr(v []string, d string) string {
	if len(v) == 0 {
		return d
	}
	return v[0]
}

func TestBearerTokenIsSentAsMetadata(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	as := &authServer{seen: make(chan string, 1)}
	nhv1.RegisterNeuralHeatmapServiceServer(srv, as)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	c, err := Dial("passthrough:///bufnet", WithToken("s3cret"), WithInsecureToken(),
		WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.RPC.ListModels(ctx, &nhv1.ListModelsRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-as.seen; got != "Bearer s3cret" {
		t.Fatalf("authorization = %q", got)
	}
	if _, err := Dial("x:1", WithToken("t")); err == nil {
		t.Fatal("token over plaintext allowed without WithInsecureToken")
	}
}

// stuckStream sends one heartbeat and one anomaly, then hangs until its context ends.
type stuckStream struct {
	ctx  context.Context
	sent int
	seq  uint64
}

func (s *stuckStream) Recv() (*nhv1.SubscribeAnomaliesResponse, error) {
	s.sent++
	switch s.sent {
	case 1:
		return &nhv1.SubscribeAnomaliesResponse{Heartbeat: &nhv1.AnomalyHeartbeat{LastSequence: s.seq}}, nil
	case 2:
		return &nhv1.SubscribeAnomaliesResponse{Update: &nhv1.AnomalyUpdate{
			Anomalies: []*nhv1.Anomaly{{Sequence: s.seq}}}}, nil
	}
	<-s.ctx.Done()
	return nil, status.FromContextError(s.ctx.Err()).Err()
}

func TestResumeReopensAStreamThatFallsSilentAfterAHeartbeat(t *testing.T) {
	var opened []uint64
	open := func(ctx context.Context, after uint64) (AnomalyStream, error) {
		opened = append(opened, after)
		return &stuckStream{ctx: ctx, seq: after + 1}, nil
	}
	var got []uint64
	var reasons []error
	err := resume(context.Background(), open, 0, func(a *nhv1.Anomaly) error {
		got = append(got, a.GetSequence())
		if len(got) == 3 {
			return ErrStop
		}
		return nil
	}, Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}, 50*time.Millisecond,
		func(err error, _ time.Duration, _ uint64) { reasons = append(reasons, err) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("got %v", got)
	}
	if len(opened) != 3 || opened[1] != 1 || opened[2] != 2 {
		t.Fatalf("reopened after %v", opened)
	}
	for _, r := range reasons {
		if status.Code(r) != codes.Unavailable {
			t.Fatalf("reopened for %v", r)
		}
	}
}

func TestHeartbeatsNeverReachTheHandler(t *testing.T) {
	open := func(ctx context.Context, after uint64) (AnomalyStream, error) {
		return &stuckStream{ctx: ctx, seq: after + 1}, nil
	}
	calls := 0
	_ = resume(context.Background(), open, 0, func(a *nhv1.Anomaly) error {
		calls++
		if a.GetSequence() == 0 {
			t.Fatalf("a heartbeat reached the handler")
		}
		return ErrStop
	}, DefaultBackoff, time.Second, nil)
	if calls != 1 {
		t.Fatalf("handler called %d times", calls)
	}
}
