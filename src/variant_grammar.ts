/**
 * The variant grammar (SPEC §1, §1b): what a variant name means, checked and spelled one way.
 *
 * A variant is `plain` or components joined by `+`, at most one of each kind:
 *
 * | kind | components |
 * | --- | --- |
 * | normalisation | `bn` (batch norm), `ln` (layer norm), `gn` (group norm), `ws` (scaled weight standardisation) |
 * | shift | `sh`, `csh`, `lsh` (elementwise, channelwise, layerwise), with an optional learning-rate multiplier: `sh4`, `csh8` |
 * | scale | `sc`, `csc`, `lsc`; proportional `psc`, `cpsc`, `lpsc` |
 * | bias rate | `biasedK`: conv/dense biases learn at K times the rate |
 * | modifiers | `ddi` (data-dependent initialisation of the shift/scale pair), `frozen` (only shift, scale and normalisation parameters train) |
 * | residual gate | `skipinit`, `rezero`, `layerscale`, `fixup` (residual architectures only) |
 *
 * The thesis's names keep their meaning: `sh_sc` is `sh+sc` (likewise `csh_csc`, `lsh_lsc`),
 * `sh4` is `sh` at 4 times the rate. The canonical name of a variant, the one records and
 * reports use, is its thesis name where it has one (`sh+sc` → `sh_sc`, `plain`), else its
 * components in the order of the table above, shift and scale spelled separately:
 * `lsh+lsc+bn` → `bn+lsh+lsc`, `ddi+csc+csh` → `csh+csc+ddi`.
 *
 * Invalid combinations are errors that say why: two of one kind; `ddi` without a shift or a
 * scale; `frozen` with nothing left to train, with `biasedK` (whose biases it freezes) or
 * with `fixup` (whose zero classifier it would keep at zero);
 * `fixup` or `rezero` with a normalisation (both are normalisation-free methods). A gate on a
 * network without residual blocks is refused by the variant builder, which knows the network.
 *
 * This module is pure (no model code), so reports can read variant names too.
 *
 * @module
 */
import type { Sharing } from "./layers/sharing.ts";

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

/** The thesis's names: the 11, the learning-rate multiplier and the proportional ones. */
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

/** A thesis variant name (every other variant is a composition; see {@link parseVariant}). */
export type VariantName = typeof ALL_VARIANTS[number];

/** The normalisation components. */
export const VARIANT_NORMS = ["bn", "ln", "gn", "ws"] as const;
/** One of {@link VARIANT_NORMS}. */
export type VariantNorm = typeof VARIANT_NORMS[number];

/** The residual gates. */
export const GATES = ["skipinit", "rezero", "layerscale", "fixup"] as const;
/** One of {@link GATES}. */
export type Gate = typeof GATES[number];

/** What a variant means. */
export type VariantSpec = {
  /** The canonical name. */
  name: string;
  /** Normalisation: placed after conv/dense layers (`ws`: of their weights), or null. */
  norm: VariantNorm | null;
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
  /** Data-dependent initialisation of the shift/scale layers. */
  ddi: boolean;
  /** Conv/dense weights and biases stay at their initialisation. */
  frozen: boolean;
  /** Residual gate, or null. */
  gate: Gate | null;
};

/** One paragraph: the grammar, for error messages and `--help`. */
export const VARIANT_GRAMMAR: string =
  "a variant is 'plain' or components joined by '+', at most one " +
  "of each kind: normalisation bn | ln | gn | ws; shift sh | csh | lsh, optionally with a " +
  "learning-rate multiplier (sh4); scale sc | csc | lsc | psc | cpsc | lpsc; biasedK (bias " +
  "learning rate times K); modifiers ddi, frozen; residual gate skipinit | rezero | layerscale " +
  "| fixup (residual architectures only); sh_sc, csh_csc, lsh_lsc stand for sh+sc, csh+csc, " +
  "lsh+lsc";

const PREFIX: Record<string, Sharing> = { "": "elementwise", c: "channelwise", l: "layerwise" };
const SHARING_PREFIX: Record<Sharing, string> = {
  elementwise: "",
  channelwise: "c",
  layerwise: "l",
};

type Kind = "normalisation" | "shift" | "scale" | "bias rate" | "ddi" | "frozen" | "gate";

const KIND_CHOICES: Record<Kind, string> = {
  normalisation: VARIANT_NORMS.join(" | "),
  shift: "sh | csh | lsh, with an optional multiplier",
  scale: "sc | csc | lsc | psc | cpsc | lpsc",
  "bias rate": "biasedK",
  ddi: "ddi",
  frozen: "frozen",
  gate: GATES.join(" | "),
};

function plainSpec(): VariantSpec {
  return {
    name: "plain",
    norm: null,
    shift: null,
    scale: null,
    shiftLrMult: 1,
    biasLrMult: 1,
    proportional: false,
    ddi: false,
    frozen: false,
    gate: null,
  };
}

