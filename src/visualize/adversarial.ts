/**
 * Adversarial samples (seed 000 §2.4, figure 3.24): start from the samples that activate a
 * class neuron the least, push that neuron up by gradient ascent, and record when the
 * predicted class flips to the target.
 *
 * @module
 */
import { type AscentModel, type ClipBounds, gradientAscent } from "./ascent.ts";
import { type ActivationTable, gather, rankCandidates } from "./candidates.ts";
import type { AscentMode } from "./neuron.ts";

/** One attempted flip. */
export interface AdversarialAttempt {
  /** The class pushed for (a neuron of the last layer). */
  target: number;
  /** Index of the start sample in the scanned set. */
  sample: number;
  /** True label of the start sample. */
  label: number;
  /** Prediction before any step. */
  initialPrediction: number;
  /** First iteration at which the prediction equals the target, or null if it never did. */
  flippedAt: number | null;
  /** Prediction after the last step. */
  finalPrediction: number;
  /** Target activation (logit) per iteration `0..I`. */
  targetActivation: number[];
  /** Start image, `[...inputShape]`. */
  start: Float32Array;
  /** Final image, `[...inputShape]`. */
  final: Float32Array;
}

/** The whole adversarial study. */
export interface AdversarialReport {
  /** Every attempt, by target class, then start sample. */
  attempts: AdversarialAttempt[];
  /** Per target class: attempts, successes, mean flip iteration of the successes. */
  perClass: {
    target: number;
    attempts: number;
    flipped: number;
    meanFlipIteration: number | null;
  }[];
  /** Successes / attempts over all classes. */
  successRate: number;
  /** Ascent iterations per attempt. */
  iters: number;
  /** Step size of the ascent. */
  rate: number;
  /** Error injected at the last layer. */
  mode: AscentMode;
}

/** Options of {@link adversarialStudy}. */
export interface AdversarialOptions {
  /** Scanned activations of the last layer over `images` (see `scanActivations`). */
  table: ActivationTable;
  /** The scanned images, `[table.count, ...inputShape]`. */
  images: Float32Array;
  /** Their labels. */
  labels: ArrayLike<number>;
  /** Start samples per target class. Default 1. */
  perClass?: number;
  /** Target classes; default all. */
  targets?: readonly number[];
  /** Ascent iterations per attempt. */
  iters: number;
  /** Step size of the ascent. */
  rate: number;
  /** Error injected at the last layer (default `biased`, which also pushes the others down). */
  mode?: AscentMode;
  /** Clip the image to the data range after each step (see {@link AscentOptions.clip}). */
  clip?: readonly [number, number] | ClipBounds | null;
  /** L2 penalty of the ascent (default 0). */
  l2?: number;
}

/**
 * For every target class, takes the `perClass` samples (of another true class) that activate
 * its neuron the least, runs gradient ascent on that neuron at the last layer, and records
 * whether and when the predicted class flips to the target.
 */
export function adversarialStudy(model: AscentModel, opts: AdversarialOptions): AdversarialReport {
  const { table, images, labels } = opts;
  const last = model.layers.length - 1;
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const perClass = opts.perClass ?? 1;
  const targets = opts.targets ?? Array.from({ length: table.units }, (_, i) => i);
  const mode = opts.mode ?? "unbiased";
  const bottom = rankCandidates(table, perClass, "bottom", (s, u) => labels[s] !== u);
  const starts: number[] = [];
  const goal: number[] = [];
  for (const t of targets) {
    if (!Number.isInteger(t) || t < 0 || t >= table.units) {
      throw new Error(
        `adversarial target ${t} does not exist: the model has ${table.units} classes`,
      );
    }
    for (const s of bottom[t]) {
      starts.push(s);
      goal.push(t);
    }
  }
  const x0 = gather(images, size, starts);
  const res = gradientAscent(model, x0, {
    layer: last,
    targets: goal,
    mode,
    iters: opts.iters,
    rate: opts.rate,
    clip: opts.clip,
    l2: opts.l2,
    classify: true,
    recordEvery: Math.max(1, opts.iters),
  });
  const attempts: AdversarialAttempt[] = starts.map((s, k) => {
    const preds = res.predictions[k];
    const flip = preds.findIndex((p) => p === goal[k]);
    return {
      target: goal[k],
      sample: s,
      label: labels[s],
      initialPrediction: preds[0],
      flippedAt: flip < 0 ? null : flip,
      finalPrediction: preds[preds.length - 1],
      targetActivation: Array.from(res.target[k]),
      start: x0.slice(k * size, (k + 1) * size),
      final: res.final.slice(k * size, (k + 1) * size),
    };
  });
  const perClassRows = targets.map((t) => {
    const mine = attempts.filter((a) => a.target === t);
    const ok = mine.filter((a) => a.flippedAt !== null);
    return {
      target: t,
      attempts: mine.length,
      flipped: ok.length,
      meanFlipIteration: ok.length
        ? ok.reduce((acc, a) => acc + (a.flippedAt as number), 0) / ok.length
        : null,
    };
  });
  const flipped = attempts.filter((a) => a.flippedAt !== null).length;
  return {
    attempts,
    perClass: perClassRows,
    successRate: attempts.length ? flipped / attempts.length : 0,
    iters: opts.iters,
    rate: opts.rate,
    mode,
  };
}
