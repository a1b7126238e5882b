/**
 * The run record: one JSON file per finished run, the only thing reports read.
 *
 * Layout of an experiment folder (`results/<experiment-id>/`):
 * - `experiment.json`: the {@link ExperimentManifest} (written when the sweep starts);
 * - `runs/<variant>__lr<lr>__run<k>.json`: one {@link RunRecord} per finished run, written
 *   atomically (temp file + rename);
 * - `index.html`: the report, regenerated from the above.
 *
 * @module
 */

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
  architecture: string;
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
