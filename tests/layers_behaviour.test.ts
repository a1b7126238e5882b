/**
 * Analytic properties, parameter metadata, error messages and memory hygiene of the layers,
 * and the initialisers.
 */
import assert from "node:assert/strict";
import { tsBackend as B } from "../src/backends/ts.ts";
import type { DType } from "../src/backend.ts";
import {
  Activation,
  AvgPool2d,
  BatchNorm,
  Conv2d,
  Dense,
  Dropout,
  Flatten,
  GlobalAvgPool2d,
  KWinners,
  type Layer,
  MaxPool2d,
  Scale,
  SHARINGS,
  Shift,
  SpatialDropout,
} from "../src/layers/mod.ts";
import { heNormal, ones, xavierNormal, xavierUniform, zeros } from "../src/init.ts";
import { Rng, Streams } from "../src/rng.ts";
import { shapeSize, Tensor } from "../src/tensor.ts";
import { randomNormal } from "./gradcheck.ts";

const train = { training: true, seed: 5, step: 0 };
const evalCtx = { training: false, seed: 5, step: 0 };

function build(layer: Layer, batchShape: readonly number[], dtype: DType = "float64"): Layer {
  layer.build(batchShape.slice(1), { backend: B, dtype, rng: new Rng(3, Streams.init) });
  return layer;
}

function channelStats(y: ArrayLike<number>, [n, c, inner]: number[]) {
  return Array.from({ length: c }, (_, ch) => {
    const v: number[] = [];
    for (let o = 0; o < n; o++) for (let t = 0; t < inner; t++) v.push(y[(o * c + ch) * inner + t]);
    const mean = v.reduce((a, b) => a + b) / v.length;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
    return { mean, variance };
  });
}

Deno.test("BatchNorm training output has per-channel mean beta and std |gamma|", () => {
  for (const shape of [[6, 3, 4, 5], [10, 4]]) {
    const bn = build(new BatchNorm({ eps: 1e-12 }), shape) as BatchNorm;
    const c = shape[1];
    const gamma = Array.from({ length: c }, (_, i) => (i % 2 ? -1 : 1) * (0.5 + i));
    const beta = Array.from({ length: c }, (_, i) => i - 1.5);
    B.upload(bn.gamma!.value.buf, gamma);
    B.upload(bn.beta!.value.buf, beta);
    const x = Tensor.from(
      B,
      shape,
      randomNormal(shapeSize(shape), 2, 3).map((v) => v + 4),
      "float64",
    );
    const y = bn.forward(x, train);
    const stats = channelStats(y.toArray(), [shape[0], c, shapeSize(shape.slice(2))]);
    stats.forEach((s, i) => {
      assert.ok(Math.abs(s.mean - beta[i]) < 1e-9, `channel ${i} mean ${s.mean}`);
      assert.ok(Math.abs(Math.sqrt(s.variance) - Math.abs(gamma[i])) < 1e-6, `channel ${i} std`);
    });
    x.dispose();
    y.dispose();
    bn.dispose();
  }
});

