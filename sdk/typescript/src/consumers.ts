/**
 * Durable named consumers: `client.consume(name, handler)` and `client.ackAnomalies`.
 *
 * The service keeps a named consumer's acknowledged cursor (or, for a group, who holds
 * which anomaly), so a consumer needs no state of its own: `consume` subscribes under the
 * name, awaits `handler` for each anomaly and acknowledges it once `handler` resolves. After
 * a disconnect it reopens under the same name and the service resumes after the last
 * acknowledgement; an anomaly whose handler did not finish is delivered again.
 * docs/reliability.md, "Durable consumers".
 */
import { ConnectError, type CallOptions as ConnectCallOptions, type Client } from "@connectrpc/connect";
import { sleep, streamBackoff, type BackoffOptions } from "./backoff.js";
import { toNeuralHeatmapError } from "./errors.js";
import type { Severity } from "./gen/neural_heatmap/v1/common_pb.js";
import type { NeuralHeatmapService } from "./gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import { STREAM_RECONNECT_CODES } from "./policy_gen.js";
import { anomalyOf, type Anomaly } from "./views.js";

export interface ConsumeOptions {
  /** Join the consumer group of that name: each anomaly goes to one member. */
  shared?: boolean;
  /** Only this severity or worse (plain consumers only). */
  minSeverity?: Severity;
  /** Only these models (plain consumers only). */
  modelIds?: string[];
  /**
   * Stops consuming, however it aborts (consume then resolves, also from a reconnect
   * backoff). A handler already running is awaited; its anomaly is not acknowledged and
   * comes again to the next consumer of the name.
   */
  signal?: AbortSignal;
  headers?: ConnectCallOptions["headers"];
  /**
   * Backoff between reopenings (default: the shared policy, giving up after
   * STREAM_RECONNECT_LIMIT reopenings in a row without a message; `maxAttempts` overrides).
   */
  backoff?: BackoffOptions;
}

/**
 * The two calls consume needs, which NeuralHeatmapClient provides. Named here rather than
 * importing the client class so that client.ts -> consumers.ts stays one-way (no import
 * cycle; test/imports.test.ts keeps it so).
 */
export interface ConsumerCalls {
  readonly rpc: Pick<Client<typeof NeuralHeatmapService>, "subscribeAnomalies">;
  ackAnomalies(
    consumer: string,
    sequence: bigint,
    call: { signal?: AbortSignal; headers?: ConnectCallOptions["headers"] },
  ): Promise<bigint>;
}

/** A handler's own failure: it ends consume as it is, never as a reason to reopen. */
class HandlerFailed {
  constructor(readonly error: unknown) {}
}

/** The loop behind NeuralHeatmapClient.consume. */
export async function consumeLoop(
  client: ConsumerCalls,
  consumer: string,
  handler: (anomaly: Anomaly) => unknown,
  opts: ConsumeOptions,
): Promise<void> {
  const signal = opts.signal ?? new AbortController().signal;
  const backoff = streamBackoff(opts.backoff);
  const request = {
    consumer,
    shared: opts.shared ?? false,
    minSeverity: opts.minSeverity,
    modelIds: opts.modelIds ?? [],
  };
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      for await (const m of client.rpc.subscribeAnomalies(request, { signal, headers: opts.headers })) {
        attempt = 0;
        for (const a of m.update?.anomalies ?? []) {
          try {
            await handler(anomalyOf(a));
          } catch (e) {
            throw new HandlerFailed(e);
          }
          await client.ackAnomalies(consumer, a.sequence, { signal, headers: opts.headers });
        }
      }
    } catch (e) {
      if (e instanceof HandlerFailed) throw e.error;
      if (signal.aborted) return;
      if (!STREAM_RECONNECT_CODES.includes(ConnectError.from(e).code) || attempt >= backoff.maxAttempts) {
        throw toNeuralHeatmapError(e);
      }
    }
    try {
      await sleep(backoff.delayMs(attempt), signal);
    } catch {
      return; // aborted while waiting
    }
  }
}
