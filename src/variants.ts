/**
 * The variant builder: a base architecture plus a variant (SPEC §1, §1b; the grammar is
 * `variant_grammar.ts`) gives the network with normalisation, shifting/scaling layers, gates
 * and per-parameter options placed, as registry specs.
 *
 * Placement rules (the thesis text, not the authors' code; see the SPEC errata):
 * - every hidden activation becomes `activation → shift → scale` (shift first, each only when
 *   the variant has it); the same pair is applied to the network input, before the first layer;
 *   with `ddi` the pair's layers are marked for data-dependent initialisation;
 * - `bn`, `ln`, `gn` put the normalisation layer between each conv/dense layer and the
 *   activation that follows it (a conv/dense with no activation after it, the final classifier
 *   of an MLP, gets none); inside a residual block, after every conv;
 * - `ws` standardises the weights of every conv/dense layer but the classifier (the last one)
 *   and gives every ReLU the gain `sqrt(2 / (1 - 1/π))`;
 * - `shK`/`cshK` multiply the learning rate of the shift parameters by K; `biasedK` multiplies
 *   the learning rate of every conv/dense bias by K; `frozen` sets the learning rate of every
 *   conv/dense weight and bias to 0;
 * - `psc`/`cpsc`/`lpsc` use the proportional scale layer;
 * - residual gates, on each block's branch (residual architectures only): `skipinit` and
 *   `rezero` end it with a scalar α = 0 (`rezero` also drops the activation after the sum),
 *   `layerscale` with a per-channel vector of 0.1; `fixup` puts a scalar bias (0) before each
 *   conv and activation of the branch, a scalar multiplier (1) and a scalar bias after its last
 *   conv, initialises that conv to 0 and the others to He times `L^(-1/(2m-2))` (L blocks, m
 *   convs per branch: `L^(-1/2)` for basic blocks), and, outside the blocks, puts a scalar bias
 *   before the activation after the stem and before the classifier, whose weights start at 0.
 *
 * The random draws of every conv/dense weight happen in every variant (a zero-initialised
 * weight draws and discards), so run k of every variant starts from the same weights.
 *
 * @module
 */
import type { Backend, DType } from "./backend.ts";
import type { Layer } from "./layers/layer.ts";
import { RELU_GAIN } from "./layers/activation.ts";
import { buildLayer, type LayerSpec, parseLayerSpecs } from "./layers/registry.ts";
import type { ResidualSpec } from "./layers/residual.ts";
import type { Sharing } from "./layers/sharing.ts";
import { dryRunContext, Sequential } from "./model.ts";
import {
  architectureName,
  type ArchitectureRef,
  type ArchSpec,
  hasResidualBlocks,
} from "./architectures.ts";
import { Rng, Streams } from "./rng.ts";
import { GATES, parseVariant, type VariantSpec } from "./variant_grammar.ts";

export type { Sharing };
export {
  ALL_VARIANTS,
  canonicalVariant,
  type Gate,
  GATES,
  parseVariant,
  VARIANT_GRAMMAR,
  VARIANT_NORMS,
  variantComponents,
  type VariantName,
  type VariantNorm,
  VARIANTS,
  type VariantSpec,
} from "./variant_grammar.ts";

type WeightedSpec = Extract<LayerSpec, { type: "conv" | "dense" }>;

function isWeighted(s: LayerSpec): s is WeightedSpec {
  return s.type === "conv" || s.type === "dense";
}

const NORM_LAYERS: Record<string, LayerSpec> = {
  bn: { type: "batchnorm" },
  ln: { type: "layernorm" },
  gn: { type: "groupnorm" },
};

/** Places one variant's layers and options into a base layer list (see the module notes). */
class Placement {
  readonly #v: VariantSpec;
  /** Residual blocks in the network (Fixup's L). */
  readonly #blocks: number;

  constructor(v: VariantSpec, blocks: number) {
    this.#v = v;
    this.#blocks = blocks;
  }

  /** The shift/scale pair placed after every activation and at the input. */
  pair(): LayerSpec[] {
    const v = this.#v;
    const ddi = v.ddi ? { ddi: true } : {};
    return [
      ...(v.shift
        ? [{ type: "shift", sharing: v.shift, lrMult: v.shiftLrMult, ...ddi } as const]
        : []),
      ...(v.scale
        ? [{ type: "scale", sharing: v.scale, proportional: v.proportional, ...ddi } as const]
        : []),
    ];
  }

