// Renders the correlation matrix of model m1 with the TypeScript SDK's client.renderHeatmap()
// and prints "PNG <width> <height>" read from the PNG's IHDR, then checks that an over-limit
// width is INVALID_ARGUMENT ("INVALID <message>"). Used by tests/sdk/test_render.py; needs
// sdk/typescript/dist (npm run build).
//
//   node ts_render.mjs DIST_INDEX TARGET
import { pathToFileURL } from "node:url";

const [, , distIndex, target] = process.argv;
const sdk = await import(pathToFileURL(distIndex).href);
const client = sdk.connect({ address: target, timeoutMs: 30000 });
const png = await client.renderHeatmap({
  kind: sdk.RenderKind.CORRELATION, modelId: "m1", theme: sdk.Theme.PLASMA, width: 300, height: 200,
});
const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
const signature = Buffer.from(png.subarray(0, 8)).toString("hex");
if (signature !== "89504e470d0a1a0a") throw new Error(`not a PNG: ${signature}`);
console.log(`PNG ${view.getUint32(16)} ${view.getUint32(20)}`);
try {
  await client.renderHeatmap({ modelId: "m1", width: 5000 });
  console.log("NO ERROR");
} catch (e) {
  console.log(`${e.code === 3 ? "INVALID" : `CODE ${e.code}`} ${e.rawMessage}`);
}
