/**
 * Isolines by marching squares over a grid of unit values (the CONTOUR theme). Points are in
 * cell coordinates (column, row) of cell centres; squares with a NaN corner are skipped, as
 * the renderer masks missing values.
 */
export type Segment = [number, number, number, number];

export function contourSegments(values: Float32Array, width: number, height: number, level: number): Segment[] {
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
      for (let k = 0; k + 1 < points.length; k += 2) {
        out.push([points[k]![0], points[k]![1], points[k + 1]![0], points[k + 1]![1]]);
      }
    }
  }
  return out;
}
