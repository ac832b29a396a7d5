// Follows the anomaly stream with the TypeScript SDK's client.anomalies() and prints one
// "SEQ n" line per anomaly (reconnects go to stderr as "RECONNECT ..."), until --count were
// printed. Used by tests/sdk/test_stall_recovery.py; needs sdk/typescript/dist (npm run build).
//
//   node ts_anomaly_tail.mjs DIST_INDEX --target H:P --after N --model M --count N --idle-ms MS
import { pathToFileURL } from "node:url";

const [, , distIndex, ...rest] = process.argv;
const arg = (name) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : undefined;
};
const { connect } = await import(pathToFileURL(distIndex).href);
const client = connect({ address: arg("target") });
const count = Number(arg("count"));
let printed = 0;
for await (const a of client.anomalies({
  afterSequence: BigInt(arg("after")),
  modelIds: [arg("model")],
  idleTimeoutMs: Number(arg("idle-ms")),
  backoff: { initialMs: 50, maxMs: 500 },
  onReconnect: (e, delay, seq) => console.error(`RECONNECT after=${seq} in ${delay}ms: ${e.code} ${e.rawMessage}`),
})) {
  console.log(`SEQ ${a.sequence}`);
  if (++printed >= count) break;
}
