/**
 * `Identity`: `y = x`, `dx = dy`, no parameters. A placeholder for an architecture that needs
 * a layer doing nothing, and the smallest example of a registered layer: this file and one
 * line in `registered.ts` are all it took.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import type { LayerDef } from "./spec.ts";

/** Passes its input through unchanged. */
export class Identity extends LayerBase {
  /** Class name. */
  readonly kind = "Identity";

  /** Accepts any per-sample shape and keeps it. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    return [...inputShape];
  }

  /** Forward pass: the input itself (shared, not copied). */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    return x.share();
  }

  /** Backward pass: dL/dx = dL/dy. */
  protected backwardImpl(dy: Tensor): Tensor {
    this.saved();
    return dy.share();
  }
}

/** Spec of an {@link Identity} layer in an architecture. */
export interface IdentitySpec {
  /** Layer type. */
  type: "identity";
}

/** Registry entry of {@link Identity}. */
export const identityLayer: LayerDef<IdentitySpec, Identity> = {
  type: "identity",
  description: "identity, y = x: a layer that does nothing",
  fields: {},
  example: { spec: { type: "identity" }, inputShape: [2, 3] },
  layer: Identity,
  build: () => new Identity(),
  toSpec: () => ({ type: "identity" }),
};
