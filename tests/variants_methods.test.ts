/**
 * The later methods as variants (SPEC §1b) on small conv nets: where the builder places them,
 * float64 finite-difference gradient checks of every new variant, data-dependent
 * initialisation (the first batch's shift/scale outputs have mean 0 and sd 1), `frozen` (20 SGD
 * steps leave every conv/dense weight bit-identical while the affine parameters move), and
 * `ddi` wired into training.
 */
import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import type { ArchSpec } from "../src/architectures.ts";
import { dataDependentInit, dataInitLayers } from "../src/ddi.ts";
import type { Dataset } from "../src/data/dataset.ts";
import type { Layer } from "../src/layers/layer.ts";
import { Conv2d, Dense, RELU_GAIN, Scale, Shift } from "../src/layers/mod.ts";
import type { Sequential } from "../src/model.ts";
import { Optimizer } from "../src/optim.ts";
import { Tensor } from "../src/tensor.ts";
import { fit } from "../src/train.ts";
import { buildNetwork, variantSpecs } from "../src/variants.ts";
import { checkNetworkGradients, randomNormal } from "./gradcheck.ts";
import { SMOOTH, TINY } from "./variant_fixtures.ts";

/** The variants this issue adds, as the modern preset runs them and a few more. */
const NEW_VARIANTS = [
  "ln",
  "gn",
  "ws",
  "bn+lsh+lsc",
  "gn+csh+csc",
  "ws+lsh+lsc+ddi",
  "csh+csc+ddi",
  "sh+sc+ddi",
  "lsh+ddi",
  "bn+frozen",
  "csh+csc+frozen",
  "ln+frozen",
  "sh4+lsc",
  "bn+biased4",
];

const train = { training: true, seed: 3, step: 0 };

function build(arch: ArchSpec, variant: string, seed = 1): Sequential {
  return buildNetwork(arch, variant, { backend: tsBackend, dtype: "float64", seed });
}

Deno.test("placement: normalisations, ws with the ReLU gain, frozen rates, ddi marks", () => {
  const kinds = (v: string) => {
    const m = build(TINY, v);
    const k = m.layers.map((l) => l.kind);
    m.dispose();
    return k;
  };
  const norm = (n: string) => [
    "Conv2d",
    n,
    "ReLU",
    "MaxPool2d",
    "Flatten",
    "Dense",
    n,
    "ReLU",
    "Dense",
  ];
  assert.deepEqual(kinds("ln"), norm("LayerNorm"));
  assert.deepEqual(kinds("gn"), norm("GroupNorm"));
  assert.deepEqual(kinds("bn+lsh+lsc"), [
    "Shift",
    "Scale",
    ...norm("BatchNorm").slice(0, 3),
    "Shift",
    "Scale",
    ...norm("BatchNorm").slice(3, 8),
    "Shift",
    "Scale",
    "Dense",
  ]);
  // ws: every conv/dense but the classifier standardised, every ReLU scaled, no extra layer.
  const ws = build(TINY, "ws");
  assert.deepEqual(ws.layers.map((l) => l.kind), kinds("plain"));
  const weighted = ws.layers.filter((l) => l instanceof Conv2d || l instanceof Dense) as (
    | Conv2d
    | Dense
  )[];
  assert.deepEqual(weighted.map((l) => l.ws), [true, true, false]);
  assert.deepEqual(
    ws.layers.filter((l) => l.kind === "ReLU").map((l) => (l as unknown as { gain: number }).gain),
    [RELU_GAIN, RELU_GAIN],
  );
  assert.deepEqual(ws.params().filter((p) => p.kind === "gain").map((p) => p.value.size), [3, 5]);
  ws.dispose();
  // frozen: conv/dense weights and biases at rate 0, the rest at 1.
  for (const v of ["csh+csc+frozen", "bn+frozen", "ws+frozen"]) {
    const m = build(TINY, v);
    for (const p of m.params()) {
      const fixed = p.kind === "weight" || p.kind === "bias";
      assert.equal(p.lrMult, fixed ? 0 : 1, `${v} ${p.name}`);
    }
    m.dispose();
  }
  // ddi marks the variant's shift/scale layers, and only those.
  const ddi = build(TINY, "csh+csc+ddi");
  assert.equal(dataInitLayers(ddi).length, 6);
  assert.equal(dataInitLayers(build(TINY, "csh_csc")).length, 0);
  ddi.dispose();
  // Normalisation specs are registry specs like the rest.
  assert.deepEqual(variantSpecs(TINY, "gn").filter((s) => s.type === "groupnorm"), [
    { type: "groupnorm" },
    { type: "groupnorm" },
  ]);
});

