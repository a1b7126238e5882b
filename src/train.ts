/**
 * The training loop: one step, evaluation, and `fit` over epochs with per-step and per-epoch
 * metrics and divergence detection.
 *
 * A step runs forward, loss, backward inside `tidy` (every temporary is released), then the
 * optimizer update. The only host transfers are the input batch, the labels, the loss scalar
 * and the predicted classes.
 *
 * @module
 */
import type { DType } from "./backend.ts";
import { batchCount, batches, type Dataset } from "./data/dataset.ts";
import type { ForwardContext } from "./layers/layer.ts";
import { SoftmaxCrossEntropy } from "./loss.ts";
import type { Sequential } from "./model.ts";
import * as ops from "./ops.ts";
import type { Optimizer } from "./optim.ts";
import { shapeSize, Tensor, tidy } from "./tensor.ts";

/** Loss and classification error (1 - accuracy) of one batch or a whole set. */
export interface Metrics {
  /** Mean cross-entropy. */
  loss: number;
  /** Fraction of samples whose first maximal logit is not the label. */
  error: number;
}

/** Element type of a model's parameters (float32 when it has none). */
export function modelDtype(model: Sequential): DType {
  const p = model.params();
  return p.length > 0 ? p[0].value.dtype : "float32";
}

/** Number of rows of `probs [n, k]` whose argmax differs from `labels` (floats on the host). */
export function countErrors(probs: Tensor, labels: ArrayLike<number>): number {
  const argmax = ops.argmax(probs);
  try {
    const pred = argmax.toArray();
    let wrong = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] !== labels[i]) wrong++;
    return wrong;
  } finally {
    argmax.dispose();
  }
}

/** Uploads a host batch as `[n, ...inputShape]` images and `[n]` labels. */
export function batchTensors(
  model: Sequential,
  x: Float32Array,
  y: Float32Array,
  n: number,
  dtype: DType = modelDtype(model),
): { x: Tensor; y: Tensor } {
  return {
    x: Tensor.from(model.backend, [n, ...model.inputShape], x, dtype),
    y: Tensor.from(model.backend, [n], y, dtype),
  };
}

/**
 * One training step on a batch: zero gradients, forward, softmax cross-entropy, backward,
 * optimizer update. Returns the batch-mean loss and the batch error. When the loss is not
 * finite the update is skipped (the caller records the divergence).
 */
export function trainStep(
  model: Sequential,
  loss: SoftmaxCrossEntropy,
  opt: Optimizer,
  x: Tensor,
  y: Tensor,
  ctx: ForwardContext,
): Metrics {
  const labels = y.toArray();
  const m = tidy(() => {
    model.zeroGrad();
    const logits = model.forward(x, ctx);
    const l = loss.forward(logits, y);
    const wrong = countErrors(loss.probs!, labels);
    if (Number.isFinite(l)) model.backwardParams(loss.backward());
    return { loss: l, error: wrong / x.shape[0] };
  });
  if (Number.isFinite(m.loss)) opt.step();
  return m;
}

/** Mean loss and error of `model` over `data` in evaluation mode (no dropout, running BN). */
export function evaluate(model: Sequential, data: Dataset, batchSize: number): Metrics {
  const dtype = modelDtype(model);
  const loss = new SoftmaxCrossEntropy();
  const rows = inferenceRows(model, batchSize);
  let total = 0;
  let wrong = 0;
  try {
    for (const b of batches(data, batchSize)) {
      tidy(() => {
        const y = Tensor.from(model.backend, [b.n], b.y, dtype);
        const logits = inferLogits(model, b.x as Float32Array, b.n, rows, dtype);
        total += loss.forward(logits, y) * b.n;
        wrong += countErrors(loss.probs!, b.y);
      });
    }
  } finally {
    loss.dispose();
  }
  return { loss: total / data.size, error: wrong / data.size };
}

/** The forward of evaluation: inference, nothing kept for backward. */
const INFERENCE: ForwardContext = { training: false, seed: 0, step: 0, noGrad: true };

/**
 * Samples an inference forward of `model` takes at once, for batches of `batchSize`: on a
 * backend with `inferenceBytes`, as many as keep the widest layer's activations within them
 * (at least 16); else the whole batch.
 */
export function inferenceRows(model: Sequential, batchSize: number): number {
  const bytes = model.backend.inferenceBytes;
  if (bytes === undefined) return batchSize;
  const widest = Math.max(
    shapeSize(model.inputShape),
    ...model.layerOutputShapes.map((s) => shapeSize(s)),
  );
  const per = widest * (modelDtype(model) === "float64" ? 8 : 4);
  return Math.min(batchSize, Math.max(16, Math.floor(bytes / per)));
}

/**
 * The logits `[n, classes]` of the host images `x`, `rows` samples a forward. Every layer
 * computes a sample's outputs from that sample alone in inference (batch norm uses its running
 * statistics), with the same operations whatever the batch, so the logits are the bits of one
 * forward over all n.
 */
function inferLogits(
  model: Sequential,
  x: Float32Array,
  n: number,
  rows: number,
  dtype: DType,
): Tensor {
  const shape = model.inputShape;
  const per = shapeSize(shape);
  if (n <= rows) {
    return model.forward(Tensor.from(model.backend, [n, ...shape], x, dtype), INFERENCE);
  }
  const out = Tensor.empty(model.backend, [n, ...model.outputShape], dtype);
  const classes = shapeSize(model.outputShape);
  for (let lo = 0; lo < n; lo += rows) {
    const hi = Math.min(n, lo + rows);
    tidy(() => {
      const part = Tensor.from(
        model.backend,
        [hi - lo, ...shape],
        x.subarray(lo * per, hi * per),
        dtype,
      );
      out.assign(model.forward(part, INFERENCE), lo * classes);
    });
  }
  return out;
}

