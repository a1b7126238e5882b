/**
 * The quick default of `deno task visualize`: train a small network on a subset of MNIST (or
 * another dataset) so there is something to visualise when no model file is given.
 *
 * @module
 */
import type { Backend, DType } from "../backend.ts";
import type { Dataset } from "../data/dataset.ts";
import { subset } from "../data/dataset.ts";
import type { ModelMeta } from "../io/safetensors.ts";
import type { Sequential } from "../model.ts";
import { Optimizer } from "../optim.ts";
import { architecture } from "../architectures.ts";
import { evaluate, fit, type TrainHistory } from "../train.ts";
import { buildNetwork } from "../variants.ts";

/** Options of {@link trainQuickModel}. */
export interface QuickOptions {
  backend: Backend;
  dtype?: DType;
  /** Training split (normalised). */
  train: Dataset;
  /** Held-out split (normalised), for the reported error. */
  test: Dataset;
  /** Architecture preset; default `shiftlab-small`. */
  architecture?: string;
  /** Variant; default `plain`. */
  variant?: string;
  /** Training samples used (at most the training split's size); default 4000 or all. */
  trainSamples?: number;
  /** Held-out samples evaluated; default 1000 or all. */
  testSamples?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Progress callback, one line per epoch. */
  log?: (line: string) => void;
}

/** A freshly trained network with the metadata to save it. */
export interface QuickModel {
  model: Sequential;
  meta: ModelMeta;
  history: TrainHistory;
  /** Error on `testSamples` held-out samples. */
  testError: number;
}

/** Trains a small network on a subset of the training split (SGD with momentum 0.9). */
export async function trainQuickModel(opts: QuickOptions): Promise<QuickModel> {
  const archName = opts.architecture ?? "shiftlab-small";
  const variant = opts.variant ?? "plain";
  const seed = opts.seed ?? 1;
  const arch = architecture(archName, {
    inputShape: opts.train.inputShape,
    classes: opts.train.classes,
  });
  const model = buildNetwork(arch, variant, { backend: opts.backend, dtype: opts.dtype, seed });
  const train = subset(
    opts.train,
    opts.trainSamples ?? Math.min(4000, opts.train.size),
    "training samples (--quick-samples)",
  );
  const test = subset(opts.test, opts.testSamples ?? Math.min(1000, opts.test.size));
  const lr = opts.lr ?? 0.02;
  const epochs = opts.epochs ?? 1;
  const batchSize = opts.batchSize ?? 32;
  const opt = new Optimizer(model.params(), { kind: "momentum", lr, momentum: 0.9 });
  let history: TrainHistory;
  try {
    history = await fit(model, opt, train, test, {
      epochs,
      batchSize,
      seed,
      onEpoch: (e) =>
        opts.log?.(
          `  epoch ${e.epoch + 1}/${e.epochs}: held-out error ${(100 * e.valError).toFixed(1)}% (${
            e.seconds.toFixed(1)
          } s)`,
        ),
    });
  } finally {
    opt.dispose();
  }
  const testError = history.valError.at(-1) ?? evaluate(model, test, 500).error;
  const meta: ModelMeta = {
    architecture: arch,
    variant,
    dataset: opts.train.name,
    seed,
    normalization: opts.train.norm ?? null,
    training: {
      optimizer: "momentum",
      lr,
      momentum: 0.9,
      epochs,
      batchSize,
      trainSize: train.size,
      seed,
      testError,
      quick: true,
    },
  };
  return { model, meta, history, testError };
}
