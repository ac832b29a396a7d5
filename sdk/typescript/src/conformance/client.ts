/**
 * The TypeScript thin client of the conformance suite: executes the RPCs that the scenario
 * interpreter (tests/conformance/runner.py) sends it through connect-node and answers each
 * with the responses and the status, so the scenarios run in TypeScript without a copy of
 * the interpreter. One JSON request per line on stdin, one JSON answer per line on stdout;
 * the protocol is described in tests/conformance/README.md ("Thin clients").
 *
 *   python -m tests.conformance.runner --target H:P --language typescript \
 *       --client "node sdk/typescript/dist/conformance/client.js"
 */
import { createRegistry, fromJson, toJson, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createInterface } from "node:readline";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../policy_gen.js";
import { file_neural_heatmap_v1_neural_heatmap_service } from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";

const registry = createRegistry(file_neural_heatmap_v1_neural_heatmap_service);

interface Request {
  id: JsonValue;
  op?: "call" | "next" | "cancel";
  target: string;
  method: string;
  requests?: JsonValue[];
  metadata?: Record<string, string>;
  timeout_ms?: number;
  max_responses?: number;
}

interface Answer {
  responses?: JsonValue[];
  open?: boolean;
  code?: string;
  message?: string;
  details?: { type: string; value: string }[]; // undecoded: the interpreter decodes them
  error?: string;
}

type Method = (input: unknown, options: object) => unknown;
type OpenStream = { it: AsyncIterator<unknown>; method: DescMethod; abort: AbortController };

class ClientError extends Error {}

const streams = new Map<string, OpenStream>(); // open server streams by request id
const clients = new Map<string, Record<string, Method>>();

/** A failed call: connect's "InvalidArgument" becomes gRPC's "INVALID_ARGUMENT". */
function statusOf(e: unknown): Answer {
  const err = ConnectError.from(e);
  const name = err.code === Code.Canceled ? "Cancelled" : (Code[err.code] ?? "Unknown");
  return {
    code: name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase(),
    message: err.rawMessage,
    details: err.details.flatMap((d) => ("type" in d ? [{ type: d.type, value: Buffer.from(d.value).toString("base64") }] : [])),
  };
}

/** Up to `limit` more responses (all when undefined); the stream stays open when the limit is hit. */
async function read(id: string, s: OpenStream, limit?: number): Promise<Answer> {
  const responses: JsonValue[] = [];
  try {
    while (limit === undefined || responses.length < limit) {
      const r = await s.it.next();
      if (r.done) {
        streams.delete(id);
        return { responses, code: "OK" };
      }
      responses.push(toJson(s.method.output, r.value as never));
    }
  } catch (e) {
    streams.delete(id);
    return { responses, ...statusOf(e) };
  }
  return { responses, open: true };
}

function methodsOf(target: string, typeName: string): Record<string, Method> {
  const service = registry.getService(typeName);
  if (!service) throw new ClientError(`no service ${JSON.stringify(typeName)}`);
  const key = `${target} ${typeName}`;
  if (!clients.has(key)) {
    const transport = createGrpcTransport({
      baseUrl: /^[a-z]+:\/\//i.test(target) ? target : `http://${target}`,
      readMaxBytes: DEFAULT_MAX_MESSAGE_BYTES,
      writeMaxBytes: DEFAULT_MAX_MESSAGE_BYTES,
    });
    clients.set(key, createClient(service, transport) as unknown as Record<string, Method>);
  }
  return clients.get(key)!;
}

async function start(req: Request): Promise<Answer> {
  const at = req.method.lastIndexOf("/");
  const typeName = req.method.slice(0, at);
  const method = registry.getService(typeName)?.methods.find((m) => m.name === req.method.slice(at + 1));
  if (!method) throw new ClientError(`no method ${JSON.stringify(req.method)}`);
  const inputs = (req.requests ?? []).map((r) => {
    try {
      return fromJson(method.input, r);
    } catch (e) {
      throw new ClientError(`request does not parse as ${method.input.typeName}: ${(e as Error).message}`);
    }
  });
  const fn = methodsOf(req.target, typeName)[method.localName]!;
  const abort = new AbortController();
  const options = { headers: req.metadata ?? {}, timeoutMs: req.timeout_ms ?? 30000, signal: abort.signal };
  if (method.methodKind === "server_streaming") {
    const stream = { it: (fn(inputs[0], options) as AsyncIterable<unknown>)[Symbol.asyncIterator](), method, abort };
    streams.set(JSON.stringify(req.id), stream);
    return read(JSON.stringify(req.id), stream, req.max_responses);
  }
  const input = method.methodKind === "client_streaming" ? (async function* () { yield* inputs; })() : inputs[0];
  try {
    return { responses: [toJson(method.output, (await fn(input, options)) as never)], code: "OK" };
  } catch (e) {
    return { responses: [], ...statusOf(e) };
  }
}

async function handle(req: Request): Promise<Answer> {
  if (!req.op || req.op === "call") return start(req);
  const id = JSON.stringify(req.id);
  const stream = streams.get(id);
  if (!stream) throw new ClientError(`no open stream ${id}`);
  if (req.op === "next") return read(id, stream, req.max_responses);
  stream.abort.abort();
  streams.delete(id);
  return { responses: [], code: "CANCELLED", message: "cancelled" };
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let id: JsonValue = null;
  let answer: Answer;
  try {
    const req = JSON.parse(line) as Request;
    id = req.id;
    answer = await handle(req);
  } catch (e) {
    answer = { error: e instanceof ClientError ? e.message : String(e) };
  }
  process.stdout.write(JSON.stringify({ id, ...answer }) + "\n");
}
