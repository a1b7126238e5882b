/**
 * `Dense`: fully connected layer `y = x Wᵀ + b` with `W` of shape `[units, fanIn]`.
 *
 * @module
 */
import { heNormal, xavierNormal, zeros } from "../init.ts";
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";
import { checkLrMult, checkPositiveInt, LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";
import { boolean, type LayerDef, numberIn, oneOf, optional, positiveInt, width } from "./spec.ts";

/** The weight initialisation schemes of conv and dense layers. */
export const WEIGHT_INITS = ["he", "xavier"] as const;

/** Weight initialisation scheme of a conv or dense layer. */
export type WeightInit = typeof WEIGHT_INITS[number];

/** Throws unless `init` is a known scheme. */
export function checkInit(kind: string, init: unknown): WeightInit {
  if (init !== "he" && init !== "xavier") {
    throw new Error(`${kind}: unknown init '${String(init)}', expected one of: he, xavier`);
  }
  return init;
}

/** Options of {@link Dense}. */
export interface DenseOptions {
  /** Weight initialisation: He normal (default) or Xavier normal. */
  init?: WeightInit;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Learning-rate multiplier of the bias (default 1; the `biasedK` variants use K). */
  biasLrMult?: number;
}

/** Fully connected layer on `[N, F]` inputs. */
export class Dense extends LayerBase {
  /** Class name. */
  readonly kind = "Dense";
  /** Weight initialisation scheme. */
  readonly weightInit: WeightInit;
  /** Whether a bias is learned. */
  readonly hasBias: boolean;
  /** Learning-rate multiplier of the bias. */
  readonly biasLrMult: number;
  /** `[units, fanIn]`, after build. */
  weight: Param | null = null;
  /** `[units]`, after build (null without bias). */
  bias: Param | null = null;

  /** `units` output features. */
  constructor(readonly units: number, opts: DenseOptions = {}) {
    super();
    checkPositiveInt("Dense", "units", units);
    this.weightInit = checkInit("Dense", opts.init ?? "he");
    this.hasBias = opts.bias ?? true;
    this.biasLrMult = opts.biasLrMult ?? 1;
    checkLrMult("Dense", this.biasLrMult);
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], ctx: BuildContext): number[] {
    if (inputShape.length !== 1) this.rejectShape("[F] (flatten first)", inputShape);
    const fanIn = inputShape[0];
    const shape = [this.units, fanIn];
    const w = this.weightInit === "he"
      ? heNormal(ctx.rng, shape, fanIn)
      : xavierNormal(ctx.rng, shape, fanIn, this.units);
    this.weight = this.addParam(new Param("weight", this.upload(shape, w), "weight"));
    if (this.hasBias) {
      const b = this.upload([this.units], zeros([this.units]));
      this.bias = this.addParam(new Param("bias", b, "bias", { lrMult: this.biasLrMult }));
    }
    return [this.units];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const y = ops.matmul(x, this.weight!.value, { transB: true });
    if (this.bias) ops.add(y, this.bias.value, y);
    if (this.recording) this.save(x.share());
    return y;
  }

  /** Backward pass: accumulates parameter gradients, returns dL/dx (null when not wanted). */
  protected backwardImpl(dy: Tensor, inputGrad: boolean): Tensor | null {
    const [x] = this.saved();
    const w = this.weight!;
    ops.matmul(dy, x, { transA: true, beta: 1, out: w.grad });
    if (this.bias) ops.accumulate(this.bias.grad, ops.sum(dy, [0]));
    return inputGrad ? ops.matmul(dy, w.value) : null;
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `${this.units}${this.hasBias ? "" : ", no bias"}${
      this.weightInit === "he" ? "" : ", xavier"
    }`;
  }
}

/** Spec of a {@link Dense} layer in an architecture: its options plus the width. */
export interface DenseSpec extends DenseOptions {
  /** Layer type. */
  type: "dense";
  /** Output features (scaled by an architecture's `width` option). */
  units: number;
}

/** Registry entry of {@link Dense}. */
export const denseLayer: LayerDef<DenseSpec, Dense> = {
  type: "dense",
  description: "fully connected, y = x Wᵀ + b, on [F] inputs",
  fields: {
    units: width(positiveInt),
    init: optional(oneOf(WEIGHT_INITS)),
    bias: optional(boolean),
    biasLrMult: optional(numberIn(0)),
  },
  example: { spec: { type: "dense", units: 4 }, inputShape: [5] },
  layer: Dense,
  build: (s) => new Dense(s.units, { init: s.init, bias: s.bias, biasLrMult: s.biasLrMult }),
  toSpec: (l) => ({
    type: "dense",
    units: l.units,
    init: l.weightInit,
    bias: l.hasBias,
    biasLrMult: l.biasLrMult,
  }),
};
