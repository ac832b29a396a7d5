package neuralheatmap

// The anomaly subscription: SubscribeAnomalies resumes after the last sequence its handler
// accepted, so each anomaly is delivered exactly once across reconnects (resume), and a
// stream silent past the idle bound is reopened.

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// Resumable reports whether a stream that failed with err should be reopened: err is a
// gRPC status whose code is one of StreamReconnectCodes.
func Resumable(err error) bool {
	s, ok := status.FromError(err)
	return err != nil && ok && slices.Contains(StreamReconnectCodes, s.Code())
}

// SubscribeOptions narrows the anomaly subscription.
type SubscribeOptions struct {
	MinSeverity nhv1.Severity
	ModelIDs    []string
	// Backoff spaces the reconnects; its MaxAttempts bounds them in a row without progress
	// (zero Backoff: DefaultBackoff, StreamReconnectLimit).
	Backoff Backoff
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
