/**
 * The Node client: client.ts's NeuralHeatmapClient over connect-node's gRPC transport
 * (HTTP/2, one session per client, Node's TLS options), with downloads as Node Readables and
 * into files. The browser's entry point (web.ts) builds the same client over connect-web.
 */
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import type { SecureClientSessionOptions } from "node:http2";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { cancelledError, linkSignals } from "./abort.js";
import { baseUrl, NeuralHeatmapClient as ClientCore, type CallOptions, type ClientOptions } from "./client.js";
import { toNeuralHeatmapError } from "./errors.js";
import { DEFAULT_ADDRESS } from "./policy_gen.js";

export interface ConnectOptions extends Omit<ClientOptions, "tls"> {
  /** true for TLS with the system roots, or Node's TLS options (ca, cert, key, servername...). */
  tls?: boolean | SecureClientSessionOptions;
}

export class NeuralHeatmapClient extends ClientCore {
  private readonly session: Http2SessionManager;

  constructor(opts: ConnectOptions = {}) {
    const tls = opts.tls ?? false;
    const session = new Http2SessionManager(
      baseUrl(opts.address ?? DEFAULT_ADDRESS, tls !== false),
      undefined,
      typeof tls === "object" ? tls : undefined,
    );
    super({ ...opts, tls: tls !== false }, (init) => createGrpcTransport({ ...init, sessionManager: session }));
    this.session = session;
  }

  /**
   * Ends every open stream (their loops finish), cancels calls in flight and closes the
   * HTTP/2 connection, so the process can exit. The client cannot be used afterwards.
   */
  override close(): void {
    super.close();
    this.session.abort();
  }

  /**
   * One exported file as a Node Readable of Buffers. A failure before the first byte is
   * retried by the policy; one after it errors the stream (a partial file is never passed
   * off as whole: DATA_LOSS when the bytes stop short of the announced size or skip).
   * Destroying the stream cancels the download; so does aborting the call's signal (or
   * close()), which destroys the stream with RequestCancelledError.
   */
  override downloadExport(name: string, call?: CallOptions): Readable {
    const { signal, release } = linkSignals(call?.signal, this.closed);
    const chunks = this.downloadChunks(name, call, signal);
    const buffers = (async function* () {
      for await (const c of chunks) yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    })();
    const stream = Readable.from(buffers, { objectMode: false });
    const onAbort = (): void => void stream.destroy(cancelledError(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    stream.once("close", () => {
      signal.removeEventListener("abort", onAbort);
      release();
    });
    return stream;
  }

  /**
   * Writes one exported file to `destination`, a Writable or a file path; resolves to its size.
   * A path is written as `<path>.part` and renamed when complete, so a failed download never
   * leaves a partial file under the final name.
   */
  async downloadExportTo(name: string, destination: Writable | string, call?: CallOptions): Promise<number> {
    let bytes = 0;
    const counted = this.downloadExport(name, call).on("data", (b: Buffer) => (bytes += b.byteLength));
    const part = typeof destination === "string" ? `${destination}.part` : undefined;
    try {
      await pipeline(counted, part ? createWriteStream(part) : (destination as Writable));
      if (part) await rename(part, destination as string);
    } catch (e) {
      if (part) await rm(part, { force: true });
      throw toNeuralHeatmapError(e);
    }
    return bytes;
  }
}

/** Connects to a bridge: `connect("localhost:50051")` or `connect({ address, tls, token })`. */
export function connect(opts: string | ConnectOptions = {}): NeuralHeatmapClient {
  return new NeuralHeatmapClient(typeof opts === "string" ? { address: opts } : opts);
}
