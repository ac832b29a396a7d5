package neuralheatmap

import (
	"context"
	"errors"
	"path"
	"slices"
	"time"
)

// Retry says how an idempotent unary call is repeated after a transient failure: the
// policy's UnaryRetryCodes (UNAVAILABLE, DEADLINE_EXCEEDED), with the shared backoff. Which
// RPCs are idempotent is each RPC's idempotency_level in the protos (RetrySafe): queries,
// the Set*/ClearFilter calls (they replace state), exports (they rewrite the same file),
// downloads, renders and acknowledgements are; IngestActivations is not (a retry could store
// frames twice) and is never retried.
type Retry struct {
	Backoff Backoff
	// MaxAttempts bounds the attempts, the first included (0: as many as Budget allows).
	MaxAttempts int
	// Budget bounds the whole call, retries included, when ctx has no deadline.
	Budget time.Duration
}

// DefaultRetry is what idempotent calls use unless WithRetry or WithoutRetry says
// otherwise: the shared policy's backoff, within DefaultRetryBudget (as every SDK).
var DefaultRetry = Retry{Backoff: DefaultBackoff, Budget: DefaultRetryBudget}

// invoke makes call to the RPC method (its full name, e.g.
// nhv1.NeuralHeatmapService_ListModels_FullMethodName) once, or, when the protos declare the
// RPC retry-safe (RetrySafe: NO_SIDE_EFFECTS or IDEMPOTENT), again after each transient
// failure until it succeeds, fails otherwise, runs out of attempts or ctx (or the budget)
// ends. The wait before a retry is the backoff's delay, or the server's RetryInfo delay when
// longer.
func invoke[T any](ctx context.Context, cfg *callConfig, method string, call func(context.Context) (T, error)) (T, error) {
	r := DefaultRetry
	if cfg.retry != nil {
		r = *cfg.retry
	}
	if !RetrySafe(path.Base(method)) {
		r.MaxAttempts = 1
	}
	if r.Backoff.Initial <= 0 {
		r.Backoff = DefaultBackoff // a zero Backoff would retry without waiting
	}
	if _, has := ctx.Deadline(); !has && r.Budget > 0 && r.MaxAttempts != 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Budget)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		v, err := call(ctx)
		if err == nil {
			return v, nil
		}
		var p *permanent
		if errors.As(err, &p) {
			return v, err
		}
		err = asError(err)
		var e *Error
		if !errors.As(err, &e) || !slices.Contains(UnaryRetryCodes, e.Code) ||
			(r.MaxAttempts > 0 && attempt+1 >= r.MaxAttempts) || ctx.Err() != nil {
			return v, err
		}
		delay := max(r.Backoff.Delay(attempt), e.RetryDelay)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return v, err // no attempt could finish in time: report the real failure
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
}
