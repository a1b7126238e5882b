/**
 * `Activation`: elementwise ReLU, LeakyReLU (slope 0.01), Sigmoid, Tanh or Softplus, optionally
 * times a constant `gain` (`y = gain · f(x)`): the scaled ReLU of weight-standardised networks,
 * `gain = sqrt(2 / (1 - 1/π)) ≈ 1.7139` ({@link RELU_GAIN}; Brock et al. 2021).
 *
 * @module
 */
import type { ActivationOp } from "../backend.ts";
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { type LayerDef, oneOf, optional, positiveNumber } from "./spec.ts";

/** Slope of leaky ReLU for negative inputs. */
export const LEAKY_SLOPE = 0.01;

/**
 * The ReLU gain of scaled weight standardisation (`ws`, SPEC §1b): 1.7139588594436646, the value
 * of the NF-Nets code (Brock et al. 2021, `nonlinearity gamma` of relu), which SPEC §1b quotes as
 * ≈ 1.7139. It was estimated by sampling; the closed form it estimates, `sqrt(2 / (1 - 1/π))`
 * (the gain that gives a ReLU of a unit Gaussian unit variance), is 1.7128586, 0.06% smaller.
 */
export const RELU_GAIN = 1.7139588594436646;

/** Each activation op and the class-style name used as the layer's `kind`. */
export const ACTIVATIONS: Readonly<Record<ActivationOp, string>> = {
  relu: "ReLU",
  leaky_relu: "LeakyReLU",
  sigmoid: "Sigmoid",
  tanh: "Tanh",
  softplus: "Softplus",
};

/** Throws unless `op` is an activation, listing the valid ones. */
export function parseActivation(op: unknown): ActivationOp {
  if (typeof op !== "string" || !Object.hasOwn(ACTIVATIONS, op)) {
    throw new Error(
      `Activation: unknown op '${String(op)}', expected one of: ${
        Object.keys(ACTIVATIONS).join(", ")
      }`,
    );
  }
  return op as ActivationOp;
}

/** An elementwise activation layer; its `kind` is the op's class-style name (e.g. `ReLU`). */
export class Activation extends LayerBase {
  /** Class-style name of the op. */
  readonly kind: string;
  /** The op. */
  readonly op: ActivationOp;
  /** Constant factor of the output (default 1). */
  readonly gain: number;

  /** `op` is one of `relu`, `leaky_relu`, `sigmoid`, `tanh`, `softplus`; `gain` a number > 0. */
  constructor(op: ActivationOp, gain = 1) {
    super();
    this.op = parseActivation(op);
    this.kind = ACTIVATIONS[this.op];
    if (typeof gain !== "number" || !Number.isFinite(gain) || gain <= 0) {
      throw new Error(`Activation: gain must be a finite number > 0, got ${gain}`);
    }
    this.gain = gain;
  }

  /** The op's parameter (the leaky slope; 0 for the others). */
  get alpha(): number {
    return this.op === "leaky_relu" ? LEAKY_SLOPE : 0;
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    return [...inputShape];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const y = ops.unary(this.op, x, this.alpha);
    if (this.recording) this.save(x.share(), y.share());
    return this.gain === 1 ? y : ops.scale(y, this.gain);
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const [x, y] = this.saved();
    const dx = ops.activationBackward(this.op, x, y, dy, this.alpha);
    return this.gain === 1 ? dx : ops.scale(dx, this.gain, dx);
  }

  /** Hyperparameters for `summary()`: the gain, when not 1. */
  override describe(): string {
    return this.gain === 1 ? "" : `x${Number(this.gain.toPrecision(5))}`;
  }
}

/** Spec of an {@link Activation} layer in an architecture. */
export interface ActivationSpec {
  /** Layer type. */
  type: "act";
  /** The activation. */
  op: ActivationOp;
  /** Constant factor of the output (default 1; `ws` variants use {@link RELU_GAIN}). */
  gain?: number;
}

/** Registry entry of {@link Activation}. */
export const activationLayer: LayerDef<ActivationSpec, Activation> = {
  type: "act",
  description:
    "elementwise activation: relu, leaky_relu (slope 0.01), sigmoid, tanh, softplus; times a gain",
  fields: { op: oneOf(Object.keys(ACTIVATIONS)), gain: optional(positiveNumber) },
  example: { spec: { type: "act", op: "tanh", gain: 1.5 }, inputShape: [2, 3] },
  layer: Activation,
  build: (s) => new Activation(s.op, s.gain),
  toSpec: (l) => ({ type: "act", op: l.op, gain: l.gain }),
};
