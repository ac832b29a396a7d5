/**
 * Isolines by marching squares over a grid of values (the CONTOUR theme), for the heatmap
 * canvas and the correlation matrix alike, drawn as the PNG renderer draws them (its rule for
 * when, its levels, colours and pooling). Points are in cell coordinates (column, row) of
 * cell centres; squares with a NaN corner are skipped, as the renderer masks missing values.
 */
export type Segment = [number, number, number, number];
type Point = [number, number];

export function contourSegments(values: ArrayLike<number>, width: number, height: number, level: number): Segment[] {
  const out: Segment[] = [];
  const at = (c: number, r: number): number => {
    const i = r * width + c;
    return i < values.length ? values[i]! : NaN;
  };
  // Where the level crosses the edge from (c0, r0) to (c1, r1).
  const cross = (c0: number, r0: number, v0: number, c1: number, r1: number, v1: number): [number, number] => {
    const t = (level - v0) / (v1 - v0);
    return [c0 + t * (c1 - c0), r0 + t * (r1 - r0)];
  };
  for (let r = 0; r + 1 < height; r++) {
    for (let c = 0; c + 1 < width; c++) {
      const a = at(c, r); // top left, then clockwise
      const b = at(c + 1, r);
      const d = at(c + 1, r + 1);
      const e = at(c, r + 1);
      if (!(Number.isFinite(a) && Number.isFinite(b) && Number.isFinite(d) && Number.isFinite(e))) continue;
      const points: [number, number][] = [];
      if (a >= level !== b >= level) points.push(cross(c, r, a, c + 1, r, b));
      if (b >= level !== d >= level) points.push(cross(c + 1, r, b, c + 1, r + 1, d));
      if (d >= level !== e >= level) points.push(cross(c + 1, r + 1, d, c, r + 1, e));
      if (e >= level !== a >= level) points.push(cross(c, r + 1, e, c, r, a));
      if (points.length === 4 && b >= level === (a + b + d + e) / 4 >= level) {
        // A saddle whose centre (the corners' mean, as matplotlib decides) lies on the side
        // of corners b and e: they join across it and a and d are cut off instead.
        const [top, right, bottom, left] = points as [Point, Point, Point, Point];
        out.push([left[0], left[1], top[0], top[1]], [right[0], right[1], bottom[0], bottom[1]]);
        continue;
      }
      for (let k = 0; k + 1 < points.length; k += 2) {
        out.push([points[k]![0], points[k]![1], points[k + 1]![0], points[k + 1]![1]]);
      }
    }
  }
  return out;
}

/** As the renderer's CONTOUR_MAX_CELLS: isolines of finer grids merge at any image size. */
export const CONTOUR_MAX_CELLS = 128;

/** A grid of values, row-major. */
export interface Grid {
  values: ArrayLike<number>;
  width: number;
  height: number;
}

/** Where a grid is drawn on the canvas, in pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One isoline level as drawn: its value, CSS colour and the canvas points of its segments. */
export interface DrawnLevel {
  level: number;
  color: string;
  /** Midpoint of each segment, in canvas pixels (where the line certainly is). */
  midpoints: [number, number][];
}

/** The renderer's rule: isolines when the theme asks and the grid has room and a range. */
export function showsIsolines(count: number, grid: Grid, low: number, high: number): boolean {
  if (!count || grid.width < 2 || grid.height < 2 || !(high > low)) return false;
  let finite = 0;
  for (let i = 0; i < grid.width * grid.height && finite < 4; i++) {
    if (i < grid.values.length && Number.isFinite(grid.values[i]!)) finite++;
  }
  return finite >= 4;
}

/** numpy's linspace(0, n, most + 1)[:-1] as int64: the first index of each block. */
function blockStarts(n: number, most: number): number[] {
  if (n <= most) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: most }, (_, i) => Math.trunc((n * i) / most));
}

/**
 * The renderer's `pool`: the grid averaged (NaN-aware) down to at most `most` cells per side,
 * and each pooled column's and row's centre in the original cell coordinates.
 */
export function pool(grid: Grid, most: number): { grid: Grid; colAt: number[]; rowAt: number[] } {
  const cols = blockStarts(grid.width, most);
  const rows = blockStarts(grid.height, most);
  const centres = (starts: number[], n: number): number[] =>
    starts.map((s, i) => (s + (i + 1 < starts.length ? starts[i + 1]! : n) - 1) / 2);
  const out = new Float32Array(cols.length * rows.length);
  for (let r = 0; r < rows.length; r++) {
    const r1 = r + 1 < rows.length ? rows[r + 1]! : grid.height;
    for (let c = 0; c < cols.length; c++) {
      const c1 = c + 1 < cols.length ? cols[c + 1]! : grid.width;
      let sum = 0;
      let count = 0;
      for (let y = rows[r]!; y < r1; y++) {
        for (let x = cols[c]!; x < c1; x++) {
          const i = y * grid.width + x;
          const v = i < grid.values.length ? grid.values[i]! : NaN;
          if (Number.isFinite(v)) {
            sum += v;
            count++;
          }
        }
      }
      out[r * cols.length + c] = count ? sum / count : NaN;
    }
  }
  return {
    grid: { values: out, width: cols.length, height: rows.length },
    colAt: centres(cols, grid.width),
    rowAt: centres(rows, grid.height),
  };
}

/** Position `t` (fractional index) along `centres`, linearly between neighbours. */
function along(centres: number[], t: number): number {
  const i = Math.min(Math.floor(t), centres.length - 2);
  return centres[i]! + (t - i) * (centres[i + 1]! - centres[i]!);
}

/**
 * Strokes a grid's isolines into `box`, as the renderer's `ax.contour`: `count` levels evenly
 * inside (low, high), level k coloured at k / (count - 1) along the theme's map, 1.2 px wide,
 * on the grid pooled to CONTOUR_MAX_CELLS per side. Returns what was drawn.
 */
export function strokeIsolines(
  ctx: CanvasRenderingContext2D,
  colorOf: (k: number, last: number) => string,
  grid: Grid,
  box: Box,
  low: number,
  high: number,
  count: number,
): DrawnLevel[] {
  const { grid: g, colAt, rowAt } = pool(grid, CONTOUR_MAX_CELLS);
  const sx = box.w / grid.width;
  const sy = box.h / grid.height;
  const px = (c: number): number => box.x + (along(colAt, c) + 0.5) * sx;
  const py = (r: number): number => box.y + (along(rowAt, r) + 0.5) * sy;
  const drawn: DrawnLevel[] = [];
  ctx.lineWidth = 1.2;
  for (let k = 1; k <= count; k++) {
    const level = low + ((high - low) * k) / (count + 1);
    const color = colorOf(k - 1, count - 1 || 1);
    const midpoints: [number, number][] = [];
    ctx.strokeStyle = color;
    ctx.beginPath();
    for (const [c0, r0, c1, r1] of contourSegments(g.values, g.width, g.height, level)) {
      const [x0, y0, x1, y1] = [px(c0), py(r0), px(c1), py(r1)];
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      midpoints.push([(x0 + x1) / 2, (y0 + y1) / 2]);
    }
    ctx.stroke();
    drawn.push({ level, color, midpoints });
  }
  return drawn;
}
