/**
 * The layer contract: parameters with metadata, build/forward/backward.
 *
 * A layer is constructed from hyperparameters only (validated at once), then `build` gives it
 * the per-sample input shape, the backend and the random generator, creating its parameters.
 * `forward` caches what `backward` needs; `backward` returns the input gradient and adds
 * parameter gradients into each `Param.grad` (callers zero them once per step).
 *
 * @module
 */
import type { Backend, DType } from "../backend.ts";
import type { Rng } from "../rng.ts";
import { Tensor } from "../tensor.ts";

/** What a parameter is, for optimizers and weight-decay defaults. */
export type ParamKind = "weight" | "bias" | "shift" | "scale" | "bn";

/** Options of a {@link Param}. */
export interface ParamOptions {
  /** Learning-rate multiplier (ConvNetJS style); default 1. */
  lrMult?: number;
  /** Whether weight decay applies; default true for `weight`, false for the other kinds. */
  decay?: boolean;
}

/** A learnable tensor with its gradient and metadata. */
export class Param {
  /** Gradient accumulator, same shape as `value`. */
  readonly grad: Tensor;
  /** Learning-rate multiplier. */
  lrMult: number;
  /** Whether weight decay applies. */
  decay: boolean;

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

/** Everything `build` needs. */
export interface BuildContext {
  /** Backend that holds the parameters. */
  backend: Backend;
  /** Element type of the parameters and activations. */
  dtype: DType;
  /** The initialisation generator (stream `Streams.init`), advanced by each layer in order. */
  rng: Rng;
}

/** Per-call forward options. */
export interface ForwardContext {
  /** Training mode (dropout active, batch norm uses batch statistics). */
  training: boolean;
  /** Seed of the run, for dropout masks. */
  seed: number;
  /** Global step counter, so every step draws fresh dropout masks. */
  step: number;
  /**
   * When true, layers keep nothing for `backward` (inference only: evaluation, prediction);
   * a later `backward` throws. Default false: `backward` works in both modes, training and
   * eval (gradient-ascent visualisation backpropagates through an eval-mode network).
   */
  noGrad?: boolean;
}

/** A network layer. */
export interface Layer {
  /** Class name, e.g. `Conv2d`. */
  readonly kind: string;
  /** Instance name, unique inside a model (set by the model, e.g. `3_conv`). */
  name: string;
  /**
   * Creates parameters for the per-sample input shape (no batch axis) and returns the
   * per-sample output shape. Throws, naming the layer and the shape, when it cannot accept it.
   */
  build(inputShape: readonly number[], ctx: BuildContext): number[];
  /** Forward pass on a batch `[N, ...inputShape]`. */
  forward(x: Tensor, ctx: ForwardContext): Tensor;
  /** Backward pass for the last forward; returns dL/dx and accumulates parameter gradients. */
  backward(dy: Tensor): Tensor;
  /**
   * Backward pass that only accumulates parameter gradients: for the first layer of a network
   * in training, where dL/dx is not needed (a conv or dense layer then skips one GEMM, and a
   * conv its col2im). Optional: without it callers use `backward` and drop the result.
   */
  backwardParams?(dy: Tensor): void;
  /** Learnable parameters (empty for parameter-free layers). */
  params(): Param[];
  /** Non-learned persistent state (batch-norm running statistics), saved with the model. */
  buffers(): Record<string, Tensor>;
  /** A short description of hyperparameters for `summary()`, e.g. `3x3/1 p1, 96`. */
  describe(): string;
  /** Releases parameters and cached tensors. */
  dispose(): void;
}

/** Throws the standard shape-mismatch error naming the layer and both shapes. */
export function shapeError(
  layer: { kind: string; name: string },
  expected: string,
  got: readonly number[],
): never {
  throw new Error(
    `${layer.kind} '${layer.name}': expected input shape ${expected}, got [${got.join(", ")}]`,
  );
}