  /** The normalisation layer that follows a conv/dense layer, if any. */
  norm(): LayerSpec[] {
    const n = this.#v.norm;
    return n && NORM_LAYERS[n] ? [NORM_LAYERS[n]] : [];
  }

  /** A conv/dense spec with the variant's options (the same object when none applies). */
  weighted(s: WeightedSpec, classifier: boolean, initGain?: number): LayerSpec {
    const v = this.#v;
    const o: Record<string, unknown> = {};
    if (v.biasLrMult !== 1) o.biasLrMult = (s.biasLrMult ?? 1) * v.biasLrMult;
    if (v.frozen) Object.assign(o, { lrMult: 0, biasLrMult: 0 });
    if (v.norm === "ws" && !classifier) o.ws = true;
    if (initGain !== undefined) o.initGain = (s.initGain ?? 1) * initGain;
    return Object.keys(o).length ? { ...s, ...o } as LayerSpec : s;
  }

  /** An activation spec with the variant's options: the ReLU gain of `ws`. */
  act(s: Extract<LayerSpec, { type: "act" }>): LayerSpec {
    return this.#v.norm === "ws" && s.op === "relu" ? { ...s, gain: (s.gain ?? 1) * RELU_GAIN } : s;
  }

  /** Fixup's scalar bias (init 0), when the gate is fixup. */
  fixupBias(): LayerSpec[] {
    return this.#v.gate === "fixup" ? [{ type: "shift", sharing: "layerwise" }] : [];
  }

  /** The whole network: the input pair, then every base layer with the variant placed. */
  network(base: readonly LayerSpec[]): LayerSpec[] {
    const v = this.#v;
    const classifier = base.findLastIndex(isWeighted);
    const out = this.pair();
    for (let i = 0; i < base.length; i++) {
      const s = base[i];
      const next = base[i + 1];
      if (s.type === "residual") {
        out.push(this.block(s));
        // ReZero: out = x + α F(x), no activation after the sum.
        if (v.gate === "rezero" && next?.type === "act") i++;
      } else if (isWeighted(s)) {
        const last = i === classifier;
        if (last) out.push(...this.fixupBias());
        out.push(this.weighted(s, last, last && v.gate === "fixup" ? 0 : undefined));
        if (next?.type === "act") out.push(...this.norm(), ...this.fixupBias());
      } else if (s.type === "act") {
        out.push(this.act(s), ...this.pair());
      } else {
        out.push(s);
      }
    }
    return out;
  }

  /** A residual block with the variant placed in its branch and shortcut, and the gate. */
  block(s: ResidualSpec): LayerSpec {
    const v = this.#v;
    const fixup = v.gate === "fixup";
    const convs = s.branch.filter(isWeighted).length;
    let k = 0;
    const branch: LayerSpec[] = [];
    for (const b of s.branch) {
      if (isWeighted(b)) {
        const gain = !fixup
          ? undefined
          : ++k === convs
          ? 0
          : this.#blocks ** (-1 / (2 * convs - 2));
        branch.push(...this.fixupBias(), this.weighted(b, false, gain), ...this.norm());
      } else if (b.type === "act") {
        branch.push(...this.fixupBias(), this.act(b), ...this.pair());
      } else {
        branch.push(b.type === "residual" ? this.block(b) : b);
      }
    }
    if (v.gate === "skipinit" || v.gate === "rezero") {
      branch.push({ type: "scale", sharing: "layerwise", init: 0 });
    } else if (v.gate === "layerscale") {
      branch.push({ type: "scale", sharing: "channelwise", init: 0.1 });
    } else if (fixup) {
      branch.push({ type: "scale", sharing: "layerwise" }, ...this.fixupBias());
    }
    const shortcut = (s.shortcut ?? []).flatMap((b): LayerSpec[] =>
      isWeighted(b) ? [this.weighted(b, false), ...this.norm()] : [b]
    );
    return { type: "residual", branch, shortcut };
  }
}

/**
 * The full layer list of `arch` under variant `variant`, as registry specs: the base layers
 * (validated through the registry; errors name the layer's index and field) with the variant
 * placed as the module documentation says. A gate on an architecture without residual blocks
 * is refused, naming the gates and the architecture.
 */
