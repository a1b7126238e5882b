/**
 * From run records to what a report shows: per-variant curves (mean over runs with a min-max
 * band), the summary table, learning pace and the paired comparison with `plain` over shared
 * seeds. Statistics use every step; only the curves handed to the page are downsampled.
 *
 * @module
 */

import type { ExperimentManifest, RunConfig, RunRecord } from "../experiment/record.ts";
import {
  areaUnderCurve,
  type BootstrapInterval,
  bootstrapMeanInterval,
  downsampleIndices,
  ema,
  mean,
  stepsToThreshold,
  summarize,
  type Summary,
} from "./stats.ts";

/** A curve as plotted: x values with one y value each (`NaN` where there is no value). */
export interface Series {
  x: number[];
  y: number[];
}

/** The mean over runs of a curve, with the minimum and maximum over runs at each x. */
export interface Band {
  x: number[];
  mean: number[];
  min: number[];
  max: number[];
  /** Number of runs averaged. */
  runs: number;
}

/** One run's numbers, as the summary and drill-down show them. */
export interface RunSummary {
  /** Record file, relative to the experiment folder. */
  file: string;
  run: number;
  seed: number;
  lr: number;
  /** Step at which the loss became non-finite, or null. */
  divergedAtStep: number | null;
  steps: number;
  epochs: number;
  finalValError: number;
  bestValError: number;
  /** 1-based epoch of the lowest validation error. */
  bestEpoch: number;
  finalValLoss: number;
  /** Area under the EMA training-error curve (trapezoid, unit step spacing). */
  pace: number;
  /** Steps until the EMA training error first reaches the threshold, or null. */
  stepsToThreshold: number | null;
  wallSeconds: number;
  parameters: number;
  backend: string;
  device: string;
}

/** One run's curves for the drill-down (downsampled). */
export interface RunCurves {
  run: number;
  seed: number;
  diverged: boolean;
  trainError: Series;
  trainLoss: Series;
  valError: Series;
  valLoss: Series;
}

/** Everything the report shows about one variant. */
export interface VariantAnalysis {
  name: string;
  /** Sharing family: baseline, elementwise, channelwise, layerwise, bias learning rate, other. */
  family: string;
  color: string;
  /** The learning rate analysed (the manifest's choice), or null when no run exists. */
  lr: number | null;
  /** Runs per variant the sweep plans. */
  planned: number;
  /** Runs at `lr` found. */
  finished: number;
  /** Runs at other learning rates (a learning-rate search), not analysed. */
  otherLrRuns: number;
  runs: RunSummary[];
  /** Statistics over runs that did not diverge. */
  finalValError: Summary;
  bestValError: Summary;
  finalValLoss: Summary;
  pace: Summary;
  /** Over the runs that reached the threshold. */
  stepsToThreshold: Summary;
  /** How many non-diverged runs reached the threshold. */
  reachedThreshold: number;
  wallSeconds: Summary;
  /** 1-based epoch of the lowest mean validation error, or null. */
  bestEpochOfMean: number | null;
  /** Curves over non-diverged runs; null when none. */
  curves: {
    trainError: Band;
    trainLoss: Band;
    valError: Band;
    valLoss: Band;
  } | null;
  runCurves: RunCurves[];
}

/** Verdict of a paired comparison. */
export type Verdict =
  | "faster"
  | "slower"
  | "better"
  | "worse"
  | "no clear difference"
  | "too few seeds";

/** A variant against `plain` over the seeds both finished without diverging. */
export interface Comparison {
  variant: string;
  /** Seeds used (both runs finished, neither diverged). */
  seeds: number[];
  /** Seeds of plain that this variant lacks or on which one of the two diverged. */
  droppedSeeds: number[];
  /** variant − plain of the EMA-area learning pace (negative: faster). */
  pace: BootstrapInterval | null;
  paceVerdict: Verdict;
  /** variant − plain of the steps to the threshold, over seeds where both reached it. */
  stepsToThreshold: BootstrapInterval | null;
  /** variant − plain of the final validation error (negative: better). */
  finalValError: BootstrapInterval | null;
  valVerdict: Verdict;
}

/** A grouped view: the baselines against one family (thesis figures 7.2-7.4). */
export interface Group {
  id: string;
  title: string;
  variants: string[];
}

