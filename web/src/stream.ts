/**
 * The page's one server stream: StreamUpdates with every kind it draws (heatmaps,
 * correlations, temporal patterns, anomalies and the view state) multiplexed, since a browser
 * keeps about six HTTP/1.1 connections per origin. The SDK reopens it after a failure and
 * resumes the anomaly part after the last sequence received (nothing missed, nothing twice);
 * this module turns the reopenings into the banner's states: "reconnecting" at once, "server
 * down" when the failures last DOWN_AFTER_MS, "live" at the next message (the stream starts
 * with the current view, so a reopened stream always says something at once).
 *
 * The bridge keeps its streams open while the server behind it restarts (they resume when it
 * is back), so a stream alone cannot tell a page that the server is down: `watchHead` reads
 * the log head every HEAD_EVERY_MS (answered from the bridge's memory while current), shows
 * it, and turns a failure into the "server down" banner. Data and view changes never come
 * from it: they are pushed on the stream.
 */
import { UpdateType, type NeuralHeatmapClient, type Update } from "@neural-heatmap/client/web";
import type { Banner } from "./banner.js";

export const DOWN_AFTER_MS = 3000;
export const HEAD_EVERY_MS = 3000;
export const KINDS = [UpdateType.HEATMAP, UpdateType.CORRELATION, UpdateType.TEMPORAL, UpdateType.ANOMALY, UpdateType.VIEW];

/** Runs the stream until `signal` aborts or it fails for good (then it throws). */
export async function follow(
  client: NeuralHeatmapClient,
  afterSequence: bigint,
  banner: Banner,
  handle: (u: Update) => void,
  signal: AbortSignal,
): Promise<void> {
  let failingSince: number | undefined;
  const updates = client.streamUpdates(
    { types: KINDS, afterSequence },
    {
      signal,
      onReconnect: (error) => {
        failingSince ??= Date.now();
        const down = Date.now() - failingSince >= DOWN_AFTER_MS;
        banner.set(down ? "down" : "reconnecting", down ? `${error.rawMessage}; retrying` : "");
      },
    },
  );
  for await (const u of updates) {
    failingSince = undefined;
    if (banner.state !== "live") banner.set("live");
    handle(u);
  }
}

/** Reads the log head every HEAD_EVERY_MS until `signal` aborts (see the module comment). */
export function watchHead(
  client: NeuralHeatmapClient,
  banner: Banner,
  showHead: (sequence: bigint) => void,
  signal: AbortSignal,
): void {
  let downByUs = false;
  const timer = setInterval(() => {
    client
      .getAnomalies({ limit: 1 }, { retry: false, timeoutMs: HEAD_EVERY_MS, signal })
      .then((page) => {
        showHead(page.lastSequence);
        if (downByUs && banner.state === "down") banner.set("live");
        downByUs = false;
      })
      .catch((e: unknown) => {
        if (signal.aborted) return;
        downByUs = true;
        banner.set("down", e instanceof Error ? e.message : String(e));
      });
  }, HEAD_EVERY_MS);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}
