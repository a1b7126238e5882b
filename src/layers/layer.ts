/**
 * The layer contract: build/forward/backward over parameters (`Param`, from `../param.ts`).
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
import type { Tensor } from "../tensor.ts";
import type { Param } from "../param.ts";

export { Param, type ParamKind, type ParamOptions } from "../param.ts";

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
  /** Learnable parameters (empty for parameter-free layers; a container's: its sub-layers'). */
  params(): Param[];
  /** A container's sub-layers (a residual block's paths); absent for other layers. */
  children?(): Layer[];
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

/** Every layer of `layers` and, depth first, of their sub-layers, in network order. */
export function allLayers(layers: readonly Layer[]): Layer[] {
  return layers.flatMap((l) => [l, ...allLayers(l.children?.() ?? [])]);
}
