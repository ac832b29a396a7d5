/**
 * The browser thin client of the conformance suite: the same logic as the Node client
 * (core.ts) over connect-web's Connect transport (fetch, protobuf binary), exposed to the
 * page as `window.nhConformance.answer(request)`. tests/conformance/browser_client.py bundles
 * it with esbuild at test time (test-only: not in the dashboard bundle, not in the package),
 * serves it from the bridge's web port (same origin, as the dashboard) and drives it in
 * headless Chromium through Playwright, one request per `answer` call.
 */
import { createConnectTransport } from "@connectrpc/connect-web";
import { ThinClient } from "./core.js";

(globalThis as unknown as { nhConformance: ThinClient }).nhConformance = new ThinClient((baseUrl) =>
  createConnectTransport({ baseUrl, useBinaryFormat: true }),
);
