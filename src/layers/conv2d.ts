/**
 * `Conv2d`: 2-D cross-correlation over NCHW input via im2col + GEMM.
 *
 * Forward: `col = im2col(x)` is `[C*k*k, N*OH*OW]`; `W [F, C*k*k] × col` gives
 * `[F, N*OH*OW]`, which swapAxes01 reorders to `[N, F, OH, OW]`; then `+ b` per channel.
 * Backward: `dY' = swapAxes01(dy)` is `[F, N*OH*OW]`; `dW += dY' colᵀ`; `db += sum(dy, (0, 2,
 * 3))`; then, unless dx is not needed, `dcol = Wᵀ dY'` and `dx = col2im(dcol)`. A 1x1
 * convolution with stride 1 and no padding skips im2col: `x [N, C, HW]` swapped to `[C, N*HW]`
 * is already the column matrix.
 *
 * @module
 */
import { outSize, type Window2d } from "../backend.ts";
import { heNormal, xavierNormal, zeros } from "../init.ts";
import * as ops from "../ops.ts";
import { Tensor } from "../tensor.ts";
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

  /** Whether this layer takes the 1x1 path without im2col. */
  get pointwise(): boolean {
    return this.kernel === 1 && this.stride === 1 && this.pad === 0;
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
    const [n, c, h, w] = x.shape;
    const k = this.kernel;
    const g = ops.window2d(x.shape, [k, k], [this.stride, this.stride], [this.pad, this.pad]);
    this.#geom = g;
    const [oh, ow] = ops.windowOut(g);
    const f = this.filters;
    const col = this.pointwise ? ops.swapAxes01(x.reshape([n, c, h * w])) : ops.im2col(x, g);
    const col2d = col.reshape([c * k * k, n * oh * ow]);
    const w2d = this.weight!.value.reshape([f, c * k * k]);
    const yt = ops.matmul(w2d, col2d); // [F, N*OH*OW]
    const y = Tensor.empty(x.backend, [n, f, oh, ow], x.dtype);
    x.backend.swapAxes01(yt.buf, f, n, oh * ow, y.buf);
    if (this.bias) ops.add(y, this.bias.value.reshape([f, 1, 1]), y);
    this.save(col);
    return y;
  }

  /** Backward pass: accumulates parameter gradients, returns dL/dx (null when not wanted). */
  protected backwardImpl(dy: Tensor, inputGrad: boolean): Tensor | null {
    const [col] = this.saved();
    const g = this.#geom!;
    const [n, f, oh, ow] = dy.shape;
    const k = this.kernel;
    const ckk = g.c * k * k;
    const dyt = ops.swapAxes01(dy.reshape([n, f, oh * ow])).reshape([f, n * oh * ow]);
    const col2d = col.reshape([ckk, n * oh * ow]);
    const w2d = this.weight!.value.reshape([f, ckk]);
    ops.matmul(dyt, col2d, { transB: true, beta: 1, out: this.weight!.grad.reshape([f, ckk]) });
    if (this.bias) ops.accumulate(this.bias.grad, ops.sum(dy, [0, 2, 3]));
    if (!inputGrad) return null;
    const dcol = ops.matmul(w2d, dyt, { transA: true }); // [C*k*k, N*OH*OW]
    if (this.pointwise) {
      const dx = Tensor.empty(dy.backend, [g.n, g.c, g.h, g.w], dy.dtype);
      dy.backend.swapAxes01(dcol.buf, g.c, g.n, g.h * g.w, dx.buf);
      return dx;
    }
    return ops.col2im(dcol, g);
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    const k = this.kernel;
    return `${k}x${k}/${this.stride} p${this.pad}, ${this.filters}` +
      (this.hasBias ? "" : ", no bias") + (this.weightInit === "he" ? "" : ", xavier");
  }
}
