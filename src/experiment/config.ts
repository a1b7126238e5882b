/**
 * Experiments as data: the {@link ExperimentConfig} type, its validation (clear errors naming
 * the field and what was expected) and the per-variant learning-rate resolution.
 *
 * A config is plain JSON; presets are config files in `experiments/presets/`, and a user's own
 * file is read and validated the same way.
 *
 * @module
 */
import type { ArchitectureRef } from "../architectures.ts";
import { DATASETS } from "../data/mod.ts";
import { OPTIMIZER_KINDS, type OptimizerKind } from "../optim.ts";

/**
 * Learning rates: one rate or a list of rates for every variant, or an object mapping variant
 * names (and `default`) to a rate or a list. Each listed rate is a separate set of runs.
 */
export type LearningRates = number | number[] | Record<string, number | number[]>;

/** Values of {@link LrSearchConfig.mode}. */
export const LR_SEARCH_MODES = ["thesis", "per-variant"] as const;

/**
 * The learning-rate search, scored on the validation split (final validation error of each
 * trial).
 *
 * - `mode: "thesis"` (default; SPEC §3): `plain` tries each anchor `10^-i`, then a grid of
 *   multipliers around the best one (or, with `plainGrid`, just that grid); `bn` tries its own,
 *   higher grid. Every other variant gets the chosen plain rate; batch-norm variants the bn rate.
 * - `mode: "per-variant"` (DeepOBS, Schneider et al. 2019): every variant is searched on the same
 *   grid with the same budget (`perVariantGrid`, default the union of `plainGrid` and `bnGrid`;
 *   without either, the anchors and multipliers per variant) and trained at its own winner.
 */
export interface LrSearchConfig {
  /** `thesis` (plain's rate for every shift/scale variant) or `per-variant`. */
  mode?: LrSearchMode;
  /** Rates every variant tries in `per-variant` mode. */
  perVariantGrid?: number[];
  /** Anchor rates for plain (default `[0.1, 0.01, 0.001, 0.0001]`); ignored with `plainGrid`. */
  anchors?: number[];
  /** Multipliers of the best anchor (default `[0.5, 1, 2]`). */
  grid?: number[];
  /** Explicit plain grid (skips the anchors), e.g. the thesis's `[0.005, 0.01, 0.02]`. */
  plainGrid?: number[];
  /** Explicit bn grid; default: the chosen plain rate times `bnMultipliers`. */
  bnGrid?: number[];
  /** Multipliers of the plain rate for bn (default `[2, 4, 8]`). */
  bnMultipliers?: number[];
  /** Epochs per trial (default: the experiment's). */
  epochs?: number;
  /** Training samples per trial (default: the experiment's). */
  trainSubset?: number;
  /** Runs per trial, averaged (default 1). */
  runs?: number;
}

/** One of {@link LR_SEARCH_MODES}. */
export type LrSearchMode = typeof LR_SEARCH_MODES[number];

/** A complete experiment description. */
export interface ExperimentConfig {
  /** Short identifier, used as the default output folder name. */
  name: string;
  description: string;
  dataset: string;
  /** Folder with the dataset's files (default: embedded / system / ~/.cache/shiftlab). */
  dataDir?: string;
  /**
   * The architecture (`src/architectures.ts`): a preset's name, a preset with options such as
   * `{ "preset": "allcnnc", "width": 0.25 }`, or an inline list of layer specs.
   */
  architecture: ArchitectureRef;
  /** Build the architecture with its dropout layers. */
  dropout: boolean;
  /** Variants to train (SPEC §1 names). */
  variants: string[];
  /**
   * Variants trained with the dropout setting flipped (e.g. the dropout experiment's bn
   * without dropout); recorded as `<variant>` with `dropout` in the run config.
   */
  dropoutOverrides?: Record<string, boolean>;
  lr: LearningRates;
  lrSearch?: LrSearchConfig;
  epochs: number;
  batchSize: number;
  runs: number;
  /** Run k of every variant uses seed `baseSeed + k`. */
  baseSeed: number;
  optimizer: OptimizerKind;
  momentum: number;
  weightDecay: number;
  /**
   * Adaptive gradient clipping λ for every run (absent or 0: none; see `OptimizerConfig.agc`):
   * conv/dense weights but the classifier's, per output unit.
   */
  agc?: number;
  /** Use only the first N training samples (null/absent: all). */
  trainSubset?: number | null;
  /** Use only the first N test samples (null/absent: all). */
  testSubset?: number | null;
  /**
   * Where every choice (learning-rate search, best epoch, verdicts) is made: `holdout` (default)
   * validates on samples held out of the training set and reads the test set once per run,
   * after the last epoch; `test` validates on the test set, as the thesis did (a thesis
   * reproduction preset must say so; the page labels it).
   */
  validation: ValidationSource;
  /**
   * Size of the held-out validation split (default: 10% of the training set, at most 10,000),
   * chosen by the base seed and the same for every variant.
   */
  holdOut?: number | null;
  /** Batch size for evaluation (default 500). */
  evalBatchSize?: number;
  /**
   * Input normalisation: `per-element` (default; SPEC §3: every input element standardised
   * with the training set's mean and std) or `none` (pixels as loaded, in [0, 1]).
   */
  normalize: Normalization;
}