/** The whole analysis of an experiment folder, as embedded in its page. */
export interface ExperimentAnalysis {
  manifest: ExperimentManifest;
  /** True when fewer runs are finished than planned. */
  partial: boolean;
  finishedRuns: number;
  plannedRuns: number;
  threshold: number | null;
  /** How the threshold was chosen, in words. */
  thresholdSource: string;
  variants: VariantAnalysis[];
  /** Null when there is no `plain` variant with finished runs. */
  comparisons: Comparison[] | null;
  groups: Group[];
  best: { variant: string; finalValError: number } | null;
  stepsPerEpoch: number | null;
  provenance: {
    backends: string[];
    devices: string[];
    libraries: string[];
    commits: string[];
    denos: string[];
    hostnames: string[];
    firstStart: string | null;
    lastStart: string | null;
  };
  /** The configuration of the first record (what every run shares), or null without records. */
  firstConfig: RunConfig | null;
  /** Caveats found while analysing (e.g. runs with different step counts). */
  notes: string[];
}

/** Options of {@link analyzeExperiment}. */
export interface AnalysisOptions {
  /** EMA training-error threshold for steps-to-threshold; default: see {@link defaultThreshold}. */
  threshold?: number;
  /** Maximum points of a plotted mean curve; default 1500. */
  maxPoints?: number;
  /** Maximum points of a plotted per-run curve; default 400. */
  maxRunPoints?: number;
  /** Bootstrap resamples; default 10000. */
  resamples?: number;
}

const FIXED_COLORS: Record<string, string> = {
  plain: "#111111",
  bn: "#8c8c8c",
  sh: "#1f77b4",
  sc: "#6baed6",
  sh_sc: "#08306b",
  psc: "#9ecae1",
  csh: "#2ca02c",
  csc: "#74c476",
  csh_csc: "#00441b",
  cpsc: "#a1d99b",
  lsh: "#d62728",
  lsc: "#fc9272",
  lsh_lsc: "#67000d",
  lpsc: "#fcbba1",
};
const PALETTE = [
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#bcbd22",
  "#17becf",
  "#ff7f0e",
  "#7b4173",
  "#637939",
  "#843c39",
  "#3182bd",
];

/** The sharing family of a variant name (SPEC §1 abbreviations). */
export function variantFamily(name: string): string {
  if (name === "plain" || name === "bn") return "baseline";
  if (/^biased\d+$/.test(name)) return "bias learning rate";
  if (/^(lsh|lsc|lsh_lsc|lpsc)$/.test(name)) return "layerwise";
  if (/^(csh\d*|csc|csh_csc|cpsc)$/.test(name)) return "channelwise";
  if (/^(sh\d*|sc|sh_sc|psc)$/.test(name)) return "elementwise";
  return "other";
}

const GROUP_ORDER = ["elementwise", "channelwise", "layerwise", "bias learning rate", "other"];

function colorsFor(names: string[]): Map<string, string> {
  const out = new Map<string, string>();
  let k = 0;
  for (const n of names) out.set(n, FIXED_COLORS[n] ?? PALETTE[k++ % PALETTE.length]);
  return out;
}

function sameRate(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

function argminFinite(values: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i]) && (best < 0 || values[i] < values[best])) best = i;
  }
  return best;
}

function sample(values: readonly number[], idx: readonly number[]): number[] {
  return idx.map((i) => values[i]);
}

function bandOf(curves: number[][], xOf: (i: number) => number, maxPoints: number): Band {
  const len = Math.min(...curves.map((c) => c.length));
  const idx = downsampleIndices(len, maxPoints);
  const m: number[] = [], lo: number[] = [], hi: number[] = [];
  for (const i of idx) {
    const col = curves.map((c) => c[i]);
    if (col.every(Number.isFinite)) {
      m.push(mean(col));
      lo.push(Math.min(...col));
      hi.push(Math.max(...col));
    } else {
      m.push(NaN);
      lo.push(NaN);
      hi.push(NaN);
    }
  }
  return { x: idx.map(xOf), mean: m, min: lo, max: hi, runs: curves.length };
}

interface Prepared {
  rec: RunRecord;
  file: string;
  emaError: number[];
  emaLoss: number[];
  diverged: boolean;
}

