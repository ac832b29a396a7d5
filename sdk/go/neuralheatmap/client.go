// Package neuralheatmap is the Go client of the Neural Heatmap gRPC bridge
// (neural_heatmap.v1.NeuralHeatmapService): one method per RPC, each taking a
// context.Context first and CallOptions last, returning Go values (time.Time,
// []float32 tensors, map[string]any metadata) and *Error on failure (errors.As; the
// sentinels ErrNotFound, ErrInvalidArgument, ... match with errors.Is). Idempotent calls
// retry on the shared policy's transient codes (DefaultRetry); the anomaly subscription
// resumes after the last delivered sequence, exactly once; other streams are iterators
// (iter.Seq2); downloads write to an io.Writer.
//
// The generated client stays available as Client.RPC.
package neuralheatmap

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// DefaultAddress is the bridge's customary address.
const DefaultAddress = "localhost:50051"

// DefaultMaxMessageBytes raises gRPC's 4 MiB default: correlation matrices are large.
const DefaultMaxMessageBytes = 256 << 20

type dialConfig struct {
	tls       *tls.Config
	token     string
	insecure  bool // allow the token over plaintext to a non-loopback address
	maxBytes  int
	extraOpts []grpc.DialOption
}

// Option configures Dial.
type Option func(*dialConfig)

// WithTLS dials with TLS; nil uses the system roots.
func WithTLS(cfg *tls.Config) Option {
	return func(c *dialConfig) {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.tls = cfg
	}
}

// WithToken sends "authorization: Bearer <token>" on every call (per-RPC credentials).
// Without TLS the token is sent only to a loopback address (localhost, 127.0.0.0/8, ::1, a
// Unix socket) or when WithInsecureToken is also given; Dial fails otherwise, with the same
// words as the Python and TypeScript SDKs.
func WithToken(token string) Option { return func(c *dialConfig) { c.token = token } }

// WithInsecureToken allows the bearer token over plaintext to a non-loopback address too
// (a private network you trust).
func WithInsecureToken() Option { return func(c *dialConfig) { c.insecure = true } }

// WithMaxMessageBytes sets the per-message limit in both directions.
func WithMaxMessageBytes(n int) Option { return func(c *dialConfig) { c.maxBytes = n } }

// WithDialOptions passes extra grpc.DialOptions (interceptors, keepalive, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.extraOpts = append(c.extraOpts, opts...) }
}

// BearerToken is a credentials.PerRPCCredentials adding "authorization: Bearer <token>".
type BearerToken struct {
	Token string
	// AllowInsecure lets the token travel without TLS.
	AllowInsecure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b BearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.Token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b BearerToken) RequireTransportSecurity() bool { return !b.AllowInsecure }

// Client wraps a connection to the bridge.
type Client struct {
	Conn *grpc.ClientConn
	// RPC is the generated client: every method of the service.
	RPC nhv1.NeuralHeatmapServiceClient
}

// Dial connects to the bridge at address ("host:port"; empty means DefaultAddress).
// The connection is established lazily on the first call.
func Dial(address string, opts ...Option) (*Client, error) {
	if address == "" {
		address = DefaultAddress
	}
	cfg := dialConfig{maxBytes: DefaultMaxMessageBytes}
	for _, o := range opts {
		o(&cfg)
	}
	var dopts []grpc.DialOption
	if cfg.tls != nil {
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.tls)))
	} else {
		dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.token != "" {
		if cfg.tls == nil && !cfg.insecure && !isLoopback(address) {
			return nil, errPlaintextToken(address)
		}
		dopts = append(dopts, grpc.WithPerRPCCredentials(BearerToken{Token: cfg.token, AllowInsecure: cfg.tls == nil}))
	}
	dopts = append(dopts, grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(cfg.maxBytes), grpc.MaxCallSendMsgSize(cfg.maxBytes)))
	dopts = append(dopts, cfg.extraOpts...)
	conn, err := grpc.NewClient(address, dopts...)
	if err != nil {
		return nil, fmt.Errorf("neuralheatmap: dial %s: %w", address, err)
	}
	return &Client{Conn: conn, RPC: nhv1.NewNeuralHeatmapServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

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

// ElementCount is the product of a tensor's dimensions.
func ElementCount(shape []int64) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/int(d)) {
			return 0, fmt.Errorf("neuralheatmap: bad tensor shape %v", shape)
		}
		n *= int(d)
	}
	return n, nil
}

