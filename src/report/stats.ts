/**
 * The statistics behind a report, as pure functions over plain number arrays:
 *
 * - curves: the thesis authors' bias-corrected exponential moving average, the area under a
 *   curve (learning pace) and the first epoch at which a held-out error reaches a target
 *   (time-to-target);
 * - summaries: mean, sample standard deviation, quantiles, the interquartile mean with a
 *   bootstrap interval (rliable);
 * - paired inference over seeds: the paired Student t-interval and test (stdlib-js), the exact
 *   sign-flip permutation p-value, one-sided and equivalence (TOST) tests against a margin, the
 *   probability of improvement, and Holm–Bonferroni adjusted p-values.
 *
 * @module
 */

import tCdf from "@stdlib/stats-base-dists-t-cdf";
import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import ttest from "@stdlib/stats-ttest";
import { Rng } from "../rng.ts";

/** The thesis's smoothing coefficient for training curves (figures 7.1-7.14). */
export const EMA_COEFFICIENT = 0.99;

/**
 * Bias-corrected exponential moving average, as the thesis authors' plotting code computes it:
 * `e_t = Σ_{j<=t} c^(t-j) x_j / Σ_{j<=t} c^(t-j)`, a weighted mean of every value so far in
 * which the weights decay by `c` per step. Unlike `e_0 = x_0` it gives the first value no
 * lasting weight: after `t` steps it weighs `c^t / Σ c^j`, not `c^t`. A non-finite input value
 * (a diverged step) makes every later value `NaN`.
 *
 * @param values per-step values
 * @param coefficient the weight of the past, in `[0, 1)`; default 0.99
 */
export function ema(values: readonly number[], coefficient = EMA_COEFFICIENT): number[] {
  if (!(coefficient >= 0 && coefficient < 1)) {
    throw new RangeError(`ema: coefficient must be in [0, 1), got ${coefficient}`);
  }
  const out = new Array<number>(values.length);
  let num = 0;
  let den = 0;
  let poisoned = false;
  for (let i = 0; i < values.length; i++) {
    num = coefficient * num + values[i];
    den = coefficient * den + 1;
    if (!Number.isFinite(num)) poisoned = true;
    out[i] = poisoned ? NaN : num / den;
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

/** When a run first reached a target: its epoch (1-based), training steps and seconds. */
export interface TimeToTarget {
  epoch: number;
  steps: number;
  seconds: number;
}

/**
 * Time-to-target (AlgoPerf): the first epoch `e` whose held-out error `valError[e-1]` is at
 * or below `target`, the training steps until then (`e * stepsPerEpoch`) and the seconds
 * (`epochSeconds[0] + ... + epochSeconds[e-1]`, training and evaluation). Null when the run
 * never reaches the target. Held-out error is measured once per epoch, so this is resolved to
 * epochs.
 */
export function timeToTarget(
  valError: readonly number[],
  epochSeconds: readonly number[],
  stepsPerEpoch: number,
  target: number,
): TimeToTarget | null {
  if (!Number.isFinite(target)) {
    throw new RangeError(`timeToTarget: target must be finite, got ${target}`);
  }
  let seconds = 0;
  for (let e = 0; e < valError.length; e++) {
    seconds += epochSeconds[e] ?? NaN;
    if (valError[e] <= target) return { epoch: e + 1, steps: (e + 1) * stepsPerEpoch, seconds };
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

/** Quantile `q` in [0, 1] of ascending `sorted` values, interpolating linearly (type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new RangeError("quantileSorted: no values");
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantileSorted: q must be in [0, 1], got ${q}`);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function checkFinite(values: readonly number[], what: string): void {
  if (values.length === 0) throw new RangeError(`${what}: no values`);
  if (!values.every(Number.isFinite)) {
    throw new RangeError(`${what}: values must be finite, got [${values}]`);
  }
}

/**
 * Interquartile mean, as rliable and `scipy.stats.trim_mean(x, 0.25)` compute it: sort, drop
 * `floor(n / 4)` values from each end, average the rest.
 */
export function interquartileMean(values: readonly number[]): number {
  checkFinite(values, "interquartileMean");
  const s = [...values].sort((a, b) => a - b);
  const cut = Math.floor(s.length / 4);
  return mean(s.slice(cut, s.length - cut));
}

/** A point estimate with a two-sided interval. */
export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
  n: number;
}

/** Stream of the bootstrap generator (distinct from the training streams in `rng.ts`). */
const BOOTSTRAP_STREAM = 0xb0075;

/**
 * Percentile bootstrap interval of the interquartile mean of one variant's runs, as rliable's
 * stratified bootstrap does it (one task, so the runs are the only stratum): resample the runs
 * with replacement `resamples` times, take each resample's IQM, and return the `(1 - level)/2`
 * and `(1 + level)/2` quantiles. Deterministic for a given seed.
 */
export function bootstrapIqmInterval(
  values: readonly number[],
  opts: { resamples?: number; level?: number; seed?: number } = {},
): Interval {
  checkFinite(values, "bootstrapIqmInterval");
  const resamples = opts.resamples ?? 10000;
  const level = opts.level ?? 0.95;
  if (!(Number.isInteger(resamples) && resamples >= 1)) {
    throw new RangeError(`bootstrapIqmInterval: resamples must be a positive integer`);
  }
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`bootstrapIqmInterval: level must be in (0, 1), got ${level}`);
  }
  const n = values.length;
  const rng = new Rng(opts.seed ?? 0, BOOTSTRAP_STREAM);
  const stats = new Float64Array(resamples);
  const sample = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) sample[i] = values[rng.int(n)];
    stats[r] = interquartileMean(sample);
  }
  stats.sort();
  return {
    estimate: interquartileMean(values),
    lo: quantileSorted(stats, (1 - level) / 2),
    hi: quantileSorted(stats, (1 + level) / 2),
    level,
    n,
  };
}

