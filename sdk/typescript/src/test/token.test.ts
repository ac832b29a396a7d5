import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../node.js";
import { isLoopback } from "../version.js";

// The same words as the Python and Go SDKs (tests/sdk/test_version_and_token_rule.py,
// sdk/go/neuralheatmap/version_test.go).
const REFUSAL =
  "neural heatmap: refusing to send a bearer token over plaintext to bridge.example:50051; use TLS, " +
  "a loopback address, or opt in explicitly (Python insecure_token=True, TypeScript insecureToken: true, " +
  "Go WithInsecureToken(), Java allowInsecureToken())";

test("a token over plaintext to a remote address is refused with the shared words", () => {
  assert.throws(() => connect({ address: "bridge.example:50051", token: "t" }), { message: REFUSAL });
  assert.throws(() => connect({ address: "http://bridge.example:50051", token: "t" }), { message: REFUSAL });
});

test("loopback, TLS or the explicit opt-in may carry a token; no token needs nothing", () => {
  for (const address of ["localhost:50051", "127.0.0.1:1", "[::1]:50051"]) connect({ address, token: "t" }).close();
  connect({ address: "bridge.example:50051", token: "t", tls: true }).close();
  connect({ address: "https://bridge.example", token: "t" }).close();
  connect({ address: "bridge.example:50051", token: "t", insecureToken: true }).close();
  connect({ address: "bridge.example:50051" }).close();
  assert.equal(isLoopback("10.0.0.1"), false);
});
