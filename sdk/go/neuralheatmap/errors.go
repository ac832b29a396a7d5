package neuralheatmap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Error is every failed call's error: the gRPC status with the google.rpc details the
// bridge attaches, decoded. Reach it with errors.As; match its class with errors.Is against
// the sentinels (ErrNotFound, ErrInvalidArgument, ...), which compare the code only.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the status message (it names the route or field that was wrong).
	Message string
	// Reason is google.rpc.ErrorInfo.reason: a stable upper-case word such as "NOT_FOUND"
	// or "UPSTREAM_UNAVAILABLE" (docs/bridge.md lists them); empty without an ErrorInfo.
	Reason string
	// Domain is google.rpc.ErrorInfo.domain ("neural-heatmap.dev" for the bridge).
	Domain string
	// Metadata is google.rpc.ErrorInfo.metadata (upstream status, route, ...).
	Metadata map[string]string
	// FieldViolations come from google.rpc.BadRequest: which request field is wrong and why.
	FieldViolations []*errdetails.BadRequest_FieldViolation
	// RetryDelay is google.rpc.RetryInfo.retry_delay: how long the server asks callers to
	// wait (0 without a RetryInfo). Retries of idempotent calls wait at least this long.
	RetryDelay time.Duration
	// Details holds every decoded detail, including kinds not surfaced above.
	Details []proto.Message

	status *status.Status
}

// Error implements error.
func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("neuralheatmap: %s (%s): %s", codeName(e.Code), e.Reason, e.Message)
	}
	return fmt.Sprintf("neuralheatmap: %s: %s", codeName(e.Code), e.Message)
}

// GRPCStatus returns the original status, so status.FromError and status.Code keep working.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Is reports whether target is the sentinel of e's code (errors.Is(err, ErrNotFound)).
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	return ok && s.code == e.Code
}

// sentinel is a status class matched by code; it is never returned itself.
type sentinel struct{ code codes.Code }

func (s *sentinel) Error() string { return "neuralheatmap: " + codeName(s.code) }

// Sentinels for errors.Is, one per status code a caller may want to branch on.
var (
	ErrInvalidArgument   error = &sentinel{codes.InvalidArgument}
	ErrNotFound          error = &sentinel{codes.NotFound}
	ErrUnauthenticated   error = &sentinel{codes.Unauthenticated}
	ErrPermissionDenied  error = &sentinel{codes.PermissionDenied}
	ErrUnavailable       error = &sentinel{codes.Unavailable}
	ErrDeadlineExceeded  error = &sentinel{codes.DeadlineExceeded}
	ErrResourceExhausted error = &sentinel{codes.ResourceExhausted}
	ErrOutOfRange        error = &sentinel{codes.OutOfRange}
	ErrAborted           error = &sentinel{codes.Aborted}
	ErrUnimplemented     error = &sentinel{codes.Unimplemented}
	ErrInternal          error = &sentinel{codes.Internal}
	ErrCanceled          error = &sentinel{codes.Canceled}
)

// asError turns a gRPC failure into *Error (nil stays nil; a non-status error, such as a
// local decoding failure, is returned unchanged).
func asError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = status.FromContextError(err).Err()
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: s.Code(), Message: s.Message(), status: s}
	for _, d := range s.Details() {
		m, ok := d.(proto.Message)
		if !ok {
			continue // a detail type not linked into this binary
		}
		e.Details = append(e.Details, m)
		switch v := m.(type) {
		case *errdetails.ErrorInfo:
			e.Reason, e.Domain, e.Metadata = v.GetReason(), v.GetDomain(), v.GetMetadata()
		case *errdetails.BadRequest:
			e.FieldViolations = append(e.FieldViolations, v.GetFieldViolations()...)
		case *errdetails.RetryInfo:
			e.RetryDelay = v.GetRetryDelay().AsDuration()
		}
	}
	return e
}

// codeName spells a code the canonical way ("NOT_FOUND"), as docs and other SDKs do.
func codeName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED" // google.rpc.Code's spelling; Go's String says "Canceled"
	}
	var b []byte
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b = append(b, '_')
		}
		b = append(b, byte(r))
	}
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}
