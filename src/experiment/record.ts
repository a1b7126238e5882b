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

/** Format version of {@link RunRecord}; bump on incompatible change. */
export const RECORD_VERSION = 1;

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
  architecture: string;
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
  testSize: number;
  weightDecay: number;
  optimizer: string;
  /** Input normalisation (`per-element` or `none`); absent in older records: per-element. */
  normalize?: string;
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
  /** Held-out cross-entropy after every epoch. */
  valLoss: number[];
  /** Held-out classification error after every epoch. */
  valError: number[];
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
  architecture: string;
  /** Output of `summary()` for the plain network. */
  architectureSummary: string;
  variants: string[];
  /** Learning rate per variant (after any search). */
  learningRates: Record<string, number>;
  /** The learning-rate search, when one ran: tried rate → final validation error. */
  lrSearch?: Record<string, Record<string, number>>;
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

/** File name of a run record. */
export function runFileName(variant: string, lr: number, run: number): string {
  return `${variant}__lr${lr}__run${run}.json`;
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

/**
 * Checks that `value` (parsed JSON from `file`) is a {@link RunRecord} of the current version and
 * returns it with `null` metric entries turned into `NaN`. Throws an error naming the file and
 * the offending field otherwise.
 */
export function parseRunRecord(value: unknown, file: string): RunRecord {
  if (!isObj(value)) fail(file, "a run record must be a JSON object");
  if (value.version !== RECORD_VERSION) {
    fail(
      file,
      `record version ${
        JSON.stringify(value.version)
      } is not the supported version ${RECORD_VERSION}`,
    );
  }
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

/** Checks that `value` (parsed from `file`) is an {@link ExperimentManifest}; throws naming the field otherwise. */
export function parseManifest(value: unknown, file: string): ExperimentManifest {
  if (!isObj(value)) fail(file, "the manifest must be a JSON object");
  if (value.version !== RECORD_VERSION) {
    fail(
      file,
      `manifest version ${
        JSON.stringify(value.version)
      } is not the supported version ${RECORD_VERSION}`,
    );
  }
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
    fail(file, `field "learningRates" must be an object variant → rate`);
  }
  return value as unknown as ExperimentManifest;
}
