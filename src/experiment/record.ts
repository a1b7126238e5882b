/**
 * The run record: one JSON file per finished run, the only thing reports read.
 *
 * Layout of an experiment folder (`results/<experiment-id>/`):
 * - `experiment.json`: the {@link ExperimentManifest} (written when the sweep starts);
 * - `runs/<variant>__lr<lr>__run<k>.json`: one {@link RunRecord} per finished run, written
 *   atomically (temp file + rename);
 * - `index.html`: the report, regenerated from the above.
 *
 * {@link parseRunRecord} and {@link parseManifest} decide what is a readable record or manifest,
 * for the report and for resuming alike.
 *
 * @module
 */

import type { LayerSpec } from "../layers/registry.ts";

/**
 * Format version of {@link RunRecord} and {@link ExperimentManifest}; bump on incompatible
 * change. Version 2 added the validation split and the once-per-run test evaluation; version 1
 * records (validated on the test set unless `holdOut` was set, no test column) are still read.
 */
export const RECORD_VERSION = 2;

/** Where and how a run was computed. */
export interface Provenance {
  backend: string;
  device: string;
  /** Native library build string, or null for the `ts` backend. */
  library: string | null;
  deno: string;
  /** `git rev-parse HEAD` of the checkout, or null outside git. */
  commit: string | null;
  /** ISO date of the run's start. */
  startedAt: string;
  hostname: string;
}

/** The training configuration a run used (everything needed to repeat it). */
export interface RunConfig {
  experiment: string;
  dataset: string;
  /** The architecture's name (canonical for an inline or optioned one, e.g. `allcnnc(width=0.25)`). */
  architecture: string;
  /** The resolved base layer list, for an inline or optioned architecture (absent for a preset). */
  layers?: LayerSpec[];
  variant: string;
  lr: number;
  momentum: number;
  epochs: number;
  batchSize: number;
  /** Index of the run among the variant's runs; run k of every variant shares the seed. */
  run: number;
  seed: number;
  dropout: boolean;
  trainSize: number;
  /** Where validation (every choice) happened: a held-out split or, as the thesis, the test set. */
  validation: "holdout" | "test";
  /** Validation samples. */
  valSize: number;
  /** Test samples (with `validation: "test"`, the same set as validation). */
  testSize: number;
  weightDecay: number;
  optimizer: string;
  /** Input normalisation (`per-element` or `none`); absent in older records: per-element. */
  normalize?: string;
  /** Adaptive gradient clipping λ, when the run used it (absent: none). */
  agc?: number;
}

/** One run's measurements. Arrays are indexed by step (train) or epoch (validation). */
export interface RunRecord {
  version: number;
  config: RunConfig;
  provenance: Provenance;
  /** Parameter count of the network. */
  parameters: number;
  /** Batch-mean cross-entropy after every training step. */
  trainLoss: number[];
  /** Batch classification error (1 - accuracy) after every training step. */
  trainError: number[];
  /** Validation cross-entropy after every epoch. */
  valLoss: number[];
  /** Validation classification error after every epoch. */
  valError: number[];
  /**
   * Test cross-entropy and error, evaluated once after the last epoch; null when validation is
   * the test set (no separate test column), when the run diverged, or in a learning-rate
   * search trial (trials never read the test set).
   */
  testLoss: number | null;
  testError: number | null;
  /** Steps per epoch (to place epochs on the step axis). */
  stepsPerEpoch: number;
  /** Wall time of the whole run in seconds, and per epoch. */
  wallSeconds: number;
  epochSeconds: number[];
  /** Set when the loss became NaN or infinite: the step at which it happened. */
  divergedAtStep: number | null;
  /** Path of the saved model (safetensors), when saved. */
  modelFile?: string;
}

