/**
 * `Scale`: `y = x * w` with a learnable, shared `w` initialised to 1 (SPEC §1).
 * `dx = dy * w`; `dw = dy * x` summed over every axis `w` is shared across. The
 * `proportional` variant (`psc`, from the thesis authors' code) multiplies that gradient by
 * `sqrt(eps² + w²)` with `eps = 1e-6`.
 *
 * `init` sets the initial value (default 1; the residual gates use a Scale initialised to 0 or
 * 0.1). With `ddi` (data-dependent initialisation, SPEC §1b) the layer is one that
 * `dataDependentInit` sets from data: armed, its next forward sets `w = 1 / sqrt(σ² + 1e-6)`
 * from the variance of its input over the axes `w` is shared across.
 *
 * @module
 */
import { ones } from "../init.ts";
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";
import { checkLrMult, LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";
import {
  parseSharing,
  sharedMoments,
  type SharedShape,
  sharedShape,
  type Sharing,
  SHARINGS,
} from "./sharing.ts";
import { boolean, type LayerDef, numberIn, oneOf, optional } from "./spec.ts";

/** `eps²` of proportional scaling: the gradient is multiplied by `sqrt(1e-12 + w²)`. */
export const PROPORTIONAL_EPS2 = 1e-12;

/** Added to the variance by data-dependent initialisation: `w = 1 / sqrt(σ² + 1e-6)`. */
export const DDI_EPS = 1e-6;

/** Options of {@link Scale}. */
export interface ScaleOptions {
  /** Learning-rate multiplier of the scale parameter (default 1). */
  lrMult?: number;
  /** Proportional learning: gradient times `sqrt(1e-12 + w²)` (default false). */
  proportional?: boolean;
  /** Initial value of every entry (default 1). */
  init?: number;
  /** Whether data-dependent initialisation sets this layer (default false; variants `+ddi`). */
  ddi?: boolean;
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
  /** Initial value of every entry. */
  readonly init: number;
  /** Whether data-dependent initialisation sets this layer. */
  readonly ddi: boolean;
  /** The scale parameter, after build. */
  scale: Param | null = null;
  #shape: SharedShape | null = null;
  #initPending = false;

  /** A scale shared `elementwise`, `channelwise` or `layerwise`. */
  constructor(sharing: Sharing, opts: ScaleOptions = {}) {
    super();
    this.sharing = parseSharing("Scale", sharing);
    this.lrMult = opts.lrMult ?? 1;
    checkLrMult("Scale", this.lrMult);
    this.proportional = opts.proportional ?? false;
    this.init = opts.init ?? 1;
    if (typeof this.init !== "number" || !Number.isFinite(this.init)) {
      throw new Error(`Scale: init must be a finite number, got ${this.init}`);
    }
    this.ddi = opts.ddi ?? false;
  }

  /** Arms data-dependent initialisation: the next forward sets `w` from its input. */
  armDataInit(): void {
    this.#initPending = true;
  }

  /** Whether an armed data-dependent initialisation has not happened yet. */
  get dataInitPending(): boolean {
    return this.#initPending;
  }

  /** The sharing in effect after build (channelwise on `[F]` is elementwise). */
  get effectiveSharing(): Sharing {
    return this.#shape?.effective ?? this.sharing;
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    const s = sharedShape(this.sharing, inputShape);
    this.#shape = s;
    const init = ones(s.shape);
    if (this.init !== 1) init.fill(this.init);
    const value = this.upload(s.shape, init);
    this.scale = this.addParam(new Param("scale", value, "scale", { lrMult: this.lrMult }));
    return [...inputShape];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    if (this.#initPending) {
      const { variance } = sharedMoments(x, this.#shape!.broadcast, this.#shape!.shape);
      const w = ops.unary("pow", ops.unary("add_scalar", variance, DDI_EPS), -0.5);
      this.scale!.value.assign(w);
      this.#initPending = false;
    }
    if (this.recording) this.save(x.share());
    return ops.mul(x, this.scale!.value.reshape(this.#shape!.broadcast));
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor, inputGrad: boolean): Tensor | null {
    const [x] = this.saved();
    const w = this.scale!.value.reshape(this.#shape!.broadcast);
    const g = ops.scaleBackward(dy, x, w, inputGrad);
    let dw = g.dw;
    if (this.proportional) {
      const f = ops.unary(
        "sqrt",
        ops.unary("add_scalar", ops.unary("square", w), PROPORTIONAL_EPS2),
      );
      dw = ops.mul(dw, f);
    }
    ops.accumulate(this.scale!.grad, dw);
    return g.dx;
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `${this.effectiveSharing}${this.proportional ? ", proportional" : ""}` +
      (this.lrMult === 1 ? "" : `, lr x${this.lrMult}`) +
      (this.init === 1 ? "" : `, init ${this.init}`) + (this.ddi ? ", ddi" : "");
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
  description:
    "scaling layer y = x * w, w (init 1 or init) shared elementwise, channelwise or layerwise",
  fields: {
    sharing: oneOf(SHARINGS),
    lrMult: optional(numberIn(0)),
    proportional: optional(boolean),
    init: optional(numberIn(0)),
    ddi: optional(boolean),
  },
  example: { spec: { type: "scale", sharing: "elementwise" }, inputShape: [2, 3] },
  layer: Scale,
  build: (s) =>
    new Scale(s.sharing, {
      lrMult: s.lrMult,
      proportional: s.proportional,
      init: s.init,
      ddi: s.ddi,
    }),
  toSpec: (l) => ({
    type: "scale",
    sharing: l.sharing,
    lrMult: l.lrMult,
    proportional: l.proportional,
    init: l.init,
    ddi: l.ddi,
  }),
};