/** The paired Student t analysis of per-seed differences. */
export interface PairedT {
  /** Number of paired differences. */
  n: number;
  /** Degrees of freedom, `n - 1`. */
  df: number;
  /** Mean difference. */
  mean: number;
  /** Sample standard deviation of the differences. */
  sd: number;
  /** Standard error `sd / sqrt(n)`. */
  se: number;
  /** `t = mean / se` (±Infinity when every difference is the same non-zero value). */
  t: number;
  /** Two-sided p-value of `H0: mean difference = 0`. */
  p: number;
  /** `mean ± t_{(1+level)/2, n-1} · se`. */
  lo: number;
  hi: number;
  level: number;
}

/**
 * Paired Student t-interval and two-sided test of the mean of per-seed differences `d`
 * (df = n − 1), through stdlib-js's `ttest`. Needs at least two differences. When every
 * difference is equal (sd = 0) the interval is that value and p is 0 (or 1 when it is 0).
 */
export function pairedT(d: readonly number[], level = 0.95): PairedT {
  checkFinite(d, "pairedT");
  if (d.length < 2) throw new RangeError(`pairedT: needs at least 2 differences, got ${d.length}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`pairedT: level must be in (0, 1)`);
  const n = d.length;
  const m = mean(d);
  const sd = sampleSd(d);
  const se = sd / Math.sqrt(n);
  if (se === 0) {
    return {
      n,
      df: n - 1,
      mean: m,
      sd,
      se,
      t: m === 0 ? 0 : m * Infinity,
      p: m === 0 ? 1 : 0,
      lo: m,
      hi: m,
      level,
    };
  }
  const r = ttest(d as number[], { alpha: 1 - level });
  const q = tQuantile((1 + level) / 2, n - 1);
  return {
    n,
    df: n - 1,
    mean: m,
    sd,
    se,
    t: r.statistic,
    p: r.pValue,
    lo: m - q * se,
    hi: m + q * se,
    level,
  };
}

/**
 * One-sided p-value of `H0: mean ≤ mu` against `H1: mean > mu` (`greater`) or of
 * `H0: mean ≥ mu` against `H1: mean < mu` (`less`), from a {@link PairedT}.
 */
export function oneSidedP(t: PairedT, mu: number, alternative: "greater" | "less"): number {
  if (t.se === 0) {
    const holds = alternative === "greater" ? t.mean > mu : t.mean < mu;
    return holds ? 0 : 1;
  }
  const stat = (t.mean - mu) / t.se;
  return alternative === "greater" ? 1 - tCdf(stat, t.df) : tCdf(stat, t.df);
}

/**
 * Two one-sided tests (TOST) of equivalence within `±margin`: the p-value of
 * `H0: |mean| ≥ margin` is the larger of the one-sided p-values of `mean > -margin` and
 * `mean < margin`. Small p: the difference is shown to lie inside the margin.
 */
export function equivalenceP(t: PairedT, margin: number): number {
  if (!(margin > 0)) throw new RangeError(`equivalenceP: margin must be > 0, got ${margin}`);
  return Math.max(oneSidedP(t, -margin, "greater"), oneSidedP(t, margin, "less"));
}

/** Largest n for which {@link signFlipP} enumerates all 2^n sign patterns. */
export const SIGN_FLIP_MAX_N = 12;

/**
 * Exact two-sided sign-flip permutation p-value of paired differences `d`: under `H0` (the
 * difference is symmetric about 0) every one of the 2^n sign patterns is equally likely; the
 * p-value is the share of patterns whose `|Σ ± d_i|` is at least the observed `|Σ d_i|`. With
 * n values the smallest possible p is `2 / 2^n` (0.0625 at n = 5). Null for n > 12.
 */
export function signFlipP(d: readonly number[]): number | null {
  checkFinite(d, "signFlipP");
  const n = d.length;
  if (n > SIGN_FLIP_MAX_N) return null;
  const observed = Math.abs(d.reduce((a, b) => a + b, 0));
  const tol = 1e-12 * d.reduce((a, b) => a + Math.abs(b), 0);
  let count = 0;
  const total = 2 ** n;
  for (let mask = 0; mask < total; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += mask & (1 << i) ? -d[i] : d[i];
    if (Math.abs(s) >= observed - tol) count++;
  }
  return count / total;
}

/**
 * Holm–Bonferroni adjusted p-values, in the input's order: with the p-values sorted ascending
 * `p_(1) ≤ … ≤ p_(m)`, `adj_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j))`. Rejecting every
 * hypothesis with `adj < α` controls the family-wise error rate at `α`.
 */
export function holm(p: readonly number[]): number[] {
  const m = p.length;
  for (const x of p) {
    if (!(x >= 0 && x <= 1)) throw new RangeError(`holm: p-values must be in [0, 1], got ${x}`);
  }
  const order = p.map((_, i) => i).sort((a, b) => p[a] - p[b] || a - b);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach((idx, j) => {
    running = Math.max(running, Math.min(1, (m - j) * p[idx]));
    out[idx] = running;
  });
  return out;
}

/**
 * Probability of improvement over paired seeds: the share of seeds on which `better(d_i)`
 * holds for the difference `d_i` (variant − reference), ties (`d_i = 0`) counting one half.
 * With `lowerIsBetter`, a negative difference is an improvement.
 */
export function probabilityOfImprovement(d: readonly number[], lowerIsBetter = true): number {
  checkFinite(d, "probabilityOfImprovement");
  let s = 0;
  for (const x of d) s += x === 0 ? 0.5 : (lowerIsBetter ? x < 0 : x > 0) ? 1 : 0;
  return s / d.length;
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
