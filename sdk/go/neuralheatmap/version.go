package neuralheatmap

import (
	"context"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// Version is the contract's and this SDK's version (protos/VERSION). Same MAJOR (before 1.0:
// same MINOR) as the bridge's BridgeVersion means compatible; see docs/clients.md,
// "Versions and compatibility". A test keeps it equal to protos/VERSION.
const Version = "0.2.0"

// VersionHeader is the response header in which the bridge reports its version on every RPC.
const VersionHeader = "x-neural-heatmap-version"

// BridgeVersion returns the version the bridge reports in its VersionHeader, read from a
// ListModels call (cheap; answered from the bridge's cache), or "" from a bridge too old to
// send one. It is retried like any read.
func (c *Client) BridgeVersion(ctx context.Context, opts ...CallOption) (string, error) {
	cfg := newCallConfig(opts)
	var header metadata.MD
	_, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_ListModels_FullMethodName, func(ctx context.Context) (*nhv1.ListModelsResponse, error) {
		return c.RPC.ListModels(ctx, &nhv1.ListModelsRequest{}, append(cfg.grpcOpts, grpc.Header(&header))...)
	})
	if err != nil {
		return "", err
	}
	if v := header.Get(VersionHeader); len(v) > 0 {
		return v[0], nil
	}
	return "", nil
}

// isLoopback reports whether a gRPC target is a Unix socket, localhost or a loopback IP.
func isLoopback(target string) bool {
	t := strings.ToLower(target)
	if strings.HasPrefix(t, "unix:") || strings.HasPrefix(t, "unix-abstract:") {
		return true
	}
	for _, p := range []string{"dns:///", "dns:", "passthrough:///", "ipv4:", "ipv6:"} {
		if strings.HasPrefix(t, p) {
			t = t[len(p):]
			break
		}
	}
	host := t
	if h, _, err := net.SplitHostPort(t); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errPlaintextToken is the refusal every SDK words the same way (docs/clients.md, "Settings").
func errPlaintextToken(target string) error {
	return fmt.Errorf("neural heatmap: refusing to send a bearer token over plaintext to %s; "+
		"use TLS, a loopback address, or opt in explicitly (Python insecure_token=True, "+
		"TypeScript insecureToken: true, Go WithInsecureToken(), Java allowInsecureToken())", target)
}
