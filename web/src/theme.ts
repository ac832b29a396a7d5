/**
 * Colours of values, from the same theme data as the server's PNG renderer
 * (protos/policy/themes.json -> themes_gen.ts here, themes.py there). The mapping is
 * matplotlib's, step for step, so a value has one colour everywhere: a 256-entry table
 * interpolated linearly through the colour stops (LinearSegmentedColormap.from_list), a
 * value's entry floor((v - low) / (high - low) * 256) clipped to the table, bytes truncated
 * from [0, 1] floats, and the missing colour for NaN.
 */
import { THEME_DATA, Theme, type ThemeData } from "@neural-heatmap/client/web";

export const LUT_SIZE = 256;

/** A theme ready to draw: its data and its colour table (RGB bytes, LUT_SIZE entries). */
export interface Look {
  name: string;
  data: ThemeData;
  /** RGB of entry i at [3i, 3i + 2]. */
  lut: Uint8Array;
  missing: [number, number, number];
}

/** The theme word of the enum (THEME_PLASMA -> "plasma"); unset is the server's default. */
export function themeWord(theme: Theme): string {
  return theme === Theme.UNSPECIFIED ? "thermal" : Theme[theme].toLowerCase();
}

function hexChannels(hex: string): [number, number, number] {
  const n = (i: number): number => parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
  return [n(0), n(1), n(2)];
}

/** numpy's linspace(0, 1, n): i * (1 / (n - 1)), the last one exactly 1. */
function linspace(n: number): number[] {
  const step = 1 / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : i * step));
}

/** matplotlib's _create_lookup_table for one channel of evenly spaced stops. */
function channelTable(stops: number[]): Float64Array {
  const n = LUT_SIZE;
  const x = linspace(stops.length).map((v) => v * (n - 1));
  const xind = linspace(n).map((v) => (n - 1) * v);
  const out = new Float64Array(n);
  out[0] = stops[0]!;
  out[n - 1] = stops[stops.length - 1]!;
  for (let i = 1; i < n - 1; i++) {
    let j = 0;
    while (x[j]! < xind[i]!) j++; // numpy's searchsorted, side "left"
    const distance = (xind[i]! - x[j - 1]!) / (x[j]! - x[j - 1]!);
    out[i] = distance * (stops[j]! - stops[j - 1]!) + stops[j - 1]!;
  }
  return out.map((v) => Math.min(1, Math.max(0, v)));
}

/** The look of `theme` (custom colours for a theme without stops of its own). */
export function lookOf(theme: Theme, customColors: readonly string[]): Look {
  const name = themeWord(theme);
  const data = THEME_DATA.themes[name] ?? THEME_DATA.themes["thermal"]!;
  let stops = data.colors.length ? data.colors : customColors;
  if (stops.length < 2) stops = THEME_DATA.themes["thermal"]!.colors; // the server refuses this
  const rgb = stops.map(hexChannels);
  const lut = new Uint8Array(LUT_SIZE * 3);
  for (let c = 0; c < 3; c++) {
    const table = channelTable(rgb.map((s) => s[c]!));
    for (let i = 0; i < LUT_SIZE; i++) lut[3 * i + c] = Math.trunc(table[i]! * 255);
  }
  const missing = hexChannels(THEME_DATA.missing).map((v) => Math.trunc(v * 255)) as [number, number, number];
  return { name, data, lut, missing };
}

/** The table entry of `value` on the scale [low, high]; -1 for NaN (the missing colour). */
export function entryOf(value: number, low: number, high: number): number {
  if (Number.isNaN(value)) return -1;
  let x = ((value - low) / (high - low)) * LUT_SIZE;
  if (x === LUT_SIZE) x = LUT_SIZE - 1;
  if (x < 0) return 0;
  if (x >= LUT_SIZE) return LUT_SIZE - 1;
  return Math.trunc(x);
}

/** `value`'s colour as CSS. */
export function cssColor(look: Look, value: number, low: number, high: number): string {
  const e = entryOf(value, low, high);
  const [r, g, b] = e < 0 ? look.missing : [look.lut[3 * e]!, look.lut[3 * e + 1]!, look.lut[3 * e + 2]!];
  return `rgb(${r},${g},${b})`;
}

/**
 * The renderer's scanlines: every `period`-th pixel row from the top keeps `shade` of its
 * brightness, computed in float32 and truncated as numpy does on the PNG's bytes.
 */
export function applyScanlines(image: ImageData, look: Look): void {
  const { period, shade } = look.data.scanlines;
  if (!period) return;
  const s = Math.fround(shade);
  const px = image.data;
  for (let y = 0; y < image.height; y += period) {
    for (let i = y * image.width * 4, end = i + image.width * 4; i < end; i += 4) {
      px[i] = Math.trunc(Math.fround(px[i]! * s));
      px[i + 1] = Math.trunc(Math.fround(px[i + 1]! * s));
      px[i + 2] = Math.trunc(Math.fround(px[i + 2]! * s));
    }
  }
}