/** Applies one component to `v`; returns its kind, or null for an unknown component. */
function apply(v: VariantSpec, c: string): Kind | null {
  let m: RegExpMatchArray | null;
  if ((VARIANT_NORMS as readonly string[]).includes(c)) {
    v.norm = c as VariantNorm;
    return "normalisation";
  }
  if ((m = c.match(/^([cl]?)sh([1-9]\d*)?$/))) {
    v.shift = PREFIX[m[1]];
    v.shiftLrMult = m[2] ? Number(m[2]) : 1;
    return "shift";
  }
  if ((m = c.match(/^([cl]?)(p?)sc$/))) {
    v.scale = PREFIX[m[1]];
    v.proportional = m[2] === "p";
    return "scale";
  }
  if ((m = c.match(/^biased([1-9]\d*)$/))) {
    v.biasLrMult = Number(m[1]);
    return "bias rate";
  }
  if (c === "ddi" || c === "frozen") {
    v[c] = true;
    return c;
  }
  if ((GATES as readonly string[]).includes(c)) {
    v.gate = c as Gate;
    return "gate";
  }
  return null;
}

/** The components of `v` in canonical order, shift and scale spelled separately. */
function components(v: VariantSpec): string[] {
  const out: string[] = [];
  if (v.norm) out.push(v.norm);
  if (v.shift) {
    out.push(`${SHARING_PREFIX[v.shift]}sh${v.shiftLrMult === 1 ? "" : v.shiftLrMult}`);
  }
  if (v.scale) out.push(`${SHARING_PREFIX[v.scale]}${v.proportional ? "p" : ""}sc`);
  if (v.biasLrMult !== 1) out.push(`biased${v.biasLrMult}`);
  if (v.gate) out.push(v.gate);
  if (v.ddi) out.push("ddi");
  if (v.frozen) out.push("frozen");
  return out;
}

/** The canonical name of a parsed variant (see the module documentation). */
function canonicalName(v: VariantSpec): string {
  const c = components(v);
  if (c.length === 0) return "plain";
  const thesisPair = c.length === 2 && v.shift !== null && v.shift === v.scale &&
    v.shiftLrMult === 1 && !v.proportional;
  return thesisPair ? c.join("_") : c.join("+");
}

/** The combination rules that need no network; throws saying why. */
function checkCombination(name: string, v: VariantSpec): void {
  const bad = (why: string): never => {
    throw new Error(`variant '${name}': ${why}`);
  };
  if (v.ddi && !v.shift && !v.scale) {
    bad(
      "ddi initialises the shift/scale layers from data, so it needs a shift (sh | csh | lsh) " +
        "or a scale (sc | csc | lsc | psc | cpsc | lpsc)",
    );
  }
  if (v.frozen && v.biasLrMult !== 1) {
    bad(
      `frozen keeps conv/dense biases at their initialisation, so biased${v.biasLrMult} ` +
        "(their learning rate times K) cannot apply; use one or the other",
    );
  }
  if (v.frozen && !v.shift && !v.scale && !v.norm) {
    bad(
      "frozen trains only shift, scale and normalisation parameters, and this variant has " +
        `none; add a shift (sh | csh | lsh), a scale (${KIND_CHOICES.scale}) or a ` +
        "normalisation (bn | ln | gn | ws)",
    );
  }
  if (v.frozen && v.gate === "fixup") {
    bad(
      "fixup starts the classifier's weights at 0 and frozen would keep them there, so the " +
        "network could never output anything but its biases; use one or the other",
    );
  }
  if ((v.gate === "fixup" || v.gate === "rezero") && v.norm) {
    bad(
      `${v.gate} is a normalisation-free method and takes no normalisation (${v.norm}); ` +
        "the gates that allow one are skipinit and layerscale",
    );
  }
}

/**
 * Parses a variant name (see the module documentation): a thesis name, or components joined
 * by `+` in any order. Throws, saying why and what is allowed, for an unknown component, two
 * components of one kind, or an invalid combination. The result's `name` is canonical.
 */
export function parseVariant(name: string): VariantSpec {
  if (typeof name !== "string" || name.trim() === "") {
    throw new Error(`a variant name must be a non-empty string, got ${JSON.stringify(name)}`);
  }
  const v = plainSpec();
  if (name === "plain") return v;
  const seen = new Map<Kind, string>();
  for (const token of name.split("+")) {
    if (token === "") {
      throw new Error(`variant '${name}': empty component (a stray '+'); ${VARIANT_GRAMMAR}`);
    }
    if (token === "plain") {
      throw new Error(
        `variant '${name}': 'plain' is the network without components and cannot be combined; ` +
          `write the other components alone`,
      );
    }
    const pair = token.match(/^([cl]?)sh_\1sc$/);
    for (const c of pair ? [`${pair[1]}sh`, `${pair[1]}sc`] : [token]) {
      const kind = apply(v, c);
      if (kind === null) {
        throw new Error(`unknown variant component '${c}' in '${name}': ${VARIANT_GRAMMAR}`);
      }
      const other = seen.get(kind);
      if (other !== undefined) {
        throw new Error(
          `variant '${name}': two components of kind ${kind} ('${other}' and '${c}'); a ` +
            `variant takes at most one of ${KIND_CHOICES[kind]}`,
        );
      }
      seen.set(kind, c);
    }
  }
  checkCombination(name, v);
  v.name = canonicalName(v);
  return v;
}

/** The canonical spelling of a variant name (throws as {@link parseVariant} does). */
export function canonicalVariant(name: string): string {
  return parseVariant(name).name;
}

/** The canonical components of a variant name, shift and scale separately (`plain`: none). */
export function variantComponents(name: string): string[] {
  return components(parseVariant(name));
}