// Float32s decodes a tensor's little-endian bytes (float32, or float64 narrowed) without unsafe.
func Float32s(t *nhv1.Tensor) ([]float32, error) {
	n, err := ElementCount(t.GetShape())
	if err != nil {
		return nil, err
	}
	data := t.GetData()
	switch t.GetDtype() {
	case nhv1.DataType_DATA_TYPE_FLOAT32:
		if len(data) != n*4 {
			return nil, fmt.Errorf("neuralheatmap: tensor %v float32 needs %d bytes, got %d", t.GetShape(), n*4, len(data))
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[i*4:]))
		}
		return out, nil
	case nhv1.DataType_DATA_TYPE_FLOAT64:
		f64, err := Float64s(t)
		if err != nil {
			return nil, err
		}
		out := make([]float32, n)
		for i, v := range f64 {
			out[i] = float32(v)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("neuralheatmap: unsupported tensor dtype %v", t.GetDtype())
	}
}

// Float64s decodes a float64 (or float32, widened) tensor.
func Float64s(t *nhv1.Tensor) ([]float64, error) {
	n, err := ElementCount(t.GetShape())
	if err != nil {
		return nil, err
	}
	data := t.GetData()
	switch t.GetDtype() {
	case nhv1.DataType_DATA_TYPE_FLOAT64:
		if len(data) != n*8 {
			return nil, fmt.Errorf("neuralheatmap: tensor %v float64 needs %d bytes, got %d", t.GetShape(), n*8, len(data))
		}
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[i*8:]))
		}
		return out, nil
	case nhv1.DataType_DATA_TYPE_FLOAT32:
		f32, err := Float32s(t)
		if err != nil {
			return nil, err
		}
		out := make([]float64, n)
		for i, v := range f32 {
			out[i] = float64(v)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("neuralheatmap: unsupported tensor dtype %v", t.GetDtype())
	}
}

// Float32Tensor encodes values as a float32 tensor of shape [len(values)].
func Float32Tensor(values []float32) *nhv1.Tensor {
	data := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(data[i*4:], math.Float32bits(v))
	}
	return &nhv1.Tensor{Shape: []int64{int64(len(values))}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT32, Data: data}
}

// Backoff computes reconnect delays: the cap Initial * Multiplier^attempt, at most Max, of
// which the share Jitter is drawn at random (delay = cap * (1 - Jitter*r), r in [0, 1)).
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	// Jitter is the share of each delay drawn at random, 0 (none) to 1 (full jitter).
	Jitter float64
	// MaxAttempts bounds consecutive failed reconnects (0: unbounded).
	MaxAttempts int
}

// DefaultBackoff is used when SubscribeOptions.Backoff is zero: the policy every client
// shares (protos/policy/retry.json, generated into policy_gen.go).
var DefaultBackoff = Backoff{Initial: BackoffInitial, Max: BackoffMax, Multiplier: BackoffMultiplier, Jitter: BackoffJitter}

// Delay before retry number attempt (0-based).
func (b Backoff) Delay(attempt int) time.Duration {
	if b.Multiplier < 1 {
		b.Multiplier = 1
	}
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(attempt))
	if d > float64(b.Max) || math.IsInf(d, 0) {
		d = float64(b.Max)
	}
	jitter := math.Min(math.Max(b.Jitter, 0), 1)
	return time.Duration(d * (1 - jitter*rand.Float64()))
}

// Resumable reports whether a stream that failed with err should be reopened: err is a
// gRPC status whose code is one of StreamReconnectCodes.
func Resumable(err error) bool {
	s, ok := status.FromError(err)
	return err != nil && ok && slices.Contains(StreamReconnectCodes, s.Code())
}

// DefaultIdleTimeout is used when SubscribeOptions.IdleTimeout is zero. The bridge sends a
// heartbeat on an idle anomaly stream every --heartbeat-interval (default 2 s).
const DefaultIdleTimeout = 15 * time.Second

