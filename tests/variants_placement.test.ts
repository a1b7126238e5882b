import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import type { Layer, Param } from "../src/layers/layer.ts";
import type { Scale } from "../src/layers/mod.ts";
import { Optimizer } from "../src/optim.ts";
import type { ArchSpec } from "../src/architectures.ts";
import { Tensor } from "../src/tensor.ts";
import {
  ALL_VARIANTS,
  buildNetwork,
  countParameters,
  parseVariant,
  VARIANTS,
} from "../src/variants.ts";
import { randomNormal } from "./gradcheck.ts";
import { TINY } from "./variant_fixtures.ts";

const PLAIN_COUNT = (2 * 9 * 3 + 3) + (27 * 5 + 5) + (5 * 4 + 4);

function kinds(variant: string): string[] {
  const m = buildNetwork(TINY, variant, { backend: tsBackend, seed: 1 });
  const k = m.layers.map((l) => l.kind);
  m.dispose();
  return k;
}

Deno.test("the 11 variants and the extras are named as in SPEC §1", () => {
  assert.deepEqual([...VARIANTS], [
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
  ]);
  assert.equal(ALL_VARIANTS.length, 25);
  for (const v of ["sh2", "sh16", "csh8", "biased2", "biased16", "psc", "cpsc", "lpsc"]) {
    assert.ok((ALL_VARIANTS as readonly string[]).includes(v), v);
  }
});

Deno.test("parseVariant decodes sharing, multipliers and proportional scale", () => {
  assert.deepEqual(parseVariant("csh_csc"), {
    name: "csh_csc",
    norm: null,
    shift: "channelwise",
    scale: "channelwise",
    shiftLrMult: 1,
    biasLrMult: 1,
    proportional: false,
    ddi: false,
    frozen: false,
    gate: null,
  });
  const l = parseVariant("lsc");
  assert.equal(l.shift, null);
  assert.equal(l.scale, "layerwise");
  assert.equal(parseVariant("sh").shift, "elementwise");
  assert.equal(parseVariant("sh").scale, null);
  assert.equal(parseVariant("sh_sc").scale, "elementwise");
  assert.equal(parseVariant("sh16").shiftLrMult, 16);
  assert.equal(parseVariant("csh4").shift, "channelwise");
  assert.equal(parseVariant("csh4").shiftLrMult, 4);
  assert.equal(parseVariant("biased8").biasLrMult, 8);
  assert.equal(parseVariant("biased8").shift, null);
  assert.equal(parseVariant("bn").norm, "bn");
  assert.equal(parseVariant("cpsc").scale, "channelwise");
  assert.equal(parseVariant("cpsc").proportional, true);
  assert.equal(parseVariant("plain").shift, null);
});

Deno.test("an unknown variant name errors, saying what a variant may be", () => {
  assert.throws(
    () => parseVariant("bn_sh"),
    /unknown variant component 'bn_sh' in 'bn_sh': a variant is 'plain' or components joined by '\+', at most one of each kind: normalisation bn \| ln \| gn \| ws; shift sh \| csh \| lsh.*sh_sc, csh_csc, lsh_lsc stand for sh\+sc/,
  );
  assert.throws(
    () => buildNetwork(TINY, "sh0", { backend: tsBackend, seed: 1 }),
    /unknown variant component 'sh0'/,
  );
  assert.throws(() => countParameters(TINY, "SH"), /unknown variant component 'SH'/);
});

Deno.test("layer order of every variant follows SPEC §1", () => {
  const base = ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Dense", "ReLU", "Dense"];
  const withPair = (pair: string[]) => [
    ...pair,
    "Conv2d",
    "ReLU",
    ...pair,
    "MaxPool2d",
    "Flatten",
    "Dense",
    "ReLU",
    ...pair,
    "Dense",
  ];
  const expected: Record<string, string[]> = {
    plain: base,
    bn: [
      "Conv2d",
      "BatchNorm",
      "ReLU",
      "MaxPool2d",
      "Flatten",
      "Dense",
      "BatchNorm",
      "ReLU",
      "Dense",
    ],
    sh: withPair(["Shift"]),
    sc: withPair(["Scale"]),
    sh_sc: withPair(["Shift", "Scale"]),
  };
  for (const p of ["c", "l"]) {
    expected[`${p}sh`] = expected.sh;
    expected[`${p}sc`] = expected.sc;
    expected[`${p}sh_${p}sc`] = expected.sh_sc;
  }
  for (const v of VARIANTS) assert.deepEqual(kinds(v), expected[v], v);
  for (const v of ["sh2", "sh16", "csh4", "csh8"]) assert.deepEqual(kinds(v), expected.sh, v);
  for (const v of ["biased2", "biased16"]) assert.deepEqual(kinds(v), base, v);
  for (const v of ["psc", "cpsc", "lpsc"]) assert.deepEqual(kinds(v), expected.sc, v);
});

