/**
 * Every op of the native cpu backend against the ts reference on random data: odd and prime
 * sizes, sizes that are not multiples of the vector width, strides 1 and 2, paddings 0 and 1,
 * all transpose flags.
 */
import assert from "node:assert/strict";
import type {
  ActivationOp,
  Backend,
  BinaryOp,
  UnaryOp,
  UpdateRule,
  Window2d,
} from "../src/backend.ts";
import { outSize } from "../src/backend.ts";
import { assertClose, assertPair, cpu, free, pair, rand, ref, zeros } from "./native_helpers.ts";

Deno.test("native: memory ops (alloc zero-filled, upload/download at offsets, fill, copy)", () => {
  const b = cpu.alloc(37, "float32");
  assert.deepEqual([...cpu.download(b)], new Array(37).fill(0));
  const data = rand(37, 1);
  cpu.upload(b, data);
  assert.deepEqual([...cpu.download(b)], [...data]);
  cpu.upload(b, [5, 6, 7], 30);
  assert.deepEqual([...cpu.download(b, 29, 5)], [data[29], 5, 6, 7, data[33]]);
  cpu.fill(b, -2.5);
  assert.ok(cpu.download(b).every((v) => v === -2.5));
  const c = cpu.alloc(20, "float32");
  cpu.upload(c, rand(20, 2));
  cpu.copy(c, 3, b, 10, 11);
  const got = cpu.download(b);
  const src = cpu.download(c);
  for (let i = 0; i < 37; i++) {
    assert.equal(got[i], i >= 10 && i < 21 ? src[i - 7] : -2.5, `copy at ${i}`);
  }
  // float64 host data is converted
  cpu.upload(c, new Float64Array([1.25, -3.5]), 18);
  assert.deepEqual([...cpu.download(c, 18, 2)], [1.25, -3.5]);
  cpu.free(b);
  cpu.free(c);
  cpu.free(c); // idempotent
  assert.equal(b.disposed, true);
});

Deno.test("native: a subarray view uploads and downloads the right elements", () => {
  const host = new Float32Array(64);
  for (let i = 0; i < 64; i++) host[i] = i + 0.5;
  const view = host.subarray(13, 13 + 29); // byteOffset 52
  const b = cpu.alloc(40, "float32");
  cpu.upload(b, view, 4);
  const got = cpu.download(b);
  for (let i = 0; i < 40; i++) {
    assert.equal(got[i], i >= 4 && i < 33 ? i - 4 + 13 + 0.5 : 0, `element ${i}`);
  }
  // a view over a Float32Array with an offset into a larger ArrayBuffer
  const buffer = new ArrayBuffer(4 * 100);
  const f = new Float32Array(buffer, 4 * 7, 10);
  f.set(rand(10, 3));
  cpu.upload(b, f);
  assert.deepEqual([...cpu.download(b, 0, 10)], [...f]);
  cpu.free(b);
});

Deno.test("native: gemm, all transpose flags, odd/prime sizes, alpha/beta, offsets", () => {
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 5],
    [17, 31, 37],
    [6, 16, 64],
    [97, 61, 131],
    [130, 257, 19],
    [200, 150, 513], // several k-blocks, several m-blocks, threaded
    [5, 4100, 3], // more columns than one n-block
  ];
  let seed = 10;
  for (const [m, n, k] of sizes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        for (const [alpha, beta] of [[1, 0], [0.75, -1.5]]) {
          const aOff = 3, bOff = 5, cOff = 2;
          const a = pair(rand(aOff + m * k, seed++));
          const b = pair(rand(bOff + k * n, seed++));
          const cInit = rand(cOff + m * n + 4, seed++);
          if (beta === 0) cInit.fill(NaN, cOff, cOff + m * n); // beta 0 ignores old C
          const c = pair(cInit);
          cpu.gemm(ta, tb, m, n, k, alpha, a[0], aOff, b[0], bOff, beta, c[0], cOff);
          ref.gemm(ta, tb, m, n, k, alpha, a[1], aOff, b[1], bOff, beta, c[1], cOff);
          assertPair(c, `gemm ${m}x${n}x${k} ta=${ta} tb=${tb} alpha=${alpha} beta=${beta}`, 1e-5);
          free(a, b, c);
        }
      }
    }
  }
});

