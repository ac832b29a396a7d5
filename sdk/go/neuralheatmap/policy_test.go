package neuralheatmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/descriptorpb"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
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
		// Streams give up after the client facts' reconnect limit.
		MaxAttempts: readClientFacts(t).StreamReconnectLimit,
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

// The client facts every SDK shares (protos/policy/client.json).
type clientFacts struct {
	MaxMessageBytes          int     `json:"max_message_bytes"`
	RetryBudgetSeconds       float64 `json:"retry_budget_seconds"`
	StreamIdleTimeoutSeconds float64 `json:"stream_idle_timeout_seconds"`
	StreamReconnectLimit     int     `json:"stream_reconnect_limit"`
	Bridge                   struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	} `json:"bridge"`
}

func readClientFacts(t *testing.T) clientFacts {
	t.Helper()
	raw, err := os.ReadFile("../../../protos/policy/client.json")
	if err != nil {
		t.Fatal(err)
	}
	var f clientFacts
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestClientFactsEqualThePolicyFile(t *testing.T) {
	f := readClientFacts(t)
	if DefaultMaxMessageBytes != f.MaxMessageBytes || DefaultMaxMessageBytes != 256<<20 {
		t.Fatalf("DefaultMaxMessageBytes %d, client.json %d (docs say 256 MiB)", DefaultMaxMessageBytes, f.MaxMessageBytes)
	}
	if DefaultRetryBudget != seconds(f.RetryBudgetSeconds) || DefaultRetry.Budget != DefaultRetryBudget {
		t.Fatalf("retry budget %v (DefaultRetry %v), client.json %v s", DefaultRetryBudget, DefaultRetry.Budget, f.RetryBudgetSeconds)
	}
	if DefaultIdleTimeout != seconds(f.StreamIdleTimeoutSeconds) {
		t.Fatalf("DefaultIdleTimeout %v, client.json %v s", DefaultIdleTimeout, f.StreamIdleTimeoutSeconds)
	}
	if StreamReconnectLimit != f.StreamReconnectLimit || DefaultBackoff.MaxAttempts != f.StreamReconnectLimit {
		t.Fatalf("stream reconnect limit %d (DefaultBackoff %d), client.json %d", StreamReconnectLimit, DefaultBackoff.MaxAttempts, f.StreamReconnectLimit)
	}
	if want := fmt.Sprintf("%s:%d", f.Bridge.Host, f.Bridge.Port); DefaultAddress != want {
		t.Fatalf("DefaultAddress %q, client.json %q", DefaultAddress, want)
	}
}

// Which RPCs invoke retries is the protos' idempotency_level, read here from the compiled
// descriptor: NO_SIDE_EFFECTS and IDEMPOTENT ones, never IDEMPOTENCY_UNKNOWN ones.
func TestRetrySafeIsTheProtosIdempotencyLevel(t *testing.T) {
	methods := nhv1.File_neural_heatmap_v1_neural_heatmap_service_proto.Services().ByName("NeuralHeatmapService").Methods()
	if methods.Len() != len(retrySafe) {
		t.Fatalf("the table has %d RPCs, the service %d", len(retrySafe), methods.Len())
	}
	safe := 0
	for i := range methods.Len() {
		m := methods.Get(i)
		level := m.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel()
		want := level != descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN
		if RetrySafe(string(m.Name())) != want {
			t.Errorf("RetrySafe(%s) = %v, its idempotency_level is %v", m.Name(), !want, level)
		}
		if want {
			safe++
		}
	}
	if safe == 0 || safe == methods.Len() || RetrySafe("NoSuchRPC") || RetrySafe("IngestActivations") {
		t.Fatalf("%d of %d RPCs retry-safe; IngestActivations must not be, nor an unknown name", safe, methods.Len())
	}
}
