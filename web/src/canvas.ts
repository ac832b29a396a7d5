/**
 * The heatmap canvas: every layer's newest frame as a panel of unit cells (unit i at column
 * i % width, row i / width, the server's canvas grid), at the stored layout's position and
 * size for "model/layer" (else on an automatic grid, like the PNG's), in the stored theme: one
 * colour scale over every shown value, filled cells or the theme's isolines, its scanlines.
 * Panels can be dragged; the drop is stored with SetLayout by the caller (`onMoved`).
 * The stored filter applies at once to what is already drawn, by the server's rules (layers
 * by model and layer id; units outside `intensityRange` or `spatialBounds` have no value), so
 * a filter change repaints without waiting for the next frames (which come filtered).
 */
import type { Filter, Layout } from "@neural-heatmap/client/web";
import { showsIsolines, strokeIsolines } from "./contour.js";
import { applyScanlines, cssColor, entryOf, type Look } from "./theme.js";

export const PANEL = 180; // default panel side in CSS pixels
const TITLE = 16;
const GAP = 12;

export interface LayerFrame {
  key: string; // "model/layer"
  width: number;
  height: number;
  values: Float32Array;
  /** When the frame was taken (ms since the epoch), for the ingest-to-pixel latency. */
  takenAt?: number;
}

export interface Panel {
  key: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Time spent drawing and how old frames were when they reached the canvas (bench rows). */
export interface DrawStats {
  draws: number;
  drawMs: number[];
  latencyMs: number[];
}

export class HeatmapCanvas {
  private frames = new Map<string, LayerFrame>();
  private fresh = new Set<string>(); // frames not yet drawn
  private panels: Panel[] = [];
  private layout: Layout | undefined;
  private filter: Filter | undefined;
  private highlight: { key: string; cell?: { x: number; y: number } } | undefined;
  private scheduled = false;
  private cells = document.createElement("canvas");
  readonly stats: DrawStats = { draws: 0, drawMs: [], latencyMs: [] };

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private look: Look,
    private readonly onMoved: (key: string, x: number, y: number) => void,
  ) {
    this.dragging();
  }

  setLook(look: Look): void {
    this.look = look;
    this.schedule();
  }

  setLayout(layout: Layout): void {
    this.layout = layout;
    this.schedule();
  }

  setFilter(filter: Filter): void {
    this.filter = filter;
    this.schedule();
  }

  put(frame: LayerFrame): void {
    this.frames.set(frame.key, frame);
    this.fresh.add(frame.key);
    this.schedule();
  }

  /** Outlines a layer's panel and, given, one unit's cell (canvas column x, row y). */
  setHighlight(key: string, cell?: { x: number; y: number }): void {
    this.highlight = { key, cell };
    this.schedule();
  }

  layers(): string[] {
    return [...this.frames.keys()].sort();
  }

  /** Where the panels are now (what "save arrangement" stores). */
  arrangement(): Panel[] {
    return this.panels.map((p) => ({ ...p }));
  }