Deno.test("native: gemm with k = 0 or alpha = 0 scales C by beta", () => {
  const c = pair(rand(12, 4));
  const a = pair(rand(4, 5));
  cpu.gemm(false, false, 3, 4, 0, 1, a[0], 0, a[0], 0, 2, c[0], 0);
  ref.gemm(false, false, 3, 4, 0, 1, a[1], 0, a[1], 0, 2, c[1], 0);
  assertPair(c, "k = 0");
  cpu.gemm(false, false, 3, 4, 1, 0, a[0], 0, a[0], 0, 0, c[0], 0);
  assert.ok(cpu.download(c[0]).every((v) => v === 0));
  free(a, c);
});

Deno.test("native: swapAxes01", () => {
  for (const [d0, d1, inner] of [[3, 5, 7], [1, 4, 1], [13, 2, 33]]) {
    const x = pair(rand(d0 * d1 * inner, d0 + d1));
    const o = zeros(d0 * d1 * inner);
    cpu.swapAxes01(x[0], d0, d1, inner, o[0]);
    ref.swapAxes01(x[1], d0, d1, inner, o[1]);
    assertPair(o, `swapAxes01 ${d0} ${d1} ${inner}`, 0);
    free(x, o);
  }
});

const windows: Window2d[] = [
  { n: 2, c: 3, h: 7, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
  { n: 2, c: 3, h: 7, w: 9, kh: 3, kw: 3, sh: 2, sw: 2, ph: 0, pw: 0 },
  { n: 3, c: 2, h: 11, w: 13, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
  { n: 1, c: 5, h: 6, w: 6, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
  { n: 2, c: 2, h: 11, w: 11, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2 },
  { n: 2, c: 3, h: 8, w: 10, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 },
  { n: 1, c: 4, h: 9, w: 7, kh: 2, kw: 3, sh: 1, sw: 2, ph: 1, pw: 0 },
  { n: 32, c: 3, h: 17, w: 17, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, // threaded
  // stride 2 over rows long enough for the 8-wide stride-2 gather / scatter, and their tails
  { n: 2, c: 3, h: 9, w: 41, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
  { n: 2, c: 2, h: 7, w: 40, kh: 2, kw: 3, sh: 2, sw: 2, ph: 0, pw: 1 },
];

function geom(g: Window2d): string {
  return `n${g.n} c${g.c} ${g.h}x${g.w} k${g.kh}x${g.kw} s${g.sh}x${g.sw} p${g.ph}x${g.pw}`;
}

Deno.test("native: im2col and col2im", () => {
  let seed = 100;
  for (const g of windows) {
    const oh = outSize(g.h, g.kh, g.sh, g.ph), ow = outSize(g.w, g.kw, g.sw, g.pw);
    const colN = g.c * g.kh * g.kw * g.n * oh * ow;
    const xN = g.n * g.c * g.h * g.w;
    const x = pair(rand(xN, seed++));
    const col = zeros(colN);
    cpu.im2col(x[0], g, col[0]);
    ref.im2col(x[1], g, col[1]);
    assertPair(col, `im2col ${geom(g)}`, 0);
    const dcol = pair(rand(colN, seed++));
    const dx = pair(rand(xN, seed++)); // overwritten, not accumulated into
    cpu.col2im(dcol[0], g, dx[0]);
    ref.col2im(dcol[1], g, dx[1]);
    assertPair(dx, `col2im ${geom(g)}`);
    free(x, col, dcol, dx);
  }
});

/** The cpu library's OpenMP thread count (its device string ends in "N threads"). */
const THREADS = Number(/(\d+) threads/.exec(cpu.device)?.[1] ?? "1");

/**
 * The convolution op against the ts composition, with each method of the cpu build forced in
 * turn (SHIFTLAB_CONV_ALGO=winograd sends every 3x3 stride-1 window with padding <= 2 through
 * Winograd, =im2col none) and with its own choice ("auto"). Besides the windows above, the
 * batch sizes follow the library's thread count so that each mode is reached on any machine:
 * threads over single images (n = 2T + 1), threads over groups of two with a short last group
 * (n = 4T + 3), and a batch too small to split (n = 3 < 2T: groups in turn, threaded GEMMs;
 * with one thread this is the serial path).
 */
Deno.test("native: conv2d forward and backward (bias or not, dx or not; auto, winograd, im2col)", () => {
  const T = THREADS;
  const cases: [Window2d, number][] = [
    ...windows.map((g, i): [Window2d, number] => [g, 3 + (i % 4)]),
    [{ n: 2 * T + 1, c: 10, h: 25, w: 25, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 32],
    [{ n: 4 * T + 3, c: 40, h: 9, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 }, 48],
    [{ n: 3, c: 16, h: 31, w: 31, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 32],
    // Winograd's own choice: odd and even output sizes, paddings 0, 1, 2, unequal ph / pw
    [{ n: 2 * T + 1, c: 24, h: 22, w: 19, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 20],
    [{ n: 2 * T + 1, c: 16, h: 29, w: 27, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 0 }, 32],
    [{ n: 2 * T + 1, c: 33, h: 12, w: 12, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 40],
    [{ n: 6, c: 16, h: 31, w: 29, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }, 33],
  ];
  let seed = 500;
  cases.forEach(([g, f], i) => {
    const oh = outSize(g.h, g.kh, g.sh, g.ph), ow = outSize(g.w, g.kw, g.sw, g.pw);
    const xN = g.n * g.c * g.h * g.w, wN = f * g.c * g.kh * g.kw, yN = g.n * f * oh * ow;
    const withBias = i % 2 === 0, withDx = i % 3 !== 1;
    const x = pair(rand(xN, seed++));
    const w = pair(rand(wN, seed++, -0.3, 0.3));
    const b = pair(rand(f, seed++));
    const dy = pair(rand(yN, seed++));
    const dw0 = rand(wN, seed++), db0 = rand(f, seed++), dx0 = rand(xN, seed++);
    const y = zeros(yN), dw = pair(dw0), db = pair(db0), dx = pair(dx0);
    /** Forward then backward on side k of the pairs (0 cpu, 1 ts). */
    const run = (be: Backend, k: 0 | 1) => {
      be.conv2dForward(x[k], w[k], withBias ? b[k] : null, g, f, y[k]);
      be.conv2dBackward(
        x[k],
        w[k],
        dy[k],
        g,
        f,
        dw[k],
        withBias ? db[k] : null,
        withDx ? dx[k] : null,
      );
    };
    run(ref, 1); // the reference, once
    for (const algo of ["auto", "winograd", "im2col"]) {
      const what = `conv2d ${geom(g)} f${f} (${algo})`;
      if (algo !== "auto") Deno.env.set("SHIFTLAB_CONV_ALGO", algo);
      try {
        cpu.upload(y[0], rand(yN, 1)); // overwritten
        cpu.upload(dw[0], dw0); // accumulated into
        cpu.upload(db[0], db0); // accumulated into
        cpu.upload(dx[0], dx0); // overwritten
        run(cpu, 0);
      } finally {
        Deno.env.delete("SHIFTLAB_CONV_ALGO");
      }
      assertPair(y, `${what} forward`, 1e-5);
      assertPair(dw, `${what} dw`, 1e-5);
      assertPair(db, `${what} db`, 1e-5);
      assertPair(dx, `${what} dx`, 1e-5);
    }
    free(x, w, b, y, dy, dw, db, dx);
  });
});

Deno.test("native: conv2d rejects bad geometry and short buffers, naming the operand", () => {
  const g: Window2d = { n: 2, c: 3, h: 5, w: 5, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 };
  const x = cpu.alloc(2 * 3 * 25, "float32"), w = cpu.alloc(4 * 27, "float32");
  const y = cpu.alloc(2 * 4 * 9, "float32");
  assert.throws(() => cpu.conv2dForward(x, w, null, g, 0, y), /filters must be positive/);
  assert.throws(() => cpu.conv2dForward(x, w, null, g, 5, y), /conv2dForward weight needs 135/);
  // geometry that passes the length guards is rejected by C
  assert.throws(
    () => cpu.conv2dForward(x, w, null, { ...g, sh: 0 }, 4, y),
    /sl_conv2d_forward: invalid window.*stride 0x1/,
  );
  assert.throws(
    () => cpu.conv2dBackward(x, w, y, g, 4, w, null, y),
    /conv2dBackward dx needs 150/,
  );
  for (const b of [x, w, y]) cpu.free(b);
});

Deno.test("native: max and average pooling forward and backward", () => {
  let seed = 200;
  for (const g of windows) {
    const oh = outSize(g.h, g.kh, g.sh, g.ph), ow = outSize(g.w, g.kw, g.sw, g.pw);
    const yN = g.n * g.c * oh * ow;
    const xN = g.n * g.c * g.h * g.w;
    const xd = rand(xN, seed++);
    for (let i = 0; i < xN; i += 5) xd[i] = 0.25; // ties: the first maximum wins
    const x = pair(xd);
    const y = zeros(yN), am = zeros(yN);
    cpu.maxPoolForward(x[0], g, y[0], am[0]);
    ref.maxPoolForward(x[1], g, y[1], am[1]);
    assertPair(y, `maxpool y ${geom(g)}`, 0);
    assertPair(am, `maxpool argmax ${geom(g)}`, 0);
    const dy = pair(rand(yN, seed++));
    const dx = pair(rand(xN, seed++));
    cpu.maxPoolBackward(dy[0], am[0], g, dx[0]);
    ref.maxPoolBackward(dy[1], am[1], g, dx[1]);
    assertPair(dx, `maxpool dx ${geom(g)}`);
    const ay = zeros(yN);
    cpu.avgPoolForward(x[0], g, ay[0]);
    ref.avgPoolForward(x[1], g, ay[1]);
    assertPair(ay, `avgpool y ${geom(g)}`);
    cpu.avgPoolBackward(dy[0], g, dx[0]);
    ref.avgPoolBackward(dy[1], g, dx[1]);
    assertPair(dx, `avgpool dx ${geom(g)}`);
    free(x, y, am, dy, dx, ay);
  }
});

const binaryOps: BinaryOp[] = ["add", "sub", "mul", "div", "max", "min"];
const broadcastCases: [number[], number[], number[]][] = [
  [[3, 5, 7], [3, 5, 7], [3, 5, 7]],
  [[2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]],
  [[1, 3, 1, 1], [2, 3, 4, 5], [2, 3, 4, 5]],
  [[5, 1], [1, 7], [5, 7]],
  [[13], [1], [13]],
  [[1], [13], [13]],
  [[2, 1, 4], [2, 3, 1], [2, 3, 4]],
  [[9, 17], [1, 17], [9, 17]],
  [[16, 96, 9, 11], [1, 96, 1, 1], [16, 96, 9, 11]], // threaded
  [[1], [1], [1]],
];

Deno.test("native: broadcasting binary ops", () => {
  let seed = 300;
  for (const op of binaryOps) {
    for (const [as, bs, os] of broadcastCases) {
      const na = as.reduce((p, q) => p * q, 1), nb = bs.reduce((p, q) => p * q, 1);
      const no = os.reduce((p, q) => p * q, 1);
      const ad = rand(na, seed++);
      const bd = op === "div" ? rand(nb, seed++, 0.5, 2) : rand(nb, seed++);
      if (op === "max" || op === "min") {
        for (let i = 0; i < Math.min(na, nb); i += 3) bd[i] = ad[i];
      }
      const a = pair(ad), b = pair(bd), o = zeros(no);
      cpu.binary(op, a[0], as, b[0], bs, o[0], os);
      ref.binary(op, a[1], as, b[1], bs, o[1], os);
      assertPair(o, `${op} [${as}] [${bs}]`, op === "div" ? 1e-6 : 0);
      free(a, b, o);
    }
  }
});

Deno.test("native: binary output may alias an operand of the output shape", () => {
  const as = [4, 6], bs = [1, 6];
  const a = pair(rand(24, 1)), b = pair(rand(6, 2));
  cpu.binary("mul", a[0], as, b[0], bs, a[0], as);
  ref.binary("mul", a[1], as, b[1], bs, a[1], as);
  assertPair(a, "aliased mul", 0);
  free(a, b);
});

const unaryCases: [UnaryOp, number, number, number][] = [
  ["relu", -3, 3, 0],
  ["leaky_relu", -3, 3, 0.01],
  ["sigmoid", -30, 30, 0],
  ["tanh", -5, 5, 0],
  ["softplus", -40, 40, 0],
  ["exp", -10, 10, 0],
  ["log", 0.01, 100, 0],
  ["sqrt", 0.01, 100, 0],
  ["square", -3, 3, 0],
  ["abs", -3, 3, 0],
  ["neg", -3, 3, 0],
  ["sign", -3, 3, 0],
  ["scale", -3, 3, -1.75],
  ["add_scalar", -3, 3, 0.3],
  ["pow", 0.1, 4, 2.5],
  ["reciprocal", 0.1, 4, 0],
];

Deno.test("native: unary ops (serial and threaded sizes)", () => {
  let seed = 400;
  for (const [op, lo, hi, alpha] of unaryCases) {
    for (const n of [1, 7, 1031, 140009]) {
      const xd = rand(n, seed++, lo, hi);
      if (op === "sign" && n > 3) xd[2] = 0;
      const x = pair(xd), o = zeros(n);
      cpu.unary(op, x[0], o[0], alpha);
      ref.unary(op, x[1], o[1], alpha);
      assertPair(o, `${op} n=${n}`, 1e-6);
      cpu.unary(op, x[0], x[0], alpha); // in place
      assertPair([x[0], o[1]], `${op} in place`, 1e-6);
      free(x, o);
    }
  }
});

Deno.test("native: activation derivatives", () => {
  let seed = 500;
  const acts: ActivationOp[] = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus"];
  for (const op of acts) {
    for (const n of [13, 140009]) {
      const x = pair(rand(n, seed++, -4, 4));
      const y = zeros(n);
      const alpha = op === "leaky_relu" ? 0.01 : 0;
      ref.unary(op, x[1], y[1], alpha);
      cpu.unary(op, x[0], y[0], alpha);
      const dy = pair(rand(n, seed++));
      const dx = zeros(n);
      cpu.unaryBackward(op, x[0], y[0], dy[0], dx[0], alpha);
      ref.unaryBackward(op, x[1], y[1], dy[1], dx[1], alpha);
      assertPair(dx, `${op}' n=${n}`, 1e-6);
      free(x, y, dy, dx);
    }
  }
});

Deno.test("native: axpby", () => {
  for (const n of [1, 17, 140009]) {
    const a = pair(rand(n, n)), b = pair(rand(n, n + 1)), o = zeros(n);
    cpu.axpby(0.3, a[0], -1.7, b[0], o[0]);
    ref.axpby(0.3, a[1], -1.7, b[1], o[1]);
    assertPair(o, `axpby n=${n}`, 1e-6);
    cpu.axpby(1, a[0], 1, b[0], a[0]);
    ref.axpby(1, a[1], 1, b[1], a[1]);
    assertPair(a, `axpby aliased n=${n}`, 1e-6);
    free(a, b, o);
  }
});

Deno.test("native: reductions over chosen axes", () => {
  const shapes = [[3, 4, 5, 6], [32, 96, 7, 7], [7], [1, 9, 1, 5]];
  const axesList = [[], [0], [1], [3], [0, 2], [1, 3], [0, 2, 3], [0, 1, 2, 3], [2]];
  let seed = 600;
  for (const shape of shapes) {
    const total = shape.reduce((p, q) => p * q, 1);
    const x = pair(rand(total, seed++));
    for (const axes of axesList) {
      if (axes.some((a) => a >= shape.length)) continue;
      const outN = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
      for (const op of ["sum", "mean", "max"] as const) {
        const o = zeros(outN);
        cpu.reduce(op, x[0], shape, axes, o[0]);
        ref.reduce(op, x[1], shape, axes, o[1]);
        assertPair(o, `${op} [${shape}] axes [${axes}]`, 1e-6);
        free(o);
      }
    }
    free(x);
  }
});

Deno.test("native: argmax (first maximum wins)", () => {
  const rows = 7, cols = 13;
  const d = rand(rows * cols, 700);
  d[3] = 5;
  d[9] = 5; // tie in row 0
  const x = pair(d), o = zeros(rows);
  cpu.argmax(x[0], rows, cols, o[0]);
  ref.argmax(x[1], rows, cols, o[1]);
  assertPair(o, "argmax", 0);
  assert.equal(cpu.download(o[0])[0], 3);
  free(x, o);
});

Deno.test("native: softmax cross-entropy forward and backward", () => {
  for (
    const [n, k, spread] of [[9, 11, 3], [32, 10, 50], [1, 1, 1], [5, 1000, 10], [160, 1000, 5]]
  ) {
    const logits = pair(rand(n * k, n + k, -spread, spread));
    const lab = new Float32Array(n).map((_, i) => (i * 7 + 3) % k);
    const labels = pair(lab);
    const probs = zeros(n * k), losses = zeros(n), d = zeros(n * k);
    cpu.softmaxCrossEntropy(logits[0], labels[0], n, k, probs[0], losses[0]);
    ref.softmaxCrossEntropy(logits[1], labels[1], n, k, probs[1], losses[1]);
    assertPair(probs, `softmax probs ${n}x${k}`, 1e-6);
    assertPair(losses, `softmax losses ${n}x${k}`, 1e-6);
    cpu.softmaxCrossEntropyBackward(probs[0], labels[0], n, k, 1 / n, d[0]);
    ref.softmaxCrossEntropyBackward(probs[1], labels[1], n, k, 1 / n, d[1]);
    assertPair(d, `softmax backward ${n}x${k}`, 1e-6);
    free(logits, labels, probs, losses, d);
  }
});

Deno.test("native: batch norm forward (train and eval) and backward", () => {
  let seed = 800;
  for (const [outer, c, inner] of [[5, 3, 7], [9, 13, 1], [32, 96, 64], [1, 4, 1]]) {
    const total = outer * c * inner;
    const x = pair(rand(total, seed++, -2, 3));
    const gamma = pair(rand(c, seed++, 0.5, 1.5)), beta = pair(rand(c, seed++));
    const rm = pair(rand(c, seed++)), rv = pair(rand(c, seed++, 0.5, 2));
    const y = zeros(total), mean = zeros(c), istd = zeros(c);
    for (const training of [true, false]) {
      cpu.batchNormForward(
        x[0],
        outer,
        c,
        inner,
        gamma[0],
        beta[0],
        rm[0],
        rv[0],
        training,
        0.1,
        1e-5,
        y[0],
        mean[0],
        istd[0],
      );
      ref.batchNormForward(
        x[1],
        outer,
        c,
        inner,
        gamma[1],
        beta[1],
        rm[1],
        rv[1],
        training,
        0.1,
        1e-5,
        y[1],
        mean[1],
        istd[1],
      );
      const tag = `${outer}x${c}x${inner} training=${training}`;
      assertPair(y, `bn y ${tag}`, 1e-5);
      assertPair(rm, `bn running mean ${tag}`, 1e-6);
      assertPair(rv, `bn running var ${tag}`, 1e-6);
      if (training) {
        assertPair(mean, `bn mean ${tag}`, 1e-6);
        assertPair(istd, `bn invStd ${tag}`, 1e-6);
      }
    }
    // backward uses the saved training statistics: recompute them
    cpu.batchNormForward(
      x[0],
      outer,
      c,
      inner,
      gamma[0],
      beta[0],
      rm[0],
      rv[0],
      true,
      0.1,
      1e-5,
      y[0],
      mean[0],
      istd[0],
    );
    ref.batchNormForward(
      x[1],
      outer,
      c,
      inner,
      gamma[1],
      beta[1],
      rm[1],
      rv[1],
      true,
      0.1,
      1e-5,
      y[1],
      mean[1],
      istd[1],
    );
    const dy = pair(rand(total, seed++));
    const dx = zeros(total), dg = zeros(c), db = zeros(c);
    cpu.batchNormBackward(
      x[0],
      dy[0],
      outer,
      c,
      inner,
      gamma[0],
      mean[0],
      istd[0],
      dx[0],
      dg[0],
      db[0],
    );
    ref.batchNormBackward(
      x[1],
      dy[1],
      outer,
      c,
      inner,
      gamma[1],
      mean[1],
      istd[1],
      dx[1],
      dg[1],
      db[1],
    );
    assertPair(dx, `bn dx ${outer}x${c}x${inner}`, 1e-5);
    assertPair(dg, `bn dgamma ${outer}x${c}x${inner}`, 1e-5);
    assertPair(db, `bn dbeta ${outer}x${c}x${inner}`, 1e-5);
    free(x, gamma, beta, rm, rv, y, mean, istd, dy, dx, dg, db);
  }
});

Deno.test("native: dropout masks are identical to ts (same counter-based generator)", () => {
  const cases: [number, number, number, number, boolean, number, number, number][] = [
    [4, 3, 5, 0.5, false, 42, 3, 0],
    [4, 3, 5, 0.5, true, 42, 3, 17],
    [32, 96, 49, 0.25, false, 7, 3, 2 ** 32 + 5], // counter above 2^32 exercises the high word
    [32, 96, 49, 0.5, true, 0xdeadbeef, 3, 123456789],
    [3, 1000, 1, 0.125, false, 1, 1, 99],
    [2, 4, 6, 0, false, 5, 3, 0],
    // p not representable in float32: the keep scale 1/(1-p) must be computed from the double
    // p (a float parameter gives 5.0000005 instead of 5 for p = 0.8).
    [4, 8, 9, 0.8, false, 11, 3, 0],
    [4, 8, 9, 0.45, true, 11, 3, 0],
  ];
  for (const [outer, c, inner, p, perChannel, seed, stream, counter] of cases) {
    const o = zeros(outer * c * inner);
    cpu.dropoutMask(o[0], outer, c, inner, p, perChannel, seed, stream, counter);
    ref.dropoutMask(o[1], outer, c, inner, p, perChannel, seed, stream, counter);
    assertPair(o, `dropout ${outer}x${c}x${inner} p=${p} perChannel=${perChannel}`, 0);
    const m = cpu.download(o[0]);
    const kept = m.filter((v) => v !== 0).length / m.length;
    assert.ok(Math.abs(kept - (1 - p)) < 0.15, `keep fraction ${kept} for p=${p}`);
    free(o);
  }
});

Deno.test("native: top-k masks", () => {
  for (const [rows, cols, k] of [[4, 17, 5], [3, 9, 0], [2, 9, 9], [150, 1000, 31]]) {
    const d = rand(rows * cols, rows + cols + k);
    d[1] = d[4]; // a tie: the lower index wins
    const x = pair(d), o = zeros(rows * cols);
    cpu.topkMask(x[0], rows, cols, k, o[0]);
    ref.topkMask(x[1], rows, cols, k, o[1]);
    assertPair(o, `topk ${rows}x${cols} k=${k}`, 0);
    free(x, o);
  }
});

Deno.test("native: optimizer updates (sgd, momentum, nesterov, adam, adamw)", () => {
  const n = 140001; // above the threading threshold
  const rules: UpdateRule[] = [
    { kind: "sgd", lr: 0.1, weightDecay: 0 },
    { kind: "sgd", lr: 0.05, weightDecay: 0.01 },
    { kind: "momentum", lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 0 },
    { kind: "momentum", lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-3 },
    {
      kind: "adam",
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      step: 1,
      weightDecay: 1e-3,
      decoupled: false,
    },
    {
      kind: "adam",
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      step: 1,
      weightDecay: 1e-3,
      decoupled: true,
    },
  ];
  let seed = 900;
  for (const rule of rules) {
    const p = pair(rand(n, seed++)), s0 = pair(rand(n, seed++, -0.1, 0.1));
    const s1 = pair(rand(n, seed++, 0.001, 0.1));
    for (let step = 1; step <= 5; step++) {
      const g = pair(rand(n, seed++));
      const r = rule.kind === "adam" ? { ...rule, step } : rule;
      cpu.update(r, p[0], g[0], [s0[0], s1[0]]);
      ref.update(r, p[1], g[1], [s0[1], s1[1]]);
      free(g);
    }
    const tag = `${rule.kind}${"nesterov" in rule && rule.nesterov ? " nesterov" : ""}${
      "decoupled" in rule && rule.decoupled ? "W" : ""
    } wd=${rule.weightDecay}`;
    assertPair(p, `${tag} param`, 1e-6);
    if (rule.kind !== "sgd") assertPair(s0, `${tag} slot 0`, 1e-6);
    if (rule.kind === "adam") assertPair(s1, `${tag} slot 1`, 1e-6);
    free(p, s0, s1);
  }
});

Deno.test("native: results match ts through the Tensor-level ops too", async () => {
  const ops = await import("../src/ops.ts");
  const { Tensor } = await import("../src/tensor.ts");
  const ad = rand(6 * 5, 1), bd = rand(5, 2);
  const r = (be: typeof cpu | typeof ref) => {
    const a = Tensor.from(be, [6, 5], ad), b = Tensor.from(be, [5], bd);
    const s = ops.sum(ops.mul(a, b), [0]);
    const out = s.toArray();
    a.dispose();
    b.dispose();
    s.dispose();
    return out;
  };
  assertClose(r(cpu), r(ref), "sum(a*b, 0)", 1e-6);
});
