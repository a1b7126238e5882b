/**
 * Losses: fused, numerically stable softmax cross-entropy (mean over the batch) and mean
 * squared error (mean over all elements). `forward` returns the loss as a number (one scalar
 * copied to the host) and keeps what `backward` needs; `backward` returns a new tensor owned
 * by the caller.
 *
 * @module
 */
import * as ops from "./ops.ts";
import { fmtShape, type Tensor, tidy } from "./tensor.ts";

/** Softmax cross-entropy over logits `[N, K]` and class-index labels `[N]` (as floats). */
export class SoftmaxCrossEntropy {
  #probs: Tensor | null = null;
  #labels: Tensor | null = null;

  /** Softmax probabilities `[N, K]` of the last forward (owned by the loss). */
  get probs(): Tensor | null {
    return this.#probs;
  }

  /**
   * Mean cross-entropy of the batch. Labels must be integers in `[0, K)`; anything else
   * throws naming the sample.
   */
  forward(logits: Tensor, labels: Tensor): number {
    const { probs, losses } = ops.softmaxCrossEntropy(logits, labels, "SoftmaxCrossEntropy");
    this.#release();
    const n = logits.shape[0];
    const mean = tidy(() => ops.sum(losses, [0]).item() / n);
    losses.dispose();
    this.#probs = probs.keep();
    this.#labels = labels.clone().keep();
    return mean;
  }

  /** Gradient with respect to the logits of the last forward: `(p - onehot) / N`. */
  backward(): Tensor {
    if (!this.#probs || !this.#labels) {
      throw new Error("SoftmaxCrossEntropy: backward() needs a forward() first");
    }
    const n = this.#probs.shape[0];
    return ops.softmaxCrossEntropyBackward(this.#probs, this.#labels, 1 / n);
  }

  #release(): void {
    this.#probs?.dispose();
    this.#labels?.dispose();
    this.#probs = null;
    this.#labels = null;
  }

  /** Releases the cached tensors. */
  dispose(): void {
    this.#release();
  }
}

/** Mean squared error over all elements: `mean((pred - target)²)`. */
export class MeanSquaredError {
  #diff: Tensor | null = null;

  /** The loss; `pred` and `target` must have the same shape. */
  forward(pred: Tensor, target: Tensor): number {
    if (
      pred.rank !== target.rank || pred.shape.some((d, i) => d !== target.shape[i]) ||
      pred.size === 0
    ) {
      throw new Error(
        `MeanSquaredError: prediction ${fmtShape(pred.shape)} and target ` +
          `${fmtShape(target.shape)} must have the same non-empty shape`,
      );
    }
    this.dispose();
    const diff = ops.sub(pred, target).keep();
    this.#diff = diff;
    return tidy(() => {
      const sq = ops.unary("square", diff);
      return ops.sum(sq, sq.shape.map((_, i) => i)).item() / diff.size;
    });
  }

  /** Gradient with respect to the prediction: `2 (pred - target) / size`. */
  backward(): Tensor {
    if (!this.#diff) throw new Error("MeanSquaredError: backward() needs a forward() first");
    return ops.scale(this.#diff, 2 / this.#diff.size);
  }

  /** Releases the cached difference. */
  dispose(): void {
    this.#diff?.dispose();
    this.#diff = null;
  }
}
