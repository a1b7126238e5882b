/**
 * The CUDA build of the native library (build/libshiftlab_cuda.so).
 *
 * Always: the library loads and either initialises a device or reports "no CUDA device"
 * cleanly, after which every other function fails with that message instead of crashing.
 * When a device answers: parity with the `ts` reference for every op of the `Backend`
 * interface on random odd shapes (all gemm transposes and code paths, strides, paddings,
 * broadcasting patterns), the C-side buffer checks, and a memory soak. Without a device the
 * parity tests print one visible skip line and pass.
 *
 * Without a GPU the kernels' logic can still be checked against a CPU emulation of the CUDA
 * runtime (slow): `bash bench/cuda_ref/emu/build.sh`, then run this file with
 * `SHIFTLAB_LIB_CUDA=build/libshiftlab_cuda_emu.so` and `--filter "/^cuda: ([^m]|max)/"`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { openLibrary, resolveLibrary } from "../ffi/library.ts";
import { NativeBackend } from "../src/backends/native.ts";
import { tsBackend } from "../src/backends/ts.ts";
import type {
  ActivationOp,
  Backend,
  BinaryOp,
  Buf,
  HostArray,
  ReduceOp,
  UnaryOp,
  UpdateRule,
  Window2d,
} from "../src/backend.ts";
import { outSize } from "../src/backend.ts";
import { Rng } from "../src/rng.ts";

const SL_ERR_DEVICE = 3;
const SL_ERR_ARG = 1;

type Probe =
  | { state: "nolib"; reason: string }
  | { state: "nodevice"; reason: string }
  | { state: "ok"; backend: NativeBackend };

function probe(): Probe {
  const r = resolveLibrary("cuda");
  if (!r.exists) return { state: "nolib", reason: `${r.path} not built (no nvcc?)` };
  const lib = openLibrary("cuda");
  const st = lib.symbols.sl_init();
  if (st !== 0) return { state: "nodevice", reason: lib.lastError() };
  return { state: "ok", backend: new NativeBackend(lib, "cuda") };
}

const P = probe();

Deno.test("cuda library: loads; initialises a device or reports 'no CUDA device' cleanly", () => {
  if (P.state === "nolib") {
    console.log(`SKIP cuda library: ${P.reason}`);
    return;
  }
  const lib = openLibrary("cuda");
  const s = lib.symbols;
  assert.match(lib.buildInfo(), /^cuda: nvcc \d+\.\d+/);
  if (P.state === "ok") {
    assert.equal(s.sl_init(), 0);
    assert.ok(P.backend.device.length > 0, "sl_device_info names the GPU");
    return;
  }
  // no device: sl_init and every other function answer SL_ERR_DEVICE with the same message
  assert.equal(s.sl_init(), SL_ERR_DEVICE);
  assert.match(lib.lastError(), /^no CUDA device \(.+\)$/);
  const out = new BigUint64Array(1);
  assert.equal(s.sl_alloc(16n, out), SL_ERR_DEVICE);
  assert.match(lib.lastError(), /^no CUDA device/);
  assert.equal(s.sl_synchronize(), SL_ERR_DEVICE);
  assert.equal(s.sl_gemm(0, 0, 4n, 4n, 4n, 1, null, 0n, null, 0n, 0, null, 0n), SL_ERR_DEVICE);
  assert.match(lib.lastError(), /^no CUDA device/);
  assert.equal(s.sl_free(null), SL_ERR_DEVICE);
  const mem = new BigInt64Array(1);
  assert.equal(s.sl_memory_in_use(mem), SL_ERR_DEVICE);
  const info = new Uint8Array(256);
  assert.equal(s.sl_device_info(info, info.length), SL_ERR_DEVICE);
  const text = new TextDecoder().decode(info.subarray(0, info.indexOf(0)));
  assert.match(text, /^no CUDA device/);
  assert.throws(() => NativeBackend.open("cuda"), /no CUDA device/);
});

if (P.state !== "ok") {
  Deno.test("cuda parity and soak", () => {
    console.log(`SKIP cuda parity: ${P.reason}`);
  });
} else {
  registerDeviceTests(P.backend);
}

// ---------------------------------------------------------------------------------------------

function registerDeviceTests(cu: NativeBackend): void {
  const ts: Backend = tsBackend;
  const rng = new Rng(1234, 9);

  const rand = (n: number, lo = -1, hi = 1): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.uniform();
    return a;
  };
  /** Values from a small set, so ties are common. */
  const coarse = (n: number, levels = 5): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.int(levels) - 2;
    return a;
  };
  const pair = (data: ArrayLike<number>): [Buf, Buf] => {
    const a = ts.alloc(data.length, "float32");
    ts.upload(a, data);
    const b = cu.alloc(data.length, "float32");
    cu.upload(b, data);
    return [a, b];
  };
  const zeros = (n: number): [Buf, Buf] => [ts.alloc(n, "float32"), cu.alloc(n, "float32")];
  const freeAll = (...pairs: [Buf, Buf][]) => {
    for (const [a, b] of pairs) {
      ts.free(a);
      cu.free(b);
    }
  };
  const close = (
    what: string,
    got: HostArray,
    want: HostArray,
    abs = 1e-5,
    rel = 1e-5,
  ): void => {
    assert.equal(got.length, want.length, `${what}: length`);
    for (let i = 0; i < want.length; i++) {
      const g = got[i];
      const w = want[i];
      if (Number.isNaN(w) || Number.isNaN(g)) {
        assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}[${i}]: got ${g}, want ${w}`);
        continue;
      }
      if (g === w) continue;
      const tol = abs + rel * Math.abs(w);
      if (!(Math.abs(g - w) <= tol)) {
        assert.fail(`${what}[${i}]: got ${g}, want ${w} (|diff| ${Math.abs(g - w)} > ${tol})`);
      }
    }
  };
  const check = (what: string, p: [Buf, Buf], abs = 1e-5, rel = 1e-5) =>
    close(what, cu.download(p[1]), ts.download(p[0]), abs, rel);

  Deno.test("cuda: device info and memory transfer ops", () => {
    assert.ok(cu.device.length > 0);
    const data = rand(1001);
    const p = pair(data);
    close("upload/download", cu.download(p[1]), data, 0, 0);
    close("partial download", cu.download(p[1], 17, 100), data.slice(17, 117), 0, 0);
    cu.upload(p[1], [1, 2, 3], 500);
    ts.upload(p[0], [1, 2, 3], 500);
    check("upload at offset", p, 0, 0);
    cu.fill(p[1], -2.5);
    ts.fill(p[0], -2.5);
    check("fill", p, 0, 0);
    const q = pair(rand(1001));
    for (const [so, doff, n] of [[0, 0, 1001], [3, 10, 400], [999, 0, 2]]) {
      cu.copy(q[1], so, p[1], doff, n);
      ts.copy(q[0], so, p[0], doff, n);
      check(`copy ${so}->${doff} x${n}`, p, 0, 0);
    }
    // overlapping ranges in one buffer behave like memmove
    cu.copy(q[1], 0, q[1], 5, 900);
    ts.copy(q[0], 0, q[0], 5, 900);
    check("overlapping copy forward", q, 0, 0);
    cu.copy(q[1], 7, q[1], 2, 900);
    ts.copy(q[0], 7, q[0], 2, 900);
    check("overlapping copy backward", q, 0, 0);
    const z = cu.alloc(33, "float32");
    close("alloc is zero-filled", cu.download(z), new Float32Array(33), 0, 0);
    cu.free(z);
    freeAll(p, q);
  });

  Deno.test("cuda: the C side checks buffers, op codes and sizes", () => {
    const lib = openLibrary("cuda");
    const s = lib.symbols;
    const b = cu.alloc(10, "float32") as unknown as { ptr: Deno.PointerObject };
    assert.equal(s.sl_fill(b.ptr, 11n, 1), SL_ERR_ARG);
    assert.match(lib.lastError(), /needs 11 elements, buffer has 10/);
    assert.equal(s.sl_unary(99, b.ptr, b.ptr, 10n, 0), SL_ERR_ARG);
    assert.match(lib.lastError(), /unknown op code 99/);
    assert.equal(s.sl_gemm(0, 0, -1n, 2n, 2n, 1, b.ptr, 0n, b.ptr, 0n, 0, b.ptr, 0n), SL_ERR_ARG);
    assert.match(lib.lastError(), /sizes must be >= 0/);
    const host = new Float32Array(4);
    assert.equal(s.sl_upload(Deno.UnsafePointer.create(16n), 0n, host, 4n), SL_ERR_ARG);
    assert.match(lib.lastError(), /not a live buffer/);
    cu.free(b as unknown as Buf);
    // out of memory names the request and what is free
    assert.throws(() => cu.alloc(2 ** 40, "float32"), /out of memory: asked for \d+ bytes.*free/);
  });

  Deno.test("cuda: gemm parity, all transposes, odd shapes, both tiles, split-K, offsets", () => {
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [7, 5, 3],
      [33, 65, 17],
      [130, 129, 31],
      [64, 64, 64],
      [37, 45, 20000], // tall-skinny: split-K
      [96, 100, 3001], // split-K with a ragged last chunk
      [1031, 2055, 19], // enough 128-tiles for the big kernel
      [1028, 2052, 20], // big kernel, 16-byte vector loads (leading dimensions divisible by 4)
      [132, 68, 200], // small kernel, vector loads, ragged tiles
    ];
    for (const [m, n, k] of shapes) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          for (const [aOff, bOff, cOff, beta] of [[0, 0, 0, 0], [3, 1, 2, 0.7]]) {
            const A = pair(rand(aOff + m * k));
            const B = pair(rand(bOff + k * n));
            const c0 = rand(cOff + m * n);
            if (beta === 0) c0.fill(NaN, cOff); // beta = 0 must ignore C, NaN included
            const C = pair(c0);
            const alpha = 1.5;
            ts.gemm(ta, tb, m, n, k, alpha, A[0], aOff, B[0], bOff, beta, C[0], cOff);
            cu.gemm(ta, tb, m, n, k, alpha, A[1], aOff, B[1], bOff, beta, C[1], cOff);
            check(
              `gemm ta=${ta} tb=${tb} ${m}x${n}x${k} off=${aOff},${bOff},${cOff} beta=${beta}`,
              C,
              1e-5 + 4e-7 * k * alpha,
              1e-5,
            );
            freeAll(A, B, C);
          }
        }
      }
    }
    // k = 0: C = beta C
    const C = pair(rand(12));
    const A = pair(rand(1));
    ts.gemm(false, false, 3, 4, 0, 1, A[0], 0, A[0], 0, 0.5, C[0], 0);
    cu.gemm(false, false, 3, 4, 0, 1, A[1], 0, A[1], 0, 0.5, C[1], 0);
    check("gemm k=0", C, 0, 0);
    freeAll(A, C);
  });

  Deno.test("cuda: swapAxes01 parity", () => {
    for (const [d0, d1, inner] of [[3, 5, 7], [37, 41, 1], [1, 9, 4], [129, 33, 1], [5, 2, 36]]) {
      const x = pair(rand(d0 * d1 * inner));
      const o = zeros(d0 * d1 * inner);
      ts.swapAxes01(x[0], d0, d1, inner, o[0]);
      cu.swapAxes01(x[1], d0, d1, inner, o[1]);
      check(`swapAxes01 ${d0}x${d1}x${inner}`, o, 0, 0);
      freeAll(x, o);
    }
  });

  const windows: Window2d[] = [
    { n: 2, c: 3, h: 7, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
    { n: 3, c: 2, h: 8, w: 6, kh: 3, kw: 2, sh: 2, sw: 1, ph: 0, pw: 1 },
    { n: 1, c: 4, h: 11, w: 10, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2 },
    { n: 2, c: 3, h: 9, w: 7, kh: 1, kw: 1, sh: 2, sw: 2, ph: 0, pw: 0 },
    { n: 2, c: 2, h: 10, w: 11, kh: 2, kw: 2, sh: 3, sw: 3, ph: 0, pw: 0 },
    { n: 2, c: 5, h: 5, w: 5, kh: 2, kw: 2, sh: 2, sw: 2, ph: 1, pw: 1 },
    { n: 3, c: 2, h: 13, w: 13, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
  ];
  const wname = (g: Window2d) =>
    `${g.n}x${g.c}x${g.h}x${g.w} k${g.kh}x${g.kw} s${g.sh}x${g.sw} p${g.ph}x${g.pw}`;

  Deno.test("cuda: im2col and col2im parity (strides, paddings)", () => {
    for (const g of windows) {
      const oh = outSize(g.h, g.kh, g.sh, g.ph);
      const ow = outSize(g.w, g.kw, g.sw, g.pw);
      const colN = g.c * g.kh * g.kw * g.n * oh * ow;
      const x = pair(rand(g.n * g.c * g.h * g.w));
      const col = zeros(colN);
      ts.im2col(x[0], g, col[0]);
      cu.im2col(x[1], g, col[1]);
      check(`im2col ${wname(g)}`, col, 0, 0);
      const dcol = pair(rand(colN));
      const dx = pair(rand(g.n * g.c * g.h * g.w)); // overwritten, not accumulated
      ts.col2im(dcol[0], g, dx[0]);
      cu.col2im(dcol[1], g, dx[1]);
      check(`col2im ${wname(g)}`, dx, 1e-6, 1e-6);
      freeAll(x, col, dcol, dx);
    }
  });

  Deno.test("cuda: conv2d forward and backward parity (bias or not, dx or not)", () => {
    windows.forEach((g, i) => {
      const f = 2 + (i % 5);
      const oh = outSize(g.h, g.kh, g.sh, g.ph);
      const ow = outSize(g.w, g.kw, g.sw, g.pw);
      const xN = g.n * g.c * g.h * g.w, wN = f * g.c * g.kh * g.kw, yN = g.n * f * oh * ow;
      const withBias = i % 2 === 0, withDx = i % 3 !== 1;
      const x = pair(rand(xN));
      const w = pair(rand(wN));
      const b = pair(rand(f));
      const y = pair(rand(yN)); // overwritten
      ts.conv2dForward(x[0], w[0], withBias ? b[0] : null, g, f, y[0]);
      cu.conv2dForward(x[1], w[1], withBias ? b[1] : null, g, f, y[1]);
      check(`conv2d forward ${wname(g)} f${f}`, y);
      const dy = pair(rand(yN));
      const dw = pair(rand(wN)); // accumulated into
      const db = pair(rand(f)); // accumulated into
      const dx = pair(rand(xN)); // overwritten
      const [bt, bc] = withBias ? db : [null, null];
      ts.conv2dBackward(x[0], w[0], dy[0], g, f, dw[0], bt, withDx ? dx[0] : null);
      cu.conv2dBackward(x[1], w[1], dy[1], g, f, dw[1], bc, withDx ? dx[1] : null);
      check(`conv2d dw ${wname(g)} f${f}`, dw);
      check(`conv2d db ${wname(g)} f${f}`, db);
      check(`conv2d dx ${wname(g)} f${f}`, dx);
      freeAll(x, w, b, y, dy, dw, db, dx);
    });
  });

  Deno.test("cuda: max and average pooling parity, forward and backward (ties)", () => {
    for (const g of windows) {
      const oh = outSize(g.h, g.kh, g.sh, g.ph);
      const ow = outSize(g.w, g.kw, g.sw, g.pw);
      const nin = g.n * g.c * g.h * g.w;
      const nout = g.n * g.c * oh * ow;
      for (const data of [rand(nin), coarse(nin)]) {
        const x = pair(data);
        const y = zeros(nout);
        const arg = zeros(nout);
        ts.maxPoolForward(x[0], g, y[0], arg[0]);
        cu.maxPoolForward(x[1], g, y[1], arg[1]);
        check(`maxpool y ${wname(g)}`, y, 0, 0);
        check(`maxpool argmax ${wname(g)}`, arg, 0, 0);
        const dy = pair(rand(nout));
        const dx = pair(rand(nin));
        ts.maxPoolBackward(dy[0], arg[0], g, dx[0]);
        cu.maxPoolBackward(dy[1], arg[1], g, dx[1]);
        check(`maxpool dx ${wname(g)}`, dx, 1e-6, 1e-6);
        ts.avgPoolForward(x[0], g, y[0]);
        cu.avgPoolForward(x[1], g, y[1]);
        check(`avgpool y ${wname(g)}`, y, 1e-6, 1e-6);
        ts.avgPoolBackward(dy[0], g, dx[0]);
        cu.avgPoolBackward(dy[1], g, dx[1]);
        check(`avgpool dx ${wname(g)}`, dx, 1e-6, 1e-6);
        freeAll(x, y, arg, dy, dx);
      }
    }
  });

  Deno.test("cuda: broadcasting binary ops parity", () => {
    const cases: [number[], number[], number[]][] = [
      [[5, 7], [5, 7], [5, 7]],
      [[3, 4, 5], [1, 1, 1], [3, 4, 5]],
      [[1, 1, 1], [3, 4, 5], [3, 4, 5]],
      [[2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]],
      [[4, 1, 5], [1, 3, 1], [4, 3, 5]],
      [[1, 6], [7, 1], [7, 6]],
      [[2, 3, 1, 5, 1, 2], [2, 1, 4, 1, 3, 2], [2, 3, 4, 5, 3, 2]],
      [[9], [1], [9]],
    ];
    const ops: BinaryOp[] = ["add", "sub", "mul", "div", "max", "min"];
    for (const op of ops) {
      for (const [as, bs, os] of cases) {
        const na = as.reduce((x, y) => x * y, 1);
        const nb = bs.reduce((x, y) => x * y, 1);
        const no = os.reduce((x, y) => x * y, 1);
        const ad = rand(na);
        const bd = rand(nb);
        if (na > 3) ad[2] = NaN; // NaN propagation of max/min follows the reference
        if (nb > 4) bd[3] = NaN;
        const a = pair(ad);
        const b = pair(bd);
        const o = zeros(no);
        ts.binary(op, a[0], as, b[0], bs, o[0], os);
        cu.binary(op, a[1], as, b[1], bs, o[1], os);
        check(`binary ${op} [${as}] [${bs}]`, o, 1e-6, 1e-6);
        freeAll(a, b, o);
      }
    }
    // out aliasing a
    const a = pair(rand(24));
    const b = pair(rand(4));
    ts.binary("mul", a[0], [6, 4], b[0], [1, 4], a[0], [6, 4]);
    cu.binary("mul", a[1], [6, 4], b[1], [1, 4], a[1], [6, 4]);
    check("binary in place", a, 1e-6, 1e-6);
    freeAll(a, b);
  });

  Deno.test("cuda: unary ops and activation derivatives parity", () => {
    const ops: [UnaryOp, number, boolean][] = [
      ["relu", 0, false],
      ["leaky_relu", 0.01, false],
      ["sigmoid", 0, false],
      ["tanh", 0, false],
      ["softplus", 0, false],
      ["exp", 0, false],
      ["log", 0, true],
      ["sqrt", 0, true],
      ["square", 0, false],
      ["abs", 0, false],
      ["neg", 0, false],
      ["sign", 0, false],
      ["scale", -1.75, false],
      ["add_scalar", 0.3, false],
      ["pow", 1.7, true],
      ["reciprocal", 0, true],
    ];
    for (const [op, alpha, positive] of ops) {
      const d = positive ? rand(999, 0.05, 4) : rand(999, -30, 30);
      if (!positive) d[0] = 0;
      const x = pair(d);
      const o = zeros(999);
      ts.unary(op, x[0], o[0], alpha);
      cu.unary(op, x[1], o[1], alpha);
      check(`unary ${op}`, o, 1e-6, 3e-6);
      cu.unary(op, x[1], x[1], alpha); // in place
      close(`unary ${op} in place`, cu.download(x[1]), ts.download(o[0]), 1e-6, 3e-6);
      freeAll(x, o);
    }
    const acts: [ActivationOp, number][] = [
      ["relu", 0],
      ["leaky_relu", 0.01],
      ["sigmoid", 0],
      ["tanh", 0],
      ["softplus", 0],
    ];
    for (const [op, alpha] of acts) {
      const x = pair(rand(777, -6, 6));
      const y = zeros(777);
      ts.unary(op, x[0], y[0], alpha);
      cu.upload(y[1], ts.download(y[0]));
      const dy = pair(rand(777));
      const dx = zeros(777);
      ts.unaryBackward(op, x[0], y[0], dy[0], dx[0], alpha);
      cu.unaryBackward(op, x[1], y[1], dy[1], dx[1], alpha);
      check(`unaryBackward ${op}`, dx, 1e-6, 3e-6);
      freeAll(x, y, dy, dx);
    }
    const a = pair(rand(513));
    const b = pair(rand(513));
    const o = zeros(513);
    ts.axpby(0.3, a[0], -1.2, b[0], o[0]);
    cu.axpby(0.3, a[1], -1.2, b[1], o[1]);
    check("axpby", o, 1e-6, 1e-6);
    freeAll(a, b, o);
  });

  Deno.test("cuda: reductions parity (every axis subset, both kernels, NaN in max)", () => {
    const shapes = [[5, 7, 9], [3, 1, 4, 2], [200, 300], [2000, 70], [40, 3000], [4, 6, 1, 5, 3]];
    const ops: ReduceOp[] = ["sum", "mean", "max"];
    for (const shape of shapes) {
      const total = shape.reduce((x, y) => x * y, 1);
      const x = pair(rand(total));
      for (let mask = 1; mask < 1 << shape.length; mask++) {
        const axes = shape.map((_, i) => i).filter((i) => (mask >> i) & 1);
        const outN = shape.reduce((acc, s, i) => ((mask >> i) & 1 ? acc : acc * s), 1);
        for (const op of ops) {
          const o = zeros(outN);
          ts.reduce(op, x[0], shape, axes, o[0]);
          cu.reduce(op, x[1], shape, axes, o[1]);
          check(`reduce ${op} [${shape}] axes [${axes}]`, o, 1e-5, 1e-5);
          freeAll(o);
        }
      }
      freeAll(x);
    }
    const d = rand(60);
    d[17] = NaN;
    const x = pair(d);
    const o = zeros(6);
    ts.reduce("max", x[0], [6, 10], [1], o[0]);
    cu.reduce("max", x[1], [6, 10], [1], o[1]);
    check("reduce max with NaN", o, 0, 0);
    freeAll(x, o);
  });

  Deno.test("cuda: argmax parity (first maximum wins)", () => {
    for (const [rows, cols] of [[17, 45], [3, 1000], [70, 1], [5, 33]]) {
      for (const data of [rand(rows * cols), coarse(rows * cols, 3)]) {
        const x = pair(data);
        const o = zeros(rows);
        ts.argmax(x[0], rows, cols, o[0]);
        cu.argmax(x[1], rows, cols, o[1]);
        check(`argmax ${rows}x${cols}`, o, 0, 0);
        freeAll(x, o);
      }
    }
  });

  Deno.test("cuda: softmax cross-entropy parity and label errors", () => {
    for (const [n, k] of [[13, 10], [7, 100], [33, 1], [4, 37]]) {
      const logits = pair(rand(n * k, -20, 20));
      const lab = new Float32Array(n);
      for (let i = 0; i < n; i++) lab[i] = rng.int(k);
      const labels = pair(lab);
      const probs = zeros(n * k);
      const losses = zeros(n);
      ts.softmaxCrossEntropy(logits[0], labels[0], n, k, probs[0], losses[0]);
      cu.softmaxCrossEntropy(logits[1], labels[1], n, k, probs[1], losses[1]);
      check(`softmax probs ${n}x${k}`, probs, 1e-6, 1e-5);
      check(`softmax losses ${n}x${k}`, losses, 1e-5, 1e-5);
      const d = zeros(n * k);
      ts.softmaxCrossEntropyBackward(probs[0], labels[0], n, k, 1 / n, d[0]);
      cu.softmaxCrossEntropyBackward(probs[1], labels[1], n, k, 1 / n, d[1]);
      check(`softmax backward ${n}x${k}`, d, 1e-6, 1e-5);
      freeAll(logits, labels, probs, losses, d);
    }
    const logits = pair(rand(30));
    const labels = pair([1, 2, 10]);
    const probs = zeros(30);
    const losses = zeros(3);
    assert.throws(
      () => cu.softmaxCrossEntropy(logits[1], labels[1], 3, 10, probs[1], losses[1]),
      /label 10 of sample 2 outside \[0, 10\)/,
    );
    // the error state is reset: the next valid call succeeds
    cu.upload(labels[1], [1, 2, 9]);
    cu.softmaxCrossEntropy(logits[1], labels[1], 3, 10, probs[1], losses[1]);
    freeAll(logits, labels, probs, losses);
  });

  Deno.test("cuda: batch norm parity (train, eval, backward)", () => {
    for (const [outer, c, inner] of [[5, 3, 7], [16, 11, 1], [4, 2, 300], [1, 3, 1], [32, 4, 49]]) {
      const total = outer * c * inner;
      const x = pair(rand(total, -3, 5));
      const gamma = pair(rand(c, 0.5, 1.5));
      const beta = pair(rand(c));
      const rm = pair(rand(c));
      const rv = pair(rand(c, 0.5, 2));
      const y = zeros(total);
      const mean = zeros(c);
      const istd = zeros(c);
      const name = `${outer}x${c}x${inner}`;
      for (const b of [ts, cu]) {
        const i = b === ts ? 0 : 1;
        b.batchNormForward(
          x[i],
          outer,
          c,
          inner,
          gamma[i],
          beta[i],
          rm[i],
          rv[i],
          true,
          0.1,
          1e-5,
          y[i],
          mean[i],
          istd[i],
        );
      }
      check(`bn train y ${name}`, y, 2e-5, 2e-5);
      check(`bn mean ${name}`, mean, 1e-6, 1e-6);
      check(`bn invStd ${name}`, istd, 1e-5, 1e-5);
      check(`bn running mean ${name}`, rm, 1e-6, 1e-6);
      check(`bn running var ${name}`, rv, 1e-5, 1e-5);
      const dy = pair(rand(total));
      const dx = zeros(total);
      const dg = zeros(c);
      const db = zeros(c);
      ts.batchNormBackward(
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
      cu.batchNormBackward(
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
      check(`bn dx ${name}`, dx, 2e-5, 2e-5);
      check(`bn dgamma ${name}`, dg, 1e-5, 1e-5);
      check(`bn dbeta ${name}`, db, 1e-5, 1e-5);
      for (const b of [ts, cu]) {
        const i = b === ts ? 0 : 1;
        b.batchNormForward(
          x[i],
          outer,
          c,
          inner,
          gamma[i],
          beta[i],
          rm[i],
          rv[i],
          false,
          0.1,
          1e-5,
          y[i],
          mean[i],
          istd[i],
        );
      }
      check(`bn eval y ${name}`, y, 2e-5, 2e-5);
      freeAll(x, gamma, beta, rm, rv, y, mean, istd, dy, dx, dg, db);
    }
  });

  Deno.test("cuda: dropout masks are bit-identical to the reference generator", () => {
    for (const [outer, c, inner] of [[3, 5, 7], [8, 16, 1], [2, 3, 100]]) {
      for (const p of [0.5, 0.25, 0, 0.8, 0.45]) {
        for (const perChannel of [false, true]) {
          for (const counter of [0, 12345, 2 ** 40 + 7]) {
            const n = outer * c * inner;
            const o = zeros(n);
            ts.dropoutMask(o[0], outer, c, inner, p, perChannel, 77, 3, counter);
            cu.dropoutMask(o[1], outer, c, inner, p, perChannel, 77, 3, counter);
            check(`dropout p=${p} perChannel=${perChannel} counter=${counter}`, o, 0, 0);
            freeAll(o);
          }
        }
      }
    }
  });

  Deno.test("cuda: top-k masks parity (ties, k = 0 and k = cols, wide rows)", () => {
    for (
      const [rows, cols, k] of [[6, 37, 5], [4, 20, 0], [3, 9, 9], [5, 50, 12], [2, 13000, 40]]
    ) {
      for (const data of [rand(rows * cols), coarse(rows * cols, 4)]) {
        const x = pair(data);
        const o = zeros(rows * cols);
        ts.topkMask(x[0], rows, cols, k, o[0]);
        cu.topkMask(x[1], rows, cols, k, o[1]);
        check(`topk ${rows}x${cols} k=${k}`, o, 0, 0);
        freeAll(x, o);
      }
    }
  });

  Deno.test("cuda: optimizer updates parity over several steps", () => {
    const rules: UpdateRule[] = [
      { kind: "sgd", lr: 0.1, weightDecay: 0.01 },
      { kind: "momentum", lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0.001 },
      { kind: "momentum", lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0 },
      {
        kind: "adam",
        lr: 0.001,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 1,
        weightDecay: 0.01,
        decoupled: false,
      },
      {
        kind: "adam",
        lr: 0.001,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 1,
        weightDecay: 0.05,
        decoupled: true,
      },
    ];
    for (const rule of rules) {
      const n = 1003;
      const p = pair(rand(n));
      const s0 = zeros(n);
      const s1 = zeros(n);
      for (let step = 1; step <= 3; step++) {
        const g = pair(rand(n));
        const r = rule.kind === "adam" ? { ...rule, step } : rule;
        ts.update(r, p[0], g[0], [s0[0], s1[0]]);
        cu.update(r, p[1], g[1], [s0[1], s1[1]]);
        freeAll(g);
      }
      const name = `${rule.kind}${"nesterov" in rule && rule.nesterov ? " nesterov" : ""}${
        "decoupled" in rule && rule.decoupled ? "W" : ""
      }`;
      check(`update ${name} param`, p, 1e-6, 1e-5);
      if (rule.kind !== "sgd") check(`update ${name} slot 0`, s0, 1e-6, 1e-5);
      if (rule.kind === "adam") check(`update ${name} slot 1`, s1, 1e-8, 1e-5);
      freeAll(p, s0, s1);
    }
  });

  Deno.test("cuda: memory soak, 5000 alloc/op/free cycles keep memory flat", () => {
    const w = cu.alloc(64 * 96, "float32");
    cu.upload(w, rand(64 * 96));
    const v = cu.alloc(64 * 96, "float32");
    let after100 = -1;
    for (let it = 0; it < 5000; it++) {
      const x = cu.alloc(32 * 96, "float32");
      cu.fill(x, 0.01 * (it % 7));
      const y = cu.alloc(32 * 64, "float32");
      cu.gemm(false, true, 32, 64, 96, 1, x, 0, w, 0, 0, y, 0);
      const z = cu.alloc(64, "float32");
      cu.reduce("sum", y, [32, 64], [0], z);
      const g = cu.alloc(64 * 96, "float32");
      cu.gemm(true, false, 64, 96, 32, 1, y, 0, x, 0, 0, g, 0);
      cu.update(
        { kind: "momentum", lr: 1e-4, momentum: 0.9, nesterov: false, weightDecay: 0 },
        w,
        g,
        [v],
      );
      for (const b of [x, y, z, g]) cu.free(b);
      if (it === 100) after100 = cu.memoryInUse();
    }
    cu.synchronize();
    const end = cu.memoryInUse();
    assert.ok(after100 > 0);
    assert.equal(end, after100, `memory in use grew from ${after100} to ${end} bytes`);
    const final = cu.download(w);
    assert.ok(final.every(Number.isFinite), "weights stay finite");
    cu.free(w);
    cu.free(v);
  });
}
