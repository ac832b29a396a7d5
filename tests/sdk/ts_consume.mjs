// Consumes under a durable name with the TypeScript SDK's client.consume() and prints one
// "SEQ n" line per anomaly handled, stopping after --count. Used by
// tests/sdk/test_ts_consume.py; needs sdk/typescript/dist (npm run build).
//
//   node ts_consume.mjs DIST_INDEX --target H:P --consumer NAME --count N
import { pathToFileURL } from "node:url";

const [, , distIndex, ...rest] = process.argv;
const arg = (name) => rest[rest.indexOf(`--${name}`) + 1];
const { connect } = await import(pathToFileURL(distIndex).href);
const client = connect({ address: arg("target") });
const stop = new AbortController();
let handled = 0;
await client.consume(
  arg("consumer"),
  (a) => {
    console.log(`SEQ ${a.sequence}`);
    if (++handled >= Number(arg("count"))) setTimeout(() => stop.abort(), 300); // let the ack go
  },
  { signal: stop.signal },
);
client.close();