// SubscribeOptions narrows the anomaly subscription.
type SubscribeOptions struct {
	MinSeverity nhv1.Severity
	ModelIDs    []string
	Backoff     Backoff
	// IdleTimeout reopens a stream that brought neither an anomaly nor a heartbeat for this
	// long, once the bridge has sent one heartbeat (so it is known to send them): such a
	// stream is stuck, not quiet. 0 means DefaultIdleTimeout, a negative value no bound.
	IdleTimeout time.Duration
	// OnReconnect is told about every reconnect.
	OnReconnect func(err error, delay time.Duration, afterSeq uint64)
}

// ErrStop may be returned by a handler to end SubscribeAnomalies without an error.
var ErrStop = errors.New("neuralheatmap: stop")

// SubscribeAnomalies delivers every anomaly with sequence > afterSeq to handler, in order and
// exactly once, until ctx ends or handler returns an error (ErrStop ends quietly). When the
// stream breaks with a transient status it reconnects with backoff and resumes after the last
// sequence handler accepted. A sequence is "accepted" once handler returns nil, so a handler
// that persists the sequence gets at-least-once across process restarts and exactly-once
// within one call. A failure is an *Error (a handler's own error is returned as it is).
// Heartbeats never reach handler; a stream that stays silent past
// o.IdleTimeout is reopened like one that failed with UNAVAILABLE.
func (c *Client) SubscribeAnomalies(ctx context.Context, afterSeq uint64, handler func(*nhv1.Anomaly) error, o *SubscribeOptions) error {
	if o == nil {
		o = &SubscribeOptions{}
	}
	bo := o.Backoff
	if bo.Initial == 0 {
		bo = DefaultBackoff
	}
	open := func(ctx context.Context, after uint64) (AnomalyStream, error) {
		return c.RPC.SubscribeAnomalies(ctx, &nhv1.SubscribeAnomaliesRequest{
			AfterSequence: &after, MinSeverity: o.MinSeverity, ModelIds: o.ModelIDs,
		})
	}
	idle := o.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	return asError(resume(ctx, open, afterSeq, handler, bo, idle, o.OnReconnect))
}

// errIdle ends a stream that stayed silent past the idle bound; it is resumable.
func errIdle(idle time.Duration) error {
	return status.Errorf(codes.Unavailable,
		"neuralheatmap: no anomaly and no heartbeat for %s: the stream is stuck; reopening", idle)
}

// AnomalyStream is the receiving side of one subscription.
type AnomalyStream interface {
	Recv() (*nhv1.SubscribeAnomaliesResponse, error)
}

type opener func(ctx context.Context, after uint64) (AnomalyStream, error)

func resume(ctx context.Context, open opener, last uint64, handler func(*nhv1.Anomaly) error, bo Backoff,
	idle time.Duration, onReconnect func(error, time.Duration, uint64)) error {
	failures := 0
	armed := false // a heartbeat was seen: silence now means "stuck"
	for {
		if ctx.Err() != nil {
			return nil
		}
		err := func() error {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var idled atomic.Bool
			watchdog := time.AfterFunc(time.Duration(math.MaxInt64), func() {
				idled.Store(true)
				cancel()
			})
			defer watchdog.Stop()
			stream, err := open(sctx, last)
			if err != nil {
				return err
			}
			for {
				if armed && idle > 0 {
					watchdog.Reset(idle)
				}
				resp, err := stream.Recv()
				watchdog.Stop()
				if idled.Load() {
					return errIdle(idle)
				}
				if err != nil {
					return err
				}
				if resp.GetHeartbeat() != nil {
					armed = true
					failures = 0
					continue
				}
				for _, a := range resp.GetUpdate().GetAnomalies() {
					if a.GetSequence() <= last {
						continue // already delivered
					}
					if err := handler(a); err != nil {
						return &handlerError{err}
					}
					last = a.GetSequence()
					failures = 0
				}
			}
		}()
		var he *handlerError
		switch {
		case errors.As(err, &he):
			if errors.Is(he.err, ErrStop) {
				return nil
			}
			return he.err
		case ctx.Err() != nil:
			return nil
		case err != nil && !errors.Is(err, io.EOF) && !Resumable(err):
			return err
		}
		if bo.MaxAttempts > 0 && failures >= bo.MaxAttempts {
			return err
		}
		delay := bo.Delay(failures)
		failures++
		if onReconnect != nil {
			onReconnect(err, delay, last)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

type handlerError struct{ err error }

func (h *handlerError) Error() string { return h.err.Error() }
