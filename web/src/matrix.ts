/**
 * The correlation matrix on the fixed [-1, 1] scale (as the renderer draws it): one pixel
 * block per pair, or the theme's isolines (CONTOUR) under the renderer's rule; hovering
 * names the pair and its r.
 */
import type { CorrelationMatrixView } from "@neural-heatmap/client/web";
import { showsIsolines, strokeIsolines, type DrawnLevel } from "./contour.js";
import { cssColor, entryOf, type Look } from "./theme.js";

const SIDE = 360;

export class MatrixView {
  private matrix: CorrelationMatrixView | undefined;
  private cells = document.createElement("canvas");
  /** The isolines of the last draw (none when drawn as cells), for the browser tests. */
  isolines: DrawnLevel[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly tip: HTMLElement,
    private look: Look,
  ) {
    canvas.width = canvas.height = SIDE;
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    canvas.addEventListener("mouseleave", () => (this.tip.textContent = ""));
  }

  setLook(look: Look): void {
    this.look = look;
    this.draw();
  }

  put(matrix: CorrelationMatrixView): void {
    this.matrix = matrix;
    this.draw();
  }

  /** Side of the matrix drawn (0 before the first). */
  size(): number {
    return this.matrix?.size ?? 0;
  }

  /** The values drawn, row-major (empty before the first matrix). */
  values(): Float32Array {
    return this.matrix?.values ?? new Float32Array(0);
  }

  /** The pair and r under canvas point (x, y), or undefined outside the matrix. */
  pairAt(x: number, y: number): { a: string; b: string; r: number } | undefined {
    const m = this.matrix;
    if (!m || m.size === 0) return undefined;
    const i = Math.floor((y / SIDE) * m.size);
    const j = Math.floor((x / SIDE) * m.size);
    if (i < 0 || j < 0 || i >= m.size || j >= m.size) return undefined;
    return { a: m.labels[i] ?? String(i), b: m.labels[j] ?? String(j), r: m.at(i, j) };
  }

  private hover(e: MouseEvent): void {
    const rect = this.canvas.getBoundingClientRect();
    const pair = this.pairAt(e.clientX - rect.left, e.clientY - rect.top);
    this.tip.textContent = pair ? `${pair.a} × ${pair.b}: r = ${Number.isNaN(pair.r) ? "n/a" : pair.r.toFixed(3)}` : "";
  }

  private draw(): void {
    const ctx = this.canvas.getContext("2d")!;
    ctx.fillStyle = this.look.data.background;
    ctx.fillRect(0, 0, SIDE, SIDE);
    const m = this.matrix;
    this.isolines = [];
    if (!m || m.size === 0) {
      ctx.fillStyle = this.look.data.text;
      ctx.fillText("no layers to correlate yet", 10, 20);
      return;
    }
    const look = this.look;
    const grid = { values: m.values, width: m.size, height: m.size };
    if (showsIsolines(look.data.isolines, grid, -1, 1)) {
      const box = { x: 0, y: 0, w: SIDE, h: SIDE };
      this.isolines = strokeIsolines(ctx, (k, last) => cssColor(look, k, 0, last), grid, box, -1, 1,
        look.data.isolines);
      return;
    }
    const { lut, missing } = look;
    const image = new ImageData(m.size, m.size);
    for (let i = 0; i < m.size * m.size; i++) {
      const e = entryOf(m.values[i]!, -1, 1);
      const rgb = e < 0 ? missing : [lut[3 * e]!, lut[3 * e + 1]!, lut[3 * e + 2]!];
      image.data.set([rgb[0]!, rgb[1]!, rgb[2]!, 255], 4 * i);
    }
    this.cells.width = this.cells.height = m.size;
    this.cells.getContext("2d")!.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.cells, 0, 0, SIDE, SIDE);
  }
}