Deno.test("BatchNorm running statistics follow momentum; eval mode uses them", () => {
  const shape = [8, 2, 3, 3];
  const bn = build(new BatchNorm({ momentum: 0.3 }), shape) as BatchNorm;
  const xs = [1, 2].map((s) => randomNormal(shapeSize(shape), s, 2).map((v) => v + s));
  let rm = [0, 0];
  let rv = [1, 1];
  for (const data of xs) {
    const x = Tensor.from(B, shape, data, "float64");
    bn.forward(x, train).dispose();
    x.dispose();
    const st = channelStats(data, [8, 2, 9]);
    const count = 8 * 9;
    rm = rm.map((m, i) => 0.7 * m + 0.3 * st[i].mean);
    rv = rv.map((v, i) => 0.7 * v + 0.3 * st[i].variance * count / (count - 1));
  }
  const gotM = bn.runningMean!.toArray();
  const gotV = bn.runningVar!.toArray();
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(gotM[i] - rm[i]) < 1e-12, `running mean ${gotM[i]} vs ${rm[i]}`);
    assert.ok(Math.abs(gotV[i] - rv[i]) < 1e-12, `running var ${gotV[i]} vs ${rv[i]}`);
  }
  assert.deepEqual(Object.keys(bn.buffers()).sort(), ["runningMean", "runningVar"]);
  // Eval: y = gamma (x - rm) / sqrt(rv + eps) + beta, and the running stats stay put.
  B.upload(bn.gamma!.value.buf, [2, -0.5]);
  B.upload(bn.beta!.value.buf, [0.25, 1]);
  const data = randomNormal(shapeSize(shape), 3);
  const x = Tensor.from(B, shape, data, "float64");
  const y = bn.forward(x, evalCtx).toArray();
  for (let i = 0; i < data.length; i++) {
    const ch = Math.floor(i / 9) % 2;
    const want = [2, -0.5][ch] * (data[i] - rm[ch]) / Math.sqrt(rv[ch] + 1e-5) + [0.25, 1][ch];
    assert.ok(Math.abs(y[i] - want) < 1e-12, `eval output ${i}`);
  }
  assert.deepEqual([...bn.runningMean!.toArray()], [...gotM]);
  x.dispose();
  bn.dispose();
});

Deno.test("Shift and Scale are the identity at init; parameter shapes per sharing mode", () => {
  const want: Record<string, [number[], number[]]> = {
    elementwise: [[3, 4, 5], [7]],
    channelwise: [[3], [7]], // channelwise on [F] falls back to elementwise
    layerwise: [[1], [1]],
  };
  for (const sharing of SHARINGS) {
    for (const [k, shape] of [[0, [2, 3, 4, 5]], [1, [4, 7]]] as [number, number[]][]) {
      const x = Tensor.from(B, shape, randomNormal(shapeSize(shape), 4), "float64");
      for (const layer of [new Shift(sharing), new Scale(sharing)]) {
        build(layer, shape);
        const p = layer.params();
        assert.equal(p.length, 1);
        assert.deepEqual(p[0].value.shape, want[sharing][k], `${layer.kind} ${sharing} ${shape}`);
        const y = layer.forward(x, train);
        assert.deepEqual([...y.toArray()], [...x.toArray()], `${layer.kind} ${sharing} identity`);
        y.dispose();
        layer.dispose();
      }
      x.dispose();
    }
  }
  const cw = build(new Shift("channelwise"), [2, 5]) as Shift;
  assert.equal(cw.effectiveSharing, "elementwise");
  assert.equal(cw.sharing, "channelwise");
});

Deno.test("Shift adds and Scale multiplies per channel; gradients sum over shared axes", () => {
  const shape = [2, 2, 1, 2];
  const x = Tensor.from(B, shape, [1, 2, 3, 4, 5, 6, 7, 8], "float64");
  const sh = build(new Shift("channelwise"), shape) as Shift;
  B.upload(sh.shift!.value.buf, [10, 20]);
  const y = sh.forward(x, train);
  assert.deepEqual([...y.toArray()], [11, 12, 23, 24, 15, 16, 27, 28]);
  const dy = Tensor.from(B, shape, [1, 1, 1, 1, 1, 1, 1, 1], "float64");
  sh.backward(dy).dispose();
  assert.deepEqual([...sh.shift!.grad.toArray()], [4, 4]);
  const sc = build(new Scale("layerwise"), shape) as Scale;
  B.upload(sc.scale!.value.buf, [3]);
  const ys = sc.forward(x, train);
  assert.deepEqual([...ys.toArray()], [3, 6, 9, 12, 15, 18, 21, 24]);
  const dx = sc.backward(dy);
  assert.deepEqual([...dx.toArray()], [3, 3, 3, 3, 3, 3, 3, 3]);
  assert.deepEqual([...sc.scale!.grad.toArray()], [36]);
  for (const t of [x, y, dy, ys, dx]) t.dispose();
});

