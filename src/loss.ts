/**
 * Losses: fused, numerically stable softmax cross-entropy (mean over the batch) and mean
 * squared error (mean over all elements). `forward` returns the loss as a number (one scalar
 * copied to the host) and keeps what `backward` needs; `backward` returns a new tensor owned
 * by the caller.
 *
 * @module
 */
import * as ops from "./ops.ts";
import { fmtShape, Tensor, tidy } from "./tensor.ts";

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
    if (logits.rank !== 2 || logits.shape[0] === 0 || logits.shape[1] === 0) {
      throw new Error(
        `SoftmaxCrossEntropy: logits must be [N, K] with N, K >= 1, got ${fmtShape(logits.shape)}`,
      );
    }
    const [n, k] = logits.shape;
    if (labels.rank !== 1 || labels.shape[0] !== n) {
      throw new Error(
        `SoftmaxCrossEntropy: labels must be [${n}] for logits ${fmtShape(logits.shape)}, ` +
          `got ${fmtShape(labels.shape)}`,
      );
    }
    if (labels.backend !== logits.backend || labels.dtype !== logits.dtype) {
      throw new Error(
        `SoftmaxCrossEntropy: labels (${labels.backend.name}, ${labels.dtype}) must live on ` +
          `the logits' backend and dtype (${logits.backend.name}, ${logits.dtype})`,
      );
    }
    const host = labels.toArray();
    for (let i = 0; i < n; i++) {
      const v = host[i];
      if (!Number.isInteger(v) || v < 0 || v >= k) {
        throw new Error(
          `SoftmaxCrossEntropy: label ${v} of sample ${i} is not a class index in [0, ${k})`,
        );
      }
    }
    this.#release();
    const b = logits.backend;
    const probs = Tensor.zeros(b, [n, k], logits.dtype).keep();
    const mean = tidy(() => {
      const losses = Tensor.zeros(b, [n], logits.dtype);
      b.softmaxCrossEntropy(logits.buf, labels.buf, n, k, probs.buf, losses.buf);
      return ops.sum(losses, [0]).item() / n;
    });
    this.#probs = probs;
    this.#labels = labels.clone().keep();
    return mean;
  }

  /** Gradient with respect to the logits of the last forward: `(p - onehot) / N`. */
  backward(): Tensor {
    if (!this.#probs || !this.#labels) {
      throw new Error("SoftmaxCrossEntropy: backward() needs a forward() first");
    }
    const [n, k] = this.#probs.shape;
    const d = Tensor.zeros(this.#probs.backend, [n, k], this.#probs.dtype);
    d.backend.softmaxCrossEntropyBackward(this.#probs.buf, this.#labels.buf, n, k, 1 / n, d.buf);
    return d;
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