export function variantSpecs(arch: ArchSpec, variant: string | VariantSpec): LayerSpec[] {
  const v = typeof variant === "string" ? parseVariant(variant) : variant;
  const base = parseLayerSpecs(arch?.layers, `architecture '${arch?.name}'`);
  const blocks = base.filter((s) => s.type === "residual").length;
  if (v.gate && blocks === 0) throw noBlocks(v, arch.name);
  return new Placement(v, blocks).network(base);
}

function noBlocks(v: VariantSpec, archName: string): Error {
  return new Error(
    `variant '${v.name}': the residual gate '${v.gate}' needs a residual architecture (one ` +
      `with residual blocks, such as resnet20), and '${archName}' has none; the gates ` +
      `(${GATES.join(", ")}) apply only there`,
  );
}

/**
 * Checks a variant name for an architecture before any network is built (an experiment config's
 * check): the grammar, and a gate only where there are residual blocks. Returns the canonical
 * name; throws saying why otherwise.
 */
export function checkVariant(name: string, arch: ArchitectureRef): string {
  const v = parseVariant(name);
  if (v.gate && !hasResidualBlocks(arch)) throw noBlocks(v, architectureName(arch));
  return v.name;
}

/** Options of {@link buildNetwork}. */
export type BuildNetworkOptions = {
  /** Backend to build on. */
  backend: Backend;
  /** Element type (default float32). */
  dtype?: DType;
  /** Seed of the initialisation stream: one seed gives bit-identical parameters. */
  seed: number;
};

/** The layers of {@link variantSpecs}, built from the registry (unbuilt: no parameters yet). */
export function variantLayers(arch: ArchSpec, variant: string | VariantSpec): Layer[] {
  return variantSpecs(arch, variant).map((s) => buildLayer(s));
}

/**
 * Builds `arch` as variant `variant` on a backend: layers placed by {@link variantLayers},
 * parameters drawn from stream `Streams.init` of `seed` in layer order (shift, scale,
 * normalisation and gate parameters are constants, so every variant shares the plain network's
 * weights). The classifier's weight (the last conv/dense weight) is exempt from adaptive
 * gradient clipping. Throws when the network's output is not `[arch.classes]`.
 */
export function buildNetwork(
  arch: ArchSpec,
  variant: string,
  opts: BuildNetworkOptions,
): Sequential {
  const v = parseVariant(variant);
  if (!opts || !opts.backend) throw new Error("buildNetwork: opts.backend is required");
  if (!Number.isInteger(opts.seed) || opts.seed < 0) {
    throw new Error(`buildNetwork: seed must be a non-negative integer, got ${opts.seed}`);
  }
  const dtype = opts.dtype ?? "float32";
  const model = new Sequential(variantLayers(arch, v), { name: `${arch.name}/${v.name}` });
  return finish(
    model,
    arch,
    () =>
      model.build(arch.inputShape, {
        backend: opts.backend,
        dtype,
        rng: new Rng(opts.seed, Streams.init),
      }),
  );
}

function finish(model: Sequential, arch: ArchSpec, build: () => void): Sequential {
  try {
    build();
    const classifier = model.params().findLast((p) => p.kind === "weight");
    if (classifier) classifier.agc = false;
    const out = model.outputShape;
    if (out.length !== 1 || out[0] !== arch.classes) {
      throw new Error(
        `architecture '${arch.name}': output shape is [${out.join(", ")}], expected ` +
          `[${arch.classes}] (one logit per class)`,
      );
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Builds `arch` as `variant` on the shape-only dry-run backend (the real layer build logic,
 * no parameter memory) and returns the model, for parameter counts and summaries of networks
 * of any size.
 */
export function dryRunNetwork(arch: ArchSpec, variant: string): Sequential {
  const v = parseVariant(variant);
  const model = new Sequential(variantLayers(arch, v), { name: `${arch.name}/${v.name}` });
  return finish(model, arch, () => model.build(arch.inputShape, dryRunContext()));
}

/** Number of learnable parameters of `arch` as `variant` (via {@link dryRunNetwork}). */
export function countParameters(arch: ArchSpec, variant = "plain"): number {
  const m = dryRunNetwork(arch, variant);
  const n = m.parameterCount();
  m.dispose();
  return n;
}