Deno.test("Param kinds, decay defaults, learning-rate multipliers", () => {
  const cases: [Layer, number[], [string, string, boolean, number][]][] = [
    [new Dense(3), [2, 4], [["weight", "weight", true, 1], ["bias", "bias", false, 1]]],
    [new Conv2d(2, 3), [1, 1, 4, 4], [["weight", "weight", true, 1], ["bias", "bias", false, 1]]],
    [new BatchNorm(), [2, 3], [["gamma", "bn", false, 1], ["beta", "bn", false, 1]]],
    [new Shift("layerwise", { lrMult: 4 }), [2, 3], [["shift", "shift", false, 4]]],
    [new Scale("elementwise", { lrMult: 0.5 }), [2, 3], [["scale", "scale", false, 0.5]]],
  ];
  for (const [layer, shape, want] of cases) {
    build(layer, shape);
    const got = layer.params().map((p) => [p.name, p.kind, p.decay, p.lrMult]);
    assert.deepEqual(got, want, layer.kind);
  }
  assert.equal(new Dense(2, { bias: false }).params().length, 0);
  const nb = build(new Dense(2, { bias: false }), [1, 3]);
  assert.deepEqual(nb.params().map((p) => p.name), ["weight"]);
  for (const l of [new MaxPool2d(2), new Flatten(), new Activation("relu"), new Dropout(0.1)]) {
    assert.deepEqual(l.params(), []);
  }
  // Shift/scale initial values: 0 and 1.
  const s = build(new Shift("elementwise"), [1, 3]) as Shift;
  assert.deepEqual([...s.shift!.value.toArray()], [0, 0, 0]);
  const c = build(new Scale("channelwise"), [1, 2, 2, 2]) as Scale;
  assert.deepEqual([...c.scale!.value.toArray()], [1, 1]);
  const bn = build(new BatchNorm(), [1, 2, 2, 2]) as BatchNorm;
  assert.deepEqual([...bn.gamma!.value.toArray(), ...bn.beta!.value.toArray()], [1, 1, 0, 0]);
});

Deno.test("backward accumulates parameter gradients; Param.zeroGrad resets them", () => {
  const d = build(new Dense(2), [3, 4]) as Dense;
  const x = Tensor.from(B, [3, 4], randomNormal(12, 1), "float64");
  const dy = Tensor.from(B, [3, 2], randomNormal(6, 2), "float64");
  d.forward(x, train).dispose();
  d.backward(dy).dispose();
  const g1 = d.weight!.grad.toArray();
  d.backward(dy).dispose();
  const g2 = d.weight!.grad.toArray();
  for (let i = 0; i < g1.length; i++) assert.ok(Math.abs(g2[i] - 2 * g1[i]) < 1e-12);
  d.weight!.zeroGrad();
  assert.ok(d.weight!.grad.toArray().every((v) => v === 0));
  for (const t of [x, dy]) t.dispose();
});