/** Values of {@link ExperimentConfig.validation}. */
export const VALIDATION_SOURCES = ["holdout", "test"] as const;
/** One of {@link VALIDATION_SOURCES}. */
export type ValidationSource = typeof VALIDATION_SOURCES[number];

/** Default validation split: this share of the training set ... */
export const HOLDOUT_SHARE = 0.1;
/** ... but at most this many samples. */
export const HOLDOUT_MAX = 10000;

/** Size of the default held-out validation split of a training set of `trainSize` samples. */
export function defaultHoldOut(trainSize: number): number {
  return Math.min(HOLDOUT_MAX, Math.round(HOLDOUT_SHARE * trainSize));
}

/** Values of {@link ExperimentConfig.normalize}. */
export const NORMALIZATIONS = ["per-element", "none"] as const;
/** One of {@link NORMALIZATIONS}. */
export type Normalization = typeof NORMALIZATIONS[number];

const KEYS: Record<keyof ExperimentConfig, string> = {
  name: "string",
  description: "string",
  dataset: "string",
  dataDir: "string",
  architecture: "string|array|object",
  dropout: "boolean",
  variants: "array",
  dropoutOverrides: "object",
  lr: "number|array|object",
  lrSearch: "object",
  epochs: "number",
  batchSize: "number",
  runs: "number",
  baseSeed: "number",
  optimizer: "string",
  momentum: "number",
  weightDecay: "number",
  agc: "number",
  trainSubset: "number",
  testSubset: "number",
  validation: "string",
  holdOut: "number",
  evalBatchSize: "number",
  normalize: "string",
};

/** Default values for optional fields of a config file. */
export const CONFIG_DEFAULTS: Partial<ExperimentConfig> = {
  description: "",
  dropout: false,
  epochs: 10,
  batchSize: 32,
  runs: 1,
  baseSeed: 1,
  optimizer: "momentum",
  momentum: 0.9,
  weightDecay: 0,
  normalize: "per-element",
  validation: "holdout",
};

function fail(where: string, msg: string): never {
  throw new Error(`${where}: ${msg}`);
}

function posInt(where: string, field: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    fail(where, `'${field}' must be a positive integer, got ${JSON.stringify(v)}`);
  }
}

function rate(where: string, field: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    fail(where, `'${field}' must be a positive number, got ${JSON.stringify(v)}`);
  }
}

function rateList(where: string, field: string, v: unknown): void {
  if (!Array.isArray(v) || v.length === 0) {
    fail(
      where,
      `'${field}' must be a non-empty list of positive numbers, got ${JSON.stringify(v)}`,
    );
  }
  v.forEach((x, i) => rate(where, `${field}[${i}]`, x));
}

/** What {@link validateConfig} checks with injected functions (to stay free of model code). */
export interface ConfigChecks {
  /**
   * Validates a variant name for the config's (already checked) architecture (throws saying
   * what is wrong); returning a string gives the name's canonical spelling, which then replaces
   * it in `variants`, `lr` and `dropoutOverrides`.
   */
  variant?: (name: string, architecture: ArchitectureRef) => string | void;
  /** Validates the architecture (throws saying what is wrong). */
  architecture?: (arch: ArchitectureRef) => void;
}

/**
 * Validates a parsed JSON config, fills defaults and returns it. `where` names the source
 * (file or preset) in errors. `checks.variant` and `checks.architecture` validate a variant name
 * (and give its canonical spelling) and the architecture; they are injected so this module
 * stays free of model code. Two spellings of one variant are refused as a variant listed twice.
 */
