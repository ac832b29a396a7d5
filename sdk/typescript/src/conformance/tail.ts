/**
 * A live check of the thin TypeScript layer (used by tests/conformance/test_conformance.py):
 * prints the correlation matrix of a model as decoded by getCorrelationMatrix, then follows
 * the anomaly stream with client.anomalies() and prints one "SEQ n" line per anomaly until
 * --count anomalies were printed. Reconnects are reported on stderr.
 *
 *   node dist/conformance/tail.js --target H:P [--token T] [--matrix-model M]
 *        [--model M] [--after N] [--count N]
 */
import { connect } from "../node.js";
import { DEFAULT_ADDRESS } from "../policy_gen.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const client = connect({ address: arg("target") ?? DEFAULT_ADDRESS, token: arg("token") });
  const matrixModel = arg("matrix-model");
  if (matrixModel) {
    const m = await client.getCorrelationMatrix({ modelIds: [matrixModel] });
    const diagonal = Array.from({ length: m.size }, (_, i) => m.at(i, i));
    console.log(`MATRIX ${JSON.stringify({ labels: m.labels, size: m.size, length: m.values.length,
      float32: m.values instanceof Float32Array, diagonal })}`);
  }
  const count = Number(arg("count") ?? "0");
  if (count <= 0) return;
  const after = arg("after");
  const model = arg("model");
  let printed = 0;
  for await (const a of client.anomalies({
    afterSequence: after === undefined ? undefined : BigInt(after),
    modelIds: model ? [model] : [],
    backoff: { initialMs: 50, maxMs: 1000 },
    onReconnect: (e, delay, seq) => console.error(`RECONNECT after=${String(seq)} in ${delay}ms: ${e.code} ${e.rawMessage}`),
  })) {
    console.log(`SEQ ${a.sequence}`);
    if (++printed >= count) break;
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
