/**
 * The layer registry: every registered type validates, builds and reads back; bad specs are
 * refused with errors naming the layer's index and the field.
 */
import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import type { ArchSpec } from "../src/architectures.ts";
import { Dense } from "../src/layers/dense.ts";
import { LayerBase } from "../src/layers/base.ts";
import {
  buildLayer,
  LAYER_TYPES,
  layerDef,
  LAYERS,
  type LayerSpec,
  layerSpec,
  parseLayerSpec,
  parseLayerSpecs,
} from "../src/layers/registry.ts";
import { Rng, Streams } from "../src/rng.ts";
import { buildNetwork, variantSpecs } from "../src/variants.ts";

Deno.test("the registry lists every layer type once, sorted, each with a description", () => {
  for (
    const t of [
      "act",
      "avgpool",
      "batchnorm",
      "conv",
      "dense",
      "dropout",
      "flatten",
      "gap",
      "kwinners",
      "maxpool",
      "scale",
      "shift",
      "spatial_dropout",
    ]
  ) {
    assert.ok(LAYER_TYPES.includes(t), t);
  }
  assert.deepEqual([...LAYER_TYPES], [...new Set(LAYER_TYPES)].sort());
  for (const d of LAYERS) {
    assert.ok(d.description.length > 10, `${d.type} has a description`);
    assert.equal(layerDef(d.type), d);
  }
  assert.throws(
    () => layerDef("convolution"),
    /unknown layer type "convolution", expected one of: act,/,
  );
});

Deno.test("every registered layer: example valid, spec read back and rebuilt is the same layer", () => {
  for (const d of LAYERS) {
    const spec = parseLayerSpec(d.example.spec, `example of ${d.type}`);
    assert.equal(spec.type, d.type);
    const a = buildLayer(spec);
    assert.ok(a instanceof d.layer, `${d.type} builds its class`);
    const back = layerSpec(a);
    // Every field given, each one the registry knows.
    assert.deepEqual(Object.keys(back).sort(), ["type", ...Object.keys(d.fields)].sort(), d.type);
    const b = buildLayer(back);
    assert.deepEqual(layerSpec(b), back, `${d.type}: spec -> layer -> spec is stable`);
    const ctx = () => ({
      backend: tsBackend,
      dtype: "float64" as const,
      rng: new Rng(4, Streams.init),
    });
    assert.deepEqual(a.build(d.example.inputShape, ctx()), b.build(d.example.inputShape, ctx()));
    assert.equal(a.describe(), b.describe(), d.type);
    assert.deepEqual(
      a.params().map((p) => [p.name, p.lrMult, p.decay]),
      b.params().map((p) => [p.name, p.lrMult, p.decay]),
    );
    for (let k = 0; k < a.params().length; k++) {
      assert.deepEqual(
        a.params()[k].value.toArray(),
        b.params()[k].value.toArray(),
        `${d.type} param ${k}`,
      );
    }
    a.dispose();
    b.dispose();
  }
});

Deno.test("spec fields reach the layer: options, bias multiplier", () => {
  const conv = buildLayer({
    type: "conv",
    filters: 4,
    kernel: 3,
    stride: 2,
    pad: 1,
    init: "xavier",
    bias: true,
    biasLrMult: 8,
  });
  conv.build([2, 6, 6], { backend: tsBackend, dtype: "float32", rng: new Rng(1, Streams.init) });
  assert.equal(conv.describe(), "3x3/2 p1, 4, xavier");
  assert.deepEqual(conv.params().map((p) => p.lrMult), [1, 8]);
  conv.dispose();
  assert.deepEqual(layerSpec(new Dense(3, { bias: false })), {
    type: "dense",
    units: 3,
    init: "he",
    bias: false,
    biasLrMult: 1,
    lrMult: 1,
    ws: false,
    initGain: 1,
  });
});

Deno.test("bad layer specs are refused, naming the layer's index and the field", () => {
  const ok: LayerSpec = { type: "conv", filters: 4, kernel: 3 };
  const bad: [unknown, RegExp][] = [
    [
      { type: "convv", filters: 4, kernel: 3 },
      /net, layer 1: field 'type' is "convv", which is not a registered layer type \(expected one of: act, avgpool, .*spatial_dropout\)/,
    ],
    [{ filters: 4 }, /net, layer 1: field 'type' is nothing, which is not a registered/],
    [
      { type: "conv", filter: 4, kernel: 3 },
      /net, layer 1 \(conv\): unknown field 'filter' \(expected: filters, kernel, stride, pad, init, bias, biasLrMult, lrMult, ws, initGain\)/,
    ],
    [
      { type: "conv", kernel: 3 },
      /net, layer 1 \(conv\): missing field 'filters' \(a positive integer\)/,
    ],
    [
      { type: "dense", units: 0 },
      /net, layer 1 \(dense\): field 'units' must be a positive integer, got 0/,
    ],
    [{ type: "dense", units: "64" }, /field 'units' must be a positive integer, got "64"/],
    [
      { type: "act", op: "gelu" },
      /layer 1 \(act\): field 'op' must be one of relu, leaky_relu, sigmoid, tanh, softplus, got "gelu"/,
    ],
    [
      { type: "dropout", p: 1 },
      /layer 1 \(dropout\): field 'p' must be a number >= 0 and < 1, got 1/,
    ],
    [
      { type: "shift", sharing: "rowwise" },
      /layer 1 \(shift\): field 'sharing' must be one of elementwise, channelwise, layerwise/,
    ],
    [
      { type: "flatten", dims: 2 },
      /layer 1 \(flatten\): unknown field 'dims' \(this layer takes no other field\)/,
    ],
    // Rules between fields are the layer's own, still named by index and type.
    [
      { type: "maxpool", kernel: 2, pad: 2 },
      /net, layer 1 \(maxpool\): MaxPool2d: pad must be smaller than the kernel/,
    ],
    [7, /net, layer 1: a layer must be an object such as \{"type": "dense", "units": 64\}, got 7/],
    [[{ type: "flatten" }], /net, layer 1: a layer must be an object/],
  ];
  for (const [spec, re] of bad) assert.throws(() => parseLayerSpecs([ok, spec], "net"), re);
  assert.throws(
    () => parseLayerSpecs([], "net"),
    /net: the layers must be a non-empty list of layer specs, got \[\]/,
  );
  assert.throws(() => parseLayerSpecs({ type: "dense" }, "net"), /non-empty list/);
});

