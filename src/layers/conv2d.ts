/**
 * `Conv2d`: 2-D cross-correlation over NCHW input, computed as im2col + GEMM by the backend's
 * `conv2dForward` / `conv2dBackward` (through `ops.conv2d`).
 *
 * Forward: with `col = im2col(x)` (`[C*k*k, N*OH*OW]`), `y = W [F, C*k*k] × col` reordered to
 * `[N, F, OH, OW]`, plus `b` per filter. Backward, with `dY'` the `[F, N*OH*OW]` reorder of dy:
 * `dW += dY' colᵀ`, `db += Σ dY'`, and, unless dx is not needed, `dx = col2im(Wᵀ dY')`. The
 * layer keeps its input (shared, not copied), and, when training, the column matrix too where
 * the backend builds one (`conv2dColumns`) of at most {@link COLUMN_CACHE_MAX} elements, so
 * that the backward does not build it again; the native CPU build takes 3x3 stride-1 windows
 * through Winograd F(2x2, 3x3) (`cuda/cpu/winograd.c`, no columns), and All-CNN-C's whole-batch
 * matrices would run to hundreds of MB, which the backward then rebuilds a few images at a
 * time. With `ws` the layer computes with the standardised weight `Ŵ` (see `weight.ts`) and
 * maps dL/dŴ back to the weight and its gain.
 *
 * @module
 */
import { outSize, type Window2d } from "../backend.ts";
import { zeros } from "../init.ts";
import * as ops from "../ops.ts";
import { Tensor } from "../tensor.ts";
import { checkLrMult, checkNonNegInt, checkPositiveInt, LayerBase } from "./base.ts";
import {
  checkInit,
  WEIGHT_FIELDS,
  WEIGHT_INITS,
  weightDescription,
  weightedFields,
  weightedOptions,
  type WeightInit,
} from "./dense.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";
import {
  boolean,
  type LayerDef,
  nonNegativeInt,
  numberIn,
  oneOf,
  optional,
  positiveInt,
  width,
} from "./spec.ts";
import {
  checkInitGain,
  effectiveWeight,
  initialWeights,
  standardizeWeight,
  standardizeWeightBackward,
  type WeightOptions,
  wsGain,
} from "./weight.ts";

/**
 * Largest column cache a training forward keeps for its backward (elements: 64 MB), so that a
 * network with wide early layers does not hold a matrix per layer (All-CNN-C's 32x32 layers would
 * keep 113 MB each on one thread).
 */
export const COLUMN_CACHE_MAX = 1 << 24;

/** Options of {@link Conv2d}. */
export interface Conv2dOptions extends WeightOptions {
  /** Stride (default 1). */
  stride?: number;
  /** Zero padding on every side (default 0). */
  pad?: number;
  /** Weight initialisation: He normal (default, fan-in `C*k*k`) or Xavier normal. */
  init?: WeightInit;
  /** Whether the layer has a per-filter bias (default true). */
  bias?: boolean;
  /** Learning-rate multiplier of the bias (default 1; the `biasedK` variants use K). */
  biasLrMult?: number;
}

/** Convolution layer on `[N, C, H, W]` inputs; weight `[filters, C, k, k]`. */
export class Conv2d extends LayerBase {
  /** Class name. */
  readonly kind = "Conv2d";
  /** Stride. */
  readonly stride: number;
  /** Zero padding. */
  readonly pad: number;
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
  /** `[filters, C, k, k]`, after build. */
  weight: Param | null = null;
  /** `[filters]`, after build (null without bias). */
  bias: Param | null = null;
  /** `[filters]` gain of the standardised weight, after build (null without `ws`). */
  gain: Param | null = null;
  #geom: Window2d | null = null;

