/**
 * Standardisation over the last axis, written once over `ops` for the layers that need it:
 * GroupNorm and LayerNorm (per sample and group, `[N, G, m]`) and scaled weight
 * standardisation (per output unit, `[F, fanIn]`).
 *
 * Forward: `μ = mean(x)`, `σ² = mean((x - μ)²)` (biased), `r = 1 / sqrt(σ² + ε)`,
 * `x̂ = (x - μ) r`, each over the last axis. Backward, from `dx̂`:
 * `dx = r (dx̂ - mean(dx̂) - x̂ mean(dx̂ x̂))`, the means again over the last axis.
 *
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";

/** `x̂` and `r = 1 / sqrt(σ² + ε)` (last axis kept as 1) of {@link standardizeLastAxis}. */
export interface Standardized {
  /** The standardised values, shaped as the input. */
  xhat: Tensor;
  /** `1 / sqrt(σ² + ε)` per row, with the last axis of size 1. */
  r: Tensor;
}

/** Standardises `x` over its last axis (mean 0, biased variance 1 up to `ε`). */
export function standardizeLastAxis(x: Tensor, eps: number): Standardized {
  const last = x.rank - 1;
  const c = ops.sub(x, ops.mean(x, [last], true));
  const variance = ops.mean(ops.unary("square", c), [last], true);
  const r = ops.unary("pow", ops.unary("add_scalar", variance, eps), -0.5);
  return { xhat: ops.mul(c, r), r };
}

/**
 * dL/dx of {@link standardizeLastAxis} from dL/dx̂ and the forward's `x̂` and `r`, into a new
 * tensor or `out` (any shape of the same size).
 */
export function standardizeLastAxisBackward(
  dxhat: Tensor,
  s: Standardized,
  out?: Tensor,
): Tensor {
  const last = dxhat.rank - 1;
  const m1 = ops.mean(dxhat, [last], true);
  const m2 = ops.mean(ops.mul(dxhat, s.xhat), [last], true);
  const inner = ops.sub(ops.sub(dxhat, m1), ops.mul(s.xhat, m2));
  return ops.mul(inner, s.r, out);
}
