package neuralheatmap

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// failing returns a call that fails with the given codes in turn, then succeeds.
func failing(calls *int, cs ...codes.Code) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		*calls++
		if *calls <= len(cs) {
			return 0, status.Error(cs[*calls-1], "no")
		}
		return 42, nil
	}
}

// A retry-safe RPC (NO_SIDE_EFFECTS) and one that is not (IDEMPOTENCY_UNKNOWN).
const (
	queryRPC  = nhv1.NeuralHeatmapService_ListModels_FullMethodName
	ingestRPC = nhv1.NeuralHeatmapService_IngestActivations_FullMethodName
)

var fast = Retry{Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}}

func TestInvokeRetriesOnlyTransientCodesOfRetrySafeRPCs(t *testing.T) {
	ctx := context.Background()
	cfg := &callConfig{retry: &fast}
	n := 0
	if v, err := invoke(ctx, cfg, queryRPC, failing(&n, codes.Unavailable, codes.DeadlineExceeded)); err != nil || v != 42 || n != 3 {
		t.Fatalf("transient failures: %d after %d attempts, %v", v, n, err)
	}
	n = 0
	if _, err := invoke(ctx, cfg, queryRPC, failing(&n, codes.NotFound)); !errors.Is(err, ErrNotFound) || n != 1 {
		t.Fatalf("NOT_FOUND retried: %d attempts, %v", n, err)
	}
	n = 0
	if _, err := invoke(ctx, cfg, ingestRPC, failing(&n, codes.Unavailable)); !errors.Is(err, ErrUnavailable) || n != 1 {
		t.Fatalf("non-idempotent call retried: %d attempts, %v", n, err)
	}
	n = 0
	three := fast
	three.MaxAttempts = 3
	if _, err := invoke(ctx, &callConfig{retry: &three}, queryRPC, failing(&n, codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable)); !errors.Is(err, ErrUnavailable) || n != 3 {
		t.Fatalf("MaxAttempts 3: %d attempts, %v", n, err)
	}
}

func TestInvokeGivesUpWhenTheServersRetryDelayOutlastsTheDeadline(t *testing.T) {
	s, _ := status.New(codes.Unavailable, "overloaded").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Hour)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	start := time.Now()
	_, err := invoke(ctx, &callConfig{retry: &fast}, queryRPC, func(context.Context) (int, error) { n++; return 0, s.Err() })
	var e *Error
	if !errors.As(err, &e) || e.RetryDelay != time.Hour || n != 1 || time.Since(start) > 4*time.Second {
		t.Fatalf("%d attempts in %v: %v", n, time.Since(start), err)
	}
}
