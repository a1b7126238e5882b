/**
 * `Residual`: a residual block, `y = shortcut(x) + branch(x)`, whose two paths are lists of
 * sub-layers (registry specs, so blocks are plain data like every other layer). An empty
 * shortcut is the identity; a projection shortcut is, e.g., a 1x1 strided convolution. The
 * activation after the sum is the next layer of the network, not part of the block.
 *
 * Gates, normalisation and shift/scale layers inside a block are sub-layers too (the variant
 * builder places them; see `variants.ts`), so the block itself only adds: backward sends dL/dy
 * through both paths and sums the two input gradients.
 *
 * Sub-layers are named `branch<i>_<kind>` and `shortcut<i>_<kind>`, and their parameters and
 * buffers keep those names as prefixes (e.g. `4_residual.branch0_conv2d.weight`).
 *
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext, Layer, Param } from "./layer.ts";
import type { LayerSpec } from "./registry.ts";
import { type LayerDef, layerList } from "./spec.ts";

/** Runs `layers` in order on `x`; intermediate outputs are released as soon as used. */
function forwardAll(layers: readonly Layer[], x: Tensor, ctx: ForwardContext): Tensor {
  let h = x;
  for (const l of layers) {
    const next = l.forward(h, ctx);
    if (h !== x && h !== next) h.dispose();
    h = next;
  }
  return h === x ? x.share() : h;
}

/** Backpropagates `dy` through `layers` in reverse; returns dL/dx. */
function backwardAll(layers: readonly Layer[], dy: Tensor): Tensor {
  let g = dy;
  for (let i = layers.length - 1; i >= 0; i--) {
    const next = layers[i].backward(g);
    if (g !== dy && g !== next) g.dispose();
    g = next;
  }
  return g === dy ? dy.share() : g;
}

/** A residual block: `shortcut(x) + branch(x)`. */
export class Residual extends LayerBase {
  /** Class name. */
  readonly kind = "Residual";
  /** The residual branch's layers, in order. */
  readonly branch: readonly Layer[];
  /** The shortcut's layers (empty: the identity). */
  readonly shortcut: readonly Layer[];

  /** A block of `branch` (non-empty) and `shortcut` (empty for the identity) sub-layers. */
  constructor(branch: Layer[], shortcut: Layer[] = []) {
    super();
    if (!Array.isArray(branch) || branch.length === 0) {
      throw new Error("Residual: the branch needs at least one layer");
    }
    if (new Set([...branch, ...shortcut]).size !== branch.length + shortcut.length) {
      throw new Error("Residual: the same layer object appears twice");
    }
    this.branch = [...branch];
    this.shortcut = [...shortcut];
  }

  /** Every sub-layer: the branch's, then the shortcut's. */
  children(): Layer[] {
    return [...this.branch, ...this.shortcut];
  }

  /** Builds the branch, then the shortcut; both must give the same output shape. */
  protected setup(inputShape: readonly number[], ctx: BuildContext): number[] {
    const build = (layers: readonly Layer[], path: string) => {
      let shape = [...inputShape];
      layers.forEach((l, i) => {
        l.name = `${path}${i}_${l.kind.toLowerCase()}`;
        shape = l.build(shape, ctx);
        for (const p of l.params()) p.name = `${l.name}.${p.name}`;
      });
      return shape;
    };
    const b = build(this.branch, "branch");
    const s = build(this.shortcut, "shortcut");
    if (b.length !== s.length || b.some((d, i) => d !== s[i])) {
      throw new Error(
        `Residual '${this.name}': the branch gives [${b.join(", ")}] but the shortcut gives ` +
          `[${s.join(", ")}] for input [${inputShape.join(", ")}]; they must match (use a ` +
          `projection shortcut, e.g. a 1x1 conv with the branch's stride and width)`,
      );
    }
    return b;
  }

  /** Forward pass: `shortcut(x) + branch(x)`. */
  protected forwardImpl(x: Tensor, ctx: ForwardContext): Tensor {
    const b = forwardAll(this.branch, x, ctx);
    const s = forwardAll(this.shortcut, x, ctx);
    const y = ops.add(s, b);
    b.dispose();
    s.dispose();
    this.save();
    return y;
  }

  /** Backward pass: dL/dx through the branch plus through the shortcut. */
  protected backwardImpl(dy: Tensor): Tensor {
    this.saved();
    const db = backwardAll(this.branch, dy);
    const ds = backwardAll(this.shortcut, dy);
    // A new tensor: either gradient may share dy's memory (identity, shift layers).
    const dx = ops.add(ds, db);
    db.dispose();
    ds.dispose();
    return dx;
  }

  /** The sub-layers' parameters, branch first. */
  override params(): Param[] {
    return this.children().flatMap((l) => l.params());
  }

  /** The sub-layers' buffers, keyed `<sub-layer>.<buffer>`. */
  override buffers(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const l of this.children()) {
      for (const [k, t] of Object.entries(l.buffers())) out[`${l.name}.${k}`] = t;
    }
    return out;
  }

  /** Sub-layer counts for `summary()`, e.g. `branch 3, shortcut 1`. */
  override describe(): string {
    const kinds = (ls: readonly Layer[]) => ls.map((l) => l.kind).join("-");
    return `branch ${kinds(this.branch)}; shortcut ${kinds(this.shortcut) || "identity"}`;
  }

  /** Releases the sub-layers too. */
  override dispose(): void {
    for (const l of this.children()) l.dispose();
    super.dispose();
  }
}

/** Spec of a {@link Residual} block in an architecture. */
export interface ResidualSpec {
  /** Layer type. */
  type: "residual";
  /** The branch's layers (non-empty), as specs. */
  branch: LayerSpec[];
  /** The shortcut's layers (default: none, the identity), as specs. */
  shortcut?: LayerSpec[];
}

/** Registry entry of {@link Residual}. */
export const residualLayer: LayerDef<ResidualSpec, Residual> = {
  type: "residual",
  description: "residual block y = shortcut(x) + branch(x), both lists of layers (none: identity)",
  fields: { branch: layerList(false), shortcut: { ...layerList(true), optional: true } },
  example: {
    spec: {
      type: "residual",
      branch: [
        { type: "conv", filters: 2, kernel: 3, pad: 1 },
        { type: "act", op: "tanh" },
        { type: "conv", filters: 3, kernel: 3, pad: 1, stride: 2 },
      ],
      shortcut: [{ type: "conv", filters: 3, kernel: 1, stride: 2 }],
    },
    inputShape: [2, 3, 3],
  },
  layer: Residual,
  build: (s, sub) => new Residual(s.branch.map(sub.build), (s.shortcut ?? []).map(sub.build)),
  toSpec: (l, sub) => ({
    type: "residual",
    branch: l.branch.map(sub.spec) as LayerSpec[],
    shortcut: l.shortcut.map(sub.spec) as LayerSpec[],
  }),
};