Deno.test("wrong input shapes throw naming the layer and both shapes", () => {
  const dense = new Dense(4);
  dense.name = "3_dense";
  assert.throws(() => build(dense, [2, 3, 4, 4]), /Dense '3_dense'.*\[F\].*\[3, 4, 4\]/);
  const conv = new Conv2d(4, 3);
  conv.name = "0_conv2d";
  assert.throws(() => build(conv, [2, 10]), /Conv2d '0_conv2d'.*\[C, H, W\].*\[10\]/);
  assert.throws(() => build(new Conv2d(4, 5), [1, 1, 3, 3]), /Conv2d.*\[1, 3, 3\]/);
  assert.throws(() => build(new MaxPool2d(2), [1, 7]), /MaxPool2d.*\[7\]/);
  assert.throws(() => build(new GlobalAvgPool2d(), [1, 7]), /GlobalAvgPool2d.*\[7\]/);
  assert.throws(() => build(new KWinners(9), [1, 2, 2]), /KWinners.*k = 9.*\[2, 2\]/);
  // At forward: the batch tensor.
  const c2 = build(new Conv2d(2, 3, { pad: 1 }), [1, 3, 8, 8]);
  c2.name = "1_conv2d";
  const bad = Tensor.zeros(B, [2, 3, 8, 9], "float64");
  assert.throws(() => c2.forward(bad, train), /Conv2d '1_conv2d'.*\[N, 3, 8, 8\].*\[2, 3, 8, 9\]/);
  const d2 = build(new Dense(3), [1, 8]);
  assert.throws(() => d2.forward(bad, train), /Dense.*\[N, 8\].*\[2, 3, 8, 9\]/);
  const f32 = Tensor.zeros(B, [2, 8], "float32");
  assert.throws(() => d2.forward(f32, train), /dtype float32.*float64/);
  // Backward before forward, and with a wrong gradient shape.
  const d3 = build(new Dense(3), [1, 8]);
  assert.throws(() => d3.backward(Tensor.zeros(B, [2, 3], "float64")), /backward\(\) needs/);
  const ok = Tensor.zeros(B, [2, 8], "float64");
  d3.forward(ok, train).dispose();
  assert.throws(() => d3.backward(Tensor.zeros(B, [2, 4], "float64")), /\[2, 4\].*\[2, 3\]/);
  // Unbuilt layers say so.
  assert.throws(() => new Dense(2).forward(ok, train), /before build/);
  for (const t of [bad, f32, ok]) t.dispose();
});

Deno.test("invalid hyperparameters throw at construction", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => new Dropout(1), /Dropout.*\[0, 1\).*1/],
    [() => new Dropout(-0.1), /Dropout.*-0.1/],
    [() => new Dropout(NaN), /Dropout.*NaN/],
    [() => new SpatialDropout(1.5), /SpatialDropout.*1.5/],
    [
      () => new Shift("pixelwise" as never),
      /Shift.*'pixelwise'.*elementwise, channelwise, layerwise/,
    ],
    [() => new Scale("rowwise" as never), /Scale.*'rowwise'.*elementwise/],
    [() => new Shift("layerwise", { lrMult: -1 }), /Shift.*multiplier.*-1/],
    [() => new Scale("layerwise", { lrMult: -2 }), /Scale.*multiplier.*-2/],
    [() => new Dense(0), /Dense: units.*positive integer.*0/],
    [() => new Dense(2.5), /Dense: units.*2.5/],
    [() => new Dense(3, { init: "lecun" as never }), /Dense.*'lecun'.*he, xavier/],
    [() => new Conv2d(0, 3), /Conv2d: filters.*0/],
    [() => new Conv2d(4, -1), /Conv2d: kernel.*-1/],
    [() => new Conv2d(4, 3, { stride: 0 }), /Conv2d: stride.*0/],
    [() => new Conv2d(4, 3, { pad: -1 }), /Conv2d: pad.*-1/],
    [() => new MaxPool2d(0), /MaxPool2d: kernel/],
    [() => new AvgPool2d(2, 2, 2), /AvgPool2d: pad must be smaller/],
    [() => new Activation("gelu" as never), /Activation.*'gelu'.*relu, leaky_relu/],
    [() => new BatchNorm({ eps: 0 }), /BatchNorm: eps/],
    [() => new BatchNorm({ momentum: 2 }), /BatchNorm: momentum/],
    [() => new KWinners(0), /KWinners: k/],
  ];
  for (const [f, re] of bad) assert.throws(f, re);
});

