/**
 * Turning input-shaped float data into 8-bit images: grayscale/RGB with a fixed value range,
 * a diverging (seismic-like) colour map for gradients, nearest-neighbour upscaling and grids.
 *
 * @module
 */
import type { RasterImage } from "./png.ts";

/** How to map values to pixels. */
export interface DisplayRange {
  lo: number;
  hi: number;
}

/** The min and max of `values` (a degenerate range is widened to width 1). */
export function valueRange(values: ArrayLike<number>): DisplayRange {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) {
    return { lo: Number.isFinite(lo) ? lo - 0.5 : 0, hi: Number.isFinite(lo) ? lo + 0.5 : 1 };
  }
  return { lo, hi };
}

function toByte(v: number, r: DisplayRange): number {
  const t = (v - r.lo) / (r.hi - r.lo);
  return t <= 0 || !Number.isFinite(t) ? 0 : t >= 1 ? 255 : Math.round(t * 255);
}

/**
 * One sample `[C, H, W]` (C = 1 or 3; other channel counts show the channel mean) as an RGB
 * image, values mapped linearly from `range` to 0..255.
 */
export function sampleImage(
  sample: ArrayLike<number>,
  shape: readonly number[],
  range: DisplayRange,
): RasterImage {
  const [c, h, w] = shape.length === 3 ? shape : shape.length === 1 ? guessSquare(shape[0]) : [
    1,
    shape[shape.length - 2],
    shape[shape.length - 1],
  ];
  const data = new Uint8Array(h * w * 3);
  const plane = h * w;
  for (let p = 0; p < plane; p++) {
    if (c === 3) {
      for (let k = 0; k < 3; k++) data[p * 3 + k] = toByte(sample[k * plane + p], range);
    } else {
      let acc = 0;
      for (let k = 0; k < c; k++) acc += sample[k * plane + p];
      const b = toByte(acc / c, range);
      data[p * 3] = data[p * 3 + 1] = data[p * 3 + 2] = b;
    }
  }
  return { width: w, height: h, channels: 3, data };
}

/** A flat feature vector of `n` values shown as the smallest near-square `1 x H x W` image. */
function guessSquare(n: number): [number, number, number] {
  const w = Math.ceil(Math.sqrt(n));
  return [1, Math.ceil(n / w), w];
}

/**
 * A diverging colour map like matplotlib's `seismic`: dark blue (−absMax) → blue → white (0)
 * → red → dark red (+absMax). Returns `[r, g, b]` bytes.
 */
export function seismic(v: number, absMax: number): [number, number, number] {
  const t = absMax > 0 ? Math.max(-1, Math.min(1, v / absMax)) : 0;
  // Anchors at t = -1, -0.5, 0, 0.5, 1.
  const stops: [number, number, number][] = [
    [0, 0, 77],
    [0, 0, 255],
    [255, 255, 255],
    [255, 0, 0],
    [128, 0, 0],
  ];
  const pos = (t + 1) * 2; // 0..4
  const i = Math.min(3, Math.floor(pos));
  const f = pos - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

/** The values a heat map of `grad` (`[C, H, W]`) shows: one per pixel, summed over channels. */
export function heatmapValues(grad: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const [c, h, w] = shape.length === 3 ? shape : guessSquare(grad.length);
  const plane = h * w;
  const summed = new Float64Array(plane);
  for (let k = 0; k < c; k++) for (let p = 0; p < plane; p++) summed[p] += grad[k * plane + p] ?? 0;
  return summed;
}

/** The largest magnitude among `values` (0 for none). */
export function absMaxOf(...values: ArrayLike<number>[]): number {
  let m = 0;
  for (const vs of values) for (let i = 0; i < vs.length; i++) m = Math.max(m, Math.abs(vs[i]));
  return m;
}

/**
 * A gradient `[C, H, W]` (summed over channels, {@link heatmapValues}) as a diverging heat map,
 * symmetric around 0: the colours of {@link seismic} from −`absMax` to +`absMax`, which defaults
 * to the largest magnitude.
 */
export function heatmapImage(
  grad: ArrayLike<number>,
  shape: readonly number[],
  absMax?: number,
): RasterImage {
  const [, h, w] = shape.length === 3 ? shape : guessSquare(grad.length);
  const summed = heatmapValues(grad, shape);
  const m = absMax ?? absMaxOf(summed);
  const data = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) data.set(seismic(summed[p], m), p * 3);
  return { width: w, height: h, channels: 3, data };
}

/** Nearest-neighbour upscaling by an integer factor. */
export function upscale(img: RasterImage, factor: number): RasterImage {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`upscale factor must be an integer >= 1, got ${factor}`);
  }
  if (factor === 1) return img;
  const w = img.width * factor;
  const h = img.height * factor;
  const ch = img.channels;
  const data = new Uint8Array(w * h * ch);
  for (let y = 0; y < h; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < w; x++) {
      const src = (sy * img.width + Math.floor(x / factor)) * ch;
      for (let k = 0; k < ch; k++) data[(y * w + x) * ch + k] = img.data[src + k];
    }
  }
  return { width: w, height: h, channels: ch, data };
}

/**
 * Tiles RGB images of equal size into a grid with `cols` columns and a `gap`-pixel border of
 * colour `background`.
 */
export function grid(
  tiles: readonly RasterImage[],
  cols: number,
  gap = 2,
  background: [number, number, number] = [255, 255, 255],
): RasterImage {
  if (tiles.length === 0) throw new Error("grid: no tiles");
  const tw = tiles[0].width;
  const th = tiles[0].height;
  for (const t of tiles) {
    if (t.width !== tw || t.height !== th || t.channels !== 3) {
      throw new Error(
        `grid: tiles must all be ${tw}x${th} RGB, got ${t.width}x${t.height}x${t.channels}`,
      );
    }
  }
  const c = Math.min(cols, tiles.length);
  const r = Math.ceil(tiles.length / c);
  const w = c * tw + (c + 1) * gap;
  const h = r * th + (r + 1) * gap;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(background, i * 3);
  tiles.forEach((t, i) => {
    const ox = gap + (i % c) * (tw + gap);
    const oy = gap + Math.floor(i / c) * (th + gap);
    for (let y = 0; y < th; y++) {
      data.set(t.data.subarray(y * tw * 3, (y + 1) * tw * 3), ((oy + y) * w + ox) * 3);
    }
  });
  return { width: w, height: h, channels: 3, data };
}
