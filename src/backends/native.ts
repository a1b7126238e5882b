/**
 * `NativeBackend`: the {@link Backend} interface over the native library (`cuda/include/shiftlab.h`)
 * through Deno FFI. One class serves both builds: `cpu` (host C, `libshiftlab_cpu.so`) and
 * `cuda` (`libshiftlab_cuda.so`, memory on the device). float32 only. Every fused op has a
 * native implementation, so none of the default compositions is used.
 *
 * Every size, offset and shape is checked here before the call, so bad input never reaches C
 * as an out-of-bounds access; a failure inside the library still surfaces as a thrown
 * {@link NativeError} with the C message. Small argument arrays (shapes, hyperparameters) are
 * preallocated once and reused, to keep the per-call overhead low.
 *
 * @module
 */
import type {
  ActivationOp,
  BinaryOp,
  Buf,
  DType,
  HostArray,
  ReduceOp,
  UnaryOp,
  UpdateRule,
  Window2d,
} from "../backend.ts";
import { outSize } from "../backend.ts";
import { type LibraryKind, type NativeLibrary, openLibrary } from "../../ffi/library.ts";
import { ComposedBackend } from "./compose.ts";
import {
  BINARY_CODES,
  OPTIM_FIELDS,
  REDUCE_CODES,
  RULE_CODES,
  UNARY_CODES,
  WINDOW_FIELDS,
} from "../../ffi/symbols.ts";
import type { ShiftlabSymbols } from "../../ffi/symbols.ts";

export { NativeError } from "../../ffi/library.ts";

/** A float32 buffer owned by the native library. */
export class NativeBuf implements Buf {
  /** Always float32. */
  readonly dtype: DType = "float32";
  #ptr: Deno.PointerObject | null;

  /** The length as a bigint, for FFI calls. */
  readonly big: bigint;

  /** Wraps a pointer returned by `sl_alloc`. */
  constructor(readonly owner: NativeBackend, ptr: Deno.PointerObject, readonly length: number) {
    this.#ptr = ptr;
    this.big = BigInt(length);
  }

  /** True once freed. */
  get disposed(): boolean {
    return this.#ptr === null;
  }

