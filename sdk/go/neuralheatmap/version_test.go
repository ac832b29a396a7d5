package neuralheatmap

import (
	"testing"
)

// The refusal's words are the same in every SDK (tests/sdk/test_version_and_token_rule.py
// and src/test/token.test.ts check theirs against the same text).
const refusal = "neural heatmap: refusing to send a bearer token over plaintext to bridge.example:50051; " +
	"use TLS, a loopback address, or opt in explicitly (Python insecure_token=True, " +
	"TypeScript insecureToken: true, Go WithInsecureToken(), Java allowInsecureToken())"

func TestPlaintextTokenToARemoteAddressIsRefused(t *testing.T) {
	_, err := Dial("bridge.example:50051", WithToken("t"))
	if err == nil || err.Error() != refusal {
		t.Fatalf("err = %v, want %q", err, refusal)
	}
}

func TestPlaintextTokenToLoopbackOrWithOptInOrTLSIsAllowed(t *testing.T) {
	for _, target := range []string{"localhost:50051", "127.0.0.1:1", "[::1]:50051", "unix:/tmp/nh.sock", "dns:///localhost:50051"} {
		c, err := Dial(target, WithToken("t"))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		c.Close()
	}
	for _, opts := range [][]Option{{WithToken("t"), WithInsecureToken()}, {WithToken("t"), WithTLS(nil)}, {}} {
		c, err := Dial("bridge.example:50051", opts...)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}
