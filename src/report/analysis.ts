/**
 * From run records to what a report shows: per-group curves (a group is one variant at one
 * learning rate; mean over runs with a min-max band), the summary table, learning pace and
 * time-to-target, the paired comparisons with `plain` and `bn`, the learning-rate sensitivity,
 * and the findings (the thesis's claims with verdicts). Every verdict on a page comes from one
 * {@link TestFamily} with Holm–Bonferroni correction. Statistics use every step; only the curves
 * handed to the page are downsampled.
 *
 * @module
 */

import type { ExperimentManifest, RunConfig, RunRecord } from "../experiment/record.ts";
import { evaluateFindings, type Finding, planFindings } from "./findings.ts";
import { parseVariant, type VariantSpec } from "../variant_grammar.ts";
import {
  FAMILY_ALPHA,
  MIN_SEEDS_FOR_VERDICT,
  oriented,
  type OrientedDifference,
  type SeedValues,
  TestFamily,
} from "./inference.ts";
import {
  areaUnderCurve,
  bootstrapIqmInterval,
  downsampleIndices,
  ema,
  type Interval,
  mean,
  pairedT,
  summarize,
  type Summary,
  type TimeToTarget,
  timeToTarget,
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
  /** Test error and cross-entropy, read once after the last epoch (null when not measured). */
  testError: number | null;
  testLoss: number | null;
  /** Area under the bias-corrected EMA training-error curve (trapezoid, unit step spacing). */
  pace: number;
  /** When the validation error first reached the page's target, or null. */
  timeToTarget: TimeToTarget | null;
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

/** Everything the report shows about one group: a variant at one learning rate. */
export interface GroupAnalysis {
  /** Unique label: the variant's name, or `variant @ lr` when the variant has several rates. */
  name: string;
  variant: string;
  lr: number;
  /** Sharing family: baseline, elementwise, channelwise, layerwise, bias learning rate, other. */
  family: string;
  color: string;
  /**
   * Whether this is the variant's analysed rate (its only rate, or its lowest mean final
   * validation error); comparisons and findings use chosen groups only.
   */
  chosen: boolean;
  /** Runs the sweep plans for this group. */
  planned: number;
  /** Runs found. */
  finished: number;
  runs: RunSummary[];
  /** Statistics over runs that did not diverge. */
  finalValError: Summary;
  bestValError: Summary;
  finalValLoss: Summary;
  testError: Summary;
  pace: Summary;
  /** Over the runs that reached the target. */
  timeToTargetSteps: Summary;
  timeToTargetSeconds: Summary;
  /** How many non-diverged runs reached the target. */
  reachedTarget: number;
  wallSeconds: Summary;
  /** 1-based epoch of the lowest mean validation error, or null. */
  bestEpochOfMean: number | null;
  /** Interquartile mean of the final validation error with a bootstrap interval (n ≥ 10). */
  iqm: Interval | null;
  /** Curves over non-diverged runs; null when none. */
  curves: {
    trainError: Band;
    trainLoss: Band;
    valError: Band;
    valLoss: Band;
  } | null;
  runCurves: RunCurves[];
}

/** A paired difference shown without a verdict (the test set is never used to decide). */
export interface DescriptiveDifference {
  n: number;
  mean: number;
  lo: number | null;
  hi: number | null;
}

/** One row of a comparison table: a group against the reference. */
export interface ComparisonRow {
  group: string;
  variant: string;
  /** Paired difference group − reference on pace, with verdict; null without paired seeds. */
  pace: OrientedDifference | null;
  /** Why pace is not compared, when it is not (e.g. runs of different length). */
  paceNote: string | null;
  finalValError: OrientedDifference | null;
  /** Δ test error (no verdict). */
  testError: DescriptiveDifference | null;
  /** Δ steps to the target, over seeds on which both reached it (no verdict). */
  timeToTargetSteps: DescriptiveDifference | null;
  /** Seeds of either side that could not be paired (missing or diverged). */
  droppedSeeds: number[];
}

/** Every chosen group against one reference variant. */
export interface ComparisonTable {
  reference: string;
  rows: ComparisonRow[];
}

/** Validation error against learning rate for one variant. */
export interface SensitivityCurve {
  variant: string;
  color: string;
  /** Search trials and sweep groups; `runs` runs averaged. */
  points: { lr: number; valError: number; source: "search" | "sweep"; runs: number }[];
  /** The rate the variant was trained (or analysed) at. */
  chosenLr: number | null;
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
  /** Where validation happened (`holdout` split or, as the thesis, `test`) and its size. */
  validation: { source: "holdout" | "test"; size: number | null };
  /** Whether any run has a separate test measurement. */
  hasTest: boolean;
  /** Validation-error target of time-to-target, and how it was chosen. */
  target: number | null;
  targetSource: string;
  groups: GroupAnalysis[];
  /** Comparison tables, against plain and against bn (those run). */
  comparisons: ComparisonTable[];
  findings: Finding[];
  /** Size of the page's corrected family and its family-wise error rate. */
  family: { size: number; alpha: number; minSeeds: number };
  sensitivity: SensitivityCurve[];
  views: Group[];
  /** Lowest mean final validation error among the chosen groups. */
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
  /** Caveats found while analysing (e.g. runs with different step counts, unplanned records). */
  notes: string[];
}

/** Options of {@link analyzeExperiment}. */
export interface AnalysisOptions {
  /** Validation-error target of time-to-target; default: see {@link defaultTarget}. */
  target?: number;
  /** Maximum points of a plotted mean curve; default 1500. */
  maxPoints?: number;
  /** Maximum points of a plotted per-run curve; default 400. */
  maxRunPoints?: number;
  /** Bootstrap resamples of the IQM interval; default 10000. */
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

/**
 * The family of a variant name, for the grouped views: `baseline` (plain, bn); the sharing level
 * of a pure shift/scale variant (`elementwise`, `channelwise`, `layerwise`, multipliers and
 * proportional scale included); `bias learning rate` (biasedK); and for the later methods
 * (SPEC §1b), by what sets them apart first: `residual gates`, `frozen` (only the affine
 * parameters train), `data-dependent initialisation`, `normalisation` (ln, gn, ws, or bn with
 * shift/scale); anything else (mixed sharing levels, names that do not parse) is `other`.
 */
export function variantFamily(name: string): string {
  let v: VariantSpec;
  try {
    v = parseVariant(name);
  } catch {
    return "other";
  }
  if (v.gate) return "residual gates";
  if (v.frozen) return "frozen";
  if (v.ddi) return "data-dependent initialisation";
  const layers = [v.shift, v.scale].filter((s) => s !== null);
  if (v.norm) {
    return v.norm === "bn" && layers.length === 0 && v.biasLrMult === 1
      ? "baseline"
      : "normalisation";
  }
  if (layers.length === 0) return v.biasLrMult === 1 ? "baseline" : "bias learning rate";
  return v.biasLrMult === 1 && new Set(layers).size === 1 ? layers[0]! : "other";
}

const VIEW_ORDER = [
  "elementwise",
  "channelwise",
  "layerwise",
  "bias learning rate",
  "normalisation",
  "data-dependent initialisation",
  "frozen",
  "residual gates",
  "other",
];

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
 * Default time-to-target target: the reference's final validation error, as AlgoPerf sets a
 * target from a baseline: the mean final validation error of `plain` (of `bn` without plain,
 * else of the first variant with finished runs).
 */
export function defaultTarget(
  finals: { variant: string; meanFinalValError: number }[],
): { target: number | null; source: string } {
  for (const ref of ["plain", "bn"]) {
    const f = finals.find((x) => x.variant === ref && Number.isFinite(x.meanFinalValError));
    if (f) return { target: f.meanFinalValError, source: `${ref}'s mean final validation error` };
  }
  const f = finals.find((x) => Number.isFinite(x.meanFinalValError));
  if (f) {
    return { target: f.meanFinalValError, source: `${f.variant}'s mean final validation error` };
  }
  return { target: null, source: "no finished run to derive it from" };
}

function distinct(values: (string | null)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== null))].sort();
}