Deno.test("shift/scale sharing and parameter shapes per variant", () => {
  const shapes = (variant: string) => {
    const m = buildNetwork(TINY, variant, { backend: tsBackend, seed: 1 });
    const out = m.params().filter((p) => p.kind === "shift" || p.kind === "scale").map((
      p,
    ) => [p.name, p.kind, p.value.shape.join("x")]);
    m.dispose();
    return out;
  };
  assert.deepEqual(shapes("sh"), [
    ["0_shift.shift", "shift", "2x6x6"],
    ["3_shift.shift", "shift", "3x6x6"],
    ["8_shift.shift", "shift", "5"],
  ]);
  assert.deepEqual(shapes("csh_csc").map((s) => s[2]), ["2", "2", "3", "3", "5", "5"]);
  assert.deepEqual(shapes("lsh_lsc").map((s) => s[2]), ["1", "1", "1", "1", "1", "1"]);
  assert.deepEqual(shapes("lsh_lsc").map((s) => s[1]), [
    "shift",
    "scale",
    "shift",
    "scale",
    "shift",
    "scale",
  ]);
});

Deno.test("the extra parameters each variant adds, counted by hand", () => {
  // shifted/scaled tensors: input [2,6,6] (72, 2 ch), conv relu [3,6,6] (108, 3 ch), dense relu [5]
  const extra: Record<string, number> = {
    plain: 0,
    bn: 2 * 3 + 2 * 5,
    sh: 72 + 108 + 5,
    sc: 72 + 108 + 5,
    sh_sc: 2 * (72 + 108 + 5),
    csh: 2 + 3 + 5, // channelwise falls back to elementwise after a dense layer
    csc: 2 + 3 + 5,
    csh_csc: 2 * (2 + 3 + 5),
    lsh: 1 + 2, // one per shifted activation plus one for the input
    lsc: 3,
    lsh_lsc: 6,
  };
  for (const v of VARIANTS) {
    assert.equal(countParameters(TINY, v), PLAIN_COUNT + extra[v], v);
  }
  assert.equal(countParameters(TINY, "sh8"), PLAIN_COUNT + extra.sh);
  assert.equal(countParameters(TINY, "biased4"), PLAIN_COUNT);
  // lsh on the big nets: All-CNN-C has 9 ReLUs, + 1 for the input
  const allcnnc: ArchSpec = {
    name: "a",
    inputShape: [3, 32, 32],
    classes: 10,
    layers: [
      { type: "conv", filters: 8, kernel: 3, pad: 1, stride: 2 },
      { type: "act", op: "relu" },
      { type: "conv", filters: 10, kernel: 1 },
      { type: "act", op: "relu" },
      { type: "gap" },
    ],
  };
  assert.equal(countParameters(allcnnc, "lsh") - countParameters(allcnnc), 3);
  assert.equal(countParameters(allcnnc, "csh") - countParameters(allcnnc), 3 + 8 + 10);
  assert.equal(
    countParameters(allcnnc, "sh") - countParameters(allcnnc),
    3 * 32 * 32 + 8 * 16 * 16 + 10 * 16 * 16,
  );
});

function forwardOut(variant: string, x: number[], seed = 5, arch = TINY): Float64Array {
  const m = buildNetwork(arch, variant, { backend: tsBackend, dtype: "float64", seed });
  const xt = Tensor.from(tsBackend, [3, ...arch.inputShape], x, "float64");
  const y = m.forward(xt, { training: true, seed: 1, step: 0 });
  const out = y.toArray() as Float64Array;
  y.dispose();
  xt.dispose();
  m.dispose();
  return out;
}

Deno.test("every shift/scale variant equals the plain network at initialisation", () => {
  const x = Array.from(randomNormal(3 * 72, 11));
  const plain = forwardOut("plain", x);
  for (const v of ALL_VARIANTS) {
    if (v === "bn") continue;
    assert.deepEqual(forwardOut(v, x), plain, `${v} differs from plain at init`);
  }
  assert.notDeepEqual(forwardOut("bn", x), plain, "batch norm does change the network");
  assert.notDeepEqual(forwardOut("plain", x, 6), plain, "another seed gives another network");
});

