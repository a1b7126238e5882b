/**
 * The one op-conformance suite: every op of the `Backend` interface against the `ts` reference
 * on random data and odd shapes (prime and non-vector-width sizes, strides 1 to 3, paddings 0
 * to 2, every GEMM transpose, broadcasting patterns, ties and NaN), parametrised by backend
 * and tolerance. Registered for:
 *
 * - `cpu`, the native host build (also forcing each convolution method through
 *   SHIFTLAB_CONV_ALGO = winograd | im2col, on batch sizes that reach every threading mode;
 *   a forward without a column cache, which reads its windows in place, must give the bits of
 *   the forward through one);
 * - `cuda`, when a device answers; otherwise one visible skip line;
 * - `compositions`, the `ts` primitives with the default compositions of the fused ops
 *   (`backends/compose.ts`): what a new backend computes before it overrides anything.
 *
 * It also pins the precision policy of the optimizer state on every backend (see
 * {@link precisionPolicyTest}).
 *
 * Native outputs that an op overwrites in full are allocated without a zero fill and with
 * SHIFTLAB_POISON_EMPTY set, so they start as NaN: an op that read one would fail.
 *
 * Without a GPU, the CUDA kernels' logic can be checked against a CPU emulation of the CUDA
 * runtime (slow: every CUDA thread is an OS thread): `bash bench/cuda_ref/emu/build.sh`, then
 * `SHIFTLAB_LIB_CUDA=build/libshiftlab_cuda_emu.so SHIFTLAB_CONFORMANCE_QUICK=1 deno test -A
 * tests/conformance.test.ts --filter "cuda:"` (QUICK leaves out the large, threaded-size cases).
 *
 * @module
 */
import assert from "node:assert/strict";
import type {
  ActivationOp,
  Backend,
  BinaryOp,
  Buf,
  ReduceOp,
  UnaryOp,
  UpdateRule,
  Window2d,
} from "../src/backend.ts";
import { windowOut } from "../src/backend.ts";
import { withDefaultCompositions } from "../src/backends/compose.ts";
import { NativeBackend } from "../src/backends/native.ts";
import { tsBackend } from "../src/backends/ts.ts";
import { openLibrary, resolveLibrary } from "../ffi/library.ts";
import { cpu, dataSource } from "./native_helpers.ts";

// ------------------------------------------------------------------------------- targets

/** How close a result must be: `|got - want| <= abs + rel (|want| + (scaled ? mean|want| : 0))`. */
interface Tolerance {
  abs: number;
  rel: number;
  /** Judge values that cancel to near zero against the mean magnitude of the result. */
  scaled: boolean;
}

/** The comparisons the suite makes, each with its tolerance per target. */
type Kind =
  | "gemm"
  | "col2im"
  | "conv"
  | "poolGrad"
  | "avgPool"
  | "binary"
  | "div"
  | "unary"
  | "activation"
  | "axpby"
  | "reduce"
  | "softmaxProbs"
  | "softmaxLosses"
  | "softmaxGrad"
  | "bnY"
  | "bnMean"
  | "bnInvStd"
  | "bnRunningMean"
  | "bnRunningVar"
  | "bnGrad"
  | "updateParam"
  | "updateState"
  | "updateSecondMoment";

/** A backend under test. */
interface Target {
  name: string;
  backend: Backend;
  /** Tolerance of a comparison; `k` is the GEMM's inner size. */
  tol(kind: Kind, k?: number): Tolerance;
  /** Only the fused ops (the primitives are the reference's own). */
  fusedOnly?: boolean;
  /** A native library: C-side argument errors, conv algorithm forcing (cpu), poisoned outputs. */
  native?: boolean;
  /** Runs each convolution with SHIFTLAB_CONV_ALGO unset, =winograd and =im2col. */
  convAlgos?: boolean;
}

const EXACT: Tolerance = { abs: 0, rel: 0, scaled: false };
const scaled = (rel: number): Tolerance => ({ abs: 0, rel, scaled: true });
const plain = (abs: number, rel: number): Tolerance => ({ abs, rel, scaled: false });

/** The cpu build: every accumulation the reference does in double is done in double. */
const CPU_TOL: Record<Kind, Tolerance> = {
  gemm: scaled(1e-5),
  col2im: scaled(2e-6),
  conv: scaled(1e-5),
  poolGrad: scaled(2e-6),
  avgPool: scaled(2e-6),
  binary: EXACT,
  div: scaled(1e-6),
  unary: scaled(1e-6),
  activation: scaled(1e-6),
  axpby: scaled(1e-6),
  reduce: scaled(1e-6),
  softmaxProbs: scaled(1e-6),
  softmaxLosses: scaled(1e-6),
  softmaxGrad: scaled(1e-6),
  bnY: scaled(1e-5),
  bnMean: scaled(1e-6),
  bnInvStd: scaled(1e-6),
  bnRunningMean: scaled(1e-6),
  bnRunningVar: scaled(1e-6),
  bnGrad: scaled(1e-5),
  updateParam: scaled(1e-6),
  updateState: scaled(1e-6),
  updateSecondMoment: scaled(1e-6),
};

/** The CUDA build: float accumulation in GEMM tiles and some kernels. */
const CUDA_TOL: Record<Kind, Tolerance> = {
  gemm: plain(1e-5, 1e-5), // plus 4e-7 k (the tile sums run in float)
  col2im: plain(1e-6, 1e-6),
  conv: plain(1e-5, 1e-5),
  poolGrad: plain(1e-6, 1e-6),
  avgPool: plain(1e-6, 1e-6),
  binary: plain(1e-6, 1e-6),
  div: plain(1e-6, 1e-6),
  unary: plain(1e-6, 3e-6),
  activation: plain(1e-6, 3e-6),
  axpby: plain(1e-6, 1e-6),
  reduce: plain(1e-5, 1e-5),
  softmaxProbs: plain(1e-6, 1e-5),
  softmaxLosses: plain(1e-5, 1e-5),
  softmaxGrad: plain(1e-6, 1e-5),
  bnY: plain(2e-5, 2e-5),
  bnMean: plain(1e-6, 1e-6),
  bnInvStd: plain(1e-5, 1e-5),
  bnRunningMean: plain(1e-6, 1e-6),
  bnRunningVar: plain(1e-5, 1e-5),
  bnGrad: plain(2e-5, 2e-5),
  updateParam: plain(1e-6, 1e-5),
  updateState: plain(1e-6, 1e-5),
  updateSecondMoment: plain(1e-8, 1e-5),
};

/**
 * The default compositions, in float32 on float32 intermediates where the reference
 * accumulates in double (measured: at most 9e-7 of the result's scale).
 */
