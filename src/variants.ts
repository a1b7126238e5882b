/**
 * The variant builder: a base architecture plus a variant name (SPEC §1, thesis §5.3 and
 * table 6.1) gives the network with batch norm or shifting/scaling layers placed.
 *
 * Placement rules (the thesis text, not the authors' code; see the SPEC errata):
 * - every hidden activation becomes `activation → shift → scale` (shift first, each only when
 *   the variant has it); the same pair is applied to the network input, before the first layer;
 * - `bn` puts batch norm between each conv/dense layer and the activation that follows it (a
 *   conv/dense with no activation after it, the final classifier of an MLP, gets none);
 * - `shK`/`cshK` multiply the learning rate of the shift parameters by K; `biasedK` is the
 *   plain network with the learning rate of every conv/dense bias multiplied by K;
 * - `psc`/`cpsc`/`lpsc` use the proportional scale layer.
 *
 * @module
 */
import type { Backend, DType } from "./backend.ts";
import type { Layer } from "./layers/layer.ts";
import { buildLayer, type LayerSpec, parseLayerSpecs } from "./layers/registry.ts";
import type { Sharing } from "./layers/sharing.ts";
import { dryRunContext, Sequential } from "./model.ts";
import type { ArchSpec } from "./architectures.ts";
import { Rng, Streams } from "./rng.ts";

export type { Sharing };

/** The 11 variants of SPEC §1 (thesis table 6.1). */
export const VARIANTS = [
  "plain",
  "bn",
  "sh",
  "sc",
  "sh_sc",
  "csh",
  "csc",
  "csh_csc",
  "lsh",
  "lsc",
  "lsh_lsc",
] as const;

/** Every variant name: the 11, the learning-rate multiplier and the proportional ones. */
export const ALL_VARIANTS = [
  ...VARIANTS,
  "sh2",
  "sh4",
  "sh8",
  "sh16",
  "csh2",
  "csh4",
  "csh8",
  "biased2",
  "biased4",
  "biased8",
  "biased16",
  "psc",
  "cpsc",
  "lpsc",
] as const;

/** A variant name. */
export type VariantName = typeof ALL_VARIANTS[number];

/** What a variant name means. */
export type VariantSpec = {
  /** The name. */
  name: VariantName;
  /** Batch norm between each conv/dense and its activation. */
  bn: boolean;
  /** Shift sharing, or null for no shift layers. */
  shift: Sharing | null;
  /** Scale sharing, or null for no scale layers. */
  scale: Sharing | null;
  /** Learning-rate multiplier of the shift parameters. */
  shiftLrMult: number;
  /** Learning-rate multiplier of conv/dense biases. */
  biasLrMult: number;
  /** Proportional scale (gradient times `sqrt(eps² + w²)`). */
  proportional: boolean;
};

const PREFIX: Record<string, Sharing> = { "": "elementwise", c: "channelwise", l: "layerwise" };

/** Parses a variant name; an unknown name throws, listing the valid ones. */
export function parseVariant(name: string): VariantSpec {
  if (!(ALL_VARIANTS as readonly string[]).includes(name)) {
    throw new Error(`unknown variant '${name}', expected one of ${ALL_VARIANTS.join(", ")}`);
  }
  const v: VariantSpec = {
    name: name as VariantName,
    bn: name === "bn",
    shift: null,
    scale: null,
    shiftLrMult: 1,
    biasLrMult: 1,
    proportional: false,
  };
  let m: RegExpMatchArray | null;
  if ((m = name.match(/^biased(\d+)$/))) {
    v.biasLrMult = Number(m[1]);
  } else if ((m = name.match(/^([cl]?)sh(\d+)$/))) {
    v.shift = PREFIX[m[1]];
    v.shiftLrMult = Number(m[2]);
  } else if ((m = name.match(/^([cl]?)psc$/))) {
    v.scale = PREFIX[m[1]];
    v.proportional = true;
  } else if ((m = name.match(/^([cl]?)(sh|sc)(?:_[cl]?sc)?$/))) {
    const sharing = PREFIX[m[1]];
    if (m[2] === "sh") v.shift = sharing;
    if (m[2] === "sc" || name.includes("_")) v.scale = sharing;
  }
  return v;
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

/**
 * The full layer list of `arch` under variant `variant`, as registry specs: the base layers
 * (validated through the registry; errors name the layer's index and field) with batch norm
 * and shift/scale pairs placed and the bias multiplier applied, as the module documentation
 * says.
 */
export function variantSpecs(arch: ArchSpec, variant: string | VariantSpec): LayerSpec[] {
  const v = typeof variant === "string" ? parseVariant(variant) : variant;
  const base = parseLayerSpecs(arch?.layers, `architecture '${arch?.name}'`);
  const pair = (): LayerSpec[] => [
    ...(v.shift ? [{ type: "shift", sharing: v.shift, lrMult: v.shiftLrMult } as const] : []),
    ...(v.scale
      ? [{ type: "scale", sharing: v.scale, proportional: v.proportional } as const]
      : []),
  ];
  const out = pair();
  base.forEach((s, i) => {
    const weighted = s.type === "conv" || s.type === "dense";
    out.push(
      weighted && v.biasLrMult !== 1 ? { ...s, biasLrMult: (s.biasLrMult ?? 1) * v.biasLrMult } : s,
    );
    if (v.bn && weighted && base[i + 1]?.type === "act") out.push({ type: "batchnorm" });
    if (s.type === "act") out.push(...pair());
  });
  return out;
}

/** The layers of {@link variantSpecs}, built from the registry (unbuilt: no parameters yet). */
export function variantLayers(arch: ArchSpec, variant: string | VariantSpec): Layer[] {
  return variantSpecs(arch, variant).map((s) => buildLayer(s));
}

/**
 * Builds `arch` as variant `variant` on a backend: layers placed by {@link variantLayers},
 * parameters drawn from stream `Streams.init` of `seed` in layer order (shift, scale and
 * batch-norm parameters are constants, so every variant shares the plain network's weights).
 * Throws when the network's output is not `[arch.classes]`.
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