/**
 * Default threshold for steps-to-threshold: the value that `plain`'s mean EMA training-error
 * curve has halfway through training (so plain needs about half the steps and faster variants
 * fewer); without plain, the median of that midpoint value over the variants.
 */
export function defaultThreshold(
  meanCurves: { name: string; curve: readonly number[] }[],
): { threshold: number | null; source: string } {
  const mid = (c: readonly number[]) => c[Math.floor((c.length - 1) / 2)];
  const plain = meanCurves.find((m) => m.name === "plain");
  if (plain && Number.isFinite(mid(plain.curve))) {
    return {
      threshold: mid(plain.curve),
      source: "plain's mean EMA training error halfway through training",
    };
  }
  const mids = meanCurves.map((m) => mid(m.curve)).filter(Number.isFinite).sort((a, b) => a - b);
  if (mids.length === 0) return { threshold: null, source: "no finished run to derive it from" };
  const k = Math.floor((mids.length - 1) / 2);
  const med = mids.length % 2 ? mids[k] : (mids[k] + mids[k + 1]) / 2;
  return {
    threshold: med,
    source:
      "median over variants of the mean EMA training error halfway through training (no plain)",
  };
}

/**
 * Fewest paired seeds for a verdict: with two seeds the percentile bootstrap interval is just
 * the range of the two differences, which says too little.
 */
export const MIN_SEEDS_FOR_VERDICT = 3;

function verdict(ci: BootstrapInterval | null, lower: Verdict, higher: Verdict): Verdict {
  if (!ci || ci.n < MIN_SEEDS_FOR_VERDICT) return "too few seeds";
  if (ci.hi < 0) return lower;
  if (ci.lo > 0) return higher;
  return "no clear difference";
}

function distinct(values: (string | null)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== null))].sort();
}

/**
 * Analyses an experiment's records. `files` (parallel to `records`) only labels the runs.
 * Records at a learning rate other than the manifest's choice for their variant count as
 * learning-rate search runs and are not analysed.
 */
