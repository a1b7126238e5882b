/**
 * The analytic properties of the normalisation layers and options of SPEC §1b: LayerNorm and
 * GroupNorm outputs have per-sample (per-group) mean β and standard deviation |γ|; scaled weight
 * standardisation gives each output unit's weights mean 0 and variance g² / fan-in, and the
 * layer computes exactly with those weights; the ReLU gain is sqrt(2 / (1 - 1/π)).
 */
import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import {
  Activation,
  Conv2d,
  Dense,
  GroupNorm,
  type Layer,
  LayerNorm,
  RELU_GAIN,
} from "../src/layers/mod.ts";
import { Rng, Streams } from "../src/rng.ts";
import { Tensor } from "../src/tensor.ts";
import { randomNormal } from "./gradcheck.ts";

const ctx = { training: true, seed: 1, step: 0 };

function build(layer: Layer, perSample: number[]): void {
  layer.build(perSample, { backend: tsBackend, dtype: "float64", rng: new Rng(2, Streams.init) });
}

function moments(v: number[]): { mean: number; sd: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
  return { mean, sd: Math.sqrt(variance) };
}

/** The values of sample `n`, channels `[c0, c1)`, of an `[N, C, inner]` array. */
function slice(a: ArrayLike<number>, c: number, inner: number, n: number, c0: number, c1: number) {
  return Array.from(a).slice((n * c + c0) * inner, (n * c + c1) * inner);
}

Deno.test("LayerNorm and GroupNorm: per sample and group, mean β and sd |γ|", () => {
  const cases: [Layer, number[], number][] = [
    [new LayerNorm(), [6], 1],
    [new LayerNorm(), [4, 3, 3], 1],
    [new GroupNorm(2), [4, 3, 3], 2],
    [new GroupNorm(), [12, 2, 2], 4], // gcd(12, 8) = 4 groups of 3 channels
    [new GroupNorm(), [4, 2, 2], 4], // C < 8: gcd(4, 8) = 4 groups of one channel
  ];
  for (const [layer, shape, groups] of cases) {
    build(layer, shape);
    const [gamma, beta] = layer.params();
    tsBackend.fill(gamma.value.buf, -1.5);
    tsBackend.fill(beta.value.buf, 0.7);
    const n = 3;
    const size = shape.reduce((a, b) => a * b, 1);
    // Means far from 0 and spreads far from 1, different per sample.
    const raw = randomNormal(n * size, 4);
    const data = raw.map((v, i) => 5 * (1 + Math.floor(i / size)) * v + 10);
    const x = Tensor.from(tsBackend, [n, ...shape], data, "float64");
    const y = layer.forward(x, ctx).toArray();
    const c = shape[0];
    const inner = size / c;
    const per = c / groups;
    for (let s = 0; s < n; s++) {
      for (let g = 0; g < groups; g++) {
        const inGroup = slice(data, c, inner, s, g * per, (g + 1) * per);
        const out = moments(slice(y, c, inner, s, g * per, (g + 1) * per));
        const sigma2 = moments(inGroup).sd ** 2;
        const what = `${layer.kind} ${shape} sample ${s} group ${g}`;
        assert.ok(Math.abs(out.mean - 0.7) < 1e-12, `${what}: mean ${out.mean}`);
        // Exactly |γ| sqrt(σ² / (σ² + ε)), which is |γ| to within ε / σ².
        const want = 1.5 * Math.sqrt(sigma2 / (sigma2 + 1e-5));
        assert.ok(Math.abs(out.sd - want) < 1e-12, `${what}: sd ${out.sd}, want ${want}`);
        assert.ok(Math.abs(out.sd - 1.5) < 1.5e-6, `${what}: sd ${out.sd}`);
      }
    }
    x.dispose();
    layer.dispose();
  }
});

Deno.test("GroupNorm: per-channel γ, β apply after the per-group standardisation", () => {
  const layer = new GroupNorm(2);
  build(layer, [4, 2, 3]);
  const [gamma, beta] = layer.params();
  const g = [2, -1, 0.5, 3];
  const b = [-1, 0, 4, 0.25];
  tsBackend.upload(gamma.value.buf, g);
  tsBackend.upload(beta.value.buf, b);
  const data = randomNormal(2 * 24, 8).map((v) => 3 * v - 2);
  const x = Tensor.from(tsBackend, [2, 4, 2, 3], data, "float64");
  const y = layer.forward(x, ctx).toArray();
  for (let s = 0; s < 2; s++) {
    for (let grp = 0; grp < 2; grp++) {
      // Undo each channel's affine: the group is standardised as a whole.
      const xhat = [0, 1].flatMap((k) => {
        const ch = 2 * grp + k;
        return slice(y, 4, 6, s, ch, ch + 1).map((v) => (v - b[ch]) / g[ch]);
      });
      const m = moments(xhat);
      assert.ok(Math.abs(m.mean) < 1e-12, `sample ${s} group ${grp}: mean ${m.mean}`);
      assert.ok(Math.abs(m.sd - 1) < 1e-5, `sample ${s} group ${grp}: sd ${m.sd}`);
    }
  }
  x.dispose();
  layer.dispose();
});