function describe(d: number[]): DescriptiveDifference | null {
  if (d.length === 0) return null;
  if (d.length === 1) return { n: 1, mean: d[0], lo: null, hi: null };
  const t = pairedT(d);
  return { n: d.length, mean: t.mean, lo: t.lo, hi: t.hi };
}

function fmtRate(lr: number): string {
  return String(Number(lr.toPrecision(6)));
}

/** The rates the manifest plans for each variant (older manifests: one number per variant). */
function plannedRates(manifest: ExperimentManifest): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [v, r] of Object.entries(manifest.learningRates ?? {})) {
    out.set(v, Array.isArray(r) ? r : [r as unknown as number]);
  }
  return out;
}

/** The verdicts of one page: see {@link pageInference}. */
export interface PageInference {
  /** The page's one corrected family (finalised). */
  family: TestFamily;
  /** Against plain and against bn (those with values): every other variant on both metrics. */
  tables: {
    reference: string;
    rows: { variant: string; pace: OrientedDifference; finalValError: OrientedDifference }[];
  }[];
  findings: Finding[];
}

/**
 * Every verdict a page makes, from the per-seed values of each variant's analysed group: the
 * paired comparisons of every variant with `plain` and with `bn` on learning pace and final
 * validation error, and the findings; all in one Holm–Bonferroni family.
 */
