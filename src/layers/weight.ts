/**
 * What conv and dense layers share about their weight: its initial values and scaled weight
 * standardisation (`ws`, SPEC §1b, Brock et al. 2021).
 *
 * Initial values: He or Xavier normal from the build generator, times `initGain` (Fixup scales
 * branch convs by `L^(-1/2)` and zeroes the last one; the draws happen either way, so the layers
 * after it get the same weights as in every other variant of the network).
 *
 * Standardisation, per output unit `i` (a row of the weight seen as `[F, fanIn]`):
 * `Ŵ_i = g_i (W_i - mean(W_i)) / (sqrt(var(W_i) + ε) sqrt(fanIn))`, biased variance,
 * `ε = 1e-10` ({@link WS_EPS}), learnable gain `g` (init 1). The layer computes with `Ŵ`; its
 * backward maps dL/dŴ to dL/dW and dL/dg.
 *
 * @module
 */
import { heNormal, ones, xavierNormal } from "../init.ts";
import * as ops from "../ops.ts";
import type { Rng } from "../rng.ts";
import { Tensor, tidy } from "../tensor.ts";
import type { WeightInit } from "./dense.ts";
import { Param } from "./layer.ts";
import {
  type Standardized,
  standardizeLastAxis,
  standardizeLastAxisBackward,
} from "./normalize.ts";

/** Added to each unit's weight variance by weight standardisation. */
export const WS_EPS = 1e-10;

/** Options a conv or dense layer's weight takes, besides the initialisation scheme. */
export interface WeightOptions {
  /** Learning-rate multiplier of the weight (default 1; `frozen` variants use 0). */
  lrMult?: number;
  /** Scaled weight standardisation with a learnable gain per output unit (default false). */
  ws?: boolean;
  /** Factor of the initial weights (default 1; Fixup uses `L^(-1/2)` and 0). */
  initGain?: number;
}

/** Throws unless `g` is a finite number >= 0, naming the layer. */
export function checkInitGain(kind: string, g: number): number {
  if (typeof g !== "number" || !Number.isFinite(g) || g < 0) {
    throw new Error(`${kind}: initGain must be a finite number >= 0, got ${g}`);
  }
  return g;
}

/** Initial weights of `shape`: He (fan-in) or Xavier (fan-in, fan-out) normal, times `gain`. */
export function initialWeights(
  rng: Rng,
  shape: readonly number[],
  init: WeightInit,
  fanIn: number,
  fanOut: number,
  gain: number,
): Float64Array {
  const w = init === "he" ? heNormal(rng, shape, fanIn) : xavierNormal(rng, shape, fanIn, fanOut);
  if (gain !== 1) { for (let i = 0; i < w.length; i++) w[i] *= gain; }
  return w;
}

/** The gain parameter `[units]` (init 1) of a standardised weight. */
export function wsGain(upload: (shape: number[], data: Float64Array) => Tensor, units: number) {
  return new Param("gain", upload([units], ones([units])), "gain");
}

/** The standardised weight `Ŵ` (shaped as `weight`) and what its backward needs. */
export interface StandardizedWeight extends Standardized {
  /** `Ŵ`, shaped as the weight. */
  weight: Tensor;
}

function rows(w: Tensor): Tensor {
  return w.reshape([w.shape[0], w.size / w.shape[0]]);
}

/** `Ŵ` of `weight` with gains `gain` (see the module documentation). */
export function standardizeWeight(weight: Tensor, gain: Tensor): StandardizedWeight {
  const w = rows(weight);
  const s = standardizeLastAxis(w, WS_EPS);
  const k = ops.scale(gain.reshape([w.shape[0], 1]), 1 / Math.sqrt(w.shape[1]));
  const out = Tensor.empty(weight.backend, weight.shape, weight.dtype);
  return { ...s, weight: ops.mul(s.xhat, k, out) };
}

/** Accumulates dL/dW and dL/dg into the parameters' gradients from dL/dŴ. */
export function standardizeWeightBackward(
  dWhat: Tensor,
  s: Standardized,
  weight: Param,
  gain: Param,
): void {
  const d = rows(dWhat);
  const [units, fanIn] = d.shape;
  const k = 1 / Math.sqrt(fanIn);
  ops.accumulate(gain.grad, ops.scale(ops.sum(ops.mul(d, s.xhat), [1]), k));
  const dxhat = ops.mul(d, ops.scale(gain.value.reshape([units, 1]), k));
  ops.accumulate(weight.grad, standardizeLastAxisBackward(dxhat, s));
}

/** The weight a layer computes with, as a new tensor: `Ŵ` when it has a gain, else a copy. */
export function effectiveWeight(weight: Tensor, gain: Tensor | null): Tensor {
  return gain ? tidy(() => standardizeWeight(weight, gain).weight) : weight.clone();
}
