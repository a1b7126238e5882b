/**
 * The variant grammar: every thesis name keeps its network (the same layer specs as the builder
 * before the grammar, the same parameter count, the same outputs after training steps), any
 * order of components parses to one canonical name, and invalid combinations are errors that
 * say why and what is allowed.
 */
import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import type { ArchSpec, LayerSpec } from "../src/architectures.ts";
import { validateConfig } from "../src/experiment/config.ts";
import { parseLayerSpecs } from "../src/layers/registry.ts";
import type { Sharing } from "../src/layers/sharing.ts";
import { SoftmaxCrossEntropy } from "../src/loss.ts";
import { Optimizer } from "../src/optim.ts";
import { Tensor } from "../src/tensor.ts";
import {
  ALL_VARIANTS,
  buildNetwork,
  canonicalVariant,
  countParameters,
  parseVariant,
  variantComponents,
  variantSpecs,
} from "../src/variants.ts";
import { randomNormal } from "./gradcheck.ts";
import { TINY } from "./variant_fixtures.ts";

/**
 * The variant builder as it was before the grammar (`src/variants.ts` at a6b166d), verbatim in
 * what it did: the oracle for "every old name builds the network it built before".
 */
function legacySpecs(arch: ArchSpec, name: string): LayerSpec[] {
  const prefix: Record<string, Sharing> = {
    "": "elementwise",
    c: "channelwise",
    l: "layerwise",
  };
  const v = {
    bn: name === "bn",
    shift: null as Sharing | null,
    scale: null as Sharing | null,
    shiftLrMult: 1,
    biasLrMult: 1,
    proportional: false,
  };
  let m: RegExpMatchArray | null;
  if ((m = name.match(/^biased(\d+)$/))) {
    v.biasLrMult = Number(m[1]);
  } else if ((m = name.match(/^([cl]?)sh(\d+)$/))) {
    v.shift = prefix[m[1]];
    v.shiftLrMult = Number(m[2]);
  } else if ((m = name.match(/^([cl]?)psc$/))) {
    v.scale = prefix[m[1]];
    v.proportional = true;
  } else if ((m = name.match(/^([cl]?)(sh|sc)(?:_[cl]?sc)?$/))) {
    const sharing = prefix[m[1]];
    if (m[2] === "sh") v.shift = sharing;
    if (m[2] === "sc" || name.includes("_")) v.scale = sharing;
  }
  const base = parseLayerSpecs(arch.layers, `architecture '${arch.name}'`);
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

/**
 * Parameter count, and `Σ (i + 1) y_i` of the float64 output after 3 momentum steps from seed 5:
 * computed with the builder at a6b166d, before the grammar existed.
 */
const BEFORE: Record<string, [number, number]> = {
  plain: [221, 39.19297010812345],
  bn: [237, -17.050982126207263],
  sh: [406, 46.626856137411025],
  sc: [406, 38.40637049068408],
  sh_sc: [591, 45.723044827237004],
  csh: [231, 36.9806235947066],
  csc: [231, 29.405812396232836],
  csh_csc: [241, 29.795740231602785],
  lsh: [224, 35.991625959687255],
  lsc: [224, 14.585948623562015],
  lsh_lsc: [227, 13.286522862439295],
  sh2: [406, 53.74186413427729],
  sh4: [406, 68.94180785997804],
  sh8: [406, 86.86701935377452],
  sh16: [406, 105.40087185279997],
  csh2: [231, 36.43377571518956],
  csh4: [231, 22.17046602748925],
  csh8: [231, 23.448952833249326],
  biased2: [221, 35.054120069596586],
  biased4: [221, 29.20231794236314],
  biased8: [221, 29.781599359216024],
  biased16: [221, 29.261479847351723],
  psc: [406, 38.40644558187197],
  cpsc: [231, 29.306617919940916],
  lpsc: [224, 14.625391363648344],
};

/** Parameter count and output fingerprint of `variant` (see {@link BEFORE}). */
function fingerprint(variant: string): [number, number] {
  const m = buildNetwork(TINY, variant, { backend: tsBackend, dtype: "float64", seed: 5 });
  const opt = new Optimizer(m.params(), { kind: "momentum", lr: 0.05, momentum: 0.9 });
  const loss = new SoftmaxCrossEntropy();
  const r = randomNormal(6 * 72, 21);
  const x = Tensor.from(tsBackend, [6, 2, 6, 6], r, "float64");
  const y = Tensor.from(tsBackend, [6], [0, 1, 2, 3, 1, 2], "float64");
  for (let s = 0; s < 3; s++) {
    m.zeroGrad();
    const logits = m.forward(x, { training: true, seed: 1, step: s });
    loss.forward(logits, y);
    m.backward(loss.backward()).dispose();
    logits.dispose();
    opt.step();
  }
  const out = m.forward(x, { training: true, seed: 1, step: 9 }).toArray();
  let f = 0;
  out.forEach((v, i) => (f += v * (i + 1)));
  for (const t of [x, y]) t.dispose();
  opt.dispose();
  loss.dispose();
  m.dispose();
  return [countParameters(TINY, variant), f];
}

Deno.test("every thesis name builds the network it built before: specs, counts, outputs", () => {
  assert.equal(ALL_VARIANTS.length, 25);
  for (const v of ALL_VARIANTS) {
    assert.equal(canonicalVariant(v), v, `${v} is its own canonical name`);
    assert.deepEqual(variantSpecs(TINY, v), legacySpecs(TINY, v), `${v}: layer specs`);
    assert.deepEqual(fingerprint(v), BEFORE[v], `${v}: count and outputs after 3 steps`);
  }
});

Deno.test("sh_sc = sh+sc, sh4 = sh at 4x: the thesis's names are compositions", () => {
  const same: [string, string][] = [
    ["sh+sc", "sh_sc"],
    ["sc+sh", "sh_sc"],
    ["csc+csh", "csh_csc"],
    ["lsh+lsc", "lsh_lsc"],
    ["sh4", "sh4"],
    ["sh1", "sh"],
    ["lpsc", "lpsc"],
  ];
  for (const [composed, thesis] of same) {
    assert.equal(canonicalVariant(composed), thesis, composed);
    assert.deepEqual(variantSpecs(TINY, composed), variantSpecs(TINY, thesis), composed);
  }
  assert.deepEqual(fingerprint("sc+sh"), BEFORE.sh_sc);
  const sh4 = parseVariant("sh4");
  assert.equal(sh4.shift, "elementwise");
  assert.equal(sh4.shiftLrMult, 4);
});

Deno.test("compositions: any order parses to one canonical name, components in kind order", () => {
  const cases: [string, string, string[]][] = [
    ["lsh_lsc+bn", "bn+lsh+lsc", ["bn", "lsh", "lsc"]],
    ["bn+lsh+lsc", "bn+lsh+lsc", ["bn", "lsh", "lsc"]],
    ["ddi+csc+csh", "csh+csc+ddi", ["csh", "csc", "ddi"]],
    ["frozen+csh+csc", "csh+csc+frozen", ["csh", "csc", "frozen"]],
    ["frozen+bn", "bn+frozen", ["bn", "frozen"]],
    ["sc+sh4", "sh4+sc", ["sh4", "sc"]],
    ["lsh+csc", "lsh+csc", ["lsh", "csc"]],
    ["lsh+lpsc", "lsh+lpsc", ["lsh", "lpsc"]],
    ["biased4+bn", "bn+biased4", ["bn", "biased4"]],
    ["gn", "gn", ["gn"]],
    ["ws", "ws", ["ws"]],
    ["ln+sh_sc", "ln+sh+sc", ["ln", "sh", "sc"]],
    ["skipinit+bn", "bn+skipinit", ["bn", "skipinit"]],
    ["fixup+lsh+lsc", "lsh+lsc+fixup", ["lsh", "lsc", "fixup"]],
    ["frozen+ddi+csc", "csc+ddi+frozen", ["csc", "ddi", "frozen"]],
    ["plain", "plain", []],
  ];
  for (const [name, canonical, components] of cases) {
    assert.equal(canonicalVariant(name), canonical, name);
    assert.equal(canonicalVariant(canonical), canonical, `${canonical} is stable`);
    assert.deepEqual(variantComponents(name), components, name);
  }
  const v = parseVariant("ddi+frozen+lsh+bn");
  assert.deepEqual(
    [v.name, v.norm, v.shift, v.scale, v.ddi, v.frozen, v.gate],
    ["bn+lsh+ddi+frozen", "bn", "layerwise", null, true, true, null],
  );
});

Deno.test("invalid variants: errors say what is wrong and what is allowed", () => {
  const bad: [string, RegExp][] = [
    [
      "bn+gn",
      /variant 'bn\+gn': two components of kind normalisation \('bn' and 'gn'\); a variant takes at most one of bn \| ln \| gn \| ws/,
    ],
    ["sh+csh4", /two components of kind shift \('sh' and 'csh4'\)/],
    ["lsh_lsc+csc", /two components of kind scale \('lsc' and 'csc'\); .*sc \| csc \| lsc \| psc/],
    ["skipinit+rezero", /two components of kind gate .*skipinit \| rezero \| layerscale \| fixup/],
    [
      "ddi",
      /variant 'ddi': ddi initialises the shift\/scale layers from data, so it needs a shift \(sh \| csh \| lsh\) or a scale/,
    ],
    ["bn+ddi", /variant 'bn\+ddi': ddi initialises/],
    [
      "frozen",
      /variant 'frozen': frozen trains only shift, scale and normalisation parameters, and this variant has none; add a shift/,
    ],
    ["frozen+biased4+lsh", /frozen keeps conv\/dense biases at their initialisation/],
    ["frozen+fixup+lsh", /fixup starts the classifier's weights at 0 and frozen would keep them/],
    [
      "bn+fixup",
      /variant 'bn\+fixup': fixup is a normalisation-free method and takes no normalisation \(bn\); the gates that allow one are skipinit and layerscale/,
    ],
    ["gn+rezero", /rezero is a normalisation-free method/],
    ["bn++sh", /variant 'bn\+\+sh': empty component/],
    ["plain+sh", /'plain' is the network without components and cannot be combined/],
    [
      "bn+xyz",
      /unknown variant component 'xyz' in 'bn\+xyz': a variant is 'plain' or components joined by '\+', at most one of each kind: normalisation bn \| ln \| gn \| ws; .*residual gate skipinit \| rezero \| layerscale \| fixup \(residual architectures only\)/,
    ],
    ["sh_csc", /unknown variant component 'sh_csc'/],
    ["", /a variant name must be a non-empty string/],
  ];
  for (const [name, re] of bad) assert.throws(() => parseVariant(name), re, name);
  for (const gate of ["skipinit", "rezero", "layerscale", "fixup", "bn+skipinit"]) {
    assert.throws(
      () => buildNetwork(TINY, gate, { backend: tsBackend, seed: 1 }),
      new RegExp(
        `the residual gate '${gate.replace("bn+", "")}' needs a residual architecture .*` +
          `'tiny' has none; the gates \\(skipinit, rezero, layerscale, fixup\\) apply only there`,
      ),
      gate,
    );
  }
});

Deno.test("configs store canonical names; two spellings of one variant are refused", () => {
  const checks = { variant: canonicalVariant };
  const base = { name: "g", dataset: "mnist", architecture: "shiftlab-small" };
  const c = validateConfig(
    {
      ...base,
      variants: ["plain", "sc+sh", "frozen+bn", "lsh_lsc+bn"],
      lr: { default: 0.01, "sh+sc": 0.02, "frozen+bn": 0.04 },
      dropoutOverrides: { "bn+lsh_lsc": true },
    },
    "test",
    checks,
  );
  assert.deepEqual(c.variants, ["plain", "sh_sc", "bn+frozen", "bn+lsh+lsc"]);
  assert.deepEqual(c.lr, { default: 0.01, sh_sc: 0.02, "bn+frozen": 0.04 });
  assert.deepEqual(c.dropoutOverrides, { "bn+lsh+lsc": true });
  assert.throws(
    () => validateConfig({ ...base, variants: ["sh_sc", "sc+sh"], lr: 0.01 }, "test", checks),
    /test: variant 'sc\+sh' is listed twice \(as 'sh_sc'\)/,
  );
  assert.throws(
    () => validateConfig({ ...base, variants: ["bn+gn"], lr: 0.01 }, "test", checks),
    /test: variant 'bn\+gn': two components of kind normalisation/,
  );
  assert.throws(
    () => validateConfig({ ...base, variants: ["sh"], lr: { nope: 0.1, sh: 0.1 } }, "t", checks),
    /'lr' names 'nope', which is not in 'variants'/,
  );
});
