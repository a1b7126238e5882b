/**
 * Parameter sharing of shifting and scaling layers (SPEC §1): one parameter per input element
 * (`elementwise`), per channel (`channelwise`; on `[F]` inputs, which have no channels, it falls
 * back to elementwise), or one for the whole layer (`layerwise`).
 *
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";

/** How a shift or scale parameter is shared over the input. */
export type Sharing = "elementwise" | "channelwise" | "layerwise";

/** The valid sharing modes. */
export const SHARINGS: readonly Sharing[] = ["elementwise", "channelwise", "layerwise"];

/** Throws unless `s` is a sharing mode, naming the layer and listing the valid ones. */
export function parseSharing(kind: string, s: unknown): Sharing {
  if (typeof s !== "string" || !(SHARINGS as readonly string[]).includes(s)) {
    throw new Error(
      `${kind}: unknown sharing mode '${String(s)}', expected one of: ${SHARINGS.join(", ")}`,
    );
  }
  return s as Sharing;
}

/** Shape of a shared parameter for a per-sample input shape. */
export interface SharedShape {
  /** The sharing actually used (`channelwise` on `[F]` becomes `elementwise`). */
  effective: Sharing;
  /** The parameter's shape: the input shape, `[C]`, or `[1]`. */
  shape: number[];
  /** The same parameter shaped to broadcast against a per-sample input (`[C, 1, 1]` etc.). */
  broadcast: number[];
}

/** Parameter shape for `sharing` over per-sample inputs of `inputShape`. */
export function sharedShape(sharing: Sharing, inputShape: readonly number[]): SharedShape {
  if (sharing === "layerwise") return { effective: sharing, shape: [1], broadcast: [1] };
  if (sharing === "channelwise" && inputShape.length >= 2) {
    const c = inputShape[0];
    return {
      effective: sharing,
      shape: [c],
      broadcast: [c, ...new Array(inputShape.length - 1).fill(1)],
    };
  }
  return { effective: "elementwise", shape: [...inputShape], broadcast: [...inputShape] };
}

/**
 * The mean and biased variance of a batch `x [N, ...perSample]` over every axis a parameter of
 * broadcast shape `broadcast` is shared across (the batch always), shaped as the parameter
 * (`shape`): what data-dependent initialisation (`ddi`, SPEC §1b) sets shift and scale from.
 */
export function sharedMoments(
  x: Tensor,
  broadcast: readonly number[],
  shape: readonly number[],
): { mean: Tensor; variance: Tensor } {
  const aligned = [...new Array(x.rank - broadcast.length).fill(1), ...broadcast];
  const axes = aligned.flatMap((d, i) => (d === 1 ? [i] : []));
  const mean = ops.mean(x, axes, true);
  const variance = ops.mean(ops.unary("square", ops.sub(x, mean)), axes, true);
  return { mean: mean.reshape(shape), variance: variance.reshape(shape) };
}