const COMPOSED_TOL: Partial<Record<Kind, Tolerance>> = {
  conv: EXACT, // the ts backend's own convolution is this composition
  poolGrad: scaled(2e-6),
  avgPool: scaled(2e-6),
  softmaxProbs: scaled(2e-6),
  softmaxLosses: scaled(2e-6),
  softmaxGrad: scaled(2e-6),
  bnY: scaled(2e-6),
  bnMean: scaled(2e-6),
  bnInvStd: scaled(2e-6),
  bnRunningMean: scaled(2e-6),
  bnRunningVar: scaled(2e-6),
  bnGrad: scaled(2e-6),
};

/** The reference every target is compared with. */
const ref: Backend = tsBackend;

/** Large cases (threaded sizes) are left out when SHIFTLAB_CONFORMANCE_QUICK is set. */
const QUICK = !!Deno.env.get("SHIFTLAB_CONFORMANCE_QUICK");

function cudaTarget(): Target | string {
  const r = resolveLibrary("cuda");
  if (!r.exists) return `${r.path} not built (no nvcc?)`;
  const lib = openLibrary("cuda");
  if (lib.symbols.sl_init() !== 0) return lib.lastError();
  return {
    name: "cuda",
    backend: new NativeBackend(lib, "cuda"),
    tol: (kind, k = 0) => {
      const t = CUDA_TOL[kind];
      return kind === "gemm" ? { ...t, abs: t.abs + 4e-7 * k } : t;
    },
    native: true,
  };
}

const TARGETS: (Target | { name: string; skip: string })[] = [
  { name: "cpu", backend: cpu, tol: (kind) => CPU_TOL[kind], native: true, convAlgos: true },
  (() => {
    const t = cudaTarget();
    return typeof t === "string" ? { name: "cuda", skip: t } : t;
  })(),
  {
    name: "compositions",
    backend: withDefaultCompositions(tsBackend),
    tol: (kind) => COMPOSED_TOL[kind] ?? EXACT,
    fusedOnly: true,
  },
];

// ------------------------------------------------------------------------------- data

function geom(g: Window2d): string {
  return `n${g.n} c${g.c} ${g.h}x${g.w} k${g.kh}x${g.kw} s${g.sh}x${g.sw} p${g.ph}x${g.pw}`;
}

function compare(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  t: Tolerance,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  if (t.scaled) {
    for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i])) scale += Math.abs(want[i]);
    scale = want.length > 0 ? scale / want.length : 0;
  }
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (g === w) continue;
    const tol = t.abs + t.rel * (Math.abs(w) + scale);
    if (!(Math.abs(g - w) <= tol)) {
      assert.fail(`${what}[${i}]: got ${g}, want ${w} (|diff| ${Math.abs(g - w)} > ${tol})`);
    }
  }
}

// ------------------------------------------------------------------------------- suite

