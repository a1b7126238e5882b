/**
 * `Shift`: `y = x + b` with a learnable, shared `b` initialised to 0 (SPEC §1).
 * `dx = dy`; `db = dy` summed over every axis `b` is shared across.
 *
 * With `ddi` (data-dependent initialisation, SPEC §1b) the layer is one that
 * `dataDependentInit` sets from data: armed, its next forward sets `b = -μ`, the mean of its
 * input over the axes `b` is shared across, before computing its output.
 *
 * @module
 */
import { zeros } from "../init.ts";
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

/** Options of {@link Shift}. */
export interface ShiftOptions {
  /** Learning-rate multiplier of the shift parameter (default 1; `sh4` uses 4). */
  lrMult?: number;
  /** Whether data-dependent initialisation sets this layer (default false; variants `+ddi`). */
  ddi?: boolean;
}

/** Shifting layer: adds a learnable parameter shared as `sharing` says. */
export class Shift extends LayerBase {
  /** Class name. */
  readonly kind = "Shift";
  /** Requested sharing mode. */
  readonly sharing: Sharing;
  /** Learning-rate multiplier given to the parameter. */
  readonly lrMult: number;
  /** Whether data-dependent initialisation sets this layer. */
  readonly ddi: boolean;
  /** The shift parameter, after build. */
  shift: Param | null = null;
  #shape: SharedShape | null = null;
  #initPending = false;

  /** A shift shared `elementwise`, `channelwise` or `layerwise`. */
  constructor(sharing: Sharing, opts: ShiftOptions = {}) {
    super();
    this.sharing = parseSharing("Shift", sharing);
    this.lrMult = opts.lrMult ?? 1;
    checkLrMult("Shift", this.lrMult);
    this.ddi = opts.ddi ?? false;
  }

  /** Arms data-dependent initialisation: the next forward sets `b = -μ` from its input. */
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
    const value = this.upload(s.shape, zeros(s.shape));
    this.shift = this.addParam(new Param("shift", value, "shift", { lrMult: this.lrMult }));
    return [...inputShape];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    if (this.#initPending) {
      const { mean } = sharedMoments(x, this.#shape!.broadcast, this.#shape!.shape);
      ops.scale(mean, -1, this.shift!.value);
      this.#initPending = false;
    }
    this.save();
    return ops.add(x, this.shift!.value.reshape(this.#shape!.broadcast));
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    this.saved();
    ops.accumulate(this.shift!.grad, ops.sumTo(dy, this.#shape!.broadcast));
    return dy.share();
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `${this.effectiveSharing}${this.lrMult === 1 ? "" : `, lr x${this.lrMult}`}` +
      (this.ddi ? ", ddi" : "");
  }
}

/** Spec of a {@link Shift} layer in an architecture: its options plus the sharing. */
export interface ShiftSpec extends ShiftOptions {
  /** Layer type. */
  type: "shift";
  /** How the parameter is shared. */
  sharing: Sharing;
}

/** Registry entry of {@link Shift}. */
export const shiftLayer: LayerDef<ShiftSpec, Shift> = {
  type: "shift",
  description: "shifting layer y = x + b, b (init 0) shared elementwise, channelwise or layerwise",
  fields: { sharing: oneOf(SHARINGS), lrMult: optional(numberIn(0)), ddi: optional(boolean) },
  example: { spec: { type: "shift", sharing: "channelwise" }, inputShape: [2, 3, 3] },
  layer: Shift,
  build: (s) => new Shift(s.sharing, { lrMult: s.lrMult, ddi: s.ddi }),
  toSpec: (l) => ({ type: "shift", sharing: l.sharing, lrMult: l.lrMult, ddi: l.ddi }),
};