/** One SGD step from identical states; returns each parameter's displacement by name. */
function sgdDisplacement(variant: string): Map<string, { kind: string; delta: number[] }> {
  const m = buildNetwork(TINY, variant, { backend: tsBackend, dtype: "float64", seed: 2 });
  // move shift/scale params off their identity values so every gradient is generic
  m.params().forEach((p, k) => {
    if (p.kind === "shift") tsBackend.upload(p.value.buf, randomNormal(p.value.size, 50 + k, 0.1));
  });
  const x = Tensor.from(tsBackend, [3, 2, 6, 6], randomNormal(3 * 72, 12), "float64");
  const before = new Map(m.params().map((p) => [p.name, Array.from(p.value.toArray())]));
  m.zeroGrad();
  const y = m.forward(x, { training: true, seed: 1, step: 0 });
  const dx = m.backward(Tensor.from(tsBackend, y.shape, randomNormal(y.size, 13), "float64"));
  new Optimizer(m.params(), { kind: "sgd", lr: 0.01 }).step();
  const out = new Map<string, { kind: string; delta: number[] }>();
  for (const p of m.params() as Param[]) {
    const now = p.value.toArray();
    out.set(p.name, { kind: p.kind, delta: before.get(p.name)!.map((v, i) => now[i] - v) });
  }
  dx.dispose();
  m.dispose();
  return out;
}

function assertScaled(a: number[], b: number[], factor: number, what: string): void {
  assert.ok(a.some((v) => v !== 0), `${what}: the reference step moved nothing`);
  a.forEach((v, i) => {
    assert.ok(
      Math.abs(b[i] - factor * v) <= 1e-12 * Math.max(1, Math.abs(factor * v)),
      `${what}[${i}]: ${b[i]} is not ${factor} x ${v}`,
    );
  });
}

Deno.test("sh4: one SGD step moves shift parameters 4x as far as sh, the rest the same", () => {
  for (const [base, mult, factor] of [["sh", "sh4", 4], ["csh", "csh8", 8]] as const) {
    const a = sgdDisplacement(base);
    const b = sgdDisplacement(mult);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    let shifts = 0;
    for (const [name, { kind, delta }] of a) {
      const f = kind === "shift" ? factor : 1;
      if (kind === "shift") shifts++;
      assertScaled(delta, b.get(name)!.delta, f, `${mult} ${name}`);
    }
    assert.equal(shifts, 3, "input + 2 hidden activations");
  }
});

Deno.test("biased8 scales only conv/dense biases", () => {
  const a = sgdDisplacement("plain");
  const b = sgdDisplacement("biased8");
  let biases = 0;
  for (const [name, { kind, delta }] of a) {
    if (kind === "bias") biases++;
    assertScaled(delta, b.get(name)!.delta, kind === "bias" ? 8 : 1, `biased8 ${name}`);
  }
  assert.equal(biases, 3);
  const m = buildNetwork(TINY, "biased8", { backend: tsBackend, seed: 1 });
  for (const l of m.layers as Layer[]) {
    for (const p of l.params()) {
      assert.equal(p.lrMult, p.kind === "bias" ? 8 : 1, p.name);
      assert.equal(p.decay, p.kind === "weight", `${p.name} decay default`);
    }
  }
  m.dispose();
});

Deno.test("psc, cpsc, lpsc use the proportional scale layer; sc does not", () => {
  for (const [v, prop] of [["psc", true], ["cpsc", true], ["lpsc", true], ["sc", false]] as const) {
    const m = buildNetwork(TINY, v, { backend: tsBackend, seed: 1 });
    const scales = m.layers.filter((l) => l.kind === "Scale") as Scale[];
    assert.equal(scales.length, 3, v);
    for (const s of scales) assert.equal(s.proportional, prop, `${v} ${s.name}`);
    m.dispose();
  }
});

Deno.test("variant networks' shift/scale/bn parameters never decay by default", () => {
  for (const v of ["bn", "sh_sc", "csh_csc", "lsh_lsc", "psc"]) {
    const m = buildNetwork(TINY, v, { backend: tsBackend, seed: 1 });
    for (const p of m.params()) assert.equal(p.decay, p.kind === "weight", `${v} ${p.name}`);
    m.dispose();
  }
});

Deno.test("architectures that do not end in one logit per class are rejected", () => {
  const bad: ArchSpec = { ...TINY, classes: 7 };
  assert.throws(
    () => buildNetwork(bad, "plain", { backend: tsBackend, seed: 1 }),
    /architecture 'tiny': output shape is \[4\], expected \[7\]/,
  );
  const wrongInput: ArchSpec = { ...TINY, inputShape: [72] };
  assert.throws(
    () => buildNetwork(wrongInput, "plain", { backend: tsBackend, seed: 1 }),
    /Conv2d '0_conv2d': expected input shape/,
  );
  assert.throws(
    () => buildNetwork(TINY, "plain", { backend: tsBackend, seed: -1 }),
    /seed must be a non-negative integer, got -1/,
  );
});
