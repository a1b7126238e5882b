/**
 * `Flatten`: `[N, ...shape]` → `[N, prod(shape)]` (the same memory under the new shape, no copy;
 * no parameters).
 *
 * @module
 */
import { shapeSize, type Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import type { LayerDef } from "./spec.ts";

/** Flattens every per-sample axis into one. */
export class Flatten extends LayerBase {
  /** Class name. */
  readonly kind = "Flatten";
  #inBatch: readonly number[] = [];

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    return [shapeSize(inputShape)];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    this.#inBatch = x.shape;
    return x.share([x.shape[0], shapeSize(x.shape.slice(1))]);
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    this.saved();
    return dy.share(this.#inBatch);
  }
}

/** Spec of a {@link Flatten} layer in an architecture. */
export interface FlattenSpec {
  /** Layer type. */
  type: "flatten";
}

/** Registry entry of {@link Flatten}. */
export const flattenLayer: LayerDef<FlattenSpec, Flatten> = {
  type: "flatten",
  description: "flattens every per-sample axis into one: [C, H, W] -> [C*H*W]",
  fields: {},
  example: { spec: { type: "flatten" }, inputShape: [3, 2, 2] },
  layer: Flatten,
  build: () => new Flatten(),
  toSpec: () => ({ type: "flatten" }),
};
