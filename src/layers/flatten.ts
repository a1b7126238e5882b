/**
 * `Flatten`: `[N, ...shape]` → `[N, prod(shape)]` (a copy; no parameters).
 *
 * @module
 */
import { shapeSize, type Tensor } from "../tensor.ts";
import { copyAs, LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";

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
    return copyAs(x, [x.shape[0], shapeSize(x.shape.slice(1))]);
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    this.saved();
    return copyAs(dy, this.#inBatch);
  }
}
