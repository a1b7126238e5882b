/**
 * `Conv2d`: 2-D cross-correlation over NCHW input, computed as im2col + GEMM by the backend's
 * `conv2dForward` / `conv2dBackward` (through `ops.conv2d`).
 *
 * Forward: with `col = im2col(x)` (`[C*k*k, N*OH*OW]`), `y = W [F, C*k*k] × col` reordered to
 * `[N, F, OH, OW]`, plus `b` per filter. Backward, with `dY'` the `[F, N*OH*OW]` reorder of dy:
 * `dW += dY' colᵀ`, `db += Σ dY'`, and, unless dx is not needed, `dx = col2im(Wᵀ dY')`. The
 * layer keeps its input (shared, not copied) rather than the column matrix: the native CPU
 * build rebuilds the columns of a few images at a time in cache, where the whole batch's
 * matrix would run to hundreds of MB for All-CNN-C, and takes 3x3 stride-1 windows through
 * Winograd F(2x2, 3x3) (`cuda/cpu/winograd.c`).
 *
 * @module
 */
import { outSize, type Window2d } from "../backend.ts";
import { heNormal, xavierNormal, zeros } from "../init.ts";
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";
import { checkLrMult, checkNonNegInt, checkPositiveInt, LayerBase } from "./base.ts";
import { checkInit, WEIGHT_INITS, type WeightInit } from "./dense.ts";
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

/** Options of {@link Conv2d}. */
export interface Conv2dOptions {
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
  /** `[filters, C, k, k]`, after build. */
  weight: Param | null = null;
  /** `[filters]`, after build (null without bias). */
  bias: Param | null = null;
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
    const fanIn = c * k * k;
    const shape = [this.filters, c, k, k];
    const data = this.weightInit === "he"
      ? heNormal(ctx.rng, shape, fanIn)
      : xavierNormal(ctx.rng, shape, fanIn, this.filters * k * k);
    this.weight = this.addParam(new Param("weight", this.upload(shape, data), "weight"));
    if (this.hasBias) {
      const b = this.upload([this.filters], zeros([this.filters]));
      this.bias = this.addParam(new Param("bias", b, "bias", { lrMult: this.biasLrMult }));
    }
    return [this.filters, oh, ow];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const k = this.kernel;
    const g = ops.window2d(x.shape, [k, k], [this.stride, this.stride], [this.pad, this.pad]);
    this.#geom = g;
    const y = ops.conv2d(x, this.weight!.value, this.bias ? this.bias.value : null, g);
    if (this.recording) this.save(x.share());
    return y;
  }

  /** Backward pass: accumulates parameter gradients, returns dL/dx (null when not wanted). */
  protected backwardImpl(dy: Tensor, inputGrad: boolean): Tensor | null {
    const [x] = this.saved();
    const w = this.weight!;
    const db = this.bias ? this.bias.grad : null;
    return ops.conv2dBackward(x, w.value, dy, this.#geom!, w.grad, db, inputGrad);
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    const k = this.kernel;
    return `${k}x${k}/${this.stride} p${this.pad}, ${this.filters}` +
      (this.hasBias ? "" : ", no bias") + (this.weightInit === "he" ? "" : ", xavier");
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
  },
  example: {
    spec: { type: "conv", filters: 3, kernel: 3, stride: 2, pad: 1 },
    inputShape: [2, 5, 5],
  },
  layer: Conv2d,
  build: (s) =>
    new Conv2d(s.filters, s.kernel, {
      stride: s.stride,
      pad: s.pad,
      init: s.init,
      bias: s.bias,
      biasLrMult: s.biasLrMult,
    }),
  toSpec: (l) => ({
    type: "conv",
    filters: l.filters,
    kernel: l.kernel,
    stride: l.stride,
    pad: l.pad,
    init: l.weightInit,
    bias: l.hasBias,
    biasLrMult: l.biasLrMult,
  }),
};