/** Registers every test of the suite for one target. */
function register(target: Target): void {
  const be = target.backend;
  const { name } = target;
  const test = (title: string, fn: () => void) => Deno.test(`${name}: ${title}`, fn);
  const primitive = (title: string, fn: () => void) => {
    if (!target.fusedOnly) test(title, fn);
  };

  /** A pair of buffers holding the same data: [reference, target]. */
  type Pair = [Buf, Buf];
  const pair = (data: ArrayLike<number>): Pair => {
    const a = ref.alloc(data.length, "float32");
    ref.upload(a, data);
    const b = be.alloc(data.length, "float32");
    be.upload(b, data);
    return [a, b];
  };
  /** Output buffers: unspecified contents (NaN on a native target: see the module doc). */
  const out = (n: number): Pair => [ref.alloc(n, "float32"), be.alloc(n, "float32", false)];
  const free = (...ps: Pair[]) => {
    for (const [a, b] of ps) {
      ref.free(a);
      be.free(b);
    }
  };
  const check = (what: string, p: Pair, t: Tolerance) =>
    compare(`${name} ${what}`, be.download(p[1]), ref.download(p[0]), t);
  /** Floats after a guarded output, and the value they hold. */
  const GUARD = 40, SENTINEL = 7777.25;
  /** An output of n floats whose target buffer has GUARD sentinel floats after them. */
  const guardedOut = (n: number): Pair => {
    const b = be.alloc(n + GUARD, "float32", false);
    be.upload(b, new Float32Array(n + GUARD).fill(SENTINEL));
    return [ref.alloc(n, "float32"), b];
  };
  /** check() on the first n floats, and that the target wrote nothing past them. */
  const checkGuarded = (what: string, p: Pair, n: number, t: Tolerance) => {
    const got = be.download(p[1]);
    const past = got.subarray(n).findIndex((v) => v !== SENTINEL);
    assert.equal(past, -1, `${name} ${what}: wrote float ${n + past}, past the output's ${n}`);
    compare(`${name} ${what}`, got.subarray(0, n), ref.download(p[0]), t);
  };
  /** Runs `fn` with the outputs of fresh allocations poisoned (native targets). */
  const poisoned = (fn: () => void) => () => {
    if (!target.native) return fn();
    Deno.env.set("SHIFTLAB_POISON_EMPTY", "1");
    try {
      fn();
    } finally {
      Deno.env.delete("SHIFTLAB_POISON_EMPTY");
    }
  };
  const ptest = (title: string, fn: () => void) => test(title, poisoned(fn));
  const pprimitive = (title: string, fn: () => void) => primitive(title, poisoned(fn));

  // ---- memory

  primitive("memory: zero-filled alloc, upload/download at offsets, fill, copy", () => {
    const d = dataSource(1);
    const b = be.alloc(37, "float32");
    assert.deepEqual([...be.download(b)], new Array(37).fill(0));
    const data = d.rand(37);
    be.upload(b, data);
    assert.deepEqual([...be.download(b)], [...data]);
    be.upload(b, [5, 6, 7], 30);
    assert.deepEqual([...be.download(b, 29, 5)], [data[29], 5, 6, 7, data[33]]);
    be.fill(b, -2.5);
    assert.ok(be.download(b).every((v) => v === -2.5));
    const c = be.alloc(20, "float32");
    be.upload(c, d.rand(20));
    be.copy(c, 3, b, 10, 11);
    const got = be.download(b), src = be.download(c);
    for (let i = 0; i < 37; i++) {
      assert.equal(got[i], i >= 10 && i < 21 ? src[i - 7] : -2.5, `copy at ${i}`);
    }
    // overlapping ranges in one buffer behave like memmove, both ways
    const q = be.alloc(1001, "float32"), host = d.rand(1001);
    be.upload(q, host);
    be.copy(q, 0, q, 5, 900);
    const fwd = host.slice();
    fwd.copyWithin(5, 0, 900);
    assert.deepEqual([...be.download(q)], [...fwd]);
    be.copy(q, 7, q, 2, 900);
    fwd.copyWithin(2, 7, 907);
    assert.deepEqual([...be.download(q)], [...fwd]);
    // float64 host data is converted; a subarray view uploads the right elements
    be.upload(c, new Float64Array([1.25, -3.5]), 18);
    assert.deepEqual([...be.download(c, 18, 2)], [1.25, -3.5]);
    const wide = new Float32Array(64).map((_, i) => i + 0.5);
    be.upload(b, wide.subarray(13, 13 + 20), 4);
    assert.deepEqual([...be.download(b, 4, 20)], [...wide.subarray(13, 33)]);
    const offView = new Float32Array(new ArrayBuffer(400), 28, 10);
    offView.set(d.rand(10));
    be.upload(b, offView);
    assert.deepEqual([...be.download(b, 0, 10)], [...offView]);
    for (const x of [b, c, q]) be.free(x);
    be.free(c); // idempotent
    assert.equal(b.disposed, true);
  });

  // ---- gemm

  pprimitive(
    "gemm: every transpose, odd and prime shapes, tiles, split-K, alpha/beta, offsets",
    () => {
      const d = dataSource(10);
      const shapes: [number, number, number, boolean][] = [
        [1, 1, 1, false],
        [7, 13, 5, false],
        [7, 5, 3, false],
        [17, 31, 37, false],
        [6, 16, 64, false],
        [33, 65, 17, false],
        [64, 64, 64, false],
        [97, 61, 131, false],
        [130, 129, 31, false],
        [130, 257, 19, false],
        [132, 68, 200, false], // vector loads, ragged tiles
        [37, 45, 20000, false], // tall-skinny: split-K
        [96, 100, 3001, false], // split-K with a ragged last chunk
        [200, 150, 513, true], // several k- and m-blocks, threaded
        [5, 4100, 3, true], // more columns than one n-block
        [1031, 2055, 19, false], // enough 128-tiles for the big kernel
        [1028, 2052, 20, false], // big kernel, 16-byte vector loads
      ];
      // [alpha, beta, aOff, bOff, cOff]
      const params = [[1, 0, 0, 0, 0], [0.75, -1.5, 3, 5, 2], [1.5, 0.7, 3, 1, 2]];
      for (const [m, n, k, big] of shapes) {
        if (big && QUICK) continue;
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            for (const [alpha, beta, aOff, bOff, cOff] of params) {
              const a = pair(d.rand(aOff + m * k)), b = pair(d.rand(bOff + k * n));
              const c0 = d.rand(cOff + m * n + 4);
              if (beta === 0) c0.fill(NaN, cOff, cOff + m * n); // beta 0 ignores old C, NaN too
              const c = pair(c0);
              ref.gemm(ta, tb, m, n, k, alpha, a[0], aOff, b[0], bOff, beta, c[0], cOff);
              be.gemm(ta, tb, m, n, k, alpha, a[1], aOff, b[1], bOff, beta, c[1], cOff);
              const what = `gemm ${m}x${n}x${k} ta=${ta} tb=${tb} alpha=${alpha} beta=${beta}`;
              check(what, c, target.tol("gemm", k * Math.abs(alpha)));
              free(a, b, c);
            }
          }
        }
      }
      // k = 0: C = beta C; alpha = 0 with beta = 0: zeros
      const c = pair(d.rand(12)), a = pair(d.rand(4));
      ref.gemm(false, false, 3, 4, 0, 1, a[0], 0, a[0], 0, 0.5, c[0], 0);
      be.gemm(false, false, 3, 4, 0, 1, a[1], 0, a[1], 0, 0.5, c[1], 0);
      check("gemm k=0", c, EXACT);
      be.gemm(false, false, 3, 4, 1, 0, a[1], 0, a[1], 0, 0, c[1], 0);
      assert.ok(be.download(c[1]).every((v) => v === 0));
      free(a, c);
    },
  );

  // ---- convolution helpers and the convolution

  const windows: Window2d[] = [
    { n: 2, c: 3, h: 7, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
    { n: 2, c: 3, h: 7, w: 9, kh: 3, kw: 3, sh: 2, sw: 2, ph: 0, pw: 0 },
    { n: 3, c: 2, h: 11, w: 13, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
    { n: 3, c: 2, h: 8, w: 6, kh: 3, kw: 2, sh: 2, sw: 1, ph: 0, pw: 1 },
    { n: 1, c: 5, h: 6, w: 6, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
    { n: 2, c: 3, h: 9, w: 7, kh: 1, kw: 1, sh: 2, sw: 2, ph: 0, pw: 0 },
    { n: 2, c: 2, h: 11, w: 11, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2 },
    { n: 1, c: 4, h: 11, w: 10, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2 },
    { n: 2, c: 3, h: 8, w: 10, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 },
    { n: 2, c: 2, h: 10, w: 11, kh: 2, kw: 2, sh: 3, sw: 3, ph: 0, pw: 0 },
    { n: 2, c: 5, h: 5, w: 5, kh: 2, kw: 2, sh: 2, sw: 2, ph: 1, pw: 1 },
    { n: 1, c: 4, h: 9, w: 7, kh: 2, kw: 3, sh: 1, sw: 2, ph: 1, pw: 0 },
    { n: 3, c: 2, h: 13, w: 13, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
    { n: 32, c: 3, h: 17, w: 17, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, // threaded
    // stride 2 over rows long enough for the 8-wide stride-2 gather / scatter, and their tails
    { n: 2, c: 3, h: 9, w: 41, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
    { n: 2, c: 2, h: 7, w: 40, kh: 2, kw: 3, sh: 2, sw: 2, ph: 0, pw: 1 },
    // phase planes: even and odd paddings at stride 2, padding at stride 3, outputs smaller
    // than one 8-wide row, the quick network's first layer, long stride-1 rows with tails
    { n: 2, c: 2, h: 9, w: 10, kh: 3, kw: 3, sh: 2, sw: 2, ph: 2, pw: 2 },
    { n: 2, c: 3, h: 10, w: 11, kh: 3, kw: 3, sh: 3, sw: 3, ph: 1, pw: 1 },
    { n: 1, c: 2, h: 3, w: 3, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
    { n: 2, c: 3, h: 28, w: 28, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
    { n: 1, c: 2, h: 5, w: 37, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
  ];

  pprimitive("swapAxes01", () => {
    const d = dataSource(20);
    const cases = [[3, 5, 7], [1, 4, 1], [13, 2, 33], [37, 41, 1], [1, 9, 4], [129, 33, 1], [
      5,
      2,
      36,
    ]];
    for (const [d0, d1, inner] of cases) {
      const x = pair(d.rand(d0 * d1 * inner)), o = out(d0 * d1 * inner);
      ref.swapAxes01(x[0], d0, d1, inner, o[0]);
      be.swapAxes01(x[1], d0, d1, inner, o[1]);
      check(`swapAxes01 ${d0}x${d1}x${inner}`, o, EXACT);
      free(x, o);
    }
  });

  pprimitive("im2col and col2im (strides, paddings; col2im overwrites)", () => {
    const d = dataSource(100);
    for (const g of windows) {
      const [oh, ow] = windowOut(g);
      const colN = g.c * g.kh * g.kw * g.n * oh * ow, xN = g.n * g.c * g.h * g.w;
      // the target's outputs are followed by GUARD floats that must come back untouched
      const x = pair(d.rand(xN)), col = guardedOut(colN);
      ref.im2col(x[0], g, col[0]);
      be.im2col(x[1], g, col[1]);
      checkGuarded(`im2col ${geom(g)}`, col, colN, EXACT);
      const dcol = pair(d.rand(colN)), dx = guardedOut(xN);
      ref.col2im(dcol[0], g, dx[0]);
      be.col2im(dcol[1], g, dx[1]);
      checkGuarded(`col2im ${geom(g)}`, dx, xN, target.tol("col2im"));
      free(x, col, dcol, dx);
    }
  });

  /** The cpu library's OpenMP thread count (its device string ends in "N threads"). */
  const threads = Number(/(\d+) threads/.exec(be.device)?.[1] ?? "1");

  /**
   * Besides the windows above, batch sizes that reach each threading mode of the cpu build on
   * any machine: threads over single images (n = 2T + 1), over groups of two with a short last
   * group (n = 4T + 3), and a batch too small to split (n = 3 < 2T: groups in turn, threaded
   * GEMMs; with one thread the serial path); and shapes where Winograd is the library's own
   * choice (odd and even outputs, paddings 0, 1, 2, unequal ph / pw).
   */
  ptest("conv2d forward and backward (bias or not, dx or not, every method)", () => {
    const d = dataSource(500);
    const T = threads;
    const cases: [Window2d, number][] = [
      ...windows.map((g, i): [Window2d, number] => [g, 2 + (i % 5)]),
      ...(QUICK ? [] : [
        [{ n: 2 * T + 1, c: 10, h: 25, w: 25, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 32],
        [{ n: 4 * T + 3, c: 40, h: 9, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 }, 48],
        [{ n: 3, c: 16, h: 31, w: 31, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 32],
        [{ n: 2 * T + 1, c: 24, h: 22, w: 19, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 20],
        [{ n: 2 * T + 1, c: 16, h: 29, w: 27, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 0 }, 32],
        [{ n: 2 * T + 1, c: 33, h: 12, w: 12, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, 40],
        [{ n: 6, c: 16, h: 31, w: 29, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }, 33],
        // too small for threads: the forward in cache-sized groups (9 images), the last short
        [{ n: 23, c: 16, h: 14, w: 14, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }, 8],
        // the forward without columns: threads over images; more than one 256-deep block of
        // window rows with a short last filter panel; windows read past a plane's rows (7x7);
        // weights too many for it at small outputs (the column path by the library's choice)
        [{ n: 4 * T + 3, c: 16, h: 28, w: 28, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }, 32],
        [{ n: 3, c: 40, h: 13, w: 11, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }, 13],
        [{ n: 2, c: 3, h: 12, w: 13, kh: 7, kw: 7, sh: 1, sw: 1, ph: 3, pw: 3 }, 5],
        [{ n: 3, c: 64, h: 6, w: 6, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 }, 120],
      ] as [Window2d, number][]),
    ];
    const algos = target.convAlgos ? ["auto", "winograd", "im2col"] : ["auto"];
    cases.forEach(([g, f], i) => {
      const [oh, ow] = windowOut(g);
      const xN = g.n * g.c * g.h * g.w, wN = f * g.c * g.kh * g.kw, yN = g.n * f * oh * ow;
      const withBias = i % 2 === 0, withDx = i % 3 !== 1;
      const x = pair(d.rand(xN)), w = pair(d.rand(wN, -0.3, 0.3)), b = pair(d.rand(f));
      const dy = pair(d.rand(yN));
      const dw0 = d.rand(wN), db0 = d.rand(f);
      const y = out(yN), dw = pair(dw0), db = pair(db0), dx = out(xN);
      /** Forward then backward on side k of the pairs (through a column cache when given). */
      const run = (on: Backend, k: 0 | 1, cols: Buf | null = null) => {
        on.upload(dw[k], dw0); // accumulated into
        on.upload(db[k], db0); // accumulated into
        on.conv2dForward(x[k], w[k], withBias ? b[k] : null, g, f, y[k], cols);
        on.conv2dBackward(
          x[k],
          w[k],
          dy[k],
          g,
          f,
          dw[k],
          withBias ? db[k] : null,
          withDx ? dx[k] : null,
          cols,
        );
      };
      /** The outputs of side k. */
      const outputs = (on: Backend, k: 0 | 1) =>
        [y, dw, db, ...(withDx ? [dx] : [])].map((p) => on.download(p[k]));
      /** With a column cache where the backend takes one: the same bits as without. */
      const sameThroughCache = (on: Backend, k: 0 | 1, what: string) => {
        const size = on.conv2dColumns(g, f);
        if (size === 0) return;
        const want = outputs(on, k);
        const cols = on.alloc(size, "float32", false);
        try {
          run(on, k, cols);
        } finally {
          on.free(cols);
        }
        outputs(on, k).forEach((got, j) => {
          const at = got.findIndex((v, i) => !Object.is(v, want[j][i]));
          assert.equal(at, -1, `${what} through a column cache: output ${j} differs at ${at}`);
        });
      };
      run(ref, 0);
      sameThroughCache(ref, 0, `${geom(g)} f${f} (reference)`);
      for (const algo of algos) {
        const what = `conv2d ${geom(g)} f${f} (${algo})`;
        if (algo !== "auto") Deno.env.set("SHIFTLAB_CONV_ALGO", algo);
        try {
          run(be, 1);
          sameThroughCache(be, 1, `${name} ${what}`);
          const wino = g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 && g.ph <= 2;
          if (algo === "winograd" && wino && g.pw <= 2) {
            assert.equal(be.conv2dColumns(g, f), 0, `${what}: Winograd builds no columns`);
          }
        } finally {
          Deno.env.delete("SHIFTLAB_CONV_ALGO");
        }
        const t = target.tol("conv");
        check(`${what} forward`, y, t);
        check(`${what} dw`, dw, t);
        check(`${what} db`, db, t);
        if (withDx) check(`${what} dx`, dx, t);
      }
      free(x, w, b, dy, y, dw, db, dx);
    });
  });

  // ---- pooling

  ptest("max and average pooling, forward and backward (ties, padding never wins)", () => {
    const d = dataSource(200);
    for (const g of windows) {
      const [oh, ow] = windowOut(g);
      const yN = g.n * g.c * oh * ow, xN = g.n * g.c * g.h * g.w;
      const tied = d.rand(xN);
      for (let i = 0; i < xN; i += 5) tied[i] = 0.25;
      for (const data of [tied, d.coarse(xN)]) {
        const x = pair(data), y = out(yN), am = out(yN);
        ref.maxPoolForward(x[0], g, y[0], am[0]);
        be.maxPoolForward(x[1], g, y[1], am[1]);
        check(`maxpool y ${geom(g)}`, y, EXACT);
        check(`maxpool argmax ${geom(g)}`, am, EXACT);
        const dy = pair(d.rand(yN)), dx = out(xN);
        ref.maxPoolBackward(dy[0], am[0], g, dx[0]);
        be.maxPoolBackward(dy[1], am[1], g, dx[1]);
        check(`maxpool dx ${geom(g)}`, dx, target.tol("poolGrad"));
        const ay = out(yN), adx = out(xN);
        ref.avgPoolForward(x[0], g, ay[0]);
        be.avgPoolForward(x[1], g, ay[1]);
        check(`avgpool y ${geom(g)}`, ay, target.tol("avgPool"));
        ref.avgPoolBackward(dy[0], g, adx[0]);
        be.avgPoolBackward(dy[1], g, adx[1]);
        check(`avgpool dx ${geom(g)}`, adx, target.tol("avgPool"));
        free(x, y, am, dy, dx, ay, adx);
      }
    }
  });

  // ---- elementwise

  pprimitive("broadcasting binary ops (ties and NaN in max/min; out may alias an operand)", () => {
    const d = dataSource(300);
    const cases: [number[], number[], number[], boolean][] = [
      [[3, 5, 7], [3, 5, 7], [3, 5, 7], false],
      [[5, 7], [5, 7], [5, 7], false],
      [[3, 4, 5], [1, 1, 1], [3, 4, 5], false],
      [[1, 1, 1], [3, 4, 5], [3, 4, 5], false],
      [[2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5], false],
      [[1, 3, 1, 1], [2, 3, 4, 5], [2, 3, 4, 5], false],
      [[4, 1, 5], [1, 3, 1], [4, 3, 5], false],
      [[5, 1], [1, 7], [5, 7], false],
      [[1, 6], [7, 1], [7, 6], false],
      [[2, 1, 4], [2, 3, 1], [2, 3, 4], false],
      [[2, 3, 1, 5, 1, 2], [2, 1, 4, 1, 3, 2], [2, 3, 4, 5, 3, 2], false],
      [[9, 17], [1, 17], [9, 17], false],
      [[13], [1], [13], false],
      [[1], [13], [13], false],
      [[9], [1], [9], false],
      [[1], [1], [1], false],
      [[16, 96, 9, 11], [1, 96, 1, 1], [16, 96, 9, 11], true], // threaded
    ];
    const opsList: BinaryOp[] = ["add", "sub", "mul", "div", "max", "min"];
    for (const op of opsList) {
      for (const [as, bs, os, big] of cases) {
        if (big && QUICK) continue;
        const na = as.reduce((p, q) => p * q, 1), nb = bs.reduce((p, q) => p * q, 1);
        const no = os.reduce((p, q) => p * q, 1);
        for (const withNaN of [false, true]) {
          const ad = d.rand(na);
          const bd = op === "div" ? d.rand(nb, 0.5, 2) : d.rand(nb);
          if (op === "max" || op === "min") {
            for (let i = 0; i < Math.min(na, nb); i += 3) bd[i] = ad[i]; // ties
          }
          if (withNaN) {
            if (na > 3) ad[2] = NaN; // NaN propagation of max/min follows the reference
            if (nb > 4) bd[3] = NaN;
          }
          const a = pair(ad), b = pair(bd), o = out(no);
          ref.binary(op, a[0], as, b[0], bs, o[0], os);
          be.binary(op, a[1], as, b[1], bs, o[1], os);
          check(`${op} [${as}] [${bs}]`, o, target.tol(op === "div" ? "div" : "binary"));
          free(a, b, o);
        }
      }
    }
    const a = pair(d.rand(24)), b = pair(d.rand(6));
    ref.binary("mul", a[0], [4, 6], b[0], [1, 6], a[0], [4, 6]);
    be.binary("mul", a[1], [4, 6], b[1], [1, 6], a[1], [4, 6]);
    check("aliased mul", a, target.tol("binary"));
    free(a, b);
  });

  pprimitive("unary ops (serial and threaded sizes, in place)", () => {
    const d = dataSource(400);
    const cases: [UnaryOp, number, number, number][] = [
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
      ["pow", 0.05, 4, 1.7],
      ["reciprocal", 0.1, 4, 0],
    ];
    const sizes = QUICK ? [7, 999] : [1, 7, 999, 1031, 140009];
    for (const [op, lo, hi, alpha] of cases) {
      for (const n of sizes) {
        const xd = d.rand(n, lo, hi);
        if (lo < 0 && n > 3) xd[2] = 0;
        const x = pair(xd), o = out(n);
        ref.unary(op, x[0], o[0], alpha);
        be.unary(op, x[1], o[1], alpha);
        check(`${op} n=${n}`, o, target.tol("unary"));
        be.unary(op, x[1], x[1], alpha); // in place
        compare(
          `${name} ${op} in place`,
          be.download(x[1]),
          ref.download(o[0]),
          target.tol("unary"),
        );
        free(x, o);
      }
    }
  });

  pprimitive("activation derivatives", () => {
    const d = dataSource(450);
    const acts: ActivationOp[] = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus"];
    const sizes = QUICK ? [13, 777] : [13, 777, 140009];
    for (const op of acts) {
      for (const n of sizes) {
        const alpha = op === "leaky_relu" ? 0.01 : 0;
        const x = pair(d.rand(n, -6, 6)), y = out(n);
        ref.unary(op, x[0], y[0], alpha);
        be.upload(y[1], ref.download(y[0])); // the same y on both sides
        const dy = pair(d.rand(n)), dx = out(n);
        ref.unaryBackward(op, x[0], y[0], dy[0], dx[0], alpha);
        be.unaryBackward(op, x[1], y[1], dy[1], dx[1], alpha);
        check(`${op}' n=${n}`, dx, target.tol("activation"));
        free(x, y, dy, dx);
      }
    }
  });

  pprimitive("axpby (out may alias an operand)", () => {
    const d = dataSource(480);
    for (const n of QUICK ? [17, 513] : [1, 17, 513, 140009]) {
      const a = pair(d.rand(n)), b = pair(d.rand(n)), o = out(n);
      ref.axpby(0.3, a[0], -1.7, b[0], o[0]);
      be.axpby(0.3, a[1], -1.7, b[1], o[1]);
      check(`axpby n=${n}`, o, target.tol("axpby"));
      ref.axpby(1, a[0], 1, b[0], a[0]);
      be.axpby(1, a[1], 1, b[1], a[1]);
      check(`axpby aliased n=${n}`, a, target.tol("axpby"));
      free(a, b, o);
    }
  });

  // ---- reductions and row selections

  pprimitive("reductions over every axis subset (both CUDA kernels, NaN in max)", () => {
    const d = dataSource(600);
    const shapes = [
      [3, 4, 5, 6],
      [7],
      [1, 9, 1, 5],
      [5, 7, 9],
      [3, 1, 4, 2],
      [200, 300],
      [2000, 70],
      [40, 3000],
      [4, 6, 1, 5, 3],
      ...(QUICK ? [] : [[32, 96, 7, 7]]),
    ];
    const opsList: ReduceOp[] = ["sum", "mean", "max"];
    for (const shape of shapes) {
      const total = shape.reduce((p, q) => p * q, 1);
      const x = pair(d.rand(total));
      for (let mask = 0; mask < 1 << shape.length; mask++) {
        const axes = shape.map((_, i) => i).filter((i) => (mask >> i) & 1);
        const outN = shape.reduce((acc, s, i) => ((mask >> i) & 1 ? acc : acc * s), 1);
        for (const op of opsList) {
          const o = out(outN);
          ref.reduce(op, x[0], shape, axes, o[0]);
          be.reduce(op, x[1], shape, axes, o[1]);
          check(`${op} [${shape}] axes [${axes}]`, o, target.tol("reduce"));
          free(o);
        }
      }
      free(x);
    }
    const nanData = d.rand(60);
    nanData[17] = NaN;
    const x = pair(nanData), o = out(6);
    ref.reduce("max", x[0], [6, 10], [1], o[0]);
    be.reduce("max", x[1], [6, 10], [1], o[1]);
    check("max with NaN", o, EXACT);
    free(x, o);
  });

  ptest("scale backward: every sharing, dx optional, the bits of mul, reduce, mul here", () => {
    const d = dataSource(650);
    const cases: [number[], number[]][] = [
      [[32, 16, 14, 14], [1, 16, 14, 14]], // elementwise
      [[32, 16, 14, 14], [1, 16, 1, 1]], // channelwise
      [[32, 16, 14, 14], [1, 1, 1, 1]], // layerwise
      [[48, 16, 14, 14], [1, 16, 1, 1]], // large enough for threads
      [[48, 16, 14, 14], [1, 16, 14, 14]],
      [[40, 30, 2, 60], [40, 1, 2, 1]], // kept axes apart: the general loop, threaded
      [[5, 3, 7], [1, 3, 1]], // fewer than eight channels
      [[7, 300], [1, 300]], // more than one 256-wide chunk
      [[1, 4, 5], [1, 4, 5]], // nothing to sum over
      [[3, 1, 4], [1, 1, 4]],
      [[9], [1]],
      [[0, 3], [1, 3]], // an empty batch: dw = 0
    ];
    for (const [shape, wShape] of cases) {
      const n = shape.reduce((p, q) => p * q, 1), wn = wShape.reduce((p, q) => p * q, 1);
      const tag = `[${shape}] w [${wShape}]`;
      const dy = pair(d.rand(n)), x = pair(d.rand(n)), w = pair(d.rand(wn, 0.5, 2));
      const dx = out(n), dw = out(wn);
      ref.scaleBackward(dy[0], x[0], shape, w[0], wShape, dx[0], dw[0]);
      be.scaleBackward(dy[1], x[1], shape, w[1], wShape, dx[1], dw[1]);
      check(`scale backward dw ${tag}`, dw, target.tol("reduce"));
      check(`scale backward dx ${tag}`, dx, target.tol("binary"));
      // the same bits as the composition of this backend's own primitives
      const p = be.alloc(Math.max(n, 1), "float32", false);
      const cdx = be.alloc(Math.max(n, 1), "float32", false), cdw = be.alloc(wn, "float32");
      be.binary("mul", dy[1], shape, x[1], shape, p, shape);
      const axes = shape.flatMap((s, i) => (wShape[i] === 1 && s !== 1 ? [i] : []));
      if (axes.length > 0) be.reduce("sum", p, shape, axes, cdw);
      else be.copy(p, 0, cdw, 0, n);
      be.binary("mul", dy[1], shape, w[1], wShape, cdx, shape);
      assert.deepEqual(be.download(dw[1]), be.download(cdw), `${name} dw bits ${tag}`);
      assert.deepEqual(be.download(dx[1], 0, n), be.download(cdx, 0, n), `${name} dx bits ${tag}`);
      // without dx: the same dw
      const dw2 = out(wn);
      be.scaleBackward(dy[1], x[1], shape, w[1], wShape, null, dw2[1]);
      assert.deepEqual(be.download(dw2[1]), be.download(dw[1]), `${name} dw without dx ${tag}`);
      for (const b of [p, cdx, cdw]) be.free(b);
      free(dy, x, w, dx, dw, dw2);
    }
  });

  pprimitive("argmax (first maximum wins)", () => {
    const d = dataSource(700);
    for (const [rows, cols] of [[7, 13], [17, 45], [3, 1000], [70, 1], [5, 33]]) {
      const tied = d.rand(rows * cols);
      tied[3 % cols] = 5;
      tied[9 % cols] = 5; // a tie in row 0
      for (const data of [tied, d.coarse(rows * cols, 3)]) {
        const x = pair(data), o = out(rows);
        ref.argmax(x[0], rows, cols, o[0]);
        be.argmax(x[1], rows, cols, o[1]);
        check(`argmax ${rows}x${cols}`, o, EXACT);
        free(x, o);
      }
    }
  });

  pprimitive("top-k masks (ties: the lower index; k = 0 and k = cols; wide rows)", () => {
    const d = dataSource(750);
    const cases = [
      [4, 17, 5],
      [3, 9, 0],
      [2, 9, 9],
      [6, 37, 5],
      [4, 20, 0],
      [5, 50, 12],
      [2, 13000, 40],
      ...(QUICK ? [] : [[150, 1000, 31]]),
    ];
    for (const [rows, cols, k] of cases) {
      const tied = d.rand(rows * cols);
      tied[1] = tied[4];
      for (const data of [tied, d.coarse(rows * cols, 4)]) {
        const x = pair(data), o = out(rows * cols);
        ref.topkMask(x[0], rows, cols, k, o[0]);
        be.topkMask(x[1], rows, cols, k, o[1]);
        check(`topk ${rows}x${cols} k=${k}`, o, EXACT);
        free(x, o);
      }
    }
  });

  // ---- loss

  ptest("softmax cross-entropy forward and backward", () => {
    const d = dataSource(800);
    const cases = [
      [9, 11, 3],
      [32, 10, 50],
      [1, 1, 1],
      [13, 10, 20],
      [7, 100, 20],
      [33, 1, 20],
      [4, 37, 20],
      [5, 1000, 10],
      ...(QUICK ? [] : [[160, 1000, 5]]),
    ];
    for (const [n, k, spread] of cases) {
      const logits = pair(d.rand(n * k, -spread, spread));
      const labels = pair(new Float32Array(n).map(() => d.int(k)));
      const probs = out(n * k), losses = out(n), dl = out(n * k);
      ref.softmaxCrossEntropy(logits[0], labels[0], n, k, probs[0], losses[0]);
      be.softmaxCrossEntropy(logits[1], labels[1], n, k, probs[1], losses[1]);
      check(`softmax probs ${n}x${k}`, probs, target.tol("softmaxProbs"));
      check(`softmax losses ${n}x${k}`, losses, target.tol("softmaxLosses"));
      ref.softmaxCrossEntropyBackward(probs[0], labels[0], n, k, 1 / n, dl[0]);
      be.softmaxCrossEntropyBackward(probs[1], labels[1], n, k, 1 / n, dl[1]);
      check(`softmax backward ${n}x${k}`, dl, target.tol("softmaxGrad"));
      free(logits, labels, probs, losses, dl);
    }
  });

  if (target.native) {
    test("C rejects a label outside [0, K) (it indexes by it) and the next call succeeds", () => {
      const logits = be.alloc(30, "float32"), labels = be.alloc(3, "float32");
      const probs = be.alloc(30, "float32"), losses = be.alloc(3, "float32");
      be.upload(labels, [1, 2, 10]);
      assert.throws(
        () => be.softmaxCrossEntropy(logits, labels, 3, 10, probs, losses),
        /label 10 of sample 2 outside \[0, 10\)/,
      );
      be.upload(labels, [1, 2, 9]);
      be.softmaxCrossEntropy(logits, labels, 3, 10, probs, losses);
      for (const b of [logits, labels, probs, losses]) be.free(b);
    });
  }

  // ---- batch normalization

  ptest("batch norm forward (train and eval) and backward", () => {
    const d = dataSource(900);
    const shapes = [[5, 3, 7], [9, 13, 1], [16, 11, 1], [4, 2, 300], [1, 4, 1], [1, 3, 1], [
      32,
      4,
      49,
    ]];
    if (!QUICK) shapes.push([32, 96, 64]);
    for (const [outer, c, inner] of shapes) {
      const total = outer * c * inner, tag = `${outer}x${c}x${inner}`;
      const x = pair(d.rand(total, -2, 3));
      const gamma = pair(d.rand(c, 0.5, 1.5)), beta = pair(d.rand(c));
      const rm = pair(d.rand(c)), rv = pair(d.rand(c, 0.5, 2));
      const y = out(total), mean = out(c), istd = out(c);
      /** Forward on side k; eval mode leaves mean and invStd alone. */
      const forward = (on: Backend, k: 0 | 1, training: boolean) =>
        on.batchNormForward(
          x[k],
          outer,
          c,
          inner,
          gamma[k],
          beta[k],
          rm[k],
          rv[k],
          training,
          0.1,
          1e-5,
          y[k],
          mean[k],
          istd[k],
        );
      for (const k of [0, 1] as const) forward(k ? be : ref, k, false);
      check(`bn eval y ${tag}`, y, target.tol("bnY"));
      for (const k of [0, 1] as const) forward(k ? be : ref, k, true);
      check(`bn train y ${tag}`, y, target.tol("bnY"));
      check(`bn mean ${tag}`, mean, target.tol("bnMean"));
      check(`bn invStd ${tag}`, istd, target.tol("bnInvStd"));
      check(`bn running mean ${tag}`, rm, target.tol("bnRunningMean"));
      check(`bn running var ${tag}`, rv, target.tol("bnRunningVar"));
      // backward from the same saved statistics (the reference's) on both sides
      be.upload(mean[1], ref.download(mean[0]));
      be.upload(istd[1], ref.download(istd[0]));
      const dy = pair(d.rand(total)), dx = out(total), dg = out(c), db = out(c);
      for (const [on, k] of [[ref, 0], [be, 1]] as const) {
        on.batchNormBackward(
          x[k],
          dy[k],
          outer,
          c,
          inner,
          gamma[k],
          mean[k],
          istd[k],
          dx[k],
          dg[k],
          db[k],
        );
      }
      check(`bn dx ${tag}`, dx, target.tol("bnGrad"));
      check(`bn dgamma ${tag}`, dg, target.tol("bnGrad"));
      check(`bn dbeta ${tag}`, db, target.tol("bnGrad"));
      free(x, gamma, beta, rm, rv, y, mean, istd, dy, dx, dg, db);
    }
  });

  // ---- randomness

  pprimitive("dropout masks are bit-identical to the reference generator", () => {
    const cases: [number, number, number, number, boolean, number, number][] = [
      [4, 3, 5, 0.5, false, 42, 0],
      [4, 3, 5, 0.5, true, 42, 17],
      [3, 1000, 1, 0.125, false, 1, 99],
      [2, 4, 6, 0, false, 5, 0],
      // p not representable in float32: the keep scale 1/(1-p) must be computed from the double
      // p (a float parameter gives 5.0000005 instead of 5 for p = 0.8)
      [4, 8, 9, 0.8, false, 11, 0],
      [4, 8, 9, 0.45, true, 11, 0],
    ];
    if (!QUICK) {
      cases.push([32, 96, 49, 0.25, false, 7, 2 ** 32 + 5]); // the counter's high word
      cases.push([32, 96, 49, 0.5, true, 0xdeadbeef, 123456789]);
    }
    for (const [outer, c, inner] of [[3, 5, 7], [8, 16, 1], [2, 3, 100]]) {
      for (const p of [0.5, 0.25, 0, 0.8, 0.45]) {
        for (const perChannel of [false, true]) {
          for (const counter of [0, 12345, 2 ** 40 + 7]) {
            cases.push([outer, c, inner, p, perChannel, 77, counter]);
          }
        }
      }
    }
    for (const [outer, c, inner, p, perChannel, seed, counter] of cases) {
      const o = out(outer * c * inner);
      ref.dropoutMask(o[0], outer, c, inner, p, perChannel, seed, 3, counter);
      be.dropoutMask(o[1], outer, c, inner, p, perChannel, seed, 3, counter);
      check(
        `dropout ${outer}x${c}x${inner} p=${p} perChannel=${perChannel} counter=${counter}`,
        o,
        EXACT,
      );
      if (outer * c * inner >= 1000) {
        const m = be.download(o[1]);
        const kept = m.filter((v) => v !== 0).length / m.length;
        assert.ok(Math.abs(kept - (1 - p)) < 0.15, `keep fraction ${kept} for p=${p}`);
      }
      free(o);
    }
  });

  // ---- optimizer

  primitive("optimizer state precision policy (float32 storage, double arithmetic)", () => {
    precisionPolicyTest(be);
  });

  pprimitive("optimizer updates over several steps (sgd, momentum, nesterov, adam, adamw)", () => {
    const d = dataSource(950);
    const adam = (wd: number, decoupled: boolean): UpdateRule => ({
      kind: "adam",
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      step: 1,
      weightDecay: wd,
      decoupled,
    });
    const rules: UpdateRule[] = [
      { kind: "sgd", lr: 0.1, weightDecay: 0 },
      { kind: "sgd", lr: 0.05, weightDecay: 0.01 },
      { kind: "momentum", lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 0 },
      { kind: "momentum", lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0.001 },
      { kind: "momentum", lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-3 },
      { kind: "momentum", lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0 },
      adam(1e-3, false),
      adam(0.01, false),
      adam(1e-3, true),
      adam(0.05, true),
    ];
    // [n, steps, initial state: random or zeros]
    const configs: [number, number, boolean][] = [[1003, 3, false]];
    if (!QUICK) configs.push([140001, 5, true]); // threaded
    for (const [n, steps, randomState] of configs) {
      for (const rule of rules) {
        const p = pair(d.rand(n));
        const s0 = randomState ? pair(d.rand(n, -0.1, 0.1)) : pair(new Float32Array(n));
        const s1 = randomState ? pair(d.rand(n, 0.001, 0.1)) : pair(new Float32Array(n));
        for (let step = 1; step <= steps; step++) {
          const g = pair(d.rand(n));
          const r = rule.kind === "adam" ? { ...rule, step } : rule;
          ref.update(r, p[0], g[0], [s0[0], s1[0]]);
          be.update(r, p[1], g[1], [s0[1], s1[1]]);
          free(g);
        }
        const tag = `${rule.kind}${"nesterov" in rule && rule.nesterov ? " nesterov" : ""}${
          "decoupled" in rule && rule.decoupled ? "W" : ""
        } wd=${rule.weightDecay} n=${n}`;
        check(`${tag} param`, p, target.tol("updateParam"));
        if (rule.kind !== "sgd") check(`${tag} slot 0`, s0, target.tol("updateState"));
        if (rule.kind === "adam") check(`${tag} slot 1`, s1, target.tol("updateSecondMoment"));
        free(p, s0, s1);
      }
    }
  });
}

// ------------------------------------------------------------------------------- precision

/**
 * The optimizer-state precision policy, pinned for every backend: the state (momentum
 * velocity, Adam's m and v) is stored in the parameter's dtype (float32 here); its new value
 * is computed in double from the stored values and rounded once to storage, and the parameter
 * then moves by the stored (rounded) state. The data are chosen so that every intermediate is
 * exact in double (dyadic hyperparameters, inputs on coarse grids, states with full float32
 * mantissas, one step with t = 1), so the expected result is one exact value per element,
 * whatever the compiler contracts into FMAs: bit-for-bit equality is required. The test also
 * checks that moving the parameter by the unrounded double state (what the ts and CUDA builds
 * did) would have given different parameters, so it can tell the two policies apart.
 */
function precisionPolicyTest(be: Backend): void {
  const d = dataSource(990);
  const n = 4096;
  const grid = (bits: number) =>
    Float32Array.from(d.rand(n), (v) => Math.round(v * 2 ** bits) / 2 ** bits);
  const p0 = grid(12), g = grid(12);
  const fullState = () => d.rand(n, 0.25, 0.5); // full 24-bit mantissas
  const f = Math.fround;
  /** The policy's parameters and states, and the parameters of the other policy. */
  type Expect = { p: number[]; other: number[]; s0: number[]; s1?: number[] };
  const cases: [UpdateRule, (s0: Float32Array, s1: Float32Array) => Expect][] = [];
  for (const nesterov of [false, true]) {
    const lr = 0.5, mu = 0.875, wd = 0.0625;
    cases.push([{ kind: "momentum", lr, momentum: mu, nesterov, weightDecay: wd }, (s0) => {
      const e: Expect = { p: [], other: [], s0: [] };
      for (let i = 0; i < n; i++) {
        const gi = g[i] + wd * p0[i];
        const v = mu * s0[i] - lr * gi;
        const step = (u: number) => (nesterov ? mu * u - lr * gi : u);
        e.p.push(f(p0[i] + step(f(v))));
        e.other.push(f(p0[i] + step(v)));
        e.s0.push(f(v));
      }
      return e;
    }]);
  }
  for (const decoupled of [false, true]) {
    const lr = 0.125, b1 = 0.875, b2 = 0.9375, eps = 2 ** -20, wd = decoupled ? 0.0625 : 0;
    const rule: UpdateRule = {
      kind: "adam",
      lr,
      beta1: b1,
      beta2: b2,
      eps,
      step: 1,
      weightDecay: wd,
      decoupled,
    };
    cases.push([rule, (s0, s1) => {
      const e: Expect = { p: [], other: [], s0: [], s1: [] };
      const c1 = 1 - b1, c2 = 1 - b2;
      for (let i = 0; i < n; i++) {
        const m = b1 * s0[i] + (1 - b1) * g[i];
        const v = b2 * s1[i] + (1 - b2) * g[i] * g[i];
        const move = (mm: number, vv: number) =>
          f(p0[i] - lr * ((mm / c1) / (Math.sqrt(vv / c2) + eps) + wd * p0[i]));
        e.p.push(move(f(m), f(v)));
        e.other.push(move(m, v));
        e.s0.push(f(m));
        e.s1!.push(f(v));
      }
      return e;
    }]);
  }
  for (const [rule, expect] of cases) {
    const s0d = fullState(), s1d = fullState();
    const e = expect(s0d, s1d);
    const up = (data: ArrayLike<number>) => {
      const b = be.alloc(n, "float32");
      be.upload(b, data);
      return b;
    };
    const p = up(p0), gb = up(g), s0 = up(s0d), s1 = up(s1d);
    be.update(rule, p, gb, [s0, s1]);
    const tag = `${be.name} ${rule.kind}${"nesterov" in rule && rule.nesterov ? " nesterov" : ""}${
      "decoupled" in rule && rule.decoupled ? "W" : ""
    }`;
    assert.ok(
      e.p.some((v, i) => v !== e.other[i]),
      `${tag}: the data cannot tell the policies apart`,
    );
    compare(`${tag} param`, be.download(p), e.p, EXACT);
    compare(`${tag} state 0`, be.download(s0), e.s0, EXACT);
    if (e.s1) compare(`${tag} state 1`, be.download(s1), e.s1, EXACT);
    for (const b of [p, gb, s0, s1]) be.free(b);
  }
}

Deno.test("ts: optimizer state precision policy (float32 storage, double arithmetic)", () => {
  precisionPolicyTest(tsBackend);
});

for (const t of TARGETS) {
  if ("skip" in t) {
    Deno.test(`${t.name}: conformance`, () => {
      console.log(`SKIP ${t.name} conformance: ${t.skip}`);
    });
  } else {
    register(t);
  }
}
