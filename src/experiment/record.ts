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

import type { LayerSpec } from "../layers/registry.ts";

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
  /** The architecture's name (canonical for an inline or optioned one). */
  architecture: string;
  /** The resolved base layer list, for an inline or optioned architecture (absent for a preset). */
  layers?: LayerSpec[];
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