/** The sweep's description, written at its start. */
export interface ExperimentManifest {
  version: number;
  id: string;
  preset: string;
  description: string;
  dataset: string;
  /** The architecture's name (canonical for an inline or optioned one). */
  architecture: string;
  /** The resolved base layer list, for an inline or optioned architecture (absent for a preset). */
  layers?: LayerSpec[];
  /** Output of `summary()` for the plain network. */
  architectureSummary: string;
  variants: string[];
  /** Learning rates per variant (after any search): each is a separate group of runs. */
  learningRates: Record<string, number[]>;
  /** The learning-rate search, when one ran. */
  lrSearch?: LrSearchRecord;
  /** Where validation happened and on how many samples. */
  validation: { source: "holdout" | "test"; size: number };
  /** What ran differs from the preset or config file in these fields (`field: old → new`). */
  overrides?: string[];
  /** Extensions of the plan (`--extend`): when, and what was added. */
  extensions?: { at: string; added: string[] }[];
  /** Set while the learning-rate search runs (the plan is not settled yet). */
  searching?: boolean;
  epochs: number;
  runs: number;
  batchSize: number;
  baseSeed: number;
  /** Total runs planned, to mark a partial sweep. */
  plannedRuns: number;
  createdAt: string;
  /** The complete validated experiment config (see `src/experiment/config.ts`), for resuming. */
  config?: Record<string, unknown>;
  /** The preset name or config file the sweep came from. */
  source?: string;
}

/** The learning-rate search as recorded in the manifest. */
export interface LrSearchRecord {
  mode: "thesis" | "per-variant";
  /** Per searched variant: tried rate → mean final validation error of its trials (1 if diverged). */
  trials: Record<string, Record<string, number>>;
  /** The rate each variant of the sweep is trained at. */
  chosen: Record<string, number>;
}

/** File name of a run record. */
export function runFileName(variant: string, lr: number, run: number): string {
  return `${variant}__lr${lr}__run${run}.json`;
}

/** The variant, rate and run a record file is named for ({@link runFileName}), or null. */
export function parseRunFileName(
  file: string,
): { variant: string; lr: number; run: number } | null {
  const m = /^(.+)__lr([^_]+)__run(\d+)\.json$/.exec(file);
  if (!m) return null;
  const lr = Number(m[2]);
  if (!(lr > 0) || !Number.isFinite(lr)) return null;
  return { variant: m[1], lr, run: Number(m[3]) };
}

type Obj = Record<string, unknown>;