Deno.test("gradcheck (float64, ts): every new variant on a small conv net", () => {
  for (const v of NEW_VARIANTS) {
    const m = build(SMOOTH, v);
    checkNetworkGradients(m, v);
    m.dispose();
  }
});

/** Per-channel (axis 1) mean and sd over the batch and positions of `y [N, C, ...]`. */
function channelMoments(y: Tensor): { mean: number; sd: number }[] {
  const [n, c] = y.shape;
  const inner = y.size / (n * c);
  const a = y.toArray();
  return Array.from({ length: c }, (_, ch) => {
    const v: number[] = [];
    for (let s = 0; s < n; s++) v.push(...a.slice((s * c + ch) * inner, (s * c + ch + 1) * inner));
    const mean = v.reduce((p, q) => p + q, 0) / v.length;
    const sd = Math.sqrt(v.reduce((p, q) => p + (q - mean) ** 2, 0) / v.length);
    return { mean, sd };
  });
}

/** The outputs of every top-level layer of `m` on `x`, with each layer's index. */
function layerOutputs(m: Sequential, x: Tensor): Map<Layer, Tensor> {
  const out = new Map<Layer, Tensor>();
  m.layers.forEach((l, i) => out.set(l, m.forwardTo(x, i, train)));
  return out;
}

Deno.test("ddi: the first batch's shift/scale outputs have mean 0 and sd 1 per channel", () => {
  const x = Tensor.from(tsBackend, [16, 2, 6, 6], randomNormal(16 * 72, 5, 3), "float64");
  const cases = [["csh+csc+ddi", "channel"], ["lsh+lsc+ddi", "layer"], ["sh+sc+ddi", "element"]];
  for (const [variant, sharing] of cases) {
    const m = build(SMOOTH, variant); // tanh: no unit is 0 on the whole batch
    const before = layerOutputs(m, x);
    assert.equal(dataDependentInit(m, x, train), 6);
    const after = layerOutputs(m, x);
    let checked = 0;
    for (const l of m.layers) {
      if (!(l instanceof Scale)) continue;
      const y = after.get(l)!;
      // channelwise after the dense layer is elementwise: each feature is its own channel.
      // per layer: everything; per element: each element over the batch; per channel: each
      // channel over the batch and positions (after the dense layer each feature is one)
      const stats = sharing === "layer"
        ? channelMoments(y.reshape([1, 1, y.size]))
        : sharing === "element"
        ? channelMoments(y.reshape([y.shape[0], y.size / y.shape[0], 1]))
        : channelMoments(y.rank === 2 ? y.reshape([...y.shape, 1]) : y);
      for (const s of stats) {
        assert.ok(Math.abs(s.mean) < 1e-5, `${variant} ${l.name}: mean ${s.mean}`);
        assert.ok(Math.abs(s.sd - 1) < 1e-5, `${variant} ${l.name}: sd ${s.sd}`);
      }
      // Before ddi the pair was the identity: the statistics were not already there.
      const old = channelMoments(before.get(l)!.reshape([1, 1, before.get(l)!.size]))[0];
      assert.ok(Math.abs(old.sd - 1) > 0.01 || Math.abs(old.mean) > 0.01, `${l.name} moved`);
      checked++;
    }
    assert.equal(checked, 3, "input + two activations");
    for (const t of [...before.values(), ...after.values()]) t.dispose();
    m.dispose();
  }
  // A shift alone sets b only: its output has mean 0, its spread is the input's.
  const m = build(TINY, "lsh+ddi");
  dataDependentInit(m, x, train);
  const y = m.forwardTo(x, 0, train);
  const s = channelMoments(y.reshape([1, 1, y.size]))[0];
  const xs = channelMoments(x.reshape([1, 1, x.size]))[0];
  assert.ok(Math.abs(s.mean) < 1e-12, `lsh: mean ${s.mean}`);
  assert.ok(Math.abs(s.sd - xs.sd) < 1e-12, "lsh leaves the spread");
  for (const t of [x, y]) t.dispose();
  m.dispose();
});

