/**
 * `GroupNorm` and `LayerNorm` (SPEC §1b): per-sample normalisation, the same in training and
 * evaluation (no running statistics), placed where batch norm goes.
 *
 * - `GroupNorm` (Wu & He 2018) on `[C, ...]` inputs: the C channels split into G groups,
 *   `G = gcd(C, groups)` (default `groups` 8, so fewer groups when C < 8 or C is not a multiple
 *   of 8); mean and biased variance over each group's channels and positions.
 * - `LayerNorm` (Ba et al. 2016): one group, the whole sample: on `[F]` (after a dense layer)
 *   over the features, on `[C, H, W]` over channels and positions (GroupNorm with G = 1, as
 *   Wu & He define layer norm for conv nets).
 *
 * Both: `y = γ (x - μ) / sqrt(σ² + ε) + β`, ε = 1e-5, γ (init 1) and β (init 0) per feature
 * on `[F]` and per channel on `[C, H, W]`. Composed from tensor ops (`normalize.ts`); the
 * backward pass goes through μ and σ².
 *
 * @module
 */
import { ones, zeros } from "../init.ts";
import * as ops from "../ops.ts";
import { shapeSize, Tensor } from "../tensor.ts";
import { LayerBase } from "./base.ts";
import type { BuildContext, ForwardContext } from "./layer.ts";
import { Param } from "./layer.ts";
import { standardizeLastAxis, standardizeLastAxisBackward } from "./normalize.ts";
import { type LayerDef, optional, positiveInt, positiveNumber } from "./spec.ts";

/** Greatest common divisor of two positive integers. */
export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Options of {@link GroupNorm} and {@link LayerNorm}. */
export interface GroupNormOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * What GroupNorm and LayerNorm share: per-sample standardisation over groups of channels
 * (the number given by {@link PerSampleNorm.groupsFor}) and a per-channel affine.
 */
export abstract class PerSampleNorm extends LayerBase {
  /** Added to the variance. */
  readonly eps: number;
  /** `[C]` scale, after build. */
  gamma: Param | null = null;
  /** `[C]` shift, after build. */
  beta: Param | null = null;
  #channels = 0;
  #groups = 1;
  #inner = 1;

  /** A normaliser with `opts.eps` (default 1e-5). */
  constructor(opts: GroupNormOptions) {
    super();
    this.eps = opts.eps ?? 1e-5;
    if (!(this.eps > 0) || !Number.isFinite(this.eps)) {
      throw new Error(`${this.constructor.name}: eps must be a finite number > 0, got ${this.eps}`);
    }
  }

  /** The number of groups for `channels` channels. */
  protected abstract groupsFor(channels: number): number;

  /** Number of groups in effect (after build). */
  get effectiveGroups(): number {
    return this.#groups;
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  protected setup(inputShape: readonly number[], _ctx: BuildContext): number[] {
    const c = inputShape[0];
    this.#channels = c;
    this.#groups = this.groupsFor(c);
    this.#inner = shapeSize(inputShape.slice(1));
    this.gamma = this.addParam(new Param("gamma", this.upload([c], ones([c])), "bn"));
    this.beta = this.addParam(new Param("beta", this.upload([c], zeros([c])), "bn"));
    return [...inputShape];
  }

  /** Forward pass on a validated batch. */
  protected forwardImpl(x: Tensor, _ctx: ForwardContext): Tensor {
    const n = x.shape[0];
    const c = this.#channels;
    const s = standardizeLastAxis(x.reshape([n, this.#groups, -1]), this.eps);
    const col = [c, 1];
    const xhat = s.xhat.reshape([n, c, this.#inner]);
    const y = Tensor.empty(x.backend, x.shape, x.dtype);
    ops.add(ops.mul(xhat, this.gamma!.value.reshape(col)), this.beta!.value.reshape(col), y);
    if (this.recording) this.save(s.xhat, s.r);
    return y;
  }

  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  protected backwardImpl(dy: Tensor): Tensor {
    const [xhat, r] = this.saved();
    const n = dy.shape[0];
    const c = this.#channels;
    const dy3 = dy.reshape([n, c, this.#inner]);
    ops.accumulate(this.gamma!.grad, ops.sum(ops.mul(dy3, xhat.reshape([n, c, -1])), [0, 2]));
    ops.accumulate(this.beta!.grad, ops.sum(dy3, [0, 2]));
    const dxhat = ops.mul(dy3, this.gamma!.value.reshape([c, 1])).reshape(xhat.shape);
    const dx = Tensor.empty(dy.backend, dy.shape, dy.dtype);
    return standardizeLastAxisBackward(dxhat, { xhat, r }, dx);
  }

  /** Hyperparameters for `summary()`. */
  override describe(): string {
    return `${this.#groups} group${this.#groups === 1 ? "" : "s"} of ${
      this.#channels / this.#groups
    }${this.eps === 1e-5 ? "" : `, eps ${this.eps}`}`;
  }
}

/** Group normalization: per sample, over groups of channels; per-channel γ, β. */
export class GroupNorm extends PerSampleNorm {
  /** Class name. */
  readonly kind = "GroupNorm";

  /** `groups` (default 8) is the most groups used: `gcd(C, groups)` in effect. */
  constructor(readonly groups = 8, opts: GroupNormOptions = {}) {
    super(opts);
    if (!Number.isInteger(groups) || groups < 1) {
      throw new Error(`GroupNorm: groups must be a positive integer, got ${groups}`);
    }
  }

  /** `gcd(C, groups)`. */
  protected groupsFor(channels: number): number {
    return gcd(channels, this.groups);
  }
}

/** Layer normalization: per sample, over every feature (channels and positions). */
export class LayerNorm extends PerSampleNorm {
  /** Class name. */
  readonly kind = "LayerNorm";

  /** Layer norm with `eps` (default 1e-5). */
  constructor(opts: GroupNormOptions = {}) {
    super(opts);
  }

  /** One group. */
  protected groupsFor(_channels: number): number {
    return 1;
  }
}

/** Spec of a {@link GroupNorm} layer in an architecture. */
export interface GroupNormSpec extends GroupNormOptions {
  /** Layer type. */
  type: "groupnorm";
  /** Most groups (default 8; `gcd(C, groups)` in effect). */
  groups?: number;
}

/** Spec of a {@link LayerNorm} layer in an architecture. */
export interface LayerNormSpec extends GroupNormOptions {
  /** Layer type. */
  type: "layernorm";
}

/** Registry entry of {@link GroupNorm}. */
export const groupNormLayer: LayerDef<GroupNormSpec, GroupNorm> = {
  type: "groupnorm",
  description:
    "group normalization per sample over gcd(C, groups) groups of channels, per-channel γ, β",
  fields: { groups: optional(positiveInt), eps: optional(positiveNumber) },
  example: { spec: { type: "groupnorm", groups: 2 }, inputShape: [4, 2, 3] },
  layer: GroupNorm,
  build: (s) => new GroupNorm(s.groups, { eps: s.eps }),
  toSpec: (l) => ({ type: "groupnorm", groups: l.groups, eps: l.eps }),
};

/** Registry entry of {@link LayerNorm}. */
export const layerNormLayer: LayerDef<LayerNormSpec, LayerNorm> = {
  type: "layernorm",
  description: "layer normalization per sample over all features, γ, β per feature or channel",
  fields: { eps: optional(positiveNumber) },
  example: { spec: { type: "layernorm" }, inputShape: [5] },
  layer: LayerNorm,
  build: (s) => new LayerNorm({ eps: s.eps }),
  toSpec: (l) => ({ type: "layernorm", eps: l.eps }),
};