Deno.test("GroupNorm and LayerNorm: the same in training and evaluation (no running statistics)", () => {
  for (const layer of [new GroupNorm(2), new LayerNorm()]) {
    build(layer, [4, 2, 2]);
    assert.deepEqual(Object.keys(layer.buffers()), []);
    const x = Tensor.from(tsBackend, [3, 4, 2, 2], randomNormal(48, 5), "float64");
    const a = layer.forward(x, ctx).toArray();
    const b = layer.forward(x, { ...ctx, training: false }).toArray();
    assert.deepEqual(a, b, layer.kind);
    x.dispose();
    layer.dispose();
  }
});

Deno.test("weight standardisation: each unit's Ŵ has mean 0 and variance g² / fan-in", () => {
  const layers: [Conv2d | Dense, number[], number][] = [
    [new Conv2d(5, 3, { ws: true }), [3, 6, 6], 27],
    [new Dense(4, { ws: true }), [7], 7],
  ];
  for (const [layer, shape, fanIn] of layers) {
    build(layer, shape);
    const units = layer.params().find((p) => p.name === "gain")!;
    const gains = Array.from({ length: units.value.size }, (_, i) => [0.5, -2, 1, 3, 0.1][i]);
    tsBackend.upload(units.value.buf, gains);
    // Weights with a non-zero mean and spread per unit, so standardising has work to do.
    const w = layer.weight!.value;
    tsBackend.upload(w.buf, randomNormal(w.size, 6).map((v, i) => 0.3 * v + (i % 3) - 1));
    const what = layer.effectiveWeight().toArray();
    gains.forEach((g, i) => {
      const m = moments(Array.from(what.slice(i * fanIn, (i + 1) * fanIn)));
      assert.ok(Math.abs(m.mean) < 1e-14, `${layer.kind} unit ${i}: mean ${m.mean}`);
      // sd(Ŵ_i) sqrt(fan-in) = |g_i| (up to ε = 1e-10 against a variance near 0.09).
      const sd = m.sd * Math.sqrt(fanIn);
      assert.ok(Math.abs(sd - Math.abs(g)) < 1e-8 * Math.abs(g), `${layer.kind} unit ${i}: ${sd}`);
    });
    layer.dispose();
  }
});

Deno.test("weight standardisation: the layer computes exactly with Ŵ, the bias unchanged", () => {
  const ws = new Conv2d(3, 3, { ws: true, pad: 1 });
  const plain = new Conv2d(3, 3, { pad: 1 });
  build(ws, [2, 4, 4]);
  build(plain, [2, 4, 4]);
  tsBackend.upload(ws.bias!.value.buf, [0.1, -0.2, 0.3]);
  tsBackend.upload(plain.bias!.value.buf, [0.1, -0.2, 0.3]);
  tsBackend.upload(ws.gain!.value.buf, [1.5, 0.5, -1]);
  const what = ws.effectiveWeight();
  plain.weight!.value.assign(what);
  const x = Tensor.from(tsBackend, [2, 2, 4, 4], randomNormal(64, 9), "float64");
  assert.deepEqual(ws.forward(x, ctx).toArray(), plain.forward(x, ctx).toArray());
  // Without ws the layer computes with W itself.
  assert.notDeepEqual(Array.from(what.toArray()), Array.from(ws.weight!.value.toArray()));
  for (const t of [x, what]) t.dispose();
  ws.dispose();
  plain.dispose();
});

Deno.test("the ReLU gain of ws: 1.7139 (NF-Nets), a ReLU of a unit Gaussian times it has variance ≈ 1", () => {
  assert.equal(RELU_GAIN, 1.7139588594436646);
  // E[relu(z)²] = 1/2, E[relu(z)] = 1/sqrt(2π): Var = 1/2 - 1/(2π) = (1 - 1/π) / 2, so the
  // closed-form gain is sqrt(2 / (1 - 1/π)) = 1.71286; NF-Nets' sampled value is 0.06% above.
  const variance = RELU_GAIN ** 2 * (1 - 1 / Math.PI) / 2;
  assert.ok(Math.abs(variance - 1) < 1.5e-3, `${variance}`);
  const act = new Activation("relu", RELU_GAIN);
  build(act, [3]);
  const x = Tensor.from(tsBackend, [2, 3], [-1, 0.5, 2, 3, -0.25, 1], "float64");
  assert.deepEqual(
    Array.from(act.forward(x, ctx).toArray()),
    [0, 0.5, 2, 3, 0, 1].map((v) => v * RELU_GAIN),
  );
  x.dispose();
  act.dispose();
});
