/**
 * Pooling layers over NCHW input: `MaxPool2d` (keeps the argmax, routes the gradient there
 * only), `AvgPool2d` (divisor always `k*k`, padding counts as zeros) and `GlobalAvgPool2d`
 * (`[C, H, W]` → `[C]`).
 *
 * @module
 */
import { outSize, type Window2d } from "../backend.ts";
import * as ops from "../ops.ts";
import { Tensor } from "../tensor.ts";
import { checkNonNegInt, checkPositiveInt, LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { type LayerDef, nonNegativeInt, optional, positiveInt } from "./spec.ts";

/** Shared geometry and validation of the 2-D pooling layers. */
export abstract class Pool2dBase extends LayerBase {
  /** Window stride. */
  readonly stride: number;
  /** Zero padding on every side. */
  readonly pad: number;
  /** Geometry of the last forward. */
  protected geom: Window2d | null = null;

  /** Validates kernel, stride (default: the kernel) and pad (default 0, below the kernel). */
  constructor(kind: string, readonly kernel: number, stride?: number, pad?: number) {
    super();
    checkPositiveInt(kind, "kernel", kernel);
    this.stride = stride ?? kernel;
    this.pad = pad ?? 0;
    checkPositiveInt(kind, "stride", this.stride);
    checkNonNegInt(kind, "pad", this.pad);
    if (this.pad >= kernel) {
      throw new Error(`${kind}: pad must be smaller than the kernel (${kernel}), got ${this.pad}`);
    }
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    if (inputShape.length !== 3) this.rejectShape("[C, H, W]", inputShape);
    const [c, h, w] = inputShape;
    const oh = outSize(h, this.kernel, this.stride, this.pad);
    const ow = outSize(w, this.kernel, this.stride, this.pad);
    if (oh <= 0 || ow <= 0) {
      this.rejectShape(
        `[C, H, W] with H and W >= ${this.kernel - 2 * this.pad} (kernel ${this.kernel})`,
        inputShape,
      );
    }
    return [c, oh, ow];
  }

  /** Window geometry for a batch. */
  protected window(x: Tensor): Window2d {
    const k = this.kernel;
    return ops.window2d(x.shape, [k, k], [this.stride, this.stride], [this.pad, this.pad]);
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    const k = this.kernel;
    return `${k}x${k}/${this.stride}${this.pad ? ` p${this.pad}` : ""}`;
  }
}

/** Max pooling; `stride` defaults to `kernel`, `pad` to 0 (padding never wins). */
export class MaxPool2d extends Pool2dBase {
  /** Class name. */
  readonly kind = "MaxPool2d";

  /** A `kernel x kernel` max pool. */
  constructor(kernel: number, stride?: number, pad?: number) {
    super("MaxPool2d", kernel, stride, pad);
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const g = this.window(x);
    this.geom = g;
    const { y, argmax } = ops.maxPool2d(x, g);
    this.save(argmax);
    return y;
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const [argmax] = this.saved();
    return ops.maxPool2dBackward(dy, argmax, this.geom!);
  }
}

/** Average pooling; `stride` defaults to `kernel`, `pad` to 0. */
export class AvgPool2d extends Pool2dBase {
  /** Class name. */
  readonly kind = "AvgPool2d";

  /** A `kernel x kernel` average pool. */
  constructor(kernel: number, stride?: number, pad?: number) {
    super("AvgPool2d", kernel, stride, pad);
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const g = this.window(x);
    this.geom = g;
    return ops.avgPool2d(x, g);
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    this.saved();
    return ops.avgPool2dBackward(dy, this.geom!);
  }
}

/** Mean over each channel's whole plane: `[N, C, H, W]` → `[N, C]`. */
export class GlobalAvgPool2d extends LayerBase {
  /** Class name. */
  readonly kind = "GlobalAvgPool2d";
  #geom: Window2d | null = null;

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    if (inputShape.length !== 3) this.rejectShape("[C, H, W]", inputShape);
    return [inputShape[0]];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const [n, c, h, w] = x.shape;
    const g = ops.window2d(x.shape, [h, w], [1, 1], [0, 0]);
    this.#geom = g;
    return ops.avgPool2d(x, g, Tensor.empty(x.backend, [n, c], x.dtype));
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    this.saved();
    return ops.avgPool2dBackward(dy, this.#geom!);
  }
}

/** Spec of a {@link MaxPool2d} (`maxpool`) or {@link AvgPool2d} (`avgpool`) layer. */
export interface Pool2dSpec<T extends "maxpool" | "avgpool"> {
  /** Layer type. */
  type: T;
  /** Window size (square). */
  kernel: number;
  /** Stride (default: the kernel). */
  stride?: number;
  /** Zero padding on every side (default 0, below the kernel). */
  pad?: number;
}

/** The registry entry of a window pool: both share their fields and constructor. */
function poolLayer<T extends "maxpool" | "avgpool", L extends Pool2dBase>(
  type: T,
  layer: new (kernel: number, stride?: number, pad?: number) => L,
  description: string,
  example: Omit<Pool2dSpec<T>, "type">,
): LayerDef<Pool2dSpec<T>, L> {
  return {
    type,
    description,
    fields: { kernel: positiveInt, stride: optional(positiveInt), pad: optional(nonNegativeInt) },
    example: { spec: { type, ...example }, inputShape: [2, 5, 5] },
    layer,
    build: (s) => new layer(s.kernel, s.stride, s.pad),
    toSpec: (l) => ({ type, kernel: l.kernel, stride: l.stride, pad: l.pad }),
  };
}

/** Registry entry of {@link MaxPool2d}. */
export const maxPoolLayer: LayerDef<Pool2dSpec<"maxpool">, MaxPool2d> = poolLayer(
  "maxpool",
  MaxPool2d,
  "2-D max pooling on [C, H, W] inputs; the gradient goes to the argmax",
  { kernel: 2 },
);

/** Registry entry of {@link AvgPool2d}. */
export const avgPoolLayer: LayerDef<Pool2dSpec<"avgpool">, AvgPool2d> = poolLayer(
  "avgpool",
  AvgPool2d,
  "2-D average pooling on [C, H, W] inputs (divisor k*k, padding counts as 0)",
  { kernel: 3, stride: 2, pad: 1 },
);

/** Spec of a {@link GlobalAvgPool2d} layer in an architecture. */
export interface GlobalAvgPool2dSpec {
  /** Layer type. */
  type: "gap";
}

/** Registry entry of {@link GlobalAvgPool2d}. */
export const globalAvgPoolLayer: LayerDef<GlobalAvgPool2dSpec, GlobalAvgPool2d> = {
  type: "gap",
  description: "global average pooling: [C, H, W] -> [C]",
  fields: {},
  example: { spec: { type: "gap" }, inputShape: [3, 4, 5] },
  layer: GlobalAvgPool2d,
  build: () => new GlobalAvgPool2d(),
  toSpec: () => ({ type: "gap" }),
};
