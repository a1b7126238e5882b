/**
 * Data-dependent initialisation (`ddi`, SPEC §1b, as Glow's ActNorm): before the first step,
 * one forward pass on the first training batch sets each shift/scale layer the variant builder
 * marked (`ddi: true`), in network order, so that the pair's output has mean 0 and standard
 * deviation 1 over the axes its parameters are shared across: with `y = (x + b) · w`,
 * `b = -μ` and `w = 1 / sqrt(σ² + 1e-6)`, from the statistics of the layer's own input in that
 * pass. A variant with only a shift sets `b` only; with only a scale, `w` only (its output then
 * has standard deviation 1 about a mean that stays).
 *
 * The pass runs in training mode (batch norm normalises with the batch, dropout draws the
 * first step's masks) and leaves every running statistic as it was.
 *
 * @module
 */
import { allLayers, type ForwardContext } from "./layers/layer.ts";
import { Scale } from "./layers/scale.ts";
import { Shift } from "./layers/shift.ts";
import type { Sequential } from "./model.ts";
import type { Tensor } from "./tensor.ts";

/** The layers of `model` that data-dependent initialisation sets, in network order. */
export function dataInitLayers(model: Sequential): (Shift | Scale)[] {
  return allLayers(model.layers).filter((l): l is Shift | Scale =>
    (l instanceof Shift || l instanceof Scale) && l.ddi
  );
}

/**
 * Sets the `ddi` shift/scale layers of `model` from one forward pass on the batch `x` (see the
 * module documentation); `ctx` gives the run's seed and step for dropout. Returns how many
 * layers were set (0 for a network without any, which is left untouched).
 */
export function dataDependentInit(model: Sequential, x: Tensor, ctx: ForwardContext): number {
  const targets = dataInitLayers(model);
  if (targets.length === 0) return 0;
  const buffers = Object.values(model.buffers()).map((t) => [t, t.clone()] as const);
  for (const l of targets) l.armDataInit();
  try {
    model.forward(x, { ...ctx, training: true, noGrad: true }).dispose();
  } finally {
    for (const [t, copy] of buffers) {
      t.assign(copy);
      copy.dispose();
    }
  }
  const missed = targets.filter((l) => l.dataInitPending);
  if (missed.length > 0) {
    throw new Error(
      `data-dependent initialisation: the forward pass did not reach ${
        missed.map((l) => l.name).join(", ")
      }`,
    );
  }
  return targets.length;
}
