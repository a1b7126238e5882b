/**
 * Properties of the cpu build that a record's bits depend on, beyond parity with the reference
 * (the conformance suite's): how a conv forward groups the batch, and in what order sums add.
 */
import assert from "node:assert/strict";
import { type Window2d, windowOut } from "../src/backend.ts";
import { COLUMN_CACHE_MAX, Conv2d } from "../src/layers/conv2d.ts";
import * as ops from "../src/ops.ts";
import { Rng, Streams } from "../src/rng.ts";
import { Tensor } from "../src/tensor.ts";
import { cpu, rand } from "./native_helpers.ts";

Deno.test("cpu: a conv forward gives the same bits however the batch is grouped", () => {
  // one image at a time against the batch at once (cache-sized groups on one thread, groups per
  // thread on several): every output element sums the same products in the same order
  const cases: [Window2d, number][] = [
    [{ n: 23, c: 16, h: 14, w: 14, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }, 8],
    [{ n: 40, c: 1, h: 28, w: 28, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }, 16],
  ];
  for (const [g, f] of cases) {
    const [oh, ow] = windowOut(g);
    const per = g.c * g.h * g.w, out = f * oh * ow;
    const xs = rand(g.n * per, 7), ws = rand(f * g.c * g.kh * g.kw, 8, -0.3, 0.3);
    const [x, w, b] = [xs, ws, rand(f, 9)].map((a) => {
      const buf = cpu.alloc(a.length, "float32");
      cpu.upload(buf, a);
      return buf;
    });
    const y = cpu.alloc(g.n * out, "float32");
    cpu.conv2dForward(x, w, b, g, f, y);
    const all = cpu.download(y);
    const x1 = cpu.alloc(per, "float32"), y1 = cpu.alloc(out, "float32");
    for (let i = 0; i < g.n; i++) {
      cpu.upload(x1, xs.subarray(i * per, (i + 1) * per));
      cpu.conv2dForward(x1, w, b, { ...g, n: 1 }, f, y1);
      assert.deepEqual(
        cpu.download(y1),
        all.subarray(i * out, (i + 1) * out),
        `n${g.n} image ${i}`,
      );
    }
    for (const buf of [x, w, b, y, x1, y1]) cpu.free(buf);
  }
});

Deno.test("cpu: sums add every output's values in order, in double (the bits of a record)", () => {
  // over the batch (elementwise shift/scale gradients), over batch and pixels (channelwise),
  // over everything (layerwise) and over the last axis: each output must be the double sum of
  // its inputs in index order, rounded once, however many outputs the library sums at a time
  const [n, c, hw] = [33, 6, 10];
  const xs = rand(n * c * hw, 620, -100, 100);
  const x = cpu.alloc(xs.length, "float32");
  cpu.upload(x, xs);
  const cases: [number[], number[], (k: number) => number[]][] = [
    [[n, c * hw], [0], (k) => Array.from({ length: n }, (_, t) => t * c * hw + k)],
    [
      [n, c, hw],
      [0, 2],
      (k) => Array.from({ length: n * hw }, (_, i) => (Math.floor(i / hw) * c + k) * hw + (i % hw)),
    ],
    [[n * c * hw], [0], () => Array.from({ length: n * c * hw }, (_, i) => i)],
    [[n * c, hw], [1], (k) => Array.from({ length: hw }, (_, u) => k * hw + u)],
  ];
  for (const [shape, axes, inputs] of cases) {
    const outN = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
    for (const op of ["sum", "mean"] as const) {
      const o = cpu.alloc(outN, "float32");
      cpu.reduce(op, x, shape, axes, o);
      const got = cpu.download(o);
      for (let k = 0; k < outN; k++) {
        const idx = inputs(k);
        let s = 0;
        for (const i of idx) s += xs[i];
        const want = Math.fround(op === "mean" ? s / idx.length : s);
        assert.equal(got[k], want, `${op} [${shape}] axes [${axes}] output ${k}`);
      }
      cpu.free(o);
    }
  }
  cpu.free(x);
});

Deno.test("cpu: a training Conv2d keeps its columns for the backward, with the bits of an uncached one", () => {
  // the quick network's two convolutions (one group, then cache-sized groups on one thread)
  const cases: [number[], number, number][] = [[[32, 1, 28, 28], 16, 2], [[23, 16, 14, 14], 8, 2]];
  for (const [shape, filters, stride] of cases) {
    const layer = new Conv2d(filters, 3, { stride, pad: 1 });
    layer.build(shape.slice(1), { backend: cpu, dtype: "float32", rng: new Rng(3, Streams.init) });
    const x = Tensor.from(cpu, shape, rand(shape.reduce((a, b) => a * b, 1), 11));
    const g = ops.window2d(x.shape, [3, 3], [stride, stride], [1, 1]);
    const size = cpu.conv2dColumns(g, filters);
    assert.ok(size > 0 && size <= COLUMN_CACHE_MAX, `${shape}: a cache applies (${size})`);
    let allocated = 0;
    const alloc = cpu.alloc.bind(cpu);
    cpu.alloc = (n, dtype, zeroed) => (n === size && allocated++, alloc(n, dtype, zeroed));
    let y: Tensor;
    try {
      y = layer.forward(x, { training: true, seed: 1, step: 0 });
    } finally {
      cpu.alloc = alloc;
    }
    assert.equal(allocated, 1, `${shape}: the training forward allocated one column cache`);
    const dy = Tensor.from(cpu, y.shape, rand(y.size, 12));
    const dx = layer.backward(dy);
    // the same convolution through ops, without a cache
    const w = layer.weight!.value, b = layer.bias!.value;
    const dw = Tensor.zeros(cpu, w.shape), db = Tensor.zeros(cpu, b.shape);
    const y2 = ops.conv2d(x, w, b, g);
    const dx2 = ops.conv2dBackward(x, w, dy, g, dw, db, true)!;
    assert.deepEqual(y.toArray(), y2.toArray(), `${shape}: forward`);
    assert.deepEqual(layer.weight!.grad.toArray(), dw.toArray(), `${shape}: dL/dw`);
    assert.deepEqual(layer.bias!.grad.toArray(), db.toArray(), `${shape}: dL/db`);
    assert.deepEqual(dx.toArray(), dx2.toArray(), `${shape}: dL/dx`);
    for (const t of [x, y, dy, dx, dw, db, y2, dx2]) t.dispose();
    layer.dispose();
  }
});
