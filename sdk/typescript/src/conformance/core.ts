/**
 * The conformance thin client's logic, shared by the Node client (client.ts, gRPC over
 * HTTP/2) and the browser one (browser.ts, Connect over fetch): finds a method by its full
 * name in the generated registry, parses proto-JSON requests, calls it through the given
 * transport, and answers with the responses and the status. Only the transport and the
 * way requests arrive (stdin lines, or a page function) differ between the two.
 * The protocol is described in tests/conformance/README.md ("Thin clients").
 */
import { createRegistry, fromJson, toJson, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { file_neural_heatmap_v1_neural_heatmap_service } from "../gen/neural_heatmap/v1/neural_heatmap_service_pb.js";

const registry = createRegistry(file_neural_heatmap_v1_neural_heatmap_service);

export interface Request {
  id: JsonValue;
  op?: "call" | "next" | "cancel";
  target: string;
  method: string;
  requests?: JsonValue[];
  metadata?: Record<string, string>;
  timeout_ms?: number;
  max_responses?: number;
}

export interface Answer {
  id?: JsonValue;
  responses?: JsonValue[];
  open?: boolean;
  code?: string;
  message?: string;
  details?: { type: string; value: string }[]; // undecoded: the interpreter decodes them
  error?: string;
}

type Method = (input: unknown, options: object) => unknown;
type OpenStream = { it: AsyncIterator<unknown>; method: DescMethod; abort: AbortController };

/** The call could not be made at all: answered as `error`, not as a status. */
export class ClientError extends Error {}

/** A failed call: connect's "InvalidArgument" becomes gRPC's "INVALID_ARGUMENT". */
function statusOf(e: unknown): Answer {
  const err = ConnectError.from(e);
  const name = err.code === Code.Canceled ? "Cancelled" : (Code[err.code] ?? "Unknown");
  return {
    code: name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase(),
    message: err.rawMessage,
    details: err.details.flatMap((d) => ("type" in d ? [{ type: d.type, value: base64Encode(d.value) }] : [])),
  };
}

/** Makes calls by method name through transports made by `transportTo(baseUrl)`. */
export class ThinClient {
  private readonly streams = new Map<string, OpenStream>(); // open server streams by request id
  private readonly clients = new Map<string, Record<string, Method>>();

  constructor(private readonly transportTo: (baseUrl: string) => Transport) {}

  /** The answer to one request (`id` included); never throws. */
  async answer(req: Request): Promise<Answer> {
    try {
      return { id: req.id, ...(await this.handle(req)) };
    } catch (e) {
      return { id: req.id, error: e instanceof ClientError ? e.message : String(e) };
    }
  }

  private async handle(req: Request): Promise<Answer> {
    if (!req.op || req.op === "call") return this.start(req);
    const id = JSON.stringify(req.id);
    const stream = this.streams.get(id);
    if (!stream) throw new ClientError(`no open stream ${id}`);
    if (req.op === "next") return this.read(id, stream, req.max_responses);
    stream.abort.abort();
    this.streams.delete(id);
    return { responses: [], code: "CANCELLED", message: "cancelled" };
  }

  /** Up to `limit` more responses (all when undefined); the stream stays open when the limit is hit. */
  private async read(id: string, s: OpenStream, limit?: number): Promise<Answer> {
    const responses: JsonValue[] = [];
    try {
      while (limit === undefined || responses.length < limit) {
        const r = await s.it.next();
        if (r.done) {
          this.streams.delete(id);
          return { responses, code: "OK" };
        }
        responses.push(toJson(s.method.output, r.value as never));
      }
    } catch (e) {
      this.streams.delete(id);
      return { responses, ...statusOf(e) };
    }
    return { responses, open: true };
  }

  private methodsOf(target: string, typeName: string): Record<string, Method> {
    const service = registry.getService(typeName);
    if (!service) throw new ClientError(`no service ${JSON.stringify(typeName)}`);
    const key = `${target} ${typeName}`;
    if (!this.clients.has(key)) {
      const baseUrl = /^[a-z]+:\/\//i.test(target) ? target : `http://${target}`;
      this.clients.set(key, createClient(service, this.transportTo(baseUrl)) as unknown as Record<string, Method>);
    }
    return this.clients.get(key)!;
  }

  private async start(req: Request): Promise<Answer> {
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
    const fn = this.methodsOf(req.target, typeName)[method.localName]!;
    const abort = new AbortController();
    const options = { headers: req.metadata ?? {}, timeoutMs: req.timeout_ms ?? 30000, signal: abort.signal };
    if (method.methodKind === "server_streaming") {
      const stream = { it: (fn(inputs[0], options) as AsyncIterable<unknown>)[Symbol.asyncIterator](), method, abort };
      this.streams.set(JSON.stringify(req.id), stream);
      return this.read(JSON.stringify(req.id), stream, req.max_responses);
    }
    const input = method.methodKind === "client_streaming" ? (async function* () { yield* inputs; })() : inputs[0];
    try {
      return { responses: [toJson(method.output, (await fn(input, options)) as never)], code: "OK" };
    } catch (e) {
      return { responses: [], ...statusOf(e) };
    }
  }
}
