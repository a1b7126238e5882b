/**
 * `KWinners`: k-winners-take-all. Per sample, the `k` largest activations (over the flattened
 * per-sample features) pass unchanged, every other one becomes 0; the gradient flows through
 * the winners only. Applies in training and eval alike.
 *
 * @module
 */
import * as ops from "../ops.ts";
import { shapeSize, type Tensor } from "../tensor.ts";
import { checkPositiveInt, LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { type LayerDef, positiveInt } from "./spec.ts";

/** Keeps the `k` largest activations of each sample. */
export class KWinners extends LayerBase {
  /** Class name. */
  readonly kind = "KWinners";

  /** `k` winners per sample (at most the per-sample size, checked at build). */
  constructor(readonly k: number) {
    super();
    checkPositiveInt("KWinners", "k", k);
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    if (shapeSize(inputShape) < this.k) {
      this.rejectShape(`at least k = ${this.k} features per sample`, inputShape);
    }
    return [...inputShape];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const mask = ops.topkMask(x, this.k);
    const y = ops.mul(x, mask);
    this.save(mask);
    return y;
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const [mask] = this.saved();
    return ops.mul(dy, mask);
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `k ${this.k}`;
  }
}

/** Spec of a {@link KWinners} layer in an architecture. */
export interface KWinnersSpec {
  /** Layer type. */
  type: "kwinners";
  /** Winners per sample. */
  k: number;
}

/** Registry entry of {@link KWinners}. */
export const kWinnersLayer: LayerDef<KWinnersSpec, KWinners> = {
  type: "kwinners",
  description: "k-winners-take-all: per sample the k largest activations pass, the rest are 0",
  fields: { k: positiveInt },
  example: { spec: { type: "kwinners", k: 3 }, inputShape: [8] },
  layer: KWinners,
  build: (s) => new KWinners(s.k),
  toSpec: (l) => ({ type: "kwinners", k: l.k }),
};