  /** The library pointer; throws once freed. */
  get ptr(): Deno.PointerObject {
    if (this.#ptr === null) throw new Error(`${this.owner.name} backend: buffer used after free`);
    return this.#ptr;
  }

  /** Forgets the pointer (after `sl_free`). */
  release(): Deno.PointerObject | null {
    const p = this.#ptr;
    this.#ptr = null;
    return p;
  }
}

const MAX_RANK = 8;

function isInt(v: number): boolean {
  return Number.isInteger(v) && v >= 0;
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(", ")}]`;
}

/** The native backend (`cpu` or `cuda`). */
export class NativeBackend extends ComposedBackend {
  /** Description of the device, from `sl_device_info`. */
  readonly device: string;
  /** Build identification, from `sl_build_info`. */
  readonly buildInfo: string;
  readonly #s: ShiftlabSymbols;
  readonly #lib: NativeLibrary;
  // reusable argument scratch
  readonly #ptrOut = new BigUint64Array(1);
  readonly #i64Out = new BigInt64Array(1);
  readonly #shapeA = new Int32Array(MAX_RANK);
  readonly #shapeB = new Int32Array(MAX_RANK);
  readonly #shapeO = new Int32Array(MAX_RANK);
  /** `sl_window` of the current call. */
  readonly #win = new Int32Array(WINDOW_FIELDS.length);
  /** `sl_optim_params` of the current call. */
  readonly #hyper = new Float64Array(OPTIM_FIELDS.length);

  /**
   * Wraps an opened library. `name` is `cpu` or `cuda` (defaults to the library's kind); the
   * library's `sl_init` must succeed (it reports a missing CUDA device).
   */
  constructor(lib: NativeLibrary, readonly name: string = lib.kind) {
    super();
    this.#lib = lib;
    this.#s = lib.symbols;
    lib.check(this.#s.sl_init(), "sl_init");
    this.device = lib.deviceInfo();
    this.buildInfo = lib.buildInfo();
  }

  /** Opens the library of `kind` (see `ffi/library.ts`) and wraps it. */
  static open(kind: LibraryKind): NativeBackend {
    return new NativeBackend(openLibrary(kind), kind);
  }

  #fail(msg: string): never {
    throw new Error(`${this.name} backend: ${msg}`);
  }

  #check(status: number, fn: string): void {
    if (status !== 0) this.#lib.check(status, fn);
  }

  /** The buffer as a native one of this backend, with at least `n` elements. */
  #buf(b: Buf, n: number, what: string): Deno.PointerObject {
    if (!(b instanceof NativeBuf) || b.owner !== this) {
      this.#fail(`${what}: buffer belongs to another backend`);
    }
    if (b.disposed) this.#fail(`${what}: buffer used after free`);
    if (b.length < n) this.#fail(`${what} needs ${n} elements, buffer has ${b.length}`);
    return b.ptr;
  }

  #count(v: number, what: string): void {
    if (!isInt(v)) this.#fail(`${what} must be a non-negative integer, got ${v}`);
  }

  supports(dtype: DType): boolean {
    return dtype === "float32";
  }

  // ---------------------------------------------------------------- memory

  alloc(length: number, dtype: DType, zeroed = true): Buf {
    if (dtype !== "float32") this.#fail(`supports only float32, not ${dtype}`);
    this.#count(length, "alloc length");
    if (zeroed) this.#check(this.#s.sl_alloc(BigInt(length), this.#ptrOut), "sl_alloc");
    else this.#check(this.#s.sl_alloc_empty(BigInt(length), this.#ptrOut), "sl_alloc_empty");
    const p = Deno.UnsafePointer.create(this.#ptrOut[0]);
    if (p === null) this.#fail("sl_alloc returned a null pointer");
    return new NativeBuf(this, p, length);
  }

  /**
   * Calls `sl_alloc` with any size, unchecked, so tests can see a C-side failure surface as
   * an exception. Not for normal use.
   */
  rawAlloc(length: number): void {
    this.#check(this.#s.sl_alloc(BigInt(length), this.#ptrOut), "sl_alloc");
    const p = Deno.UnsafePointer.create(this.#ptrOut[0]);
    this.#check(this.#s.sl_free(p), "sl_free");
  }

  /**
   * Calls `sl_unary` with a raw op code, unchecked on the TypeScript side, so tests can see a
   * C-side failure (an unknown op code) surface as an exception. Not for normal use.
   */
  rawUnary(code: number, x: Buf, out: Buf): void {
    const px = this.#buf(x, 0, "rawUnary x");
    const po = this.#buf(out, x.length, "rawUnary out");
    this.#check(this.#s.sl_unary(code, px, po, BigInt(x.length), 0), "sl_unary");
  }

  free(buf: Buf): void {
    if (!(buf instanceof NativeBuf) || buf.owner !== this) {
      this.#fail("free: buffer belongs to another backend");
    }
    const p = buf.release();
    if (p !== null) this.#check(this.#s.sl_free(p), "sl_free");
  }

  upload(buf: Buf, data: ArrayLike<number>, offset = 0): void {
    this.#count(offset, "upload offset");
    const p = this.#buf(buf, offset + data.length, "upload destination");
    const src = data instanceof Float32Array ? data : Float32Array.from(data);
    if (src.length === 0) return;
    this.#check(this.#s.sl_upload(p, BigInt(offset), src, BigInt(src.length)), "sl_upload");
  }

  download(buf: Buf, offset = 0, length?: number): HostArray {
    this.#count(offset, "download offset");
    const n = length ?? buf.length - offset;
    this.#count(n, "download length");
    const p = this.#buf(buf, offset + n, "download source");
    const out = new Float32Array(n);
    if (n > 0) this.#check(this.#s.sl_download(p, BigInt(offset), out, BigInt(n)), "sl_download");
    return out;
  }

  fill(buf: Buf, value: number): void {
    const p = this.#buf(buf, 0, "fill");
    this.#check(this.#s.sl_fill(p, (buf as NativeBuf).big, value), "sl_fill");
  }

  copy(src: Buf, srcOff: number, dst: Buf, dstOff: number, n: number): void {
    this.#count(srcOff, "copy source offset");
    this.#count(dstOff, "copy destination offset");
    this.#count(n, "copy count");
    const ps = this.#buf(src, srcOff + n, "copy source");
    const pd = this.#buf(dst, dstOff + n, "copy destination");
    this.#check(this.#s.sl_copy(ps, BigInt(srcOff), pd, BigInt(dstOff), BigInt(n)), "sl_copy");
  }

  // ---------------------------------------------------------------- linear algebra

  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Buf,
    aOff: number,
    b: Buf,
    bOff: number,
    beta: number,
    c: Buf,
    cOff: number,
  ): void {
    if (!isInt(m) || !isInt(n) || !isInt(k)) {
      this.#fail(`gemm: sizes must be non-negative integers, got m=${m} n=${n} k=${k}`);
    }
    if (!isInt(aOff) || !isInt(bOff) || !isInt(cOff)) {
      this.#fail(`gemm: offsets must be non-negative integers, got ${aOff}, ${bOff}, ${cOff}`);
    }
    const pa = this.#buf(a, aOff + m * k, `gemm A (${transA ? `${k}x${m}` : `${m}x${k}`})`);
    const pb = this.#buf(b, bOff + k * n, `gemm B (${transB ? `${n}x${k}` : `${k}x${n}`})`);
    const pc = this.#buf(c, cOff + m * n, `gemm C (${m}x${n})`);
    this.#check(
      this.#s.sl_gemm(
        transA ? 1 : 0,
        transB ? 1 : 0,
        BigInt(m),
        BigInt(n),
        BigInt(k),
        alpha,
        pa,
        BigInt(aOff),
        pb,
        BigInt(bOff),
        beta,
        pc,
        BigInt(cOff),
      ),
      "sl_gemm",
    );
  }

  swapAxes01(x: Buf, d0: number, d1: number, inner: number, out: Buf): void {
    this.#count(d0, "swapAxes01 d0");
    this.#count(d1, "swapAxes01 d1");
    this.#count(inner, "swapAxes01 inner");
    const total = d0 * d1 * inner;
    const px = this.#buf(x, total, "swapAxes01 input");
    const po = this.#buf(out, total, "swapAxes01 output");
    this.#check(
      this.#s.sl_swap_axes01(px, BigInt(d0), BigInt(d1), BigInt(inner), po),
      "sl_swap_axes01",
    );
  }

  // ---------------------------------------------------------------- windows

  #window(g: Window2d, op: string): [number, number] {
    for (const key of ["n", "c", "h", "w", "kh", "kw", "sh", "sw", "ph", "pw"] as const) {
      const v = g[key];
      if (!isInt(v) || v > 0x7fffffff) {
        this.#fail(`${op}: window ${key} must be a non-negative integer, got ${v}`);
      }
    }
    if (g.kh === 0 || g.kw === 0 || g.sh === 0 || g.sw === 0) {
      this.#fail(
        `${op}: kernel and stride must be positive (kernel ${g.kh}x${g.kw}, stride ${g.sh}x${g.sw})`,
      );
    }
    const oh = outSize(g.h, g.kh, g.sh, g.ph);
    const ow = outSize(g.w, g.kw, g.sw, g.pw);
    if (!(oh > 0 && ow > 0) || g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw) {
      this.#fail(
        `${op}: window ${g.kh}x${g.kw} does not fit input ${g.h}x${g.w} (padding ${g.ph},${g.pw})`,
      );
    }
    WINDOW_FIELDS.forEach((k, i) => this.#win[i] = g[k]);
    return [oh, ow];
  }

  im2col(x: Buf, g: Window2d, col: Buf): void {
    const [oh, ow] = this.#window(g, "im2col");
    const px = this.#buf(x, g.n * g.c * g.h * g.w, "im2col input");
    const pc = this.#buf(col, g.c * g.kh * g.kw * g.n * oh * ow, "im2col output");
    this.#check(
      this.#s.sl_im2col(px, this.#win, pc),
      "sl_im2col",
    );
  }

  col2im(col: Buf, g: Window2d, x: Buf): void {
    const [oh, ow] = this.#window(g, "col2im");
    const pc = this.#buf(col, g.c * g.kh * g.kw * g.n * oh * ow, "col2im input");
    const px = this.#buf(x, g.n * g.c * g.h * g.w, "col2im output");
    this.#check(
      this.#s.sl_col2im(pc, this.#win, px),
      "sl_col2im",
    );
  }

  #conv(g: Window2d, filters: number, op: string): [number, number] {
    if (!isInt(filters) || filters === 0 || filters > 0x7fffffff) {
      this.#fail(`${op}: filters must be a positive integer, got ${filters}`);
    }
    return this.#window(g, op);
  }

  override conv2dForward(
    x: Buf,
    w: Buf,
    bias: Buf | null,
    g: Window2d,
    filters: number,
    y: Buf,
  ): void {
    const [oh, ow] = this.#conv(g, filters, "conv2dForward");
    const ckk = g.c * g.kh * g.kw;
    const px = this.#buf(x, g.n * g.c * g.h * g.w, "conv2dForward input");
    const pw = this.#buf(w, filters * ckk, "conv2dForward weight");
    const pb = bias === null ? null : this.#buf(bias, filters, "conv2dForward bias");
    const py = this.#buf(y, g.n * filters * oh * ow, "conv2dForward output");
    this.#check(
      this.#s.sl_conv2d_forward(
        px,
        pw,
        pb,
        this.#win,
        filters,
        py,
      ),
      "sl_conv2d_forward",
    );
  }

  override conv2dBackward(
    x: Buf,
    w: Buf,
    dy: Buf,
    g: Window2d,
    filters: number,
    dw: Buf,
    db: Buf | null,
    dx: Buf | null,
  ): void {
    const [oh, ow] = this.#conv(g, filters, "conv2dBackward");
    const ckk = g.c * g.kh * g.kw;
    const inSize = g.n * g.c * g.h * g.w;
    const px = this.#buf(x, inSize, "conv2dBackward input");
    const pw = this.#buf(w, filters * ckk, "conv2dBackward weight");
    const pdy = this.#buf(dy, g.n * filters * oh * ow, "conv2dBackward dy");
    const pdw = this.#buf(dw, filters * ckk, "conv2dBackward dw");
    const pdb = db === null ? null : this.#buf(db, filters, "conv2dBackward db");
    const pdx = dx === null ? null : this.#buf(dx, inSize, "conv2dBackward dx");
    this.#check(
      this.#s.sl_conv2d_backward(
        px,
        pw,
        pdy,
        this.#win,
        filters,
        pdw,
        pdb,
        pdx,
      ),
      "sl_conv2d_backward",
    );
  }

  override maxPoolForward(x: Buf, g: Window2d, y: Buf, argmax: Buf): void {
    const [oh, ow] = this.#window(g, "maxPoolForward");
    const px = this.#buf(x, g.n * g.c * g.h * g.w, "maxpool input");
    const py = this.#buf(y, g.n * g.c * oh * ow, "maxpool output");
    const pi = this.#buf(argmax, g.n * g.c * oh * ow, "maxpool argmax");
    this.#check(
      this.#s.sl_max_pool_forward(
        px,
        this.#win,
        py,
        pi,
      ),
      "sl_max_pool_forward",
    );
  }

  override maxPoolBackward(dy: Buf, argmax: Buf, g: Window2d, dx: Buf): void {
    const [oh, ow] = this.#window(g, "maxPoolBackward");
    const pdy = this.#buf(dy, g.n * g.c * oh * ow, "maxpool dy");
    const pi = this.#buf(argmax, g.n * g.c * oh * ow, "maxpool argmax");
    const pdx = this.#buf(dx, g.n * g.c * g.h * g.w, "maxpool dx");
    this.#check(
      this.#s.sl_max_pool_backward(
        pdy,
        pi,
        this.#win,
        pdx,
      ),
      "sl_max_pool_backward",
    );
  }

  override avgPoolForward(x: Buf, g: Window2d, y: Buf): void {
    const [oh, ow] = this.#window(g, "avgPoolForward");
    const px = this.#buf(x, g.n * g.c * g.h * g.w, "avgpool input");
    const py = this.#buf(y, g.n * g.c * oh * ow, "avgpool output");
    this.#check(
      this.#s.sl_avg_pool_forward(px, this.#win, py),
      "sl_avg_pool_forward",
    );
  }

  override avgPoolBackward(dy: Buf, g: Window2d, dx: Buf): void {
    const [oh, ow] = this.#window(g, "avgPoolBackward");
    const pdy = this.#buf(dy, g.n * g.c * oh * ow, "avgpool dy");
    const pdx = this.#buf(dx, g.n * g.c * g.h * g.w, "avgpool dx");
    this.#check(
      this.#s.sl_avg_pool_backward(pdy, this.#win, pdx),
      "sl_avg_pool_backward",
    );
  }

  // ---------------------------------------------------------------- elementwise

  binary(
    op: BinaryOp,
    a: Buf,
    aShape: readonly number[],
    b: Buf,
    bShape: readonly number[],
    out: Buf,
    outShape: readonly number[],
  ): void {
    const code = BINARY_CODES[op];
    if (code === undefined) {
      this.#fail(
        `unknown binary op '${op}' (expected one of ${Object.keys(BINARY_CODES).join(", ")})`,
      );
    }
    const rank = outShape.length;
    if (aShape.length !== rank || bShape.length !== rank) {
      this.#fail(
        `binary ${op}: shapes must be aligned to the output rank: ${shapeStr(aShape)} and ${
          shapeStr(bShape)
        } vs ${shapeStr(outShape)}`,
      );
    }
    if (rank > MAX_RANK) this.#fail(`binary ${op}: rank ${rank} exceeds ${MAX_RANK}`);
    let na = 1, nb = 1, no = 1;
    for (let i = 0; i < rank; i++) {
      const da = aShape[i], db = bShape[i], d = outShape[i];
      if (!isInt(da) || !isInt(db) || !isInt(d) || d > 0x7fffffff) {
        this.#fail(
          `binary ${op}: invalid shape ${shapeStr(aShape)}, ${shapeStr(bShape)} or ${
            shapeStr(outShape)
          }`,
        );
      }
      if ((da !== d && da !== 1) || (db !== d && db !== 1)) {
        this.#fail(
          `binary ${op}: ${shapeStr(aShape)} and ${shapeStr(bShape)} do not broadcast to ${
            shapeStr(outShape)
          }`,
        );
      }
      this.#shapeA[i] = da;
      this.#shapeB[i] = db;
      this.#shapeO[i] = d;
      na *= da;
      nb *= db;
      no *= d;
    }
    const pa = this.#buf(a, na, `binary ${op} a`);
    const pb = this.#buf(b, nb, `binary ${op} b`);
    const po = this.#buf(out, no, `binary ${op} out`);
    this.#check(
      this.#s.sl_binary(code, pa, this.#shapeA, pb, this.#shapeB, po, this.#shapeO, rank),
      "sl_binary",
    );
  }

  unary(op: UnaryOp, x: Buf, out: Buf, alpha: number): void {
    const code = UNARY_CODES[op];
    if (code === undefined) {
      this.#fail(
        `unknown unary op '${op}' (expected one of ${Object.keys(UNARY_CODES).join(", ")})`,
      );
    }
    const px = this.#buf(x, 0, `${op} input`);
    const po = this.#buf(out, x.length, `${op} output`);
    this.#check(this.#s.sl_unary(code, px, po, (x as NativeBuf).big, alpha), "sl_unary");
  }

  unaryBackward(op: ActivationOp, x: Buf, y: Buf, dy: Buf, dx: Buf, alpha: number): void {
    const code = UNARY_CODES[op];
    if (code === undefined || code > UNARY_CODES.softplus) {
      this.#fail(`no derivative for '${op}' (expected relu, leaky_relu, sigmoid, tanh, softplus)`);
    }
    const n = x.length;
    const px = this.#buf(x, 0, `${op} backward x`);
    const py = this.#buf(y, n, `${op} backward y`);
    const pdy = this.#buf(dy, n, `${op} backward dy`);
    const pdx = this.#buf(dx, n, `${op} backward dx`);
    this.#check(
      this.#s.sl_unary_backward(code, px, py, pdy, pdx, (x as NativeBuf).big, alpha),
      "sl_unary_backward",
    );
  }

  axpby(alpha: number, a: Buf, beta: number, b: Buf, out: Buf): void {
    const n = a.length;
    const pa = this.#buf(a, 0, "axpby a");
    const pb = this.#buf(b, n, "axpby b");
    const po = this.#buf(out, n, "axpby out");
    this.#check(this.#s.sl_axpby(alpha, pa, beta, pb, po, (a as NativeBuf).big), "sl_axpby");
  }

  // ---------------------------------------------------------------- reductions

  reduce(op: ReduceOp, x: Buf, shape: readonly number[], axes: readonly number[], out: Buf): void {
    const code = REDUCE_CODES[op];
    if (code === undefined) this.#fail(`unknown reduction '${op}' (expected sum, mean, max)`);
    const rank = shape.length;
    if (rank > MAX_RANK) this.#fail(`reduce: rank ${rank} exceeds ${MAX_RANK}`);
    let mask = 0;
    for (const ax of axes) {
      if (!Number.isInteger(ax) || ax < 0 || ax >= rank) {
        this.#fail(`reduce: axis ${ax} out of range for shape ${shapeStr(shape)}`);
      }
      mask |= 1 << ax;
    }
    let total = 1, outTotal = 1;
    for (let i = 0; i < rank; i++) {
      const d = shape[i];
      if (!isInt(d) || d > 0x7fffffff) this.#fail(`reduce: invalid shape ${shapeStr(shape)}`);
      this.#shapeA[i] = d;
      total *= d;
      if (!(mask & (1 << i))) outTotal *= d;
    }
    const px = this.#buf(x, total, "reduce input");
    const po = this.#buf(out, outTotal, "reduce output");
    this.#check(this.#s.sl_reduce(code, px, this.#shapeA, rank, mask, po), "sl_reduce");
  }

  argmax(x: Buf, rows: number, cols: number, out: Buf): void {
    this.#count(rows, "argmax rows");
    this.#count(cols, "argmax cols");
    const px = this.#buf(x, rows * cols, "argmax input");
    const po = this.#buf(out, rows, "argmax output");
    this.#check(this.#s.sl_argmax(px, BigInt(rows), BigInt(cols), po), "sl_argmax");
  }

  // ---------------------------------------------------------------- losses

  override softmaxCrossEntropy(
    logits: Buf,
    labels: Buf,
    n: number,
    k: number,
    probs: Buf,
    losses: Buf,
  ): void {
    this.#count(n, "softmax n");
    if (!Number.isInteger(k) || k < 1) this.#fail(`softmax: class count must be >= 1, got ${k}`);
    const pl = this.#buf(logits, n * k, "softmax logits");
    const py = this.#buf(labels, n, "softmax labels");
    const pp = this.#buf(probs, n * k, "softmax probs");
    const po = this.#buf(losses, n, "softmax losses");
    this.#check(
      this.#s.sl_softmax_cross_entropy(pl, py, BigInt(n), BigInt(k), pp, po),
      "sl_softmax_cross_entropy",
    );
  }

  override softmaxCrossEntropyBackward(
    probs: Buf,
    labels: Buf,
    n: number,
    k: number,
    scale: number,
    dlogits: Buf,
  ): void {
    this.#count(n, "softmax n");
    if (!Number.isInteger(k) || k < 1) this.#fail(`softmax: class count must be >= 1, got ${k}`);
    const pp = this.#buf(probs, n * k, "softmax probs");
    const py = this.#buf(labels, n, "softmax labels");
    const pd = this.#buf(dlogits, n * k, "softmax dlogits");
    this.#check(
      this.#s.sl_softmax_cross_entropy_backward(pp, py, BigInt(n), BigInt(k), scale, pd),
      "sl_softmax_cross_entropy_backward",
    );
  }

  // ---------------------------------------------------------------- batch norm

  override batchNormForward(
    x: Buf,
    outer: number,
    c: number,
    inner: number,
    gamma: Buf,
    beta: Buf,
    runningMean: Buf,
    runningVar: Buf,
    training: boolean,
    momentum: number,
    eps: number,
    y: Buf,
    mean: Buf,
    invStd: Buf,
  ): void {
    this.#count(outer, "batchnorm outer");
    this.#count(c, "batchnorm channels");
    this.#count(inner, "batchnorm inner");
    const total = outer * c * inner;
    this.#check(
      this.#s.sl_batch_norm_forward(
        this.#buf(x, total, "batchnorm x"),
        BigInt(outer),
        BigInt(c),
        BigInt(inner),
        this.#buf(gamma, c, "batchnorm gamma"),
        this.#buf(beta, c, "batchnorm beta"),
        this.#buf(runningMean, c, "batchnorm running mean"),
        this.#buf(runningVar, c, "batchnorm running var"),
        training ? 1 : 0,
        momentum,
        eps,
        this.#buf(y, total, "batchnorm y"),
        this.#buf(mean, c, "batchnorm mean"),
        this.#buf(invStd, c, "batchnorm invStd"),
      ),
      "sl_batch_norm_forward",
    );
  }

  override batchNormBackward(
    x: Buf,
    dy: Buf,
    outer: number,
    c: number,
    inner: number,
    gamma: Buf,
    mean: Buf,
    invStd: Buf,
    dx: Buf,
    dgamma: Buf,
    dbeta: Buf,
  ): void {
    this.#count(outer, "batchnorm outer");
    this.#count(c, "batchnorm channels");
    this.#count(inner, "batchnorm inner");
    const total = outer * c * inner;
    this.#check(
      this.#s.sl_batch_norm_backward(
        this.#buf(x, total, "batchnorm x"),
        this.#buf(dy, total, "batchnorm dy"),
        BigInt(outer),
        BigInt(c),
        BigInt(inner),
        this.#buf(gamma, c, "batchnorm gamma"),
        this.#buf(mean, c, "batchnorm mean"),
        this.#buf(invStd, c, "batchnorm invStd"),
        this.#buf(dx, total, "batchnorm dx"),
        this.#buf(dgamma, c, "batchnorm dgamma"),
        this.#buf(dbeta, c, "batchnorm dbeta"),
      ),
      "sl_batch_norm_backward",
    );
  }

  // ---------------------------------------------------------------- randomness

  dropoutMask(
    out: Buf,
    outer: number,
    c: number,
    inner: number,
    p: number,
    perChannel: boolean,
    seed: number,
    stream: number,
    counter: number,
  ): void {
    if (!(p >= 0 && p < 1)) this.#fail(`dropout p must be in [0, 1), got ${p}`);
    this.#count(outer, "dropout outer");
    this.#count(c, "dropout channels");
    this.#count(inner, "dropout inner");
    if (!Number.isSafeInteger(counter) || counter < 0) {
      this.#fail(`dropout counter must be a non-negative safe integer, got ${counter}`);
    }
    const po = this.#buf(out, outer * c * inner, "dropout mask");
    this.#check(
      this.#s.sl_dropout_mask(
        po,
        BigInt(outer),
        BigInt(c),
        BigInt(inner),
        p,
        perChannel ? 1 : 0,
        seed >>> 0,
        stream >>> 0,
        BigInt(counter),
      ),
      "sl_dropout_mask",
    );
  }

  topkMask(x: Buf, rows: number, cols: number, k: number, out: Buf): void {
    this.#count(rows, "top-k rows");
    this.#count(cols, "top-k cols");
    if (!Number.isInteger(k) || k < 0 || k > cols) this.#fail(`top-k: k=${k} outside [0, ${cols}]`);
    const px = this.#buf(x, rows * cols, "topk input");
    const po = this.#buf(out, rows * cols, "topk output");
    this.#check(
      this.#s.sl_topk_mask(px, BigInt(rows), BigInt(cols), BigInt(k), po),
      "sl_topk_mask",
    );
  }

  // ---------------------------------------------------------------- optimizer

  update(rule: UpdateRule, param: Buf, grad: Buf, state: readonly Buf[]): void {
    const n = param.length;
    const pp = this.#buf(param, 0, "update param");
    const pg = this.#buf(grad, n, "update grad");
    const h = this.#hyper; // OPTIM_FIELDS order
    h.fill(0);
    h[0] = rule.lr;
    h[5] = rule.weightDecay;
    let code: number;
    let s0: Deno.PointerObject | null = null;
    let s1: Deno.PointerObject | null = null;
    switch (rule.kind) {
      case "sgd":
        code = RULE_CODES.sgd;
        break;
      case "momentum":
        if (state.length < 1) this.#fail("momentum needs a velocity slot");
        code = rule.nesterov ? RULE_CODES.nesterov : RULE_CODES.momentum;
        h[1] = rule.momentum;
        s0 = this.#buf(state[0], n, "momentum velocity");
        break;
      case "adam":
        if (state.length < 2) this.#fail("adam needs m and v slots");
        if (!(rule.step >= 1)) this.#fail(`adam step must be >= 1, got ${rule.step}`);
        code = rule.decoupled ? RULE_CODES.adamw : RULE_CODES.adam;
        h[2] = rule.beta1;
        h[3] = rule.beta2;
        h[4] = rule.eps;
        h[6] = rule.step;
        s0 = this.#buf(state[0], n, "adam m");
        s1 = this.#buf(state[1], n, "adam v");
        break;
      default:
        this.#fail(`unknown update rule '${(rule as { kind: string }).kind}'`);
    }
    this.#check(this.#s.sl_update(code, h, pp, pg, s0, s1, (param as NativeBuf).big), "sl_update");
  }

  synchronize(): void {
    this.#check(this.#s.sl_synchronize(), "sl_synchronize");
  }

  memoryInUse(): number {
    this.#check(this.#s.sl_memory_in_use(this.#i64Out), "sl_memory_in_use");
    return Number(this.#i64Out[0]);
  }
}