export function analyzeExperiment(
  manifest: ExperimentManifest,
  records: readonly RunRecord[],
  files: readonly string[] = [],
  opts: AnalysisOptions = {},
): ExperimentAnalysis {
  const maxPoints = opts.maxPoints ?? 1500;
  const maxRunPoints = opts.maxRunPoints ?? 400;
  if (opts.threshold !== undefined && !Number.isFinite(opts.threshold)) {
    throw new RangeError(`threshold must be a finite number, got ${opts.threshold}`);
  }
  const names = [...manifest.variants];
  for (const r of records) if (!names.includes(r.config.variant)) names.push(r.config.variant);
  const colors = colorsFor(names);

  // Pick each variant's analysed learning rate and prepare its runs.
  const prepared = new Map<string, Prepared[]>();
  const chosenLr = new Map<string, number | null>();
  const otherLr = new Map<string, number>();
  for (const name of names) {
    const mine = records.map((rec, i) => ({
      rec,
      file: files[i] ?? `${name} run ${rec.config.run}`,
    }))
      .filter((p) => p.rec.config.variant === name);
    let lr: number | null = manifest.learningRates[name] ?? null;
    if (lr === null && mine.length > 0) {
      const counts = new Map<number, number>();
      for (const p of mine) counts.set(p.rec.config.lr, (counts.get(p.rec.config.lr) ?? 0) + 1);
      lr = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
    }
    const atLr = lr === null ? [] : mine.filter((p) => sameRate(p.rec.config.lr, lr!));
    chosenLr.set(name, atLr.length > 0 || manifest.learningRates[name] !== undefined ? lr : null);
    otherLr.set(name, mine.length - atLr.length);
    prepared.set(
      name,
      atLr.map(({ rec, file }) => ({
        rec,
        file,
        emaError: ema(rec.trainError),
        emaLoss: ema(rec.trainLoss),
        diverged: rec.divergedAtStep !== null || !rec.trainLoss.every(Number.isFinite),
      })).sort((a, b) => a.rec.config.run - b.rec.config.run),
    );
  }

  // Threshold from the mean EMA training-error curves.
  let threshold: number | null = opts.threshold ?? null;
  let thresholdSource = "given";
  if (opts.threshold === undefined) {
    const meanCurves = names.flatMap((name) => {
      const ok = prepared.get(name)!.filter((p) => !p.diverged);
      if (ok.length === 0) return [];
      const len = Math.min(...ok.map((p) => p.emaError.length));
      const curve = Array.from({ length: len }, (_, i) => mean(ok.map((p) => p.emaError[i])));
      return [{ name, curve }];
    });
    ({ threshold, source: thresholdSource } = defaultThreshold(meanCurves));
  }

  const variants: VariantAnalysis[] = names.map((name) => {
    const preps = prepared.get(name)!;
    const runs: RunSummary[] = preps.map(({ rec, file, emaError, diverged }) => {
      const best = argminFinite(rec.valError);
      return {
        file,
        run: rec.config.run,
        seed: rec.config.seed,
        lr: rec.config.lr,
        divergedAtStep: diverged
          ? (rec.divergedAtStep ?? rec.trainLoss.findIndex((v) => !Number.isFinite(v)))
          : null,
        steps: rec.trainError.length,
        epochs: rec.valError.length,
        finalValError: rec.valError.length ? rec.valError[rec.valError.length - 1] : NaN,
        bestValError: best >= 0 ? rec.valError[best] : NaN,
        bestEpoch: best + 1,
        finalValLoss: rec.valLoss.length ? rec.valLoss[rec.valLoss.length - 1] : NaN,
        pace: areaUnderCurve(emaError),
        stepsToThreshold: threshold === null ? null : stepsToThreshold(emaError, threshold),
        wallSeconds: rec.wallSeconds,
        parameters: rec.parameters,
        backend: rec.provenance.backend,
        device: rec.provenance.device,
      };
    });
    const okIdx = runs.map((r, i) => (r.divergedAtStep === null ? i : -1)).filter((i) => i >= 0);
    const ok = okIdx.map((i) => runs[i]);
    const okPrep = okIdx.map((i) => preps[i]);
    const reached = ok.filter((r) => r.stepsToThreshold !== null);
    let curves: VariantAnalysis["curves"] = null;
    let bestEpochOfMean: number | null = null;
    if (okPrep.length > 0) {
      const step = (i: number) => i + 1;
      curves = {
        trainError: bandOf(okPrep.map((p) => p.emaError), step, maxPoints),
        trainLoss: bandOf(okPrep.map((p) => p.emaLoss), step, maxPoints),
        valError: bandOf(okPrep.map((p) => p.rec.valError), step, maxPoints),
        valLoss: bandOf(okPrep.map((p) => p.rec.valLoss), step, maxPoints),
      };
      const b = argminFinite(curves.valError.mean);
      bestEpochOfMean = b >= 0 ? curves.valError.x[b] : null;
    }
    const runCurves: RunCurves[] = preps.map((p) => {
      const idx = downsampleIndices(p.emaError.length, maxRunPoints);
      const epochs = p.rec.valError.map((_, i) => i + 1);
      return {
        run: p.rec.config.run,
        seed: p.rec.config.seed,
        diverged: p.diverged,
        trainError: { x: idx.map((i) => i + 1), y: sample(p.emaError, idx) },
        trainLoss: { x: idx.map((i) => i + 1), y: sample(p.emaLoss, idx) },
        valError: { x: epochs, y: p.rec.valError },
        valLoss: { x: epochs, y: p.rec.valLoss },
      };
    });
    return {
      name,
      family: variantFamily(name),
      color: colors.get(name)!,
      lr: chosenLr.get(name) ?? null,
      planned: manifest.runs,
      finished: runs.length,
      otherLrRuns: otherLr.get(name) ?? 0,
      runs,
      finalValError: summarize(ok.map((r) => r.finalValError).filter(Number.isFinite)),
      bestValError: summarize(ok.map((r) => r.bestValError).filter(Number.isFinite)),
      finalValLoss: summarize(ok.map((r) => r.finalValLoss).filter(Number.isFinite)),
      pace: summarize(ok.map((r) => r.pace).filter(Number.isFinite)),
      stepsToThreshold: summarize(reached.map((r) => r.stepsToThreshold!)),
      reachedThreshold: reached.length,
      wallSeconds: summarize(runs.map((r) => r.wallSeconds)),
      bestEpochOfMean,
      curves,
      runCurves,
    };
  });

  const notes: string[] = [];
  const comparisons = comparePaired(variants, opts.resamples ?? 10000, notes);

  const groups: Group[] = [];
  const baselines = names.filter((n) => variantFamily(n) === "baseline");
  for (const fam of GROUP_ORDER) {
    const members = names.filter((n) => variantFamily(n) === fam);
    if (members.length === 0) continue;
    groups.push({
      id: fam.replace(/\s+/g, "-"),
      title: baselines.length ? `${baselines.join(" and ")} against ${fam}` : fam,
      variants: [...baselines, ...members],
    });
  }

  const withVal = variants.filter((v) => Number.isFinite(v.finalValError.mean));
  const bestV = withVal.length
    ? withVal.reduce((a, b) => (b.finalValError.mean < a.finalValError.mean ? b : a))
    : null;
  const finishedRuns = records.length;
  const plannedRuns = Math.max(manifest.plannedRuns, finishedRuns);
  const perVariantShort = variants.some((v) => v.finished < manifest.runs);
  const spe = records.length ? records[0].stepsPerEpoch : null;
  const starts = records.map((r) => r.provenance.startedAt).sort();
  return {
    manifest,
    partial: finishedRuns < manifest.plannedRuns || perVariantShort,
    finishedRuns,
    plannedRuns,
    threshold,
    thresholdSource,
    variants,
    comparisons,
    groups,
    best: bestV ? { variant: bestV.name, finalValError: bestV.finalValError.mean } : null,
    stepsPerEpoch: spe,
    provenance: {
      backends: distinct(records.map((r) => r.provenance.backend)),
      devices: distinct(records.map((r) => r.provenance.device)),
      libraries: distinct(records.map((r) => r.provenance.library)),
      commits: distinct(records.map((r) => r.provenance.commit)),
      denos: distinct(records.map((r) => r.provenance.deno)),
      hostnames: distinct(records.map((r) => r.provenance.hostname)),
      firstStart: starts[0] ?? null,
      lastStart: starts[starts.length - 1] ?? null,
    },
    firstConfig: records.length ? records[0].config : null,
    notes,
  };
}

