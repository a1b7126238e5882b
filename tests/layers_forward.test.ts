/**
 * Forward values of every layer against naive host definitions (the gradient checks only prove
 * backward agrees with forward; these prove forward computes the right thing), plus dropout
 * masks, k-winners and float32.
 */
import assert from "node:assert/strict";
import { tsBackend as B } from "../src/backends/ts.ts";
import type { DType } from "../src/backend.ts";
import {
  Activation,
  AvgPool2d,
  Conv2d,
  Dense,
  Dropout,
  Flatten,
  GlobalAvgPool2d,
  KWinners,
  type Layer,
  MaxPool2d,
  SpatialDropout,
} from "../src/layers/mod.ts";
import { Rng, Streams } from "../src/rng.ts";
import { shapeSize, Tensor } from "../src/tensor.ts";
import { distinctValues, randomNormal } from "./gradcheck.ts";

const train = { training: true, seed: 5, step: 0 };
const evalCtx = { training: false, seed: 5, step: 0 };

function build(layer: Layer, batchShape: number[], dtype: DType = "float64", seed = 3): Layer {
  layer.build(batchShape.slice(1), { backend: B, dtype, rng: new Rng(seed, Streams.init) });
  return layer;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12, what = "") {
  assert.equal(a.length, b.length, `${what} length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])),
      `${what} at ${i}: ${a[i]} vs ${b[i]}`,
    );
  }
}

function run(layer: Layer, batchShape: number[], data: ArrayLike<number>, ctx = train) {
  const x = Tensor.from(B, batchShape, data, "float64");
  const y = layer.forward(x, ctx);
  const out = { shape: [...y.shape], data: y.toArray() };
  x.dispose();
  y.dispose();
  return out;
}

Deno.test("Dense forward is x Wᵀ + b; He init has std sqrt(2/fanIn)", () => {
  const d = build(new Dense(3), [2, 4]) as Dense;
  const W = d.weight!.value.toArray();
  assert.deepEqual(d.weight!.value.shape, [3, 4]);
  B.upload(d.bias!.value.buf, [0.5, -1, 2]);
  const x = randomNormal(8, 1);
  const y = run(d, [2, 4], x);
  assert.deepEqual(y.shape, [2, 3]);
  const want: number[] = [];
  for (let n = 0; n < 2; n++) {
    for (let u = 0; u < 3; u++) {
      let s = [0.5, -1, 2][u];
      for (let f = 0; f < 4; f++) s += x[n * 4 + f] * W[u * 4 + f];
      want.push(s);
    }
  }
  close(y.data, want, 1e-12, "dense");
  // Initial statistics on a bigger layer.
  const big = build(new Dense(200), [1, 300], "float64", 9) as Dense;
  const w = [...big.weight!.value.toArray()];
  const sd = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
  assert.ok(Math.abs(sd / Math.sqrt(2 / 300) - 1) < 0.02, `he std ${sd}`);
  assert.deepEqual([...big.bias!.value.toArray()].filter((v) => v !== 0), []);
  const xav = build(new Dense(200, { init: "xavier" }), [1, 300], "float64", 9) as Dense;
  const wx = [...xav.weight!.value.toArray()];
  const sdx = Math.sqrt(wx.reduce((a, v) => a + v * v, 0) / wx.length);
  assert.ok(Math.abs(sdx / Math.sqrt(2 / 500) - 1) < 0.02, `xavier std ${sdx}`);
});

function naiveConv(
  x: ArrayLike<number>,
  [n, c, h, w]: number[],
  W: ArrayLike<number>,
  bias: ArrayLike<number>,
  f: number,
  k: number,
  s: number,
  p: number,
): number[] {
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((w + 2 * p - k) / s) + 1;
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < f; o++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let acc = bias[o];
          for (let ch = 0; ch < c; ch++) {
            for (let ky = 0; ky < k; ky++) {
              for (let kx = 0; kx < k; kx++) {
                const iy = i * s - p + ky;
                const ix = j * s - p + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                acc += x[((b * c + ch) * h + iy) * w + ix] * W[((o * c + ch) * k + ky) * k + kx];
              }
            }
          }
          out.push(acc);
        }
      }
    }
  }
  return out;
}

Deno.test("Conv2d forward equals a direct cross-correlation (general and 1x1 paths)", () => {
  const cases: [number, number, number, number, number[]][] = [
    [3, 3, 2, 0, [2, 2, 7, 7]],
    [2, 3, 1, 1, [2, 3, 5, 4]],
    [4, 1, 1, 0, [2, 3, 3, 5]],
    [2, 1, 2, 0, [1, 2, 5, 5]],
    [3, 5, 1, 2, [1, 1, 5, 3]],
  ];
  for (const [f, k, s, p, shape] of cases) {
    const conv = build(new Conv2d(f, k, { stride: s, pad: p }), shape) as Conv2d;
    const bias = Array.from({ length: f }, (_, i) => 0.1 * (i + 1));
    B.upload(conv.bias!.value.buf, bias);
    const x = randomNormal(shapeSize(shape), 4);
    const y = run(conv, shape, x);
    const want = naiveConv(x, shape, conv.weight!.value.toArray(), bias, f, k, s, p);
    assert.deepEqual(y.shape, [shape[0], f, ...conv.outputShape.slice(1)]);
    close(y.data, want, 1e-12, `conv f${f} k${k} s${s} p${p}`);
  }
});

Deno.test("pools: max picks the window maximum, average divides by k*k, global averages", () => {
  const shape = [1, 2, 4, 5];
  const x = distinctValues(40, 2);
  const mp = build(new MaxPool2d(2), shape);
  const ym = run(mp, shape, x);
  assert.deepEqual(ym.shape, [1, 2, 2, 2]);
  const ap = build(new AvgPool2d(3, 1, 1), shape);
  const ya = run(ap, shape, x);
  assert.deepEqual(ya.shape, [1, 2, 4, 5]);
  const wantM: number[] = [];
  const wantA: number[] = [];
  for (let c = 0; c < 2; c++) {
    const at = (i: number, j: number) =>
      i < 0 || i >= 4 || j < 0 || j >= 5 ? 0 : x[(c * 4 + i) * 5 + j];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) {
        wantM.push(
          Math.max(
            at(2 * i, 2 * j),
            at(2 * i + 1, 2 * j),
            at(2 * i, 2 * j + 1),
            at(2 * i + 1, 2 * j + 1),
          ),
        );
      }
    }
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 5; j++) {
        let s = 0;
        for (let a = -1; a <= 1; a++) for (let b = -1; b <= 1; b++) s += at(i + a, j + b);
        wantA.push(s / 9);
      }
    }
  }
  close(ym.data, wantM, 0, "maxpool");
  close(ya.data, wantA, 1e-12, "avgpool");
  const gp = build(new GlobalAvgPool2d(), shape);
  const yg = run(gp, shape, x);
  assert.deepEqual(yg.shape, [1, 2]);
  close(yg.data, [0, 1].map((c) => x.slice(c * 20, c * 20 + 20).reduce((a, v) => a + v) / 20));
  const fl = build(new Flatten(), shape);
  const yf = run(fl, shape, x);
  assert.deepEqual(yf.shape, [1, 40]);
  close(yf.data, x, 0);
});

Deno.test("activations compute their functions; kind is the class-style name", () => {
  const fns: Record<string, [string, (v: number) => number]> = {
    relu: ["ReLU", (v) => Math.max(0, v)],
    leaky_relu: ["LeakyReLU", (v) => (v > 0 ? v : 0.01 * v)],
    sigmoid: ["Sigmoid", (v) => 1 / (1 + Math.exp(-v))],
    tanh: ["Tanh", Math.tanh],
    softplus: ["Softplus", (v) => Math.log(1 + Math.exp(v))],
  };
  const x = randomNormal(12, 3, 2);
  for (const [op, [kind, f]] of Object.entries(fns)) {
    const a = build(new Activation(op as never), [3, 4]);
    assert.equal(a.kind, kind);
    close(run(a, [3, 4], x).data, [...x].map(f), 1e-12, op);
  }
});

Deno.test("Dropout: inverted scaling, keep rate, deterministic per (seed, step, layer)", () => {
  const shape = [64, 100];
  const ones = new Float64Array(6400).fill(1);
  const d = build(new Dropout(0.25), shape);
  d.name = "2_dropout";
  const y1 = run(d, shape, ones, { training: true, seed: 9, step: 4 }).data;
  const kept = y1.filter((v) => v !== 0);
  for (const v of kept) assert.equal(v, 1 / 0.75);
  const rate = kept.length / y1.length;
  assert.ok(Math.abs(rate - 0.75) < 0.02, `keep rate ${rate}`);
  // Same seed, step and name: same mask. Another step, seed or layer name: another mask.
  const again = run(d, shape, ones, { training: true, seed: 9, step: 4 }).data;
  assert.deepEqual([...again], [...y1]);
  const nextStep = run(d, shape, ones, { training: true, seed: 9, step: 5 }).data;
  assert.notDeepEqual([...nextStep], [...y1]);
  const otherSeed = run(d, shape, ones, { training: true, seed: 10, step: 4 }).data;
  assert.notDeepEqual([...otherSeed], [...y1]);
  d.name = "5_dropout";
  const otherLayer = run(d, shape, ones, { training: true, seed: 9, step: 4 }).data;
  assert.notDeepEqual([...otherLayer], [...y1]);
  // Eval mode: identity, and backward passes the gradient through unchanged.
  const x = randomNormal(6400, 2);
  assert.deepEqual([...run(d, shape, x, evalCtx).data], [...x]);
  // Backward multiplies by the same mask.
  d.name = "2_dropout";
  const xt = Tensor.from(B, shape, ones, "float64");
  const y = d.forward(xt, { training: true, seed: 9, step: 4 });
  const dx = d.backward(xt);
  assert.deepEqual([...dx.toArray()], [...y1]);
  for (const t of [xt, y, dx]) t.dispose();
});

Deno.test("SpatialDropout drops whole channels; on [F] it drops elements", () => {
  const shape = [16, 32, 3, 3];
  const d = build(new SpatialDropout(0.5), shape);
  const y = run(d, shape, new Float64Array(shapeSize(shape)).fill(1)).data;
  let dropped = 0;
  for (let u = 0; u < 16 * 32; u++) {
    const plane = y.slice(u * 9, u * 9 + 9);
    assert.ok(plane.every((v) => v === plane[0]), `channel ${u} partly dropped`);
    assert.ok(plane[0] === 0 || plane[0] === 2);
    if (plane[0] === 0) dropped++;
  }
  assert.ok(Math.abs(dropped / 512 - 0.5) < 0.08, `dropped ${dropped}/512`);
  const flat = build(new SpatialDropout(0.5), [8, 50]);
  const yf = run(flat, [8, 50], new Float64Array(400).fill(1)).data;
  const rows = Array.from({ length: 8 }, (_, r) => yf.slice(r * 50, r * 50 + 50));
  assert.ok(rows.some((r) => r.some((v) => v === 0) && r.some((v) => v === 2)));
});

Deno.test("KWinners keeps exactly the k largest per sample", () => {
  const k = new KWinners(3);
  build(k, [2, 2, 2, 2]);
  const x = distinctValues(16, 8);
  const y = run(k, [2, 2, 2, 2], x).data;
  for (let r = 0; r < 2; r++) {
    const row = [...x.slice(r * 8, r * 8 + 8)];
    const top = [...row].sort((a, b) => b - a).slice(0, 3);
    const want = row.map((v) => (top.includes(v) ? v : 0));
    close(y.slice(r * 8, r * 8 + 8), want, 0, `kwinners row ${r}`);
  }
  // Eval mode applies the same selection.
  assert.deepEqual([...run(k, [2, 2, 2, 2], x, evalCtx).data], [...y]);
});

Deno.test("float32 layers agree with float64 ones", () => {
  const shape = [2, 3, 6, 6];
  const x = randomNormal(shapeSize(shape), 6);
  const make = () => [new Conv2d(4, 3, { pad: 1 }), new MaxPool2d(2), new Activation("tanh")];
  const outs = (["float64", "float32"] as DType[]).map((dt) => {
    let t = Tensor.from(B, shape, x, dt);
    let s = shape;
    for (const l of make()) {
      build(l, s, dt);
      const y = l.forward(t, train);
      t.dispose();
      t = y;
      s = [...y.shape];
    }
    const out = t.toArray();
    t.dispose();
    return out;
  });
  assert.equal(outs[1] instanceof Float32Array, true);
  close(outs[1], outs[0], 1e-5, "float32 vs float64");
});
