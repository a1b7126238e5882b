/**
 * The in-memory dataset type and the transforms the training loop needs: per-element
 * normalisation from training statistics, subsets, a held-out split and shuffled batches.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { Rng, Streams } from "../rng.ts";

/** Per-element normalisation statistics (one mean and divisor per input element). */
export interface NormStats {
  /** The mean of every input element over the training set. */
  mean: Float32Array;
  /** The divisor: the standard deviation, floored at {@link STD_FLOOR}. */
  std: Float32Array;
}

/** A labelled image dataset held in host memory. */
export interface Dataset {
  /** Dataset name, e.g. `mnist`, with a suffix for derived sets (`mnist[:5000]`). */
  name: string;
  /** Per-sample shape, e.g. `[1, 28, 28]`. */
  inputShape: number[];
  /** Number of classes. */
  classes: number;
  /** Number of samples. */
  size: number;
  /** `size * prod(inputShape)` values: normalised when {@link Dataset.norm} is set. */
  images: Float32Array;
  /** One class index per sample. */
  labels: Uint8Array | Uint16Array;
  /** The statistics the images were normalised with (from the training set), if any. */
  norm?: NormStats;
}

/**
 * Smallest divisor of the per-element normalisation: elements that (almost) never vary in the
 * training set, like MNIST's corners, are centred but not blown up. Pixel values are in [0, 1].
 */
export const STD_FLOOR = 1e-2;

/** Number of values per sample. */
export function sampleSize(ds: Pick<Dataset, "inputShape">): number {
  return ds.inputShape.reduce((a, b) => a * b, 1);
}

/**
 * Mean and standard deviation (population) of every input element over `ds`, or over the
 * samples `indices` of it (in that order), without copying them out.
 */
export function computeNormStats(ds: Dataset, indices?: ArrayLike<number>): NormStats {
  const d = sampleSize(ds);
  const n = indices ? indices.length : ds.size;
  if (n === 0) throw new Error(`computeNormStats: dataset '${ds.name}' is empty`);
  const sum = new Float64Array(d);
  const sq = new Float64Array(d);
  const x = ds.images;
  for (let i = 0; i < n; i++) {
    const o = (indices ? indices[i] : i) * d;
    for (let j = 0; j < d; j++) {
      const v = x[o + j];
      sum[j] += v;
      sq[j] += v * v;
    }
  }
  const mean = new Float32Array(d);
  const std = new Float32Array(d);
  for (let j = 0; j < d; j++) {
    const m = sum[j] / n;
    const variance = Math.max(0, sq[j] / n - m * m);
    mean[j] = m;
    std[j] = Math.max(Math.sqrt(variance), STD_FLOOR);
  }
  return { mean, std };
}

/**
 * Returns a copy of `ds` normalised per element with `stats` (computed from the training set:
 * pass the training set's stats for the test set too). Throws on a size mismatch or when `ds`
 * is already normalised.
 */
export function normalize(ds: Dataset, stats: NormStats): Dataset {
  const d = sampleSize(ds);
  if (stats.mean.length !== d || stats.std.length !== d) {
    throw new Error(
      `normalize: statistics have ${stats.mean.length} elements, dataset '${ds.name}' samples have ${d}`,
    );
  }
  if (ds.norm) throw new Error(`normalize: dataset '${ds.name}' is already normalised`);
  const out = new Float32Array(ds.images.length);
  const x = ds.images;
  for (let i = 0; i < ds.size; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) out[o + j] = (x[o + j] - stats.mean[j]) / stats.std[j];
  }
  return { ...ds, images: out, norm: stats };
}

/** The samples at `indices` (in that order) as a new dataset. */
export function take(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  const d = sampleSize(ds);
  const n = indices.length;
  const images = new Float32Array(n * d);
  const labels = ds.labels instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = indices[i];
    if (!(s >= 0 && s < ds.size)) {
      throw new Error(`take: index ${s} out of range for '${ds.name}' (size ${ds.size})`);
    }
    images.set(ds.images.subarray(s * d, (s + 1) * d), i * d);
    labels[i] = ds.labels[s];
  }
  return { ...ds, name, size: n, images, labels };
}

/**
 * The first `n` samples (all of them when `n` is the size). Asking for more samples than the
 * dataset has is a {@link UsageError} naming its size; `what` names the request in it (e.g.
 * `trainSubset (--train-subset)`).
 */
