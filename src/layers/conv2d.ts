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
import { checkNonNegInt, checkPositiveInt, LayerBase } from "./base.ts";
import { checkInit, type WeightInit } from "./dense.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";

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
      this.bias = this.addParam(new Param("bias", b, "bias"));
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
