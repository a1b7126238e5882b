/**
 * The ts reference backend against hand-computed values and naive definitions.
 */
import assert from "node:assert/strict";
import { tsBackend as B } from "../src/backends/ts.ts";
import { Tensor, tidy } from "../src/tensor.ts";
import * as ops from "../src/ops.ts";
import { mix32, randomU32, Rng } from "../src/rng.ts";

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])), `at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

function randn(n: number, seed: number): number[] {
  const r = new Rng(seed, 9);
  return Array.from({ length: n }, () => r.normal());
}

Deno.test("rng: mix32 and randomU32 are fixed functions", () => {
  // Values pinned so the C and CUDA implementations can be checked against them.
  assert.equal(mix32(0), 0);
  assert.equal(mix32(1), 1753845952);
  assert.equal(mix32(0xdeadbeef), 3861431939);
  assert.equal(randomU32(1, 2, 3), 1283533249);
  assert.equal(randomU32(42, 3, 2 ** 32 + 5), 341337538);
  assert.notEqual(randomU32(1, 2, 3), randomU32(1, 2, 4));
  assert.notEqual(randomU32(1, 2, 3), randomU32(1, 3, 3));
  assert.notEqual(randomU32(1, 2, 2 ** 32), randomU32(1, 2, 0));
  const r = new Rng(42, 1);
  const xs = Array.from({ length: 20000 }, () => r.normal());
  const mean = xs.reduce((a, b) => a + b) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(sd - 1) < 0.03, `sd ${sd}`);
  const p = new Rng(7, 2).permutation(50);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("ts gemm: all transpose combinations match the naive product", () => {
  const m = 5, n = 7, k = 3;
  const a = randn(m * k, 1), b = randn(k * n, 2), c0 = randn(m * n, 3);
  const at = (i: number, p: number) => a[i * k + p];
  const bt = (p: number, j: number) => b[p * n + j];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      // Store A (or its transpose) and B accordingly.
      const A = ta ? Array.from({ length: m * k }, (_, x) => at(x % m, Math.floor(x / m))) : a;
      const Bm = tb ? Array.from({ length: k * n }, (_, x) => bt(x % k, Math.floor(x / k))) : b;
      const ab = B.alloc(m * k, "float64"), bb = B.alloc(k * n, "float64");
      const cb = B.alloc(m * n, "float64");
      B.upload(ab, A);
      B.upload(bb, Bm);
      B.upload(cb, c0);
      B.gemm(ta, tb, m, n, k, 2, ab, 0, bb, 0, 0.5, cb, 0);
      const want: number[] = [];
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += at(i, p) * bt(p, j);
          want.push(2 * s + 0.5 * c0[i * n + j]);
        }
      }
      close(B.download(cb), want);
    }
  }
});

Deno.test("ts im2col/col2im are adjoint and match a direct convolution", () => {
  const g = { n: 2, c: 3, h: 5, w: 4, kh: 3, kw: 2, sh: 2, sw: 1, ph: 1, pw: 0 };
  const [oh, ow] = ops.windowOut(g);
  const x = Tensor.from(B, [2, 3, 5, 4], randn(120, 4), "float64");
  const col = Tensor.zeros(B, [3 * 3 * 2, 2 * oh * ow], "float64");
  B.im2col(x.buf, g, col.buf);
  // <im2col(x), r> == <x, col2im(r)>
  const r = Tensor.from(B, col.shape, randn(col.size, 5), "float64");
  const back = Tensor.zeros(B, x.shape, "float64");
  B.col2im(r.buf, g, back.buf);
  const dot = (p: ArrayLike<number>, q: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < p.length; i++) s += p[i] * q[i];
    return s;
  };
  const lhs = dot(col.toArray(), r.toArray());
  const rhs = dot(x.toArray(), back.toArray());
  assert.ok(Math.abs(lhs - rhs) < 1e-9 * Math.abs(lhs), `${lhs} vs ${rhs}`);
  // direct check of one entry: row (c=1, ky=2, kx=1), column (n=1, oy=1, ox=2)
  const X = x.toArray();
  const iy = 1 * 2 - 1 + 2, ix = 2 * 1 - 0 + 1;
  const want = X[((1 * 3 + 1) * 5 + iy) * 4 + ix];
  const row = (1 * 3 + 2) * 2 + 1;
  const colIdx = (1 * oh + 1) * ow + 2;
  assert.equal(col.toArray()[row * col.shape[1] + colIdx], want);
});

Deno.test("ts pooling: max keeps argmax, average divides by the window", () => {
  const x = Tensor.from(B, [1, 1, 2, 4], [1, 5, 2, 0, 3, 4, 8, 7], "float64");
  const g = ops.window2d(x.shape, [2, 2], [2, 2], [0, 0]);
  const y = B.alloc(2, "float64"), am = B.alloc(2, "float64");
  B.maxPoolForward(x.buf, g, y, am);
  assert.deepEqual([...B.download(y)], [5, 8]);
  assert.deepEqual([...B.download(am)], [1, 6]);
  const dx = B.alloc(8, "float64");
  const dy = B.alloc(2, "float64");
  B.upload(dy, [10, 20]);
  B.maxPoolBackward(dy, am, g, dx);
  assert.deepEqual([...B.download(dx)], [0, 10, 0, 0, 0, 0, 20, 0]);
  B.avgPoolForward(x.buf, g, y);
  assert.deepEqual([...B.download(y)], [13 / 4, 17 / 4]);
});

Deno.test("ts binary broadcasting and reductions", () => {
  tidy(() => {
    const a = Tensor.from(B, [2, 3], [1, 2, 3, 4, 5, 6], "float64");
    const b = Tensor.from(B, [3], [10, 20, 30], "float64");
    assert.deepEqual([...ops.add(a, b).toArray()], [11, 22, 33, 14, 25, 36]);
    const col = Tensor.from(B, [2, 1], [2, 3], "float64");
    assert.deepEqual([...ops.mul(a, col).toArray()], [2, 4, 6, 12, 15, 18]);
    assert.deepEqual([...ops.sub(col, b).toArray()], [-8, -18, -28, -7, -17, -27]);
    assert.throws(() => ops.add(a, Tensor.from(B, [2], [1, 2], "float64")), /do not broadcast/);
    const x = Tensor.from(B, [2, 3, 2], Array.from({ length: 12 }, (_, i) => i), "float64");
    assert.deepEqual([...ops.sum(x, [0, 2]).toArray()], [
      0 + 1 + 6 + 7,
      2 + 3 + 8 + 9,
      4 + 5 + 10 + 11,
    ]);
    assert.deepEqual([...ops.mean(x, [1]).toArray()], [2, 3, 8, 9]);
    assert.deepEqual([...ops.reduce("max", x, [0, 1]).toArray()], [10, 11]);
    assert.deepEqual(ops.sum(x, [1], true).shape, [2, 1, 2]);
    const g = Tensor.from(B, [2, 3], [1, 1, 1, 1, 1, 1], "float64");
    assert.deepEqual([...ops.sumTo(g, [3]).toArray()], [2, 2, 2]);
    assert.deepEqual([...ops.sumTo(g, [2, 1]).toArray()], [3, 3]);
  });
});

Deno.test("ts softmax cross-entropy is stable and its gradient is (p - onehot) scaled", () => {
  const logits = [1000, 0, -1000, 1, 2, 3];
  const lb = B.alloc(6, "float64"), yb = B.alloc(2, "float64");
  B.upload(lb, logits);
  B.upload(yb, [1, 2]);
  const p = B.alloc(6, "float64"), l = B.alloc(2, "float64");
  B.softmaxCrossEntropy(lb, yb, 2, 3, p, l);
  const losses = B.download(l);
  assert.ok(Math.abs(losses[0] - 1000) < 1e-9);
  const z = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  assert.ok(Math.abs(losses[1] - (z - 3)) < 1e-12);
  const dl = B.alloc(6, "float64");
  B.softmaxCrossEntropyBackward(p, yb, 2, 3, 0.5, dl);
  const P = B.download(p), D = B.download(dl);
  for (let i = 0; i < 6; i++) {
    const onehot = i === 1 || i === 5 ? 1 : 0;
    assert.ok(Math.abs(D[i] - 0.5 * (P[i] - onehot)) < 1e-15);
  }
  // labels are checked once, by the tensor op, before any backend sees them
  const bad = Tensor.from(B, [2], [3, 0], "float64");
  const lt = Tensor.from(B, [2, 3], logits, "float64");
  assert.throws(() => ops.softmaxCrossEntropy(lt, bad), /label 3 of sample 0/);
});

Deno.test("ts dropout mask: rate, scaling, per-channel structure, determinism", () => {
  const n = 20000;
  const m = B.alloc(n, "float64");
  B.dropoutMask(m, 1, 1, n, 0.25, false, 5, 3, 0);
  const v = B.download(m);
  const kept = [...v].filter((x) => x !== 0);
  assert.ok(Math.abs(kept.length / n - 0.75) < 0.02);
  assert.ok(kept.every((x) => Math.abs(x - 4 / 3) < 1e-12));
  const m2 = B.alloc(n, "float64");
  B.dropoutMask(m2, 1, 1, n, 0.25, false, 5, 3, 0);
  assert.deepEqual(B.download(m2), v);
  const pc = B.alloc(2 * 3 * 4, "float64");
  B.dropoutMask(pc, 2, 3, 4, 0.5, true, 1, 3, 0);
  const P = B.download(pc);
  for (let u = 0; u < 6; u++) {
    const s = P.slice(u * 4, u * 4 + 4);
    assert.ok(s.every((x) => x === s[0]));
  }
});

Deno.test("ts batch norm: training output has mean beta and std |gamma|", () => {
  const outer = 4, c = 2, inner = 3;
  const x = B.alloc(outer * c * inner, "float64");
  B.upload(x, randn(outer * c * inner, 11).map((v) => 3 * v + 1));
  const gamma = B.alloc(c, "float64"), beta = B.alloc(c, "float64");
  B.upload(gamma, [2, -0.5]);
  B.upload(beta, [1, -3]);
  const rm = B.alloc(c, "float64"), rv = B.alloc(c, "float64");
  B.fill(rv, 1);
  const y = B.alloc(outer * c * inner, "float64");
  const mean = B.alloc(c, "float64"), istd = B.alloc(c, "float64");
  B.batchNormForward(x, outer, c, inner, gamma, beta, rm, rv, true, 0.1, 0, y, mean, istd);
  const Y = B.download(y);
  for (let ch = 0; ch < c; ch++) {
    const vals: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (let t = 0; t < inner; t++) vals.push(Y[(o * c + ch) * inner + t]);
    }
    const mu = vals.reduce((a, b) => a + b) / vals.length;
    const sd = Math.sqrt(vals.reduce((a, b) => a + (b - mu) ** 2, 0) / vals.length);
    assert.ok(Math.abs(mu - [1, -3][ch]) < 1e-12);
    assert.ok(Math.abs(sd - [2, 0.5][ch]) < 1e-9);
  }
});

Deno.test("ts optimizer rules: momentum under constant gradient, Adam first step", () => {
  const p = B.alloc(1, "float64"), g = B.alloc(1, "float64"), v = B.alloc(1, "float64");
  B.upload(g, [2]);
  const rule = {
    kind: "momentum",
    lr: 0.1,
    momentum: 0.9,
    nesterov: false,
    weightDecay: 0,
  } as const;
  const steps: number[] = [];
  let prev = 0;
  for (let i = 0; i < 3; i++) {
    B.update(rule, p, g, [v]);
    const now = B.download(p)[0];
    steps.push(now - prev);
    prev = now;
  }
  close(steps, [-0.2, -0.2 * 1.9, -0.2 * (1 + 0.9 + 0.81)]);
  const q = B.alloc(3, "float64"), gq = B.alloc(3, "float64");
  B.upload(gq, [3, -0.001, 50]);
  const m = B.alloc(3, "float64"), vv = B.alloc(3, "float64");
  B.update(
    {
      kind: "adam",
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      step: 1,
      weightDecay: 0,
      decoupled: false,
    },
    q,
    gq,
    [m, vv],
  );
  close(B.download(q), [-0.01, 0.01, -0.01], 1e-4);
});

Deno.test("Tensor.share: the memory lives until the last owner is disposed", () => {
  const t = Tensor.from(B, [2, 3], [1, 2, 3, 4, 5, 6]);
  const raw = t.buf;
  const s = t.share();
  const s2 = s.share();
  assert.equal(s.buf, raw); // no copy
  t.dispose();
  assert.ok(t.disposed);
  assert.throws(() => t.buf, /used after dispose/);
  assert.ok(!raw.disposed);
  assert.deepEqual([...s.toArray()], [1, 2, 3, 4, 5, 6]);
  s.dispose();
  s.dispose(); // a second dispose of one handle does not release another owner's share
  assert.ok(!raw.disposed);
  assert.deepEqual([...s2.reshape([6]).toArray()], [1, 2, 3, 4, 5, 6]);
  s2.dispose();
  assert.ok(raw.disposed);
  assert.throws(() => t.share(), /used after dispose/);
  // a share made inside tidy and not returned is released with the scope
  const u = Tensor.from(B, [2], [7, 8]);
  const ub = u.buf;
  tidy(() => {
    u.share();
  });
  assert.ok(!ub.disposed);
  u.dispose();
  assert.ok(ub.disposed);
});

Deno.test("Tensor: share and reshape under another shape; assign into elements from an offset", () => {
  const t = Tensor.from(B, [2, 3], [1, 2, 3, 4, 5, 6]);
  const flat = t.share([-1]);
  assert.deepEqual(flat.shape, [6]);
  assert.equal(flat.buf, t.buf);
  assert.deepEqual(t.reshape([3, -1]).shape, [3, 2]);
  for (const bad of [[4], [2, 2], [-1, 4], [6, -0.5]]) {
    assert.throws(() => t.share(bad), /cannot share \[2, 3\] as/);
    assert.throws(() => t.reshape(bad), /cannot reshape \[2, 3\] as/);
  }
  const part = Tensor.from(B, [2], [8, 9]);
  t.assign(part, 3);
  assert.deepEqual([...t.toArray()], [1, 2, 3, 8, 9, 6]);
  t.assign(part, 4);
  assert.deepEqual([...t.toArray()], [1, 2, 3, 8, 8, 9]);
  for (const at of [5, -1, 1.5]) assert.throws(() => t.assign(part, at), /does not fit/);
  assert.throws(() => t.assign(part), /does not fit into \[2, 3\]$/);
  for (const x of [flat, part, t]) x.dispose();
});
