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
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

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
