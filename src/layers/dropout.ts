/**
 * `Dropout` (inverted: kept units are scaled by `1/(1-p)` in training, identity in eval) and
 * `SpatialDropout` (drops whole channels of `[C, ...]` inputs; on `[F]` inputs it acts like
 * `Dropout`).
 *
 * Masks come from `ops.dropoutMask` on stream `Streams.dropout`, keyed by the run seed
 * mixed with a hash of the layer's name (so two layers never share a mask) and the counter
 * `step * 2^32` (so every step draws a fresh mask): the same seed, step and layer name always
 * give the same mask, on every backend.
 *
 * @module
 */
import * as ops from "../ops.ts";
import { mix32, Streams } from "../rng.ts";
import { fmtShape, type Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { type LayerDef, numberIn } from "./spec.ts";

/** Largest step for which masks stay distinct (`step * 2^32` must stay below 2^53). */
export const MAX_DROPOUT_STEP = 2 ** 21 - 1;

/** FNV-1a hash of a string, 32 bits. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The `(seed, counter)` pair a dropout layer named `name` uses at `step`. */
export function dropoutKey(
  seed: number,
  step: number,
  name: string,
): { seed: number; counter: number } {
  if (!Number.isInteger(step) || step < 0 || step > MAX_DROPOUT_STEP) {
    throw new Error(
      `dropout: step must be an integer in [0, ${MAX_DROPOUT_STEP}], got ${step}`,
    );
  }
  if (!Number.isInteger(seed)) throw new Error(`dropout: seed must be an integer, got ${seed}`);
  return { seed: mix32((seed ^ hashName(name)) >>> 0), counter: step * 4294967296 };
}

function checkP(kind: string, p: number): void {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new Error(`${kind}: drop probability p must be in [0, 1), got ${p}`);
  }
}

/** Shared mask handling of the dropout layers. */
export abstract class DropoutBase extends LayerBase {
  /**
   * Test hook: when set, training-mode forward multiplies by this tensor (of the batch input
   * shape) instead of drawing a mask.
   */
  fixedMask?: Tensor;

  /** Validates the drop probability `p` (in [0, 1)). */
  constructor(kind: string, readonly p: number) {
    super();
    checkP(kind, p);
  }

  /** Whether whole channels are dropped for this input. */
  protected abstract perChannel(): boolean;

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    return [...inputShape];
  }

  /** The mask the layer would use for a batch of shape `shape` under `ctx` (training). */
  mask(shape: readonly number[], ctx: ForwardContext): Tensor {
    const key = dropoutKey(ctx.seed, ctx.step, this.name);
    return ops.dropoutMask(this.backend, shape, this.dtype, this.p, this.perChannel(), {
      seed: key.seed,
      stream: Streams.dropout,
      counter: key.counter,
    });
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, ctx: ForwardContext): Tensor {
    if (!ctx.training) {
      this.save();
      return x.share();
    }
    let mask: Tensor;
    if (this.fixedMask) {
      if (this.fixedMask.size !== x.size) {
        throw new Error(
          `${this.kind} '${this.name}': fixedMask ${fmtShape(this.fixedMask.shape)} does not ` +
            `match input ${fmtShape(x.shape)}`,
        );
      }
      mask = this.fixedMask.clone();
    } else {
      mask = this.mask(x.shape, ctx);
    }
    const y = ops.mul(x, mask);
    this.save(mask);
    return y;
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const [mask] = this.saved();
    return mask ? ops.mul(dy, mask) : dy.share();
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `p ${this.p}`;
  }
}

/** Inverted dropout: each element is kept with probability `1 - p` and scaled by `1/(1-p)`. */
export class Dropout extends DropoutBase {
  /** Class name. */
  readonly kind = "Dropout";

  /** Drop probability `p` in `[0, 1)`. */
  constructor(p: number) {
    super("Dropout", p);
  }

  /** Whether whole channels are dropped for the built input shape. */
  protected perChannel(): boolean {
    return false;
  }
}

/** Spatial dropout: whole channels of `[C, H, W]` inputs are kept or dropped together. */
export class SpatialDropout extends DropoutBase {
  /** Class name. */
  readonly kind = "SpatialDropout";

  /** Drop probability `p` in `[0, 1)`. */
  constructor(p: number) {
    super("SpatialDropout", p);
  }

  /** Whether whole channels are dropped for the built input shape. */
  protected perChannel(): boolean {
    return this.inputShape.length >= 2;
  }
}

/** Spec of a {@link Dropout} (`dropout`) or {@link SpatialDropout} (`spatial_dropout`) layer. */
export interface DropoutSpec<T extends "dropout" | "spatial_dropout"> {
  /** Layer type. */
  type: T;
  /** Drop probability in `[0, 1)`. */
  p: number;
}

/** The registry entry of a dropout layer: both share their field and constructor. */
function dropoutLayerDef<T extends "dropout" | "spatial_dropout", L extends DropoutBase>(
  type: T,
  layer: new (p: number) => L,
  description: string,
  inputShape: number[],
): LayerDef<DropoutSpec<T>, L> {
  return {
    type,
    description,
    fields: { p: numberIn(0, 1, true) },
    example: { spec: { type, p: 0.5 }, inputShape },
    layer,
    build: (s) => new layer(s.p),
    toSpec: (l) => ({ type, p: l.p }),
  };
}

/** Registry entry of {@link Dropout}. */
export const dropoutLayer: LayerDef<DropoutSpec<"dropout">, Dropout> = dropoutLayerDef(
  "dropout",
  Dropout,
  "inverted dropout: each unit kept with probability 1-p, scaled by 1/(1-p)",
  [6],
);

/** Registry entry of {@link SpatialDropout}. */
export const spatialDropoutLayer: LayerDef<DropoutSpec<"spatial_dropout">, SpatialDropout> =
  dropoutLayerDef(
    "spatial_dropout",
    SpatialDropout,
    "spatial dropout: whole channels of [C, H, W] inputs kept or dropped together",
    [3, 2, 2],
  );
