/**
 * `Dense`: fully connected layer `y = x Wᵀ + b` with `W` of shape `[units, fanIn]`; with `ws`
 * the layer computes with the standardised weight `Ŵ` (see `weight.ts`).
 *
 * @module
 */
import { zeros } from "../init.ts";
import * as ops from "../ops.ts";
import { Tensor } from "../tensor.ts";
import { checkLrMult, checkPositiveInt, LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";
import { boolean, type LayerDef, numberIn, oneOf, optional, positiveInt, width } from "./spec.ts";
import {
  checkInitGain,
  effectiveWeight,
  initialWeights,
  standardizeWeight,
  standardizeWeightBackward,
  type WeightOptions,
  wsGain,
} from "./weight.ts";

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
export interface DenseOptions extends WeightOptions {
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
  /** Learning-rate multiplier of the weight. */
  readonly lrMult: number;
  /** Whether the weight is standardised (scaled weight standardisation, with a gain). */
  readonly ws: boolean;
  /** Factor of the initial weights. */
  readonly initGain: number;
  /** `[units, fanIn]`, after build. */
  weight: Param | null = null;
  /** `[units]`, after build (null without bias). */
  bias: Param | null = null;
  /** `[units]` gain of the standardised weight, after build (null without `ws`). */
  gain: Param | null = null;

  /** `units` output features. */
  constructor(readonly units: number, opts: DenseOptions = {}) {
    super();
    checkPositiveInt("Dense", "units", units);
    this.weightInit = checkInit("Dense", opts.init ?? "he");
    this.hasBias = opts.bias ?? true;
    this.biasLrMult = opts.biasLrMult ?? 1;
    checkLrMult("Dense", this.biasLrMult);
    this.lrMult = opts.lrMult ?? 1;
    checkLrMult("Dense", this.lrMult);
    this.ws = opts.ws ?? false;
    this.initGain = checkInitGain("Dense", opts.initGain ?? 1);
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], ctx: BuildContext): number[] {
    if (inputShape.length !== 1) this.rejectShape("[F] (flatten first)", inputShape);
    const fanIn = inputShape[0];
    const shape = [this.units, fanIn];
    const w = initialWeights(ctx.rng, shape, this.weightInit, fanIn, this.units, this.initGain);
    const lrMult = this.lrMult;
    this.weight = this.addParam(new Param("weight", this.upload(shape, w), "weight", { lrMult }));
    if (this.hasBias) {
      const b = this.upload([this.units], zeros([this.units]));
      this.bias = this.addParam(new Param("bias", b, "bias", { lrMult: this.biasLrMult }));
    }
    if (this.ws) this.gain = this.addParam(wsGain((s, d) => this.upload(s, d), this.units));
    return [this.units];
  }

  /** The weight the layer computes with: `Ŵ` with `ws`, else a copy of `W`. */
  effectiveWeight(): Tensor {
    return effectiveWeight(this.weight!.value, this.gain?.value ?? null);
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const s = this.gain ? standardizeWeight(this.weight!.value, this.gain.value) : null;
    const y = ops.matmul(x, s ? s.weight : this.weight!.value, { transB: true });
    if (this.bias) ops.add(y, this.bias.value, y);
    if (this.recording) this.save(x.share(), ...(s ? [s.weight, s.xhat, s.r] : []));
    return y;
  }

  /** Backward pass: accumulates parameter gradients, returns dL/dx (null when not wanted). */
  protected backwardImpl(dy: Tensor, inputGrad: boolean): Tensor | null {
    const [x, wHat, xhat, r] = this.saved();
    const w = this.weight!;
    const dw = this.gain ? Tensor.zeros(dy.backend, w.value.shape, dy.dtype) : w.grad;
    ops.matmul(dy, x, { transA: true, beta: 1, out: dw });
    if (this.gain) standardizeWeightBackward(dw, { xhat, r }, w, this.gain);
    if (this.bias) ops.accumulate(this.bias.grad, ops.sum(dy, [0]));
    return inputGrad ? ops.matmul(dy, wHat ?? w.value) : null;
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `${this.units}${this.hasBias ? "" : ", no bias"}${
      this.weightInit === "he" ? "" : ", xavier"
    }${weightDescription(this)}`;
  }
}

/** The weight options of a conv or dense layer for `describe()`, e.g. `, ws, lr x0`. */
export function weightDescription(l: Required<WeightOptions>): string {
  return (l.ws ? ", ws" : "") + (l.lrMult === 1 ? "" : `, lr x${l.lrMult}`) +
    (l.initGain === 1 ? "" : `, init x${Number(l.initGain.toPrecision(4))}`);
}

/** The registry rules of the {@link WeightOptions} fields, shared by conv and dense. */
export const WEIGHT_FIELDS = {
  lrMult: optional(numberIn(0)),
  ws: optional(boolean),
  initGain: optional(numberIn(0)),
} as const;

/** The options a conv or dense spec gives its layer unchanged. */
export function weightedOptions(s: DenseOptions): DenseOptions {
  const { init, bias, biasLrMult, lrMult, ws, initGain } = s;
  return { init, bias, biasLrMult, lrMult, ws, initGain };
}

/** {@link weightedOptions} read back from a conv or dense layer, every field given. */
export function weightedFields(
  l: Dense | Pick<Dense, "weightInit" | "hasBias" | "biasLrMult" | "lrMult" | "ws" | "initGain">,
): Required<DenseOptions> {
  return {
    init: l.weightInit,
    bias: l.hasBias,
    biasLrMult: l.biasLrMult,
    lrMult: l.lrMult,
    ws: l.ws,
    initGain: l.initGain,
  };
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
    ...WEIGHT_FIELDS,
  },
  example: { spec: { type: "dense", units: 4 }, inputShape: [5] },
  layer: Dense,
  build: (s) => new Dense(s.units, weightedOptions(s)),
  toSpec: (l) => ({ type: "dense", units: l.units, ...weightedFields(l) }),
};