export function subset(ds: Dataset, n: number, what = "subset"): Dataset {
  checkSubset(ds, n, what);
  if (n === ds.size) return ds;
  const d = sampleSize(ds);
  return {
    ...ds,
    name: `${ds.name}[:${n}]`,
    size: n,
    images: ds.images.slice(0, n * d),
    labels: ds.labels.slice(0, n),
  };
}

/** Throws unless the first `n` samples of `ds` can be taken (see {@link subset}). */
export function checkSubset(ds: Pick<Dataset, "name" | "size">, n: number, what = "subset"): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${what}: size must be a positive integer, got ${n}`);
  }
  if (n > ds.size) {
    throw new UsageError(
      `${what}: ${n} samples asked for, but ${ds.name} has ${ds.size}; ask for at most ${ds.size}`,
    );
  }
}

/**
 * Splits off a held-out set of `count` samples chosen by a permutation from `seed`
 * (stream `Streams.split`); the rest stays the training set, in its original order.
 */
export function holdOut(
  ds: Dataset,
  count: number,
  seed: number,
): { train: Dataset; heldOut: Dataset } {
  const { rest, held } = holdOutIndices(ds, count, seed);
  return {
    train: take(ds, rest, `${ds.name}/train`),
    heldOut: take(ds, held, `${ds.name}/held-out`),
  };
}

/** The sample indices {@link holdOut} splits `ds` into, each in ascending order. */
export function holdOutIndices(
  ds: Dataset,
  count: number,
  seed: number,
): { rest: number[]; held: number[] } {
  if (!Number.isInteger(count) || count < 1 || count >= ds.size) {
    throw new Error(
      `holdOut: held-out size must be an integer in [1, ${
        ds.size - 1
      }] for '${ds.name}', got ${count}`,
    );
  }
  const perm = new Rng(seed, Streams.split).permutation(ds.size);
  const held = Array.from(perm.subarray(0, count)).sort((a, b) => a - b);
  const isHeld = new Uint8Array(ds.size);
  for (const i of held) isHeld[i] = 1;
  const rest: number[] = [];
  for (let i = 0; i < ds.size; i++) if (!isHeld[i]) rest.push(i);
  return { rest, held };
}

/** One mini-batch on the host. */
export interface Batch {
  /** `[n, ...inputShape]` values. */
  x: Float32Array;
  /** `n` class indices as floats (the loss takes labels as a float tensor). */
  y: Float32Array;
  /** Number of samples in this batch (the last one may be smaller). */
  n: number;
}

/**
 * The order of epoch `epoch` for a run with `seed`: a permutation drawn from
 * `(seed, Streams.shuffle)` at a counter offset unique to the epoch, so any epoch's order can be
 * recomputed without replaying the earlier ones.
 */
export function epochOrder(size: number, seed: number, epoch: number): Uint32Array {
  const rng = new Rng(seed, Streams.shuffle);
  rng.counter = epoch * 2 ** 32;
  return rng.permutation(size);
}

/**
 * Iterates over `ds` in batches of `batchSize`; with `shuffle` the order is
 * {@link epochOrder}`(size, seed, epoch)`, otherwise the stored order. With `dropLast` a final
 * partial batch is skipped.
 */
export function* batches(
  ds: Dataset,
  batchSize: number,
  opts: { shuffle?: boolean; seed?: number; epoch?: number; dropLast?: boolean } = {},
): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batches: batch size must be a positive integer, got ${batchSize}`);
  }
  const d = sampleSize(ds);
  const order = opts.shuffle ? epochOrder(ds.size, opts.seed ?? 0, opts.epoch ?? 0) : null;
  for (let start = 0; start < ds.size; start += batchSize) {
    const n = Math.min(batchSize, ds.size - start);
    if (n < batchSize && opts.dropLast) break;
    if (!order) {
      const y = new Float32Array(n);
      for (let i = 0; i < n; i++) y[i] = ds.labels[start + i];
      yield { x: ds.images.subarray(start * d, (start + n) * d), y, n };
      continue;
    }
    const x = new Float32Array(n * d);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s = order[start + i];
      x.set(ds.images.subarray(s * d, (s + 1) * d), i * d);
      y[i] = ds.labels[s];
    }
    yield { x, y, n };
  }
}

/** Number of batches per epoch. */
export function batchCount(size: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
}

/** Throws unless every label is below `classes`; `file` names the source. */
export function checkLabels(labels: ArrayLike<number>, classes: number, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw new Error(
        `${file}: label ${labels[i]} at index ${i} is out of range (expected 0..${classes - 1})`,
      );
    }
  }
}
