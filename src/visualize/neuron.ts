/**
 * What a "neuron" of a layer is, and the hand-made error that selects it (seed 000 §2.4).
 *
 * A layer's output per sample is either `[F]` (dense: neuron `i` is feature `i`) or `[C, H, W]`
 * (conv: neuron `i` is channel `i`, read as the channel's spatial mean or at one position).
 * Other ranks are read as flattened features. The injected error at the layer's output is
 * the gradient of the neuron's activation (`e_i`, "unbiased") or of the activation minus the
 * sum of the other neurons' activations (`b_i`, "biased"), each with respect to the layer
 * output.
 *
 * @module
 */
import type { DType, HostArray } from "../backend.ts";
import { fmtShape } from "../tensor.ts";

/** `unbiased` injects `e_i = [0..1..0]`; `biased` injects `b_i = [-1..1..-1]`. */
export type AscentMode = "unbiased" | "biased";

/** How a conv channel is read as one neuron: its spatial mean, or one `[y, x]` position. */
export type SpatialReadout = "mean" | readonly [number, number];

/** The neuron layout of one layer output (batch axis excluded). */
export interface NeuronLayout {
  /** Neurons per sample. */
  units: number;
  /** Values per neuron that form it (H*W for a channel mean, else 1). */
  spread: number;
  /** Elements per sample. */
  sampleSize: number;
}

/** Checks the readout against a per-sample output shape and returns the neuron layout. */
export function neuronLayout(outShape: readonly number[], spatial: SpatialReadout): NeuronLayout {
  const sampleSize = outShape.reduce((a, b) => a * b, 1);
  if (outShape.length === 3) {
    const [c, h, w] = outShape;
    if (spatial === "mean") return { units: c, spread: h * w, sampleSize };
    const [py, px] = spatial;
    if (!Number.isInteger(py) || !Number.isInteger(px) || py < 0 || px < 0 || py >= h || px >= w) {
      throw new Error(
        `neuron position [${py}, ${px}] is outside the layer's ${h}x${w} map (output ${
          fmtShape(outShape)
        })`,
      );
    }
    return { units: c, spread: 1, sampleSize };
  }
  if (spatial !== "mean") {
    throw new Error(
      `a neuron position applies only to [C, H, W] layer outputs; this layer gives ${
        fmtShape(outShape)
      }`,
    );
  }
  return { units: sampleSize, spread: 1, sampleSize };
}

/**
 * Reads neuron activations from a host copy of a layer output `[n, ...outShape]` into
 * `[n, units]` (float64).
 */
export function readNeurons(
  y: ArrayLike<number>,
  n: number,
  outShape: readonly number[],
  spatial: SpatialReadout,
): Float64Array {
  const lay = neuronLayout(outShape, spatial);
  const out = new Float64Array(n * lay.units);
  if (outShape.length !== 3) {
    for (let i = 0; i < out.length; i++) out[i] = y[i];
    return out;
  }
  const [c, h, w] = outShape;
  const plane = h * w;
  for (let s = 0; s < n; s++) {
    for (let ch = 0; ch < c; ch++) {
      const base = s * lay.sampleSize + ch * plane;
      if (spatial === "mean") {
        let acc = 0;
        for (let i = 0; i < plane; i++) acc += y[base + i];
        out[s * c + ch] = acc / plane;
      } else {
        out[s * c + ch] = y[base + spatial[0] * w + spatial[1]];
      }
    }
  }
  return out;
}

/**
 * The injected error for a batch: sample `s` targets neuron `targets[s]`. Returns host data
 * shaped `[n, ...outShape]` in `dtype`.
 */
export function seedError(
  outShape: readonly number[],
  targets: readonly number[],
  mode: AscentMode,
  spatial: SpatialReadout,
  dtype: DType,
): HostArray {
  const lay = neuronLayout(outShape, spatial);
  const n = targets.length;
  const dy = dtype === "float64"
    ? new Float64Array(n * lay.sampleSize)
    : new Float32Array(n * lay.sampleSize);
  const other = mode === "biased" ? -1 : 0;
  for (let s = 0; s < n; s++) {
    const t = targets[s];
    if (!Number.isInteger(t) || t < 0 || t >= lay.units) {
      throw new Error(
        `neuron ${t} does not exist: the layer has ${lay.units} neurons (0..${lay.units - 1})`,
      );
    }
    const base = s * lay.sampleSize;
    if (outShape.length !== 3) {
      if (other !== 0) dy.fill(other, base, base + lay.sampleSize);
      dy[base + t] = 1;
      continue;
    }
    const [c, h, w] = outShape;
    const plane = h * w;
    for (let ch = 0; ch < c; ch++) {
      const v = ch === t ? 1 : other;
      if (v === 0) continue;
      if (spatial === "mean") {
        dy.fill(v / plane, base + ch * plane, base + (ch + 1) * plane);
      } else {
        dy[base + ch * plane + spatial[0] * w + spatial[1]] = v;
      }
    }
  }
  return dy;
}
