package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The plaintext-token rule, with the words every SDK uses (docs/clients.md, "Settings"). */
class TokenRuleTest {
  @Test
  void aTokenInPlaintextToARemoteAddressIsRefused() {
    var e =
        assertThrows(
            IllegalStateException.class,
            () -> NeuralHeatmapClient.builder("bridge.example:50051").token("t").build());
    assertEquals(
        "neural heatmap: refusing to send a bearer token over plaintext to bridge.example:50051;"
            + " use TLS, a loopback address, or opt in explicitly (Python insecure_token=True,"
            + " TypeScript insecureToken: true, Go WithInsecureToken(), Java allowInsecureToken())",
        e.getMessage());
  }

  @Test
  void loopbackTlsOrTheOptInMayCarryAToken() {
    for (String address :
        new String[] {"localhost:50051", "127.0.0.1:1", "[::1]:50051", "dns:///localhost:1"}) {
      NeuralHeatmapClient.builder(address).token("t").build().close();
    }
    NeuralHeatmapClient.builder("bridge.example:50051").token("t").tls().build().close();
    NeuralHeatmapClient.builder("bridge.example:50051").token("t").allowInsecureToken().build()
        .close();
  }
}
