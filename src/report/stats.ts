/**
 * The statistics behind a report: the thesis's exponential moving average, learning pace (area
 * under a curve, steps to reach a threshold), summaries over runs and a paired bootstrap
 * confidence interval over seeds. Pure functions over plain number arrays.
 *
 * @module
 */

import { Rng } from "../rng.ts";

/** The thesis's smoothing coefficient for training curves (figures 7.1-7.14). */
export const EMA_COEFFICIENT = 0.99;

/**
 * Exponential moving average `e_0 = x_0`, `e_t = c e_{t-1} + (1 - c) x_t`.
 *
 * Starting at the first value (not at 0) keeps the early curve on the data's scale. A non-finite
 * input value (a diverged step) makes every later value `NaN`.
 *
 * @param values per-step values
 * @param coefficient the weight of the past, in `[0, 1)`; default 0.99
 */
export function ema(values: readonly number[], coefficient = EMA_COEFFICIENT): number[] {
  if (!(coefficient >= 0 && coefficient < 1)) {
    throw new RangeError(`ema: coefficient must be in [0, 1), got ${coefficient}`);
  }
  const out = new Array<number>(values.length);
  let e = NaN;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    e = i === 0 ? x : coefficient * e + (1 - coefficient) * x;
    if (!Number.isFinite(e)) e = NaN;
    out[i] = e;
  }
  return out;
}

/**
 * Area under a per-step curve by the trapezoidal rule with unit spacing between steps:
 * `sum_{t=1}^{n-1} (y_{t-1} + y_t) / 2`. One point has area 0; any non-finite value gives `NaN`.
 */
export function areaUnderCurve(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("areaUnderCurve: the curve is empty");
  let area = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return NaN;
    if (i > 0) area += (values[i - 1] + values[i]) / 2;
  }
  return area;
}

/**
 * Number of steps until the curve first reaches `threshold` or lower: the 1-based count of the
 * first step `t` with `values[t] <= threshold`, or `null` when it never does.
 */
export function stepsToThreshold(values: readonly number[], threshold: number): number | null {
  if (!Number.isFinite(threshold)) {
    throw new RangeError(`stepsToThreshold: threshold must be finite, got ${threshold}`);
  }
  for (let i = 0; i < values.length; i++) {
    if (values[i] <= threshold) return i + 1;
  }
  return null;
}

/** Arithmetic mean; `NaN` for an empty list. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (divisor n - 1); 0 for one value, `NaN` for none. */
export function sampleSd(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  if (values.length === 1) return 0;
  const m = mean(values);
  let s = 0;
  for (const v of values) s += (v - m) * (v - m);
  return Math.sqrt(s / (values.length - 1));
}

/** Mean, sample standard deviation, minimum, maximum and count of a list of numbers. */
export interface Summary {
  mean: number;
  sd: number;
  min: number;
  max: number;
  n: number;
}

/** {@link Summary} of a list; fields are `NaN` (and `n` 0) for an empty list. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { mean: NaN, sd: NaN, min: NaN, max: NaN, n: 0 };
  return {
    mean: mean(values),
    sd: sampleSd(values),
    min: Math.min(...values),
    max: Math.max(...values),
    n: values.length,
  };
}

/** A bootstrap confidence interval for a mean. */
export interface BootstrapInterval {
  /** Mean of the observed values. */
  mean: number;
  /** Lower and upper percentile bounds. */
  lo: number;
  hi: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
  /** Number of observed values (seeds). */
  n: number;
  resamples: number;
}

/** Options of {@link bootstrapMeanInterval}. */
export interface BootstrapOptions {
  /** Number of resamples; default 10000. */
  resamples?: number;
  /** Confidence level in (0, 1); default 0.95. */
  level?: number;
  /** Seed of the resampling generator, so a report is reproducible; default 0. */
  seed?: number;
}

/** Stream of the bootstrap generator (distinct from the training streams in `rng.ts`). */
const BOOTSTRAP_STREAM = 0xb0075;

/**
 * Percentile bootstrap interval of the mean of `values` (e.g. paired per-seed differences):
 * resample `n` values with replacement `resamples` times, take each resample's mean, and return
 * the `(1 - level) / 2` and `(1 + level) / 2` quantiles (linear interpolation between order
 * statistics). Deterministic for a given seed.
 */
export function bootstrapMeanInterval(
  values: readonly number[],
  opts: BootstrapOptions = {},
): BootstrapInterval {
  const resamples = opts.resamples ?? 10000;
  const level = opts.level ?? 0.95;
  if (values.length === 0) throw new RangeError("bootstrapMeanInterval: no values");
  if (!values.every(Number.isFinite)) {
    throw new RangeError(`bootstrapMeanInterval: values must be finite, got [${values}]`);
  }
  if (!(Number.isInteger(resamples) && resamples >= 1)) {
    throw new RangeError(`bootstrapMeanInterval: resamples must be a positive integer`);
  }
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`bootstrapMeanInterval: level must be in (0, 1), got ${level}`);
  }
  const n = values.length;
  const rng = new Rng(opts.seed ?? 0, BOOTSTRAP_STREAM);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)];
    means[r] = s / n;
  }
  means.sort();
  return {
    mean: mean(values),
    lo: quantileSorted(means, (1 - level) / 2),
    hi: quantileSorted(means, (1 + level) / 2),
    level,
    n,
    resamples,
  };
}

/** Quantile `q` in [0, 1] of ascending `sorted` values, interpolating linearly (type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new RangeError("quantileSorted: no values");
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantileSorted: q must be in [0, 1], got ${q}`);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Indices `0 = i_0 < ... < i_{m-1} = n - 1` spread evenly over `n` points with `m <= maxPoints`;
 * all indices when `n <= maxPoints`. Plots use them; statistics use the full data.
 */
export function downsampleIndices(n: number, maxPoints: number): number[] {
  if (!(Number.isInteger(maxPoints) && maxPoints >= 2)) {
    throw new RangeError(`downsampleIndices: maxPoints must be an integer >= 2, got ${maxPoints}`);
  }
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let j = 0; j < maxPoints; j++) out.push(Math.round((j * (n - 1)) / (maxPoints - 1)));
  return out;
}