/** What {@link fit} measured. */
export interface TrainHistory {
  /** Batch-mean cross-entropy after every step. */
  trainLoss: number[];
  /** Batch error after every step. */
  trainError: number[];
  /** Validation cross-entropy after every epoch. */
  valLoss: number[];
  /** Validation error after every epoch. */
  valError: number[];
  /** Seconds per epoch (training and evaluation). */
  epochSeconds: number[];
  /** Training steps (batches) per epoch. */
  stepsPerEpoch: number;
  /** Global step (0-based) at which the loss became NaN or infinite, else null. */
  divergedAtStep: number | null;
  /** True when `shouldStop` ended training early. */
  stopped: boolean;
  /** Seconds the whole run took. */
  wallSeconds: number;
}

/** Per-step progress information. */
export interface StepInfo {
  /** Epoch (0-based). */
  epoch: number;
  /** Step within the epoch (0-based). */
  step: number;
  /** Step since the start of training (0-based). */
  globalStep: number;
  /** Steps per epoch. */
  stepsPerEpoch: number;
  /** Batch-mean cross-entropy of this step. */
  loss: number;
  /** Batch error of this step. */
  error: number;
}

/** Per-epoch progress information. */
export interface EpochInfo {
  /** Epoch just finished (0-based). */
  epoch: number;
  /** Epochs in the run. */
  epochs: number;
  /** Validation cross-entropy after this epoch. */
  valLoss: number;
  /** Validation error after this epoch. */
  valError: number;
  /** Seconds this epoch took (training and evaluation). */
  seconds: number;
}

/** Options of {@link fit}. */
export interface FitOptions {
  /** Passes over the training set. */
  epochs: number;
  /** Training batch size. */
  batchSize: number;
  /** The run's seed: data order per epoch and dropout masks derive from it. */
  seed: number;
  /** Batch size for evaluation (default 500). */
  evalBatchSize?: number;
  /** Called after every training step. */
  onStep?: (s: StepInfo) => void;
  /** Called after every epoch's evaluation. */
  onEpoch?: (e: EpochInfo) => void;
  /** Polled between steps; true stops training (the history is marked `stopped`). */
  shouldStop?: () => boolean;
  /**
   * Called once with the first training batch and the first step's context, before that step
   * (data-dependent initialisation: `dataDependentInit` in `ddi.ts`).
   */
  beforeFirstStep?: (x: Tensor, ctx: ForwardContext) => void;
  /**
   * Yield to the event loop when this many milliseconds passed since the last yield, so
   * signals (Ctrl-C) and timers get a turn; default 100.
   */
  yieldMs?: number;
}

/**
 * Trains `model` for `epochs` epochs of shuffled batches and evaluates on the validation set
 * `val` after each. Stops at the first non-finite loss (recorded in `divergedAtStep`). Async
 * only so that signal handlers (Ctrl-C) and progress output get a turn between steps. The test
 * set is not fit's business: the caller evaluates it once, after the last epoch.
 */
export async function fit(
  model: Sequential,
  opt: Optimizer,
  train: Dataset,
  val: Dataset,
  opts: FitOptions,
): Promise<TrainHistory> {
  for (const [k, v] of [["epochs", opts.epochs], ["batchSize", opts.batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`fit: ${k} must be a positive integer, got ${v}`);
    }
  }
  const t0 = performance.now();
  const dtype = modelDtype(model);
  const loss = new SoftmaxCrossEntropy();
  const stepsPerEpoch = batchCount(train.size, opts.batchSize);
  const h: TrainHistory = {
    trainLoss: [],
    trainError: [],
    valLoss: [],
    valError: [],
    epochSeconds: [],
    stepsPerEpoch,
    divergedAtStep: null,
    stopped: false,
    wallSeconds: 0,
  };
  const yieldMs = opts.yieldMs ?? 100;
  let lastYield = performance.now();
  let globalStep = 0;
  try {
    outer: for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const te = performance.now();
      let step = 0;
      for (const b of batches(train, opts.batchSize, { shuffle: true, seed: opts.seed, epoch })) {
        if (performance.now() - lastYield >= yieldMs) {
          await new Promise((r) => setTimeout(r, 0));
          lastYield = performance.now();
        }
        if (opts.shouldStop?.()) {
          h.stopped = true;
          break outer;
        }
        // Not inside tidy: the optimizer may create its state lazily in its first step.
        const t = batchTensors(model, b.x, b.y, b.n, dtype);
        let m: Metrics;
        try {
          const ctx = { training: true, seed: opts.seed, step: globalStep };
          if (globalStep === 0) opts.beforeFirstStep?.(t.x, ctx);
          m = trainStep(model, loss, opt, t.x, t.y, ctx);
        } finally {
          t.x.dispose();
          t.y.dispose();
        }
        h.trainLoss.push(m.loss);
        h.trainError.push(m.error);
        opts.onStep?.({ epoch, step, globalStep, stepsPerEpoch, loss: m.loss, error: m.error });
        if (!Number.isFinite(m.loss)) {
          h.divergedAtStep = globalStep;
          break outer;
        }
        step++;
        globalStep++;
      }
      const v = evaluate(model, val, opts.evalBatchSize ?? 500);
      h.valLoss.push(v.loss);
      h.valError.push(v.error);
      const seconds = (performance.now() - te) / 1000;
      h.epochSeconds.push(seconds);
      opts.onEpoch?.({ epoch, epochs: opts.epochs, valLoss: v.loss, valError: v.error, seconds });
    }
  } finally {
    loss.dispose();
  }
  h.wallSeconds = (performance.now() - t0) / 1000;
  return h;
}
