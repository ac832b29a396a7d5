/**
 * The dashboard: one client over the Connect protocol to the bridge that served the page,
 * one multiplexed stream (stream.ts), and the views it feeds. `window.neuralHeatmap` exposes
 * the views' state for the browser tests and the benchmark.
 */
import { Code, connectWeb, NeuralHeatmapError, Theme, type NeuralHeatmapClient, type Update } from "@neural-heatmap/client/web";
import { Banner } from "./banner.js";
import { HeatmapCanvas } from "./canvas.js";
import { Controls } from "./controls.js";
import { Feed } from "./feed.js";
import { MatrixView } from "./matrix.js";
import { StatsView } from "./stats.js";
import { follow, watchHead } from "./stream.js";
import { lookOf } from "./theme.js";
import { askToken, forgetToken, storedToken } from "./token.js";

const FIRST_PAGE = 50; // anomalies shown from the log when the page opens
const RETRY_MS = 2000; // wait before starting over after the stream failed for good

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

let client: NeuralHeatmapClient;
let look = lookOf(Theme.THERMAL, []);
const banner = new Banner($("banner"));
const canvas = new HeatmapCanvas($<HTMLCanvasElement>("heatmap"), look, (k, x, y) => void controls.movePanel(k, x, y));
const matrix = new MatrixView($<HTMLCanvasElement>("matrix"), $("matrix-tip"), look);
const feed = new Feed($("feed"), $("log-head"), (a) => canvas.setHighlight(`${a.modelId}/${a.layer}`, a.location));
const controls = new Controls(document.body, () => client, () => canvas.arrangement());
const stats = new StatsView(document.body, () => client);
const known = new Set<string>();

Object.assign(window, { neuralHeatmap: { canvas, matrix, feed, banner, look: () => look } });

async function refreshModels(): Promise<void> {
  const models = await client.listModels();
  for (const m of models) known.add(m.modelId);
  stats.setModels(models.map((m) => m.modelId).sort());
}

function handle(u: Update): void {
  switch (u.kind) {
    case "heatmap": {
      const h = u.heatmap;
      canvas.put({ key: `${h.modelId}/${h.layer}`, width: h.width, height: h.height, values: h.values, takenAt: h.timestamp?.getTime() });
      if (!known.has(h.modelId)) {
        known.add(h.modelId);
        void refreshModels().catch(() => known.delete(h.modelId));
      }
      break;
    }
    case "correlation":
      matrix.put(u.correlation);
      break;
    case "temporal":
      stats.onTemporal(u.temporal);
      break;
    case "anomaly":
      feed.add(u.anomalies);
      break;
    case "view":
      look = lookOf(u.view.theme.theme, u.view.theme.customColors);
      document.body.dataset["theme"] = look.name;
      canvas.setLayout(u.view.layout);
      canvas.setFilter(u.view.filter);
      canvas.setLook(look);
      matrix.setLook(look);
      controls.show(u.view);
      break;
  }
}

/** The first time, the newest page of the log; afterwards the feed's last sequence. */
async function resumePoint(): Promise<bigint> {
  if (feed.lastSequence > 0n) return feed.lastSequence;
  const page = await client.getAnomalies({ limit: FIRST_PAGE });
  feed.add(page.anomalies);
  feed.setHead(page.lastSequence);
  return page.anomalies.at(-1)?.sequence ?? page.lastSequence;
}

async function main(): Promise<void> {
  for (;;) {
    const token = storedToken();
    const stop = new AbortController();
    try {
      client = connectWeb({ address: location.origin, token });
      const after = await resumePoint();
      await refreshModels();
      watchHead(client, banner, (head) => feed.setHead(head), stop.signal);
      await follow(client, after, banner, handle, stop.signal);
    } catch (e) {
      if (e instanceof NeuralHeatmapError && e.code === Code.Unauthenticated) {
        forgetToken();
        banner.set("token");
        await askToken($<HTMLFormElement>("token-form"), token !== undefined);
        continue;
      }
      banner.set(banner.state === "live" || banner.state === "connecting" ? "reconnecting" : "down", e instanceof Error ? e.message : String(e));
      await new Promise((r) => setTimeout(r, RETRY_MS));
    } finally {
      stop.abort();
      client.close();
    }
  }
}

void main();