Deno.test("noGrad forward keeps nothing; backward then says so", () => {
  const d = build(new Dense(2), [1, 3]);
  const x = Tensor.from(B, [1, 3], [1, 2, 3], "float64");
  const y1 = d.forward(x, train);
  const before = B.memoryInUse();
  const y2 = d.forward(x, { ...evalCtx, noGrad: true });
  // Only the output is new: the first forward kept its input as a share, not a copy.
  assert.equal(B.memoryInUse(), before + 2 * 8);
  assert.deepEqual([...y2.toArray()], [...y1.toArray()]);
  assert.throws(() => d.backward(y2), /noGrad/);
  // ... and the noGrad forward released that share: disposing x frees its memory.
  x.dispose();
  assert.equal(B.memoryInUse(), before + 2 * 8 - 3 * 8);
  for (const t of [y1, y2]) t.dispose();
});

Deno.test("repeated forward/backward steps do not leak memory", () => {
  const shape = [2, 2, 6, 6];
  const layers: Layer[] = [
    new Shift("channelwise"),
    new Conv2d(3, 3, { stride: 1, pad: 1 }),
    new BatchNorm(),
    new Activation("relu"),
    new SpatialDropout(0.2),
    new MaxPool2d(2),
    new Scale("layerwise", { proportional: true }),
    new Conv2d(2, 1),
    new AvgPool2d(3, 1, 1),
    new GlobalAvgPool2d(),
    new Dense(4),
    new KWinners(2),
    new Dropout(0.3),
    new Flatten(),
  ];
  let s: number[] = shape.slice(1);
  for (const l of layers) {
    s = l.build(s, { backend: B, dtype: "float32", rng: new Rng(1, Streams.init) });
  }
  const x = Tensor.from(B, shape, randomNormal(shapeSize(shape), 1), "float32");
  const step = (i: number) => {
    let t = x;
    for (const l of layers) {
      const y = l.forward(t, { training: true, seed: 1, step: i });
      if (t !== x) t.dispose();
      t = y;
    }
    let g = t;
    for (let k = layers.length - 1; k >= 0; k--) {
      const dx = layers[k].backward(g);
      g.dispose();
      g = dx;
    }
    g.dispose();
  };
  step(0);
  const base = B.memoryInUse();
  for (let i = 1; i < 20; i++) step(i);
  assert.equal(B.memoryInUse(), base);
  for (const l of layers) l.dispose();
  x.dispose();
});

Deno.test("initialisers: statistics, determinism, validation", () => {
  const n = 40000;
  const std = (a: Float64Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
  const he = heNormal(new Rng(1, Streams.init), [200, 200], 50);
  assert.ok(Math.abs(std(he) / Math.sqrt(2 / 50) - 1) < 0.02);
  const xn = xavierNormal(new Rng(1, Streams.init), [n], 30, 70);
  assert.ok(Math.abs(std(xn) / Math.sqrt(2 / 100) - 1) < 0.02);
  const xu = xavierUniform(new Rng(1, Streams.init), [n], 30, 70);
  const a = Math.sqrt(6 / 100);
  assert.ok(xu.every((v) => v >= -a && v < a));
  assert.ok(Math.abs(std(xu) / (a / Math.sqrt(3)) - 1) < 0.02);
  assert.deepEqual(heNormal(new Rng(4, 1), [5], 3), heNormal(new Rng(4, 1), [5], 3));
  assert.notDeepEqual(heNormal(new Rng(4, 1), [5], 3), heNormal(new Rng(5, 1), [5], 3));
  assert.deepEqual([...zeros([2, 2])], [0, 0, 0, 0]);
  assert.deepEqual([...ones([3])], [1, 1, 1]);
  assert.throws(() => heNormal(new Rng(1, 1), [2], 0), /heNormal: fanIn.*0/);
  assert.throws(() => xavierNormal(new Rng(1, 1), [2], 2, -1), /fanOut.*-1/);
  assert.throws(() => zeros([2, -1]), /zeros shape/);
});
