/**
 * `Scale`: `y = x * w` with a learnable, shared `w` initialised to 1 (SPEC §1).
 * `dx = dy * w`; `dw = dy * x` summed over every axis `w` is shared across. The
 * `proportional` variant (`psc`, from the thesis authors' code) multiplies that gradient by
 * `sqrt(eps² + w²)` with `eps = 1e-6`.
 *
 * @module
 */
import { ones } from "../init.ts";
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";
import { checkLrMult, LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";
import { parseSharing, type SharedShape, sharedShape, type Sharing, SHARINGS } from "./sharing.ts";
import { boolean, type LayerDef, numberIn, oneOf, optional } from "./spec.ts";

/** `eps²` of proportional scaling: the gradient is multiplied by `sqrt(1e-12 + w²)`. */
export const PROPORTIONAL_EPS2 = 1e-12;

/** Options of {@link Scale}. */
export interface ScaleOptions {
  /** Learning-rate multiplier of the scale parameter (default 1). */
  lrMult?: number;
  /** Proportional learning: gradient times `sqrt(1e-12 + w²)` (default false). */
  proportional?: boolean;
}

/** Scaling layer: multiplies by a learnable parameter shared as `sharing` says. */
export class Scale extends LayerBase {
  /** Class name. */
  readonly kind = "Scale";
  /** Requested sharing mode. */
  readonly sharing: Sharing;
  /** Learning-rate multiplier given to the parameter. */
  readonly lrMult: number;
  /** Whether the gradient is scaled by `sqrt(1e-12 + w²)`. */
  readonly proportional: boolean;
  /** The scale parameter, after build. */
  scale: Param | null = null;
  #shape: SharedShape | null = null;

  /** A scale shared `elementwise`, `channelwise` or `layerwise`. */
  constructor(sharing: Sharing, opts: ScaleOptions = {}) {
    super();
    this.sharing = parseSharing("Scale", sharing);
    this.lrMult = opts.lrMult ?? 1;
    checkLrMult("Scale", this.lrMult);
    this.proportional = opts.proportional ?? false;
  }

  /** The sharing in effect after build (channelwise on `[F]` is elementwise). */
  get effectiveSharing(): Sharing {
    return this.#shape?.effective ?? this.sharing;
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    const s = sharedShape(this.sharing, inputShape);
    this.#shape = s;
    const value = this.upload(s.shape, ones(s.shape));
    this.scale = this.addParam(new Param("scale", value, "scale", { lrMult: this.lrMult }));
    return [...inputShape];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    if (this.recording) this.save(x.share());
    return ops.mul(x, this.scale!.value.reshape(this.#shape!.broadcast));
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const [x] = this.saved();
    const w = this.scale!.value.reshape(this.#shape!.broadcast);
    let dw = ops.sumTo(ops.mul(dy, x), this.#shape!.broadcast);
    if (this.proportional) {
      const f = ops.unary(
        "sqrt",
        ops.unary("add_scalar", ops.unary("square", w), PROPORTIONAL_EPS2),
      );
      dw = ops.mul(dw, f);
    }
    ops.accumulate(this.scale!.grad, dw);
    return ops.mul(dy, w);
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `${this.effectiveSharing}${this.proportional ? ", proportional" : ""}` +
      (this.lrMult === 1 ? "" : `, lr x${this.lrMult}`);
  }
}

/** Spec of a {@link Scale} layer in an architecture: its options plus the sharing. */
export interface ScaleSpec extends ScaleOptions {
  /** Layer type. */
  type: "scale";
  /** How the parameter is shared. */
  sharing: Sharing;
}

/** Registry entry of {@link Scale}. */
export const scaleLayer: LayerDef<ScaleSpec, Scale> = {
  type: "scale",
  description: "scaling layer y = x * w, w (init 1) shared elementwise, channelwise or layerwise",
  fields: {
    sharing: oneOf(SHARINGS),
    lrMult: optional(numberIn(0)),
    proportional: optional(boolean),
  },
  example: { spec: { type: "scale", sharing: "elementwise" }, inputShape: [2, 3] },
  layer: Scale,
  build: (s) => new Scale(s.sharing, { lrMult: s.lrMult, proportional: s.proportional }),
  toSpec: (l) => ({
    type: "scale",
    sharing: l.sharing,
    lrMult: l.lrMult,
    proportional: l.proportional,
  }),
};
