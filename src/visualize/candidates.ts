/**
 * Candidate search (seed 000 §2.3): every sample's activation of every neuron of a layer, the
 * top-T samples per neuron and their mean image, and the least-activating samples.
 *
 * @module
 */
import { Tensor, tidy } from "../tensor.ts";
import { type AscentModel, EVAL_CONTEXT, modelDType, resolveLayer } from "./ascent.ts";
import { readNeurons, type SpatialReadout } from "./neuron.ts";

/** Activations of one layer over a sample set. */
export interface ActivationTable {
  /** Samples scanned. */
  count: number;
  /** Neurons per sample. */
  units: number;
  /** `[count, units]`. */
  values: Float32Array;
  /** Predicted class per sample (argmax of the last layer). */
  predictions: Int32Array;
}

/**
 * Runs `images` (`[count, ...inputShape]`, host) through the model in evaluation mode and
 * records the activation of every neuron of `layer` and the predicted class.
 */
export function scanActivations(
  model: AscentModel,
  images: Float32Array,
  count: number,
  opts: { layer: number | string; spatial?: SpatialReadout; batchSize?: number },
): ActivationTable {
  const layer = resolveLayer(model, opts.layer);
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(count) || count < 1 || images.length < count * size) {
    throw new Error(
      `candidate search: need ${count} samples of ${size} values, got ${images.length} values`,
    );
  }
  const batch = opts.batchSize ?? 256;
  const dtype = modelDType(model);
  const last = model.layers.length - 1;
  let values = new Float32Array(0);
  let units = 0;
  const predictions = new Int32Array(count);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    tidy(() => {
      const x = Tensor.from(
        model.backend,
        [n, ...model.inputShape],
        images.subarray(start * size, (start + n) * size),
        dtype,
      );
      const logits = model.forwardTo(x, last, EVAL_CONTEXT).toArray();
      const k = logits.length / n;
      for (let s = 0; s < n; s++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (logits[s * k + c] > logits[s * k + best]) best = c;
        predictions[start + s] = best;
      }
      const y = layer === last ? null : model.forwardTo(x, layer, EVAL_CONTEXT);
      const shape = y ? y.shape.slice(1) : [k];
      const acts = readNeurons(y ? y.toArray() : logits, n, shape, opts.spatial ?? "mean");
      if (units === 0) {
        units = acts.length / n;
        values = new Float32Array(count * units);
      }
      values.set(acts, start * units);
    });
  }
  return { count, units, values, predictions };
}

/**
 * Per neuron, the indices of the `t` samples with the highest (`order` "top") or lowest
 * ("bottom") activation, best first. `among` restricts the search to some samples.
 */
export function rankCandidates(
  table: ActivationTable,
  t: number,
  order: "top" | "bottom",
  among?: (sample: number, unit: number) => boolean,
): number[][] {
  if (!Number.isInteger(t) || t < 1) throw new Error(`candidate count T must be >= 1, got ${t}`);
  const out: number[][] = [];
  const sign = order === "top" ? -1 : 1;
  for (let u = 0; u < table.units; u++) {
    const idx: number[] = [];
    for (let s = 0; s < table.count; s++) if (!among || among(s, u)) idx.push(s);
    idx.sort((a, b) =>
      sign * (table.values[a * table.units + u] - table.values[b * table.units + u]) || a - b
    );
    out.push(idx.slice(0, t));
  }
  return out;
}

/** Mean of the selected samples of `images` (`[*, size]`). */
export function meanImage(
  images: Float32Array,
  size: number,
  indices: readonly number[],
): Float32Array {
  const out = new Float32Array(size);
  if (indices.length === 0) return out;
  const acc = new Float64Array(size);
  for (const i of indices) {
    for (let j = 0; j < size; j++) acc[j] += images[i * size + j];
  }
  for (let j = 0; j < size; j++) out[j] = acc[j] / indices.length;
  return out;
}

/** Copies the selected samples into one contiguous array `[indices.length, size]`. */
export function gather(
  images: Float32Array,
  size: number,
  indices: readonly number[],
): Float32Array {
  const out = new Float32Array(indices.length * size);
  indices.forEach((i, k) => out.set(images.subarray(i * size, (i + 1) * size), k * size));
  return out;
}