export function validateConfig(
  raw: unknown,
  where: string,
  checks: ConfigChecks = {},
): ExperimentConfig {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    fail(where, `an experiment config must be a JSON object, got ${JSON.stringify(raw)}`);
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k === "$comment") continue;
    if (!(k in KEYS)) {
      fail(where, `unknown field '${k}' (expected: ${Object.keys(KEYS).join(", ")})`);
    }
  }
  const c = { ...CONFIG_DEFAULTS, ...o } as Record<string, unknown>;
  delete c.$comment;
  for (const k of ["name", "dataset", "architecture", "variants", "lr"]) {
    if (c[k] === undefined) fail(where, `missing required field '${k}'`);
  }
  for (const [k, t] of Object.entries(KEYS)) {
    const v = c[k];
    if (v === undefined || (v === null && ["trainSubset", "testSubset", "holdOut"].includes(k))) {
      continue;
    }
    const kind = Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
    if (!t.split("|").includes(kind)) {
      fail(where, `field '${k}' must be ${t.replace(/\|/g, " or ")}, got ${JSON.stringify(v)}`);
    }
  }
  if (!/^[A-Za-z0-9._-]+$/.test(c.name as string)) {
    fail(where, `'name' must be letters, digits, '.', '_' or '-', got ${JSON.stringify(c.name)}`);
  }
  if (!(DATASETS as readonly string[]).includes(c.dataset as string)) {
    fail(where, `unknown dataset '${c.dataset}' (expected one of: ${DATASETS.join(", ")})`);
  }
  if (!(OPTIMIZER_KINDS as readonly string[]).includes(c.optimizer as string)) {
    fail(
      where,
      `unknown optimizer '${c.optimizer}' (expected one of: ${OPTIMIZER_KINDS.join(", ")})`,
    );
  }
  try {
    checks.architecture?.(c.architecture as ArchitectureRef);
  } catch (e) {
    fail(where, (e as Error).message);
  }
  const variants = c.variants as unknown[];
  if (variants.length === 0) fail(where, `'variants' must list at least one variant`);
  const seen = new Set<string>();
  const canonical = (v: string): string => {
    try {
      return checks.variant?.(v, c.architecture as ArchitectureRef) ?? v;
    } catch (e) {
      fail(where, (e as Error).message);
    }
  };
  for (const v of variants) {
    if (typeof v !== "string") {
      fail(where, `'variants' must hold strings, got ${JSON.stringify(v)}`);
    }
    const name = canonical(v);
    if (seen.has(name)) {
      fail(where, `variant '${v}' is listed twice${name === v ? "" : ` (as '${name}')`}`);
    }
    seen.add(name);
  }
  c.variants = [...seen];
  // Keys that are no variant stay as written: the checks below name them.
  const spelled = (k: string) => {
    try {
      return k === "default" ? k : checks.variant?.(k, c.architecture as ArchitectureRef) ?? k;
    } catch {
      return k;
    }
  };
  const renameKeys = (m: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(m).map(([k, x]) => [spelled(k), x]));
  if (c.lr && typeof c.lr === "object" && !Array.isArray(c.lr)) {
    c.lr = renameKeys(c.lr as Record<string, unknown>);
  }
  if (c.dropoutOverrides && typeof c.dropoutOverrides === "object") {
    c.dropoutOverrides = renameKeys(c.dropoutOverrides as Record<string, unknown>);
  }
  if (Array.isArray(c.architecture) && (c.dropout || c.dropoutOverrides)) {
    fail(
      where,
      `'dropout' and 'dropoutOverrides' apply to presets; an inline architecture places its ` +
        `own dropout layers`,
    );
  }
  for (const k of ["epochs", "batchSize", "runs"]) posInt(where, k, c[k]);
  for (const k of ["trainSubset", "testSubset", "holdOut", "evalBatchSize"]) {
    if (c[k] !== undefined && c[k] !== null) posInt(where, k, c[k]);
  }
  if (!Number.isInteger(c.baseSeed) || (c.baseSeed as number) < 0) {
    fail(where, `'baseSeed' must be a non-negative integer, got ${JSON.stringify(c.baseSeed)}`);
  }
  if (!(NORMALIZATIONS as readonly string[]).includes(c.normalize as string)) {
    fail(
      where,
      `unknown normalize '${c.normalize}' (expected one of: ${NORMALIZATIONS.join(", ")})`,
    );
  }
  if (!(VALIDATION_SOURCES as readonly string[]).includes(c.validation as string)) {
    fail(
      where,
      `unknown validation '${c.validation}' (expected one of: ${VALIDATION_SOURCES.join(", ")})`,
    );
  }
  if (c.validation === "test" && c.holdOut) {
    fail(where, `'holdOut' needs 'validation': "holdout" (validation is "test" here)`);
  }
  const mom = c.momentum as number;
  if (!(mom >= 0 && mom < 1)) fail(where, `'momentum' must be in [0, 1), got ${mom}`);
  if (!((c.weightDecay as number) >= 0)) {
    fail(where, `'weightDecay' must be >= 0, got ${c.weightDecay}`);
  }
  if (c.agc !== undefined && !((c.agc as number) >= 0 && Number.isFinite(c.agc))) {
    fail(where, `'agc' (adaptive gradient clipping λ) must be a number >= 0, got ${c.agc}`);
  }
  const lr = c.lr;
  if (typeof lr === "number") rate(where, "lr", lr);
  else if (Array.isArray(lr)) rateList(where, "lr", lr);
  else {
    const m = lr as Record<string, unknown>;
    for (const [k, v] of Object.entries(m)) {
      if (k !== "default" && !seen.has(k)) {
        fail(where, `'lr' names '${k}', which is not in 'variants' (nor 'default')`);
      }
      if (Array.isArray(v)) rateList(where, `lr.${k}`, v);
      else rate(where, `lr.${k}`, v);
    }
    for (const v of seen) {
      if (!(v in m) && !("default" in m)) {
        fail(where, `'lr' gives no rate for variant '${v}' and has no 'default'`);
      }
    }
  }
  if (c.dropoutOverrides) {
    for (const [k, v] of Object.entries(c.dropoutOverrides as Record<string, unknown>)) {
      if (!seen.has(k)) fail(where, `'dropoutOverrides' names '${k}', which is not in 'variants'`);
      if (typeof v !== "boolean") fail(where, `'dropoutOverrides.${k}' must be true or false`);
    }
  }
  if (c.lrSearch) validateLrSearch(where, c.lrSearch as Record<string, unknown>);
  return c as unknown as ExperimentConfig;
}