function fail(file: string, what: string): never {
  throw new Error(`${file}: ${what}`);
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks field `key` of `o` (at `path` in the file, e.g. `config.`) has `type`. */
function field(
  o: Obj,
  key: string,
  type: "string" | "number" | "boolean",
  file: string,
  path = "",
) {
  const v = o[key];
  const actual: string = typeof v;
  if (actual !== type) {
    fail(
      file,
      `field "${path}${key}" must be a ${type}, got ${
        v === undefined ? "nothing" : JSON.stringify(v)
      }`,
    );
  }
}

function nullableField(o: Obj, key: string, type: "string" | "number", file: string, path = "") {
  const v = o[key];
  const actual: string = typeof v;
  if (v !== null && actual !== type) {
    fail(file, `field "${path}${key}" must be a ${type} or null, got ${JSON.stringify(v)}`);
  }
}

function metricArray(o: Obj, key: string, file: string): number[] {
  const v = o[key];
  if (!Array.isArray(v)) fail(file, `field "${key}" must be an array of numbers`);
  return v.map((x, i) => {
    if (x === null) return NaN;
    if (typeof x !== "number") {
      fail(file, `${key}[${i}] must be a number or null, got ${JSON.stringify(x)}`);
    }
    return x;
  });
}

/** Record and manifest versions this reader understands (see {@link RECORD_VERSION}). */
const READABLE_VERSIONS = [1, RECORD_VERSION];

function checkVersion(value: Obj, file: string, what: string): void {
  if (!READABLE_VERSIONS.includes(value.version as number)) {
    fail(
      file,
      `${what} version ${JSON.stringify(value.version)} is not supported (expected one of ${
        READABLE_VERSIONS.join(", ")
      })`,
    );
  }
}

/**
 * Checks that `value` (parsed JSON from `file`) is a {@link RunRecord} and returns it with
 * `null` metric entries turned into `NaN`. A version 1 record (before the validation split)
 * reads as validated on the test set, with no separate test measurement. Throws an error naming
 * the file and the offending field otherwise.
 */
export function parseRunRecord(value: unknown, file: string): RunRecord {
  if (!isObj(value)) fail(file, "a run record must be a JSON object");
  checkVersion(value, file, "record");
  const legacy = value.version === 1;
  const config = value.config;
  if (!isObj(config)) fail(file, `field "config" must be an object`);
  for (const k of ["experiment", "dataset", "architecture", "variant", "optimizer"]) {
    field(config, k, "string", file, "config.");
  }
  for (
    const k of [
      "lr",
      "momentum",
      "epochs",
      "batchSize",
      "run",
      "seed",
      "trainSize",
      "testSize",
      "weightDecay",
    ]
  ) field(config, k, "number", file, "config.");
  field(config, "dropout", "boolean", file, "config.");
  if (!legacy) {
    field(config, "valSize", "number", file, "config.");
    if (config.validation !== "holdout" && config.validation !== "test") {
      fail(file, `field "config.validation" must be "holdout" or "test"`);
    }
    nullableField(value, "testError", "number", file);
    nullableField(value, "testLoss", "number", file);
  }
  const prov = value.provenance;
  if (!isObj(prov)) fail(file, `field "provenance" must be an object`);
  for (const k of ["backend", "device", "deno", "startedAt", "hostname"]) {
    field(prov, k, "string", file, "provenance.");
  }
  nullableField(prov, "library", "string", file, "provenance.");
  nullableField(prov, "commit", "string", file, "provenance.");
  field(value, "parameters", "number", file);
  field(value, "stepsPerEpoch", "number", file);
  field(value, "wallSeconds", "number", file);
  nullableField(value, "divergedAtStep", "number", file);
  const rec = {
    ...value,
    config: legacy ? { ...config, validation: "test", valSize: config.testSize } : config,
    testError: legacy ? null : value.testError,
    testLoss: legacy ? null : value.testLoss,
    trainLoss: metricArray(value, "trainLoss", file),
    trainError: metricArray(value, "trainError", file),
    valLoss: metricArray(value, "valLoss", file),
    valError: metricArray(value, "valError", file),
    epochSeconds: metricArray(value, "epochSeconds", file),
  } as unknown as RunRecord;
  if (rec.trainLoss.length !== rec.trainError.length) {
    fail(
      file,
      `trainLoss has ${rec.trainLoss.length} entries but trainError ${rec.trainError.length}`,
    );
  }
  if (rec.valLoss.length !== rec.valError.length) {
    fail(file, `valLoss has ${rec.valLoss.length} entries but valError ${rec.valError.length}`);
  }
  if (rec.trainError.length === 0) fail(file, "trainError is empty: the run recorded no step");
  return rec;
}

/**
 * Checks that `value` (parsed from `file`) is an {@link ExperimentManifest}; throws naming the
 * field otherwise. A version 1 manifest (one rate per variant, the search as a bare table, no
 * validation field) is read in the current shape.
 */
export function parseManifest(value: unknown, file: string): ExperimentManifest {
  if (!isObj(value)) fail(file, "the manifest must be a JSON object");
  checkVersion(value, file, "manifest");
  for (
    const k of [
      "id",
      "preset",
      "description",
      "dataset",
      "architecture",
      "architectureSummary",
      "createdAt",
    ]
  ) {
    field(value, k, "string", file);
  }
  for (const k of ["epochs", "runs", "batchSize", "baseSeed", "plannedRuns"]) {
    field(value, k, "number", file);
  }
  if (!Array.isArray(value.variants) || !value.variants.every((v) => typeof v === "string")) {
    fail(file, `field "variants" must be an array of variant names`);
  }
  if (!isObj(value.learningRates)) {
    fail(file, `field "learningRates" must be an object variant → rates`);
  }
  const rates: Record<string, number[]> = {};
  for (const [v, r] of Object.entries(value.learningRates)) {
    const list = Array.isArray(r) ? r : [r];
    if (!list.every((x) => typeof x === "number" && x > 0)) {
      fail(file, `learningRates.${v} must be a positive rate or a list of them`);
    }
    rates[v] = list as number[];
  }
  let lrSearch = value.lrSearch as ExperimentManifest["lrSearch"] | undefined;
  if (value.version === 1 && isObj(value.lrSearch)) {
    lrSearch = {
      mode: "thesis",
      trials: value.lrSearch as Record<string, Record<string, number>>,
      chosen: Object.fromEntries(Object.entries(rates).map(([v, r]) => [v, r[0]])),
    };
  }
  let validation = value.validation as ExperimentManifest["validation"] | undefined;
  if (validation === undefined) {
    const cfg = isObj(value.config) ? value.config : {};
    validation = { source: cfg.holdOut ? "holdout" : "test", size: Number(cfg.holdOut) || 0 };
  }
  return {
    ...value,
    learningRates: rates,
    ...(lrSearch ? { lrSearch } : {}),
    validation,
  } as unknown as ExperimentManifest;
}