  /** Centre of unit `unit`'s cell of layer `key` in canvas pixels (tests and the feed). */
  cellCentre(key: string, unit: number): { x: number; y: number } | undefined {
    const p = this.panels.find((q) => q.key === key);
    const f = this.frames.get(key);
    if (!p || !f) return undefined;
    const col = unit % f.width;
    const row = Math.floor(unit / f.width);
    return {
      x: Math.floor(p.x + ((col + 0.5) * p.w) / f.width),
      y: Math.floor(p.y + TITLE + ((row + 0.5) * p.h) / f.height),
    };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  /** Whether the filter lets layer `key` ("model/layer") be shown (the server's rule). */
  private passes(key: string): boolean {
    const f = this.filter;
    if (!f) return true;
    const slash = key.indexOf("/");
    const model = key.slice(0, slash);
    const layer = key.slice(slash + 1);
    if (f.modelIds.length && !f.modelIds.includes(model)) return false;
    return !f.layerIds.length || f.layerIds.includes(layer) || f.layerIds.includes(key);
  }

  /** The frame's values with the units the filter hides as NaN (the frame when none is). */
  private shown(frame: LayerFrame): Float32Array {
    const range = this.filter?.intensityRange;
    const bounds = this.filter?.spatialBounds;
    if (!range && !bounds) return frame.values;
    const out = new Float32Array(frame.values);
    for (let i = 0; i < out.length; i++) {
      const x = i % frame.width;
      const y = Math.floor(i / frame.width);
      const v = out[i]!;
      const outside =
        (range && !(v >= range.min && v <= range.max)) ||
        (bounds && !(x >= bounds.minX && x <= bounds.maxX && y >= bounds.minY && y <= bounds.maxY));
      if (outside) out[i] = NaN;
    }
    return out;
  }

  private place(): Panel[] {
    const keys = this.layers().filter((k) => this.layout?.visibility[k] !== false && this.passes(k));
    const columns = Math.max(1, Math.ceil(Math.sqrt(keys.length)));
    const order = this.layout?.zOrder ?? [];
    const rank = (k: string): number => (order.includes(k) ? order.indexOf(k) : -1);
    return keys
      .map((key, i) => {
        const at = this.layout?.panelPositions[key];
        const size = this.layout?.panelSizes[key];
        return {
          key,
          x: at ? at.x : GAP + (i % columns) * (PANEL + GAP),
          y: at ? at.y : GAP + Math.floor(i / columns) * (PANEL + TITLE + GAP),
          w: size ? size.width : PANEL,
          h: size ? size.height : PANEL,
        };
      })
      .sort((a, b) => rank(a.key) - rank(b.key)); // back to front
  }

  private scale(shown: Map<string, LayerFrame>): [number, number] {
    let low = Infinity;
    let high = -Infinity;
    for (const p of this.panels) {
      for (const v of shown.get(p.key)!.values) {
        if (Number.isFinite(v)) {
          if (v < low) low = v;
          if (v > high) high = v;
        }
      }
    }
    if (low === Infinity) return [0, 1];
    return high <= low ? [low, low + 1] : [low, high];
  }

  draw(): void {
    const started = performance.now();
    const look = this.look;
    this.panels = this.place();
    const width = Math.max(320, ...this.panels.map((p) => p.x + p.w + GAP));
    const height = Math.max(200, ...this.panels.map((p) => p.y + TITLE + p.h + GAP));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const ctx = this.canvas.getContext("2d", { willReadFrequently: look.data.scanlines.period > 0 })!;
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = look.data.background;
    ctx.fillRect(0, 0, width, height);
    const shown = new Map<string, LayerFrame>();
    for (const p of this.panels) {
      const f = this.frames.get(p.key)!;
      shown.set(p.key, { ...f, values: this.shown(f) });
    }
    const [low, high] = this.scale(shown);
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "top";
    for (const p of this.panels) this.drawPanel(ctx, p, shown.get(p.key)!, low, high);
    if (look.data.scanlines.period) {
      const image = ctx.getImageData(0, 0, width, height);
      applyScanlines(image, look);
      ctx.putImageData(image, 0, 0);
    }
    this.drawHighlight(ctx);
    const now = Date.now();
    for (const key of this.fresh) {
      const taken = this.frames.get(key)?.takenAt;
      if (taken !== undefined) this.stats.latencyMs.push(now - taken);
    }
    this.fresh.clear();
    this.stats.draws++;
    this.stats.drawMs.push(performance.now() - started);
    if (this.stats.drawMs.length > 10_000) this.stats.drawMs.splice(0, 5_000);
    if (this.stats.latencyMs.length > 10_000) this.stats.latencyMs.splice(0, 5_000);
  }

  private drawPanel(ctx: CanvasRenderingContext2D, p: Panel, f: LayerFrame, low: number, high: number): void {
    const look = this.look;
    ctx.fillStyle = look.data.text;
    ctx.fillText(p.key, p.x, p.y + 2, p.w);
    const top = p.y + TITLE;
    const isolines = look.data.isolines;
    if (showsIsolines(isolines, f, low, high)) {
      const box = { x: p.x, y: top, w: p.w, h: p.h };
      strokeIsolines(ctx, (k, last) => cssColor(look, k, 0, last), f, box, low, high, isolines);
    } else {
      this.drawCells(ctx, p, f, low, high);
    }
    ctx.strokeStyle = look.data.frame;
    ctx.lineWidth = 1;
    ctx.strokeRect(p.x - 0.5, top - 0.5, p.w + 1, p.h + 1);
  }

  private drawCells(ctx: CanvasRenderingContext2D, p: Panel, f: LayerFrame, low: number, high: number): void {
    const { lut, missing } = this.look;
    const image = new ImageData(f.width, f.height);
    const px = image.data;
    const cells = f.width * f.height;
    for (let i = 0; i < cells; i++) {
      const e = i < f.values.length ? entryOf(f.values[i]!, low, high) : -1;
      const o = 4 * i;
      if (e < 0) {
        px[o] = missing[0];
        px[o + 1] = missing[1];
        px[o + 2] = missing[2];
      } else {
        px[o] = lut[3 * e]!;
        px[o + 1] = lut[3 * e + 1]!;
        px[o + 2] = lut[3 * e + 2]!;
      }
      px[o + 3] = 255;
    }
    this.cells.width = f.width;
    this.cells.height = f.height;
    this.cells.getContext("2d")!.putImageData(image, 0, 0);
    ctx.drawImage(this.cells, p.x, p.y + TITLE, p.w, p.h);
  }

  private drawHighlight(ctx: CanvasRenderingContext2D): void {
    const h = this.highlight;
    const p = h && this.panels.find((q) => q.key === h.key);
    if (!h || !p) return;
    ctx.strokeStyle = "#ff00ff";
    ctx.lineWidth = 2;
    ctx.strokeRect(p.x - 3, p.y + TITLE - 3, p.w + 6, p.h + 6);
    const f = this.frames.get(h.key);
    if (!h.cell || !f) return;
    const sx = p.w / f.width;
    const sy = p.h / f.height;
    ctx.strokeRect(p.x + h.cell.x * sx - 1, p.y + TITLE + h.cell.y * sy - 1, sx + 2, sy + 2);
  }

  private dragging(): void {
    let grab: { key: string; dx: number; dy: number } | undefined;
    const at = (e: MouseEvent): { x: number; y: number } => {
      const r = this.canvas.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top };
    };
    this.canvas.addEventListener("mousedown", (e) => {
      const { x, y } = at(e);
      const p = [...this.panels].reverse().find((q) => x >= q.x && x <= q.x + q.w && y >= q.y && y <= q.y + TITLE);
      if (p) grab = { key: p.key, dx: x - p.x, dy: y - p.y };
    });
    window.addEventListener("mouseup", (e) => {
      if (!grab) return;
      const { x, y } = at(e);
      this.onMoved(grab.key, Math.max(0, Math.round(x - grab.dx)), Math.max(0, Math.round(y - grab.dy)));
      grab = undefined;
    });
  }
}
