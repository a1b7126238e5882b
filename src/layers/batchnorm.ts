/**
 * `BatchNorm`: per feature on `[F]` inputs, per channel on `[C, ...]` inputs (`[C, H, W]`
 * after a convolution).
 *
 * Training: batch mean and biased variance, `x̂ = (x - μ) / sqrt(σ² + ε)`, `y = γ x̂ + β`,
 * running statistics updated as `running = (1 - momentum) running + momentum batch` (unbiased
 * variance); the backward pass goes through μ and σ² (`ops.batchNormBackward`).
 * Eval: normalises with the running statistics; backward then treats them as constants.
 *
 * @module
 */
import { ones, zeros } from "../init.ts";
import * as ops from "../ops.ts";
import { shapeSize, Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";
import { type LayerDef, numberIn, optional, positiveNumber } from "./spec.ts";

/** Options of {@link BatchNorm}. */
export interface BatchNormOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Weight of the new batch statistic in the running averages (default 0.1). */
  momentum?: number;
}

/** Batch normalization with learnable `gamma` (init 1) and `beta` (init 0). */
export class BatchNorm extends LayerBase {
  /** Class name. */
  readonly kind = "BatchNorm";
  /** Added to the variance. */
  readonly eps: number;
  /** Running-average momentum. */
  readonly momentum: number;
  /** `[C]` scale, after build. */
  gamma: Param | null = null;
  /** `[C]` shift, after build. */
  beta: Param | null = null;
  /** `[C]` running mean, after build. */
  runningMean: Tensor | null = null;
  /** `[C]` running (unbiased) variance, after build. */
  runningVar: Tensor | null = null;
  #channels = 0;
  #inner = 1;
  #training = true;

  /** Creates the layer; `eps` > 0, `momentum` in [0, 1]. */
  constructor(opts: BatchNormOptions = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    if (!(this.eps > 0) || !Number.isFinite(this.eps)) {
      throw new Error(`BatchNorm: eps must be a finite number > 0, got ${this.eps}`);
    }
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`BatchNorm: momentum must be in [0, 1], got ${this.momentum}`);
    }
  }

  /** Number of normalised features (dense) or channels (conv). */
  get channels(): number {
    return this.#channels;
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    const c = inputShape[0];
    this.#channels = c;
    this.#inner = shapeSize(inputShape.slice(1));
    this.gamma = this.addParam(new Param("gamma", this.upload([c], ones([c])), "bn"));
    this.beta = this.addParam(new Param("beta", this.upload([c], zeros([c])), "bn"));
    this.runningMean = this.addBuffer("runningMean", this.upload([c], zeros([c])));
    this.runningVar = this.addBuffer("runningVar", this.upload([c], ones([c])));
    return [...inputShape];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, ctx: ForwardContext): Tensor {
    this.#training = ctx.training;
    const { y, mean, invStd } = ops.batchNorm(
      x,
      this.gamma!.value,
      this.beta!.value,
      this.runningMean!,
      this.runningVar!,
      { training: ctx.training, momentum: this.momentum, eps: this.eps },
    );
    if (this.recording && ctx.training) {
      this.save(x.share(), mean, invStd);
      return y;
    }
    if (this.recording) this.save(x.share());
    mean.dispose();
    invStd.dispose();
    return y;
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const saved = this.saved();
    const x = saved[0];
    const b = dy.backend;
    const c = this.#channels;
    const n = dy.shape[0];
    const inner = this.#inner;
    if (this.#training) {
      const [, mean, invStd] = saved;
      const g = ops.batchNormBackward(x, dy, this.gamma!.value, mean, invStd);
      ops.accumulate(this.gamma!.grad, g.dgamma);
      ops.accumulate(this.beta!.grad, g.dbeta);
      g.dgamma.dispose();
      g.dbeta.dispose();
      return g.dx;
    }
    // Eval mode: y = gamma * (x - rm) * s + beta with s = (rv + eps)^-1/2 constant.
    const s = ops.unary("pow", ops.unary("add_scalar", this.runningVar!, this.eps), -0.5);
    const x3 = x.reshape([n, c, inner]);
    const dy3 = dy.reshape([n, c, inner]);
    const col = [c, 1];
    const xhat = ops.mul(ops.sub(x3, this.runningMean!.reshape(col)), s.reshape(col));
    ops.accumulate(this.gamma!.grad, ops.sum(ops.mul(dy3, xhat), [0, 2]));
    ops.accumulate(this.beta!.grad, ops.sum(dy3, [0, 2]));
    const k = ops.mul(this.gamma!.value, s).reshape(col);
    const dx = Tensor.zeros(b, dy.shape, dy.dtype);
    ops.mul(dy3, k, dx);
    return dx;
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `${this.#channels}${this.eps === 1e-5 ? "" : `, eps ${this.eps}`}`;
  }
}

/** Spec of a {@link BatchNorm} layer in an architecture: its options. */
export interface BatchNormSpec extends BatchNormOptions {
  /** Layer type. */
  type: "batchnorm";
}

/** Registry entry of {@link BatchNorm}. */
export const batchNormLayer: LayerDef<BatchNormSpec, BatchNorm> = {
  type: "batchnorm",
  description: "batch normalization per feature ([F]) or channel ([C, H, W]), learnable γ, β",
  fields: { eps: optional(positiveNumber), momentum: optional(numberIn(0, 1)) },
  example: { spec: { type: "batchnorm" }, inputShape: [3, 2, 2] },
  layer: BatchNorm,
  build: (s) => new BatchNorm({ eps: s.eps, momentum: s.momentum }),
  toSpec: (l) => ({ type: "batchnorm", eps: l.eps, momentum: l.momentum }),
};