  /** `filters` output channels with `kernel x kernel` windows. */
  constructor(readonly filters: number, readonly kernel: number, opts: Conv2dOptions = {}) {
    super();
    checkPositiveInt("Conv2d", "filters", filters);
    checkPositiveInt("Conv2d", "kernel", kernel);
    this.stride = opts.stride ?? 1;
    this.pad = opts.pad ?? 0;
    checkPositiveInt("Conv2d", "stride", this.stride);
    checkNonNegInt("Conv2d", "pad", this.pad);
    this.weightInit = checkInit("Conv2d", opts.init ?? "he");
    this.hasBias = opts.bias ?? true;
    this.biasLrMult = opts.biasLrMult ?? 1;
    checkLrMult("Conv2d", this.biasLrMult);
    this.lrMult = opts.lrMult ?? 1;
    checkLrMult("Conv2d", this.lrMult);
    this.ws = opts.ws ?? false;
    this.initGain = checkInitGain("Conv2d", opts.initGain ?? 1);
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], ctx: BuildContext): number[] {
    if (inputShape.length !== 3) this.rejectShape("[C, H, W]", inputShape);
    const [c, h, w] = inputShape;
    const k = this.kernel;
    const oh = outSize(h, k, this.stride, this.pad);
    const ow = outSize(w, k, this.stride, this.pad);
    if (oh <= 0 || ow <= 0) {
      this.rejectShape(
        `[C, H, W] with H and W >= ${k - 2 * this.pad} (kernel ${k}, pad ${this.pad})`,
        inputShape,
      );
    }
    const shape = [this.filters, c, k, k];
    const data = initialWeights(
      ctx.rng,
      shape,
      this.weightInit,
      c * k * k,
      this.filters * k * k,
      this.initGain,
    );
    const lrMult = this.lrMult;
    this.weight = this.addParam(
      new Param("weight", this.upload(shape, data), "weight", { lrMult }),
    );
    if (this.hasBias) {
      const b = this.upload([this.filters], zeros([this.filters]));
      this.bias = this.addParam(new Param("bias", b, "bias", { lrMult: this.biasLrMult }));
    }
    if (this.ws) this.gain = this.addParam(wsGain((s, d) => this.upload(s, d), this.filters));
    return [this.filters, oh, ow];
  }

  /** The weight the layer computes with: `Ŵ` with `ws`, else a copy of `W`. */
  effectiveWeight(): Tensor {
    return effectiveWeight(this.weight!.value, this.gain?.value ?? null);
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const k = this.kernel;
    const g = ops.window2d(x.shape, [k, k], [this.stride, this.stride], [this.pad, this.pad]);
    this.#geom = g;
    const s = this.gain ? standardizeWeight(this.weight!.value, this.gain.value) : null;
    const w = s ? s.weight : this.weight!.value;
    const size = this.recording ? x.backend.conv2dColumns(g, this.filters) : 0;
    const cols = size > 0 && size <= COLUMN_CACHE_MAX
      ? Tensor.empty(x.backend, [size], x.dtype)
      : null;
    const y = ops.conv2d(x, w, this.bias ? this.bias.value : null, g, cols);
    // saved: the input, the standardised weight's three tensors with `ws`, then the cache if any
    if (this.recording) {
      this.save(x.share(), ...(s ? [s.weight, s.xhat, s.r] : []), ...(cols ? [cols] : []));
    }
    return y;
  }

  /** Backward pass: accumulates parameter gradients, returns dL/dx (null when not wanted). */
  protected backwardImpl(dy: Tensor, inputGrad: boolean): Tensor | null {
    const [x, ...rest] = this.saved();
    const [wHat, xhat, r] = this.gain ? rest : [];
    const cols = rest[this.gain ? 3 : 0] ?? null;
    const w = this.weight!;
    const dw = this.gain ? Tensor.zeros(dy.backend, w.value.shape, dy.dtype) : w.grad;
    const db = this.bias ? this.bias.grad : null;
    const dx = ops.conv2dBackward(x, wHat ?? w.value, dy, this.#geom!, dw, db, inputGrad, cols);
    if (this.gain) standardizeWeightBackward(dw, { xhat, r }, w, this.gain);
    return dx;
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    const k = this.kernel;
    return `${k}x${k}/${this.stride} p${this.pad}, ${this.filters}` +
      (this.hasBias ? "" : ", no bias") + (this.weightInit === "he" ? "" : ", xavier") +
      weightDescription(this);
  }
}

/** Spec of a {@link Conv2d} layer in an architecture: its options plus filters and kernel. */
export interface Conv2dSpec extends Conv2dOptions {
  /** Layer type. */
  type: "conv";
  /** Output channels (scaled by an architecture's `width` option). */
  filters: number;
  /** Window size (square). */
  kernel: number;
}

/** Registry entry of {@link Conv2d}. */
export const convLayer: LayerDef<Conv2dSpec, Conv2d> = {
  type: "conv",
  description: "2-D convolution (cross-correlation) on [C, H, W] inputs, square windows",
  fields: {
    filters: width(positiveInt),
    kernel: positiveInt,
    stride: optional(positiveInt),
    pad: optional(nonNegativeInt),
    init: optional(oneOf(WEIGHT_INITS)),
    bias: optional(boolean),
    biasLrMult: optional(numberIn(0)),
    ...WEIGHT_FIELDS,
  },
  example: {
    spec: { type: "conv", filters: 3, kernel: 3, stride: 2, pad: 1 },
    inputShape: [2, 5, 5],
  },
  layer: Conv2d,
  build: (s) =>
    new Conv2d(s.filters, s.kernel, { stride: s.stride, pad: s.pad, ...weightedOptions(s) }),
  toSpec: (l) => ({
    type: "conv",
    filters: l.filters,
    kernel: l.kernel,
    stride: l.stride,
    pad: l.pad,
    ...weightedFields(l),
  }),
};
