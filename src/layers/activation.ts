/**
 * `Activation`: elementwise ReLU, LeakyReLU (slope 0.01), Sigmoid, Tanh or Softplus.
 *
 * @module
 */
import type { ActivationOp } from "../backend.ts";
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { type LayerDef, oneOf } from "./spec.ts";

/** Slope of leaky ReLU for negative inputs. */
export const LEAKY_SLOPE = 0.01;

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

  /** `op` is one of `relu`, `leaky_relu`, `sigmoid`, `tanh`, `softplus`. */
  constructor(op: ActivationOp) {
    super();
    this.op = parseActivation(op);
    this.kind = ACTIVATIONS[this.op];
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
    return y;
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const [x, y] = this.saved();
    return ops.activationBackward(this.op, x, y, dy, this.alpha);
  }
}

/** Spec of an {@link Activation} layer in an architecture. */
export interface ActivationSpec {
  /** Layer type. */
  type: "act";
  /** The activation. */
  op: ActivationOp;
}

/** Registry entry of {@link Activation}. */
export const activationLayer: LayerDef<ActivationSpec, Activation> = {
  type: "act",
  description: "elementwise activation: relu, leaky_relu (slope 0.01), sigmoid, tanh, softplus",
  fields: { op: oneOf(Object.keys(ACTIVATIONS)) },
  example: { spec: { type: "act", op: "tanh" }, inputShape: [2, 3] },
  layer: Activation,
  build: (s) => new Activation(s.op),
  toSpec: (l) => ({ type: "act", op: l.op }),
};
