/**
 * One run: build the variant's network from the run's seed, train it, and turn the history
 * into a {@link RunRecord}. Nothing here writes files; the sweep does.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import type { Dataset } from "../data/dataset.ts";
import { Optimizer } from "../optim.ts";
import { type ArchSpec, type LayerSpec, resolveArchitecture } from "../architectures.ts";
import type { Progress } from "../progress.ts";
import { evaluate, fit } from "../train.ts";
import { buildNetwork, parseVariant } from "../variants.ts";
import { dataDependentInit } from "../ddi.ts";
import type { Sequential } from "../model.ts";
import type { ExperimentConfig } from "./config.ts";
import type { RunSpec } from "./plan.ts";
import { provenance } from "./provenance.ts";
import { RECORD_VERSION, type RunConfig, type RunRecord } from "./record.ts";

/** What every run of a sweep shares. */
export interface RunEnv {
  config: ExperimentConfig;
  backend: Backend;
  train: Dataset;
  /** The validation set: evaluated after every epoch; every choice is made on it. */
  val: Dataset;
  /**
   * The test set, read once per run after its last epoch (a loader, so that nothing can read it
   * earlier); absent when validation is the test set and in learning-rate search trials.
   */
  test?: () => Promise<Dataset>;
  /** Experiment id written into each record (the output folder's name). */
  experiment: string;
  progress?: Progress;
  shouldStop?: () => boolean;
  /** Called with the trained model before it is disposed (e.g. to save it). */
  onModel?: (model: Sequential, record: RunRecord) => Promise<void>;
}

/** The architecture for the dataset's shape with the run's dropout setting. */
export function archFor(config: ExperimentConfig, data: Dataset, dropout: boolean): ArchSpec {
  return resolveArchitecture(config.architecture, {
    inputShape: data.inputShape,
    classes: data.classes,
    dropout,
  });
}

/**
 * What records and the manifest store beside the architecture's name: nothing for a preset
 * named by a string (the name says it all), the resolved layer list for an inline or optioned
 * architecture.
 */
export function resolvedLayers(config: ExperimentConfig, arch: ArchSpec): { layers?: LayerSpec[] } {
  return typeof config.architecture === "string" ? {} : { layers: arch.layers };
}

/** Human-readable name of a run, e.g. `lsh_lsc lr=0.01 run 2`. */
export function runName(spec: Pick<RunSpec, "variant" | "lr" | "run">): string {
  return `${spec.variant} lr=${spec.lr} run ${spec.run}`;
}

/**
 * Trains one run. Returns its record, or null when `shouldStop` interrupted it (nothing is
 * recorded for an interrupted run; it is redone on resume).
 */
export async function executeRun(spec: RunSpec, env: RunEnv): Promise<RunRecord | null> {
  const { config, backend, train, val } = env;
  const prov = provenance(backend);
  const arch = archFor(config, train, spec.dropout);
  const model = buildNetwork(arch, spec.variant, { backend, seed: spec.seed });
  const ddi = parseVariant(spec.variant).ddi;
  const opt = new Optimizer(model.params(), {
    kind: config.optimizer,
    lr: spec.lr,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
    agc: config.agc,
  });
  try {
    const stepsPerEpoch = Math.ceil(train.size / config.batchSize);
    env.progress?.runStart({ name: runName(spec), epochs: config.epochs, stepsPerEpoch });
    const h = await fit(model, opt, train, val, {
      epochs: config.epochs,
      batchSize: config.batchSize,
      seed: spec.seed,
      evalBatchSize: config.evalBatchSize,
      shouldStop: env.shouldStop,
      onStep: (s) => env.progress?.step(s.epoch, s.step, s.loss, s.error),
      onEpoch: (e) => env.progress?.epoch(e.epoch, e.valLoss, e.valError, e.seconds),
      beforeFirstStep: ddi ? (x, ctx) => void dataDependentInit(model, x, ctx) : undefined,
    });
    if (h.stopped) {
      env.progress?.runEnd("interrupted, not recorded");
      return null;
    }
    // The test set, once, after the last epoch (never for a diverged network).
    let test: { size: number; loss: number | null; error: number | null } | null = null;
    if (env.test) {
      const ds = await env.test();
      const m = h.divergedAtStep === null
        ? evaluate(model, ds, config.evalBatchSize ?? 500)
        : { loss: NaN, error: NaN };
      test = {
        size: ds.size,
        loss: finiteOrNull(m.loss),
        error: Number.isFinite(m.error) ? m.error : null,
      };
    }
    const runConfig: RunConfig = {
      experiment: env.experiment,
      dataset: config.dataset,
      architecture: arch.name,
      ...resolvedLayers(config, arch),
      variant: spec.variant,
      lr: spec.lr,
      momentum: config.momentum,
      epochs: config.epochs,
      batchSize: config.batchSize,
      run: spec.run,
      seed: spec.seed,
      dropout: spec.dropout,
      trainSize: train.size,
      validation: config.validation,
      valSize: val.size,
      testSize: test?.size ?? (config.validation === "test" ? val.size : 0),
      weightDecay: config.weightDecay,
      optimizer: config.optimizer,
      normalize: config.normalize,
      ...(config.agc ? { agc: config.agc } : {}),
    };
    const record: RunRecord = {
      version: RECORD_VERSION,
      config: runConfig,
      provenance: prov,
      parameters: model.parameterCount(),
      trainLoss: h.trainLoss.map(finiteOrNull) as number[],
      trainError: h.trainError,
      valLoss: h.valLoss.map(finiteOrNull) as number[],
      valError: h.valError,
      testLoss: test?.loss ?? null,
      testError: test?.error ?? null,
      stepsPerEpoch: h.stepsPerEpoch,
      wallSeconds: h.wallSeconds,
      epochSeconds: h.epochSeconds,
      divergedAtStep: h.divergedAtStep,
    };
    await env.onModel?.(model, record);
    env.progress?.runEnd(
      h.divergedAtStep !== null
        ? `diverged at step ${h.divergedAtStep} (loss ${h.trainLoss.at(-1)}), recorded`
        : `done in ${h.wallSeconds.toFixed(1)}s, val_error ${
          ((h.valError.at(-1) ?? NaN) * 100).toFixed(2)
        }%${test?.error != null ? `, test_error ${(test.error * 100).toFixed(2)}%` : ""}`,
    );
    return record;
  } finally {
    opt.dispose();
    model.dispose();
  }
}

/**
 * JSON has no NaN or Infinity: non-finite losses are stored as null (the step is still there,
 * and `divergedAtStep` says where it happened).
 */
function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
