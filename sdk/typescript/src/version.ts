/**
 * The one version of the contract and every SDK, the header the bridge reports it in, and
 * the plaintext-token rule every SDK applies with the same words (docs/clients.md).
 */

/** The contract's and this package's version (protos/VERSION; a test keeps them equal). */
export const VERSION = "0.2.0";

/** Response header in which the bridge reports its version on every RPC. */
export const VERSION_HEADER = "x-neural-heatmap-version";

/** True for localhost, a loopback IP (127.0.0.0/8, ::1) or a Unix socket path. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h.endsWith(".localhost") || h === "::1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The refusal of a bearer token over plaintext, word for word as in Python and Go. */
export function plaintextTokenRefusal(target: string): Error {
  return new Error(
    `neural heatmap: refusing to send a bearer token over plaintext to ${target}; use TLS, ` +
      "a loopback address, or opt in explicitly (Python insecure_token=True, " +
      "TypeScript insecureToken: true, Go WithInsecureToken(), Java allowInsecureToken())",
  );
}