/**
 * Paired comparison of every variant with `plain`: for each seed where both finished without
 * diverging, the difference variant − plain of pace, steps to threshold and final validation
 * error; a bootstrap 95% interval of the mean difference over seeds. Null without plain runs.
 */
export function comparePaired(
  variants: readonly VariantAnalysis[],
  resamples: number,
  notes: string[] = [],
): Comparison[] | null {
  const plain = variants.find((v) => v.name === "plain");
  if (!plain || plain.runs.length === 0) return null;
  const plainBySeed = new Map(plain.runs.map((r) => [r.seed, r]));
  const out: Comparison[] = [];
  for (const v of variants) {
    if (v.name === "plain") continue;
    const seeds: number[] = [];
    const dropped: number[] = [];
    const dPace: number[] = [], dVal: number[] = [], dSteps: number[] = [];
    let stepMismatch = false;
    for (const [seed, p] of plainBySeed) {
      const r = v.runs.find((x) => x.seed === seed);
      if (!r || r.divergedAtStep !== null || p.divergedAtStep !== null) {
        dropped.push(seed);
        continue;
      }
      seeds.push(seed);
      if (r.steps === p.steps) dPace.push(r.pace - p.pace);
      else stepMismatch = true;
      dVal.push(r.finalValError - p.finalValError);
      if (r.stepsToThreshold !== null && p.stepsToThreshold !== null) {
        dSteps.push(r.stepsToThreshold - p.stepsToThreshold);
      }
    }
    if (stepMismatch) {
      notes.push(
        `${v.name}: some runs have a different number of steps than plain; pace not compared`,
      );
    }
    const ci = (d: number[]) =>
      d.length && d.every(Number.isFinite)
        ? bootstrapMeanInterval(d, { resamples, seed: 0 })
        : null;
    const pace = stepMismatch ? null : ci(dPace);
    const finalValError = ci(dVal);
    out.push({
      variant: v.name,
      seeds: seeds.sort((a, b) => a - b),
      droppedSeeds: dropped.sort((a, b) => a - b),
      pace,
      paceVerdict: verdict(pace, "faster", "slower"),
      stepsToThreshold: ci(dSteps),
      finalValError,
      valVerdict: verdict(finalValError, "better", "worse"),
    });
  }
  return out;
}
