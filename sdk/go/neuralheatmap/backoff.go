package neuralheatmap

import (
	"math"
	"math/rand/v2"
	"time"
)

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
// shares (protos/policy/, generated into policy_gen.go), giving up after
// StreamReconnectLimit consecutive failed reconnects.
var DefaultBackoff = Backoff{Initial: BackoffInitial, Max: BackoffMax, Multiplier: BackoffMultiplier, Jitter: BackoffJitter,
	MaxAttempts: StreamReconnectLimit}

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