export function pageInference(values: ReadonlyMap<string, readonly SeedValues[]>): PageInference {
  const family = new TestFamily(values);
  const variants = [...values.keys()];
  const planned = ["plain", "bn"].filter((r) => family.has(r)).map((reference) => ({
    reference,
    rows: variants.filter((v) => v !== reference).map((variant) => ({
      variant,
      pace: family.test("difference", variant, reference, "pace"),
      val: family.test("difference", variant, reference, "finalValError"),
    })),
  }));
  const plannedFindings = planFindings(family, values);
  family.finalize();
  return {
    family,
    tables: planned.map(({ reference, rows }) => ({
      reference,
      rows: rows.map(({ variant, pace, val }) => ({
        variant,
        pace: oriented(pace, variant),
        finalValError: oriented(val, variant),
      })),
    })),
    findings: evaluateFindings(plannedFindings),
  };
}

/**
 * Analyses an experiment's records. `files` (parallel to `records`) only labels the runs.
 * Records of a variant or rate that the manifest does not plan are listed in the notes and not
 * analysed.
 */
export function analyzeExperiment(
  manifest: ExperimentManifest,
  records: readonly RunRecord[],
  files: readonly string[] = [],
  opts: AnalysisOptions = {},
): ExperimentAnalysis {
  const maxPoints = opts.maxPoints ?? 1500;
  const maxRunPoints = opts.maxRunPoints ?? 400;
  if (opts.target !== undefined && !Number.isFinite(opts.target)) {
    throw new RangeError(`target must be a finite number, got ${opts.target}`);
  }
  const notes: string[] = [];
  const planned = plannedRates(manifest);
  const variantNames = [...manifest.variants];

  // ---- groups: every planned (variant, rate) ----
  const groupKeys: { variant: string; lr: number }[] = [];
  for (const v of variantNames) {
    const rates = planned.get(v) ?? [
      ...new Set(records.filter((r) => r.config.variant === v).map((r) => r.config.lr)),
    ];
    for (const lr of rates) groupKeys.push({ variant: v, lr });
  }
  const members = groupKeys.map(() => [] as Prepared[]);
  records.forEach((rec, i) => {
    const file = files[i] ?? `${rec.config.variant} run ${rec.config.run}`;
    const k = groupKeys.findIndex((g) =>
      g.variant === rec.config.variant && sameRate(g.lr, rec.config.lr)
    );
    if (k < 0) {
      notes.push(
        `${file}: ${rec.config.variant} at lr ${rec.config.lr} is not in this experiment's plan; ` +
          `not analysed`,
      );
      return;
    }
    members[k].push({
      rec,
      file,
      emaError: ema(rec.trainError),
      emaLoss: ema(rec.trainLoss),
      diverged: rec.divergedAtStep !== null || !rec.trainLoss.every(Number.isFinite),
    });
  });
  members.forEach((m) => m.sort((a, b) => a.rec.config.run - b.rec.config.run));
  const ratesOf = (v: string) => groupKeys.filter((g) => g.variant === v).length;
  const labelOf = (g: { variant: string; lr: number }) =>
    ratesOf(g.variant) > 1 ? `${g.variant} @ ${fmtRate(g.lr)}` : g.variant;

  const finalOf = (p: Prepared) => p.rec.valError.at(-1) ?? NaN;
  const okMembers = members.map((m) => m.filter((p) => !p.diverged));

  // ---- chosen rate per variant: lowest mean final validation error ----
  const chosenIdx = new Set<number>();
  for (const v of variantNames) {
    const idx = groupKeys.map((g, i) => (g.variant === v ? i : -1)).filter((i) => i >= 0);
    let best = idx[0];
    let bestErr = Infinity;
    for (const i of idx) {
      const m = mean(okMembers[i].map(finalOf).filter(Number.isFinite));
      if (m < bestErr) {
        bestErr = m;
        best = i;
      }
    }
    if (best !== undefined) chosenIdx.add(best);
  }

  // ---- time-to-target target ----
  let target: number | null = opts.target ?? null;
  let targetSource = "given";
  if (opts.target === undefined) {
    ({ target, source: targetSource } = defaultTarget(
      [...chosenIdx].map((i) => ({
        variant: groupKeys[i].variant,
        meanFinalValError: mean(okMembers[i].map(finalOf).filter(Number.isFinite)),
      })),
    ));
  }

  const colors = new Map<string, string>();
  let paletteNext = 0;
  const groups: GroupAnalysis[] = groupKeys.map((g, gi) => {
    const name = labelOf(g);
    const chosen = chosenIdx.has(gi);
    const color = chosen && FIXED_COLORS[g.variant]
      ? FIXED_COLORS[g.variant]
      : PALETTE[paletteNext++ % PALETTE.length];
    colors.set(name, color);
    const preps = members[gi];
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
        testError: rec.testError ?? null,
        testLoss: rec.testLoss ?? null,
        pace: areaUnderCurve(emaError),
        timeToTarget: target === null || diverged
          ? null
          : timeToTarget(rec.valError, rec.epochSeconds, rec.stepsPerEpoch, target),
        wallSeconds: rec.wallSeconds,
        parameters: rec.parameters,
        backend: rec.provenance.backend,
        device: rec.provenance.device,
      };
    });
    const okIdx = runs.map((r, i) => (r.divergedAtStep === null ? i : -1)).filter((i) => i >= 0);
    const ok = okIdx.map((i) => runs[i]);
    const okPrep = okIdx.map((i) => preps[i]);
    const reached = ok.filter((r) => r.timeToTarget !== null);
    let curves: GroupAnalysis["curves"] = null;
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
    const finals = ok.map((r) => r.finalValError).filter(Number.isFinite);
    return {
      name,
      variant: g.variant,
      lr: g.lr,
      family: variantFamily(g.variant),
      color,
      chosen,
      planned: manifest.runs,
      finished: runs.length,
      runs,
      finalValError: summarize(finals),
      bestValError: summarize(ok.map((r) => r.bestValError).filter(Number.isFinite)),
      finalValLoss: summarize(ok.map((r) => r.finalValLoss).filter(Number.isFinite)),
      testError: summarize(
        ok.map((r) => r.testError).filter((x): x is number => x !== null && Number.isFinite(x)),
      ),
      pace: summarize(ok.map((r) => r.pace).filter(Number.isFinite)),
      timeToTargetSteps: summarize(reached.map((r) => r.timeToTarget!.steps)),
      timeToTargetSeconds: summarize(reached.map((r) => r.timeToTarget!.seconds)),
      reachedTarget: reached.length,
      wallSeconds: summarize(runs.map((r) => r.wallSeconds)),
      bestEpochOfMean,
      iqm: finals.length >= 10
        ? bootstrapIqmInterval(finals, { resamples: opts.resamples ?? 10000, seed: 0 })
        : null,
      curves,
      runCurves,
    };
  });

  // ---- inference: one family for the whole page ----
  const chosenGroups = groups.filter((g) => g.chosen);
  const values = new Map<string, SeedValues[]>(
    chosenGroups.map((g) => [
      g.variant,
      g.runs.filter((r) => r.divergedAtStep === null).map((r) => ({
        seed: r.seed,
        steps: r.steps,
        pace: r.pace,
        finalValError: r.finalValError,
      })),
    ]),
  );
  const inference = pageInference(values);
  const comparisons: ComparisonTable[] = inference.tables.map(({ reference: ref, rows }) => {
    const refGroup = chosenGroups.find((g) => g.variant === ref)!;
    const refBySeed = new Map(
      refGroup.runs.filter((r) => r.divergedAtStep === null).map((r) => [r.seed, r]),
    );
    return {
      reference: ref,
      rows: rows.map(({ variant, pace, finalValError }) => {
        const g = chosenGroups.find((x) => x.variant === variant)!;
        const mine = new Map(
          g.runs.filter((r) => r.divergedAtStep === null).map((r) => [r.seed, r]),
        );
        const seeds = [...new Set([...refBySeed.keys(), ...mine.keys()])].sort((a, b) => a - b);
        const dTest: number[] = [];
        const dSteps: number[] = [];
        const dropped: number[] = [];
        let stepMismatch = false;
        for (const s of seeds) {
          const a = mine.get(s);
          const b = refBySeed.get(s);
          if (!a || !b) {
            dropped.push(s);
            continue;
          }
          if (a.steps !== b.steps) stepMismatch = true;
          if (a.testError !== null && b.testError !== null) dTest.push(a.testError - b.testError);
          if (a.timeToTarget && b.timeToTarget) {
            dSteps.push(a.timeToTarget.steps - b.timeToTarget.steps);
          }
        }
        const diverged = [...new Set([...g.runs, ...refGroup.runs])]
          .filter((r) => r.divergedAtStep !== null).map((r) => r.seed);
        return {
          group: g.name,
          variant: g.variant,
          pace: pace.n ? pace : null,
          paceNote: stepMismatch
            ? `runs of ${g.name} and ${ref} have different step counts; pace compared only ` +
              `on seeds of equal length`
            : null,
          finalValError: finalValError.n ? finalValError : null,
          testError: describe(dTest),
          timeToTargetSteps: describe(dSteps),
          droppedSeeds: [...new Set([...dropped, ...diverged])].sort((a, b) => a - b),
        };
      }),
    };
  });
  for (const t of comparisons) {
    for (const r of t.rows) if (r.paceNote) notes.push(r.paceNote);
  }
  const findings = inference.findings;
  const family = inference.family;

  // ---- learning-rate sensitivity ----
  const sensitivity: SensitivityCurve[] = [];
  for (const v of variantNames) {
    const pts: SensitivityCurve["points"] = [];
    for (const [lr, err] of Object.entries(manifest.lrSearch?.trials?.[v] ?? {})) {
      pts.push({ lr: Number(lr), valError: err, source: "search", runs: 1 });
    }
    for (const g of groups.filter((x) => x.variant === v && x.finalValError.n > 0)) {
      pts.push({
        lr: g.lr,
        valError: g.finalValError.mean,
        source: "sweep",
        runs: g.finalValError.n,
      });
    }
    if (pts.length === 0) continue;
    pts.sort((a, b) => a.lr - b.lr || a.source.localeCompare(b.source));
    const chosen = chosenGroups.find((g) => g.variant === v);
    sensitivity.push({
      variant: v,
      color: chosen?.color ?? colors.get(v) ?? "#000000",
      points: pts,
      chosenLr: manifest.lrSearch?.chosen?.[v] ?? chosen?.lr ?? null,
    });
  }

  // ---- grouped views over the chosen groups ----
  const views: Group[] = [];
  const baselines = chosenGroups.filter((g) => g.family === "baseline").map((g) => g.name);
  for (const fam of VIEW_ORDER) {
    const inFam = chosenGroups.filter((g) => g.family === fam).map((g) => g.name);
    if (inFam.length === 0) continue;
    views.push({
      id: fam.replace(/[^A-Za-z0-9]+/g, "-"),
      title: baselines.length ? `${baselines.join(" and ")} against ${fam}` : fam,
      variants: [...baselines, ...inFam],
    });
  }

  const withVal = chosenGroups.filter((g) => Number.isFinite(g.finalValError.mean));
  const bestG = withVal.length
    ? withVal.reduce((a, b) => (b.finalValError.mean < a.finalValError.mean ? b : a))
    : null;
  const finishedRuns = records.length;
  const plannedRuns = manifest.plannedRuns;
  const spe = records.length ? records[0].stepsPerEpoch : null;
  const starts = records.map((r) => r.provenance.startedAt).sort();
  const firstConfig = records.length ? records[0].config : null;
  const validation = manifest.validation ?? {
    source: firstConfig?.validation ?? "test",
    size: firstConfig?.valSize ?? null,
  };
  return {
    manifest,
    partial: groups.some((g) => g.finished < g.planned) || finishedRuns < plannedRuns,
    finishedRuns,
    plannedRuns,
    validation,
    hasTest: records.some((r) => r.testError !== null && r.testError !== undefined),
    target,
    targetSource,
    groups,
    comparisons,
    findings,
    family: { size: family.size, alpha: FAMILY_ALPHA, minSeeds: MIN_SEEDS_FOR_VERDICT },
    sensitivity,
    views,
    best: bestG ? { variant: bestG.name, finalValError: bestG.finalValError.mean } : null,
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
    firstConfig,
    notes,
  };
}