Deno.test("ddi: batch norm's running statistics are left as they were", () => {
  const m = build(SMOOTH, "bn+csh+csc+ddi");
  const x = Tensor.from(tsBackend, [8, 2, 6, 6], randomNormal(8 * 72, 6), "float64");
  const buffers = () => Object.values(m.buffers()).map((t) => Array.from(t.toArray()));
  const before = buffers();
  assert.equal(dataDependentInit(m, x, train), 6);
  assert.deepEqual(buffers(), before);
  // A forward in training mode does move them: the check above can fail.
  m.forward(x, train).dispose();
  assert.notDeepEqual(buffers(), before);
  x.dispose();
  m.dispose();
});

Deno.test("frozen: 20 SGD steps leave every conv/dense weight bit-identical; affine params move", () => {
  for (const variant of ["csh+csc+frozen", "bn+frozen", "ws+lsh+frozen"]) {
    const m = build(TINY, variant);
    const snapshot = () => new Map(m.params().map((p) => [p.name, Array.from(p.value.toArray())]));
    const before = snapshot();
    const opt = new Optimizer(m.params(), { kind: "momentum", lr: 0.05, momentum: 0.9 });
    for (let step = 0; step < 20; step++) {
      const x = Tensor.from(tsBackend, [4, 2, 6, 6], randomNormal(4 * 72, 40 + step), "float64");
      m.zeroGrad();
      const y = m.forward(x, { ...train, step });
      const dy = Tensor.from(tsBackend, y.shape, randomNormal(y.size, 90 + step), "float64");
      m.backward(dy).dispose();
      opt.step();
      for (const t of [x, y, dy]) t.dispose();
    }
    const after = snapshot();
    let fixed = 0;
    let moved = 0;
    for (const p of m.params()) {
      if (p.kind === "weight" || p.kind === "bias") {
        assert.deepEqual(after.get(p.name), before.get(p.name), `${variant} ${p.name} moved`);
        fixed++;
      } else {
        assert.notDeepEqual(after.get(p.name), before.get(p.name), `${variant} ${p.name} stuck`);
        moved++;
      }
    }
    assert.equal(fixed, 6, `${variant}: 3 weights and 3 biases`);
    assert.ok(moved >= 2, `${variant}: ${moved} affine parameters`);
    opt.dispose();
    m.dispose();
  }
});

function tinyData(n: number, seed: number): Dataset {
  const images = Float32Array.from(randomNormal(n * 72, seed));
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 4);
  return { name: "tiny", inputShape: [2, 6, 6], classes: 4, size: n, images, labels };
}

Deno.test("ddi in training: fit hands the first batch to beforeFirstStep once, before step 0", async () => {
  const data = tinyData(12, 3);
  const losses: Record<string, number> = {};
  for (const variant of ["plain", "csh_csc", "csh+csc+ddi"]) {
    const m = buildNetwork(TINY, variant, { backend: tsBackend, seed: 2 });
    const opt = new Optimizer(m.params(), { kind: "sgd", lr: 0.01 });
    const calls: number[][] = [];
    const h = await fit(m, opt, data, data, {
      epochs: 2,
      batchSize: 4,
      seed: 1,
      beforeFirstStep: (x, ctx) => {
        calls.push([...x.shape, ctx.step]);
        dataDependentInit(m, x, ctx);
      },
    });
    assert.deepEqual(calls, [[4, 2, 6, 6, 0]], variant);
    losses[variant] = h.trainLoss[0];
    opt.dispose();
    m.dispose();
  }
  // Shift/scale start as the identity; ddi changes the network before the first step.
  assert.equal(losses.csh_csc, losses.plain);
  assert.notEqual(losses["csh+csc+ddi"], losses.plain);
});

Deno.test("dataInitLayers finds ddi layers inside residual blocks too", () => {
  const arch: ArchSpec = {
    name: "res",
    inputShape: [2, 4, 4],
    classes: 3,
    layers: [
      {
        type: "residual",
        branch: [{ type: "conv", filters: 2, kernel: 3, pad: 1 }, { type: "act", op: "relu" }],
      },
      { type: "act", op: "relu" },
      { type: "gap" },
      { type: "dense", units: 3 },
    ],
  };
  const m = build(arch, "csh+csc+ddi");
  const layers = dataInitLayers(m);
  assert.deepEqual(layers.map((l) => l.kind), [
    "Shift",
    "Scale",
    "Shift",
    "Scale",
    "Shift",
    "Scale",
  ]);
  assert.ok(layers.every((l) => l instanceof Shift || l instanceof Scale));
  const x = Tensor.from(tsBackend, [6, 2, 4, 4], randomNormal(6 * 32, 2), "float64");
  assert.equal(dataDependentInit(m, x, train), 6);
  x.dispose();
  m.dispose();
});
