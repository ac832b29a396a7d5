package neuralheatmap

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The policy file every client shares; this test pins that the Go SDK runs on it.
type policyFile struct {
	UnaryRetryCodes      []string `json:"unary_retry_codes"`
	StreamReconnectCodes []string `json:"stream_reconnect_codes"`
	Backoff              struct {
		InitialSeconds float64 `json:"initial_seconds"`
		Multiplier     float64 `json:"multiplier"`
		MaxSeconds     float64 `json:"max_seconds"`
		Jitter         string  `json:"jitter"`
	} `json:"backoff"`
}

func readPolicy(t *testing.T) policyFile {
	t.Helper()
	raw, err := os.ReadFile("../../../protos/policy/retry.json")
	if err != nil {
		t.Fatal(err)
	}
	var p policyFile
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// codeNames spells Go codes the canonical way ("DEADLINE_EXCEEDED"): codes.Code's String
// gives "DeadlineExceeded".
func codeNames(cs []codes.Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		var b strings.Builder
		for j, r := range c.String() {
			if j > 0 && r >= 'A' && r <= 'Z' {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		}
		out[i] = strings.ToUpper(b.String())
	}
	return out
}

func TestGeneratedPolicyEqualsThePolicyFile(t *testing.T) {
	p := readPolicy(t)
	if got := codeNames(UnaryRetryCodes); strings.Join(got, ",") != strings.Join(p.UnaryRetryCodes, ",") {
		t.Fatalf("unary retry codes %v, policy file %v", got, p.UnaryRetryCodes)
	}
	if got := codeNames(StreamReconnectCodes); strings.Join(got, ",") != strings.Join(p.StreamReconnectCodes, ",") {
		t.Fatalf("stream reconnect codes %v, policy file %v", got, p.StreamReconnectCodes)
	}
	jitter := map[string]float64{"none": 0, "equal": 0.5, "full": 1}[p.Backoff.Jitter]
	want := Backoff{
		Initial:    time.Duration(p.Backoff.InitialSeconds * float64(time.Second)),
		Max:        time.Duration(p.Backoff.MaxSeconds * float64(time.Second)),
		Multiplier: p.Backoff.Multiplier,
		Jitter:     jitter,
	}
	if DefaultBackoff != want {
		t.Fatalf("DefaultBackoff %+v, policy file %+v", DefaultBackoff, want)
	}
}

func TestResumableFollowsThePolicy(t *testing.T) {
	for _, c := range StreamReconnectCodes {
		if !Resumable(status.Error(c, "x")) {
			t.Fatalf("%v must be resumable", c)
		}
	}
	for _, c := range []codes.Code{codes.InvalidArgument, codes.NotFound, codes.OutOfRange, codes.Unauthenticated, codes.Unimplemented, codes.Canceled} {
		if Resumable(status.Error(c, "x")) {
			t.Fatalf("%v must not be resumable", c)
		}
	}
	if Resumable(errors.New("not a status")) || Resumable(nil) {
		t.Fatal("only gRPC statuses are resumable")
	}
}

func TestJitteredDelayStaysBetweenItsShareAndTheCap(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.5}
	for i := 0; i < 200; i++ {
		for attempt, capped := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
			got := b.Delay(attempt)
			if got < capped*time.Millisecond/2 || got > capped*time.Millisecond {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, got, capped*time.Millisecond/2, capped*time.Millisecond)
			}
		}
	}
}