Deno.test("container layers: sub-layer lists validated recursively, errors naming the path", () => {
  const conv = { type: "conv", filters: 2, kernel: 3, pad: 1 };
  const bad: [unknown, RegExp][] = [
    [
      { type: "residual", branch: [conv, { type: "conv", kernel: 3 }] },
      /net, layer 1 \(residual\), branch layer 1 \(conv\): missing field 'filters' \(a positive integer\)/,
    ],
    [
      { type: "residual", branch: [conv], shortcut: [{ type: "relu" }] },
      /net, layer 1 \(residual\), shortcut layer 0: field 'type' is "relu", which is not a registered layer type/,
    ],
    [
      { type: "residual", branch: [] },
      /net, layer 1 \(residual\): field 'branch' must be a non-empty list of layer specs, got \[\]/,
    ],
    [
      {
        type: "residual",
        branch: [{ type: "residual", branch: [{ ...conv, stride: 0 }] }],
      },
      /layer 1 \(residual\), branch layer 0 \(residual\), branch layer 0 \(conv\): field 'stride' must be a positive integer, got 0/,
    ],
  ];
  for (const [spec, re] of bad) assert.throws(() => parseLayerSpecs([conv, spec], "net"), re);
  // Shapes are checked when the block is built: both paths must agree.
  const block = buildLayer({
    type: "residual",
    branch: [{ type: "conv", filters: 3, kernel: 3, pad: 1, stride: 2 }],
  });
  block.name = "1_residual";
  assert.throws(
    () =>
      block.build([2, 4, 4], {
        backend: tsBackend,
        dtype: "float32",
        rng: new Rng(1, Streams.init),
      }),
    /Residual '1_residual': the branch gives \[3, 2, 2\] but the shortcut gives \[2, 4, 4\] for input \[2, 4, 4\]; they must match \(use a projection shortcut/,
  );
  // A parsed spec holds parsed (copied) sub-specs.
  const raw = { type: "residual", branch: [conv] };
  const parsed = parseLayerSpec(raw, "x");
  assert.ok(parsed.type === "residual" && parsed.branch[0] !== raw.branch[0]);
  assert.deepEqual(parsed, raw);
});

Deno.test("the variant builder validates through the registry", () => {
  const arch: ArchSpec = {
    name: "tiny",
    inputShape: [4],
    classes: 2,
    layers: [
      { type: "dense", units: 3 },
      { type: "act", op: "relu" },
      { type: "dense", unit: 2 } as never,
    ],
  };
  assert.throws(
    () => buildNetwork(arch, "plain", { backend: tsBackend, seed: 1 }),
    /architecture 'tiny', layer 2 \(dense\): unknown field 'unit'/,
  );
  // The full network as data: bn, shift/scale and bias multipliers are specs too.
  const good: ArchSpec = {
    ...arch,
    layers: [{ type: "dense", units: 3 }, { type: "act", op: "relu" }, { type: "dense", units: 2 }],
  };
  assert.deepEqual(variantSpecs(good, "bn").map((s) => s.type), [
    "dense",
    "batchnorm",
    "act",
    "dense",
  ]);
  assert.deepEqual(variantSpecs(good, "lsh_lsc"), [
    { type: "shift", sharing: "layerwise", lrMult: 1 },
    { type: "scale", sharing: "layerwise", proportional: false },
    { type: "dense", units: 3 },
    { type: "act", op: "relu" },
    { type: "shift", sharing: "layerwise", lrMult: 1 },
    { type: "scale", sharing: "layerwise", proportional: false },
    { type: "dense", units: 2 },
  ]);
  assert.deepEqual(
    variantSpecs(good, "biased4").filter((s) => s.type === "dense").map((s) =>
      s.type === "dense" && s.biasLrMult
    ),
    [4, 4],
  );
});

Deno.test("a layer of an unregistered class has no spec", () => {
  class Twice extends LayerBase {
    readonly kind = "Twice";
    protected setup(s: readonly number[]): number[] {
      return [...s];
    }
    protected forwardImpl(): never {
      throw new Error("unused");
    }
    protected backwardImpl(): never {
      throw new Error("unused");
    }
  }
  const t = new Twice();
  t.name = "3_twice";
  assert.throws(() => layerSpec(t), /layer '3_twice' \(Twice\) is not of a registered layer class/);
});
