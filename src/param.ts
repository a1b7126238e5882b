/**
 * `Param`: a learnable tensor with its gradient and per-parameter metadata (kind,
 * learning-rate multiplier, weight decay on/off), as ConvNetJS keeps it, so optimizers stay one
 * generic loop. Layers create them; optimizers and checkpoints read them.
 *
 * @module
 */
import { Tensor } from "./tensor.ts";

/**
 * What a parameter is, for optimizers and weight-decay defaults: a conv/dense `weight` or
 * `bias`, a `shift` or `scale` layer's parameter, a normalisation layer's γ or β (`bn`, also
 * for LayerNorm and GroupNorm), or the gain of a weight-standardised layer (`gain`).
 */
export type ParamKind = "weight" | "bias" | "shift" | "scale" | "bn" | "gain";

/** Options of a {@link Param}. */
export interface ParamOptions {
  /** Learning-rate multiplier (ConvNetJS style); default 1. */
  lrMult?: number;
  /** Whether weight decay applies; default true for `weight`, false for the other kinds. */
  decay?: boolean;
  /**
   * Whether adaptive gradient clipping (the optimizer's `agc` option) applies, per output unit
   * (the first axis); default true for `weight`, false for the other kinds. The variant builder
   * turns it off for the classifier's weight, as Brock et al. (2021) do.
   */
  agc?: boolean;
}

/** A learnable tensor with its gradient and metadata. */
export class Param {
  /** Gradient accumulator, same shape as `value`. */
  readonly grad: Tensor;
  /** Learning-rate multiplier. */
  lrMult: number;
  /** Whether weight decay applies. */
  decay: boolean;
  /** Whether adaptive gradient clipping applies (when the optimizer has `agc`). */
  agc: boolean;

  /** Wraps `value`; allocates a zero gradient beside it. */
  constructor(
    public name: string,
    readonly value: Tensor,
    readonly kind: ParamKind,
    opts: ParamOptions = {},
  ) {
    const lrMult = opts.lrMult ?? 1;
    if (!(lrMult >= 0) || !Number.isFinite(lrMult)) {
      throw new Error(`parameter ${name}: learning-rate multiplier must be >= 0, got ${lrMult}`);
    }
    this.lrMult = lrMult;
    this.decay = opts.decay ?? kind === "weight";
    this.agc = opts.agc ?? kind === "weight";
    this.grad = Tensor.zeros(value.backend, value.shape, value.dtype).keep();
    value.keep();
  }

  /** Sets the gradient to zero. */
  zeroGrad(): void {
    this.grad.backend.fill(this.grad.buf, 0);
  }

  /** Releases value and gradient. */
  dispose(): void {
    this.value.dispose();
    this.grad.dispose();
  }
}
