/**
 * The TypeScript thin client of the conformance suite: executes the RPCs that the scenario
 * interpreter (tests/conformance/runner.py) sends it through connect-node (gRPC over HTTP/2)
 * and answers each with the responses and the status, so the scenarios run in TypeScript
 * without a copy of the interpreter. One JSON request per line on stdin, one JSON answer per
 * line on stdout; the logic is core.ts (shared with the browser client, browser.ts).
 *
 *   python -m tests.conformance.runner --target H:P --language typescript \
 *       --client "node sdk/typescript/dist/conformance/client.js"
 */
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createInterface } from "node:readline";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../policy_gen.js";
import { ThinClient, type Request } from "./core.js";

const client = new ThinClient((baseUrl) =>
  createGrpcTransport({ baseUrl, readMaxBytes: DEFAULT_MAX_MESSAGE_BYTES, writeMaxBytes: DEFAULT_MAX_MESSAGE_BYTES }),
);

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await client.answer(JSON.parse(line) as Request);
  } catch (e) {
    answer = { id: null, error: String(e) }; // a line that is not JSON
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