function validateLrSearch(where: string, s: Record<string, unknown>): void {
  const keys = [
    "mode",
    "perVariantGrid",
    "anchors",
    "grid",
    "plainGrid",
    "bnGrid",
    "bnMultipliers",
    "epochs",
    "trainSubset",
    "runs",
  ];
  for (const k of Object.keys(s)) {
    if (!keys.includes(k)) {
      fail(where, `unknown field 'lrSearch.${k}' (expected: ${keys.join(", ")})`);
    }
  }
  if (s.mode !== undefined && !(LR_SEARCH_MODES as readonly unknown[]).includes(s.mode)) {
    fail(
      where,
      `unknown lrSearch.mode ${JSON.stringify(s.mode)} (expected one of: ${
        LR_SEARCH_MODES.join(", ")
      })`,
    );
  }
  if (s.perVariantGrid !== undefined && s.mode !== "per-variant") {
    fail(where, `'lrSearch.perVariantGrid' needs 'lrSearch.mode': "per-variant"`);
  }
  for (const k of ["perVariantGrid", "anchors", "grid", "plainGrid", "bnGrid", "bnMultipliers"]) {
    if (s[k] !== undefined) rateList(where, `lrSearch.${k}`, s[k]);
  }
  for (const k of ["epochs", "trainSubset", "runs"]) {
    if (s[k] !== undefined) posInt(where, `lrSearch.${k}`, s[k]);
  }
}

/** The learning rates variant `variant` is trained at (before any search). */
export function ratesFor(config: ExperimentConfig, variant: string): number[] {
  const lr = config.lr;
  if (typeof lr === "number") return [lr];
  if (Array.isArray(lr)) return [...lr];
  const v = lr[variant] ?? lr.default;
  if (v === undefined) throw new Error(`no learning rate for variant '${variant}'`);
  return Array.isArray(v) ? [...v] : [v];
}

/**
 * Whether `variant` uses batch norm, i.e. has the component `bn` (its rate comes from the bn
 * search in the thesis's protocol).
 */
export function isBatchNormVariant(variant: string): boolean {
  return variant.split("+").includes("bn");
}

/** Reads and validates a JSON config file. */
export async function readConfigFile(
  path: string,
  checks?: Parameters<typeof validateConfig>[2],
): Promise<ExperimentConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read config (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return validateConfig(raw, path, checks);
}
