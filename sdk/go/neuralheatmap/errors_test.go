package neuralheatmap

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestErrorCarriesEveryDetailAndMatchesItsSentinelOnly(t *testing.T) {
	s, err := status.New(codes.ResourceExhausted, "server overloaded").WithDetails(
		&errdetails.ErrorInfo{Reason: "OVERLOADED", Domain: "neural-heatmap.dev", Metadata: map[string]string{"route": "/api/x"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "limit", Description: "too big"}}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
	)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Errorf("listing: %w", asError(s.Err()))
	var e *Error
	if !errors.As(got, &e) {
		t.Fatalf("not an *Error: %v", got)
	}
	if e.Reason != "OVERLOADED" || e.Domain != "neural-heatmap.dev" || e.Metadata["route"] != "/api/x" ||
		len(e.FieldViolations) != 1 || e.FieldViolations[0].GetField() != "limit" ||
		e.RetryDelay != 1500*time.Millisecond || len(e.Details) != 3 {
		t.Fatalf("details lost: %+v", e)
	}
	if !errors.Is(got, ErrResourceExhausted) || errors.Is(got, ErrUnavailable) || errors.Is(got, ErrNotFound) {
		t.Fatal("sentinels must match by code, and only the error's own code")
	}
	if status.Code(e) != codes.ResourceExhausted {
		t.Fatal("status.Code no longer sees the status")
	}
	if want := "neuralheatmap: RESOURCE_EXHAUSTED (OVERLOADED): server overloaded"; e.Error() != want {
		t.Fatalf("message %q", e.Error())
	}
	plain := errors.New("decoding failed")
	if asError(plain) != plain || asError(nil) != nil {
		t.Fatal("errors that are no status must pass unchanged")
	}
	if codeName(codes.Canceled) != "CANCELLED" || codeName(codes.DeadlineExceeded) != "DEADLINE_EXCEEDED" {
		t.Fatal("code names are not google.rpc.Code's")
	}
}
