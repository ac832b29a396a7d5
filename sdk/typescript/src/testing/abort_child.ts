/**
 * The child of the abort test's last case: aborts a durable consumer, a waiting stream, a
 * stream in its reconnect backoff, a call and a download waiting to retry, each with
 * `AbortSignal.timeout()`, then returns without `client.close()` or `process.exit()`. The
 * process exits by itself only if nothing it started is left: no timer, no open stream.
 *
 * Usage: node abort_child.js <bridge host:port> <stopped bridge host:port>
 */
import { connect } from "../node.js";
import { RequestCancelledError } from "../errors.js";
import { collecting, drain } from "./abort.js";

const [liveTarget, stoppedTarget] = process.argv.slice(2);
const live = connect({ address: liveTarget });
const stopped = connect({ address: stoppedTarget });
const slow = { initialMs: 30_000, maxMs: 30_000, jitter: 0 };
const signal = (): AbortSignal => AbortSignal.timeout(300);
const cancelled = (p: Promise<unknown>): Promise<void> =>
  p.then(
    () => Promise.reject(new Error("resolved, expected RequestCancelledError")),
    (e: unknown) => {
      if (!(e instanceof RequestCancelledError)) throw e;
    },
  );

await collecting(
  Promise.all([
    live.consume("abort-child", () => undefined, { signal: signal() }),
    drain(live.anomalies({ signal: signal() })),
    drain(stopped.subscribeHeatmap({}, { reconnect: slow, signal: signal() })),
    cancelled(stopped.listModels({}, { signal: signal(), retry: slow })),
    cancelled(drain(stopped.downloadExport("m.csv", { signal: signal(), retry: slow }))),
  ]),
);
console.log("all stopped");
