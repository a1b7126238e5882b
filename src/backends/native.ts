/**
 * `NativeBackend`: the {@link Backend} interface over the native library (`cuda/include/shiftlab.h`)
 * through Deno FFI. One class serves both builds: `cpu` (host C, `libshiftlab_cpu.so`) and
 * `cuda` (`libshiftlab_cuda.so`, memory on the device). float32 only. Every fused op has a
 * native implementation, so none of the default compositions is used.
 *
 * Arguments are checked once, in `ops.ts`. This class keeps only the guards that protect
 * memory: every buffer must belong to this backend, be alive, and hold the elements the call
 * will touch (computed from exactly the sizes C receives), so no call reaches C as an
 * out-of-bounds access. Anything else C rejects itself (negative sizes, unknown op codes,
 * invalid windows, labels outside [0, K)), surfacing as a thrown {@link NativeError} with the
 * C message. Small argument arrays (shapes, the window and optimizer descriptors) are
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

/** The largest rank of `sl_binary` and `sl_reduce`. */
const MAX_RANK = 8;

/** An op code, or -1 (which C rejects, naming the expected codes) for an unknown name. */
function codeOf(codes: Readonly<Record<string, number>>, op: string): number {
  return codes[op] ?? -1;
}

/** The native backend (`cpu` or `cuda`). */
export class NativeBackend extends ComposedBackend {
  /** Description of the device, from `sl_device_info`. */
  readonly device: string;
  /** Build identification, from `sl_build_info`. */
  readonly buildInfo: string;
  /**
   * The host build: 1 MiB (a core's L2 here; the quick network's evaluation took 0.86x the time
   * in chunks of 100 images as in whole batches of 500, measured 2026-11-30). CUDA: undefined.
   */
  readonly inferenceBytes?: number;
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
    if (lib.kind === "cpu") this.inferenceBytes = 1 << 20;
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

  supports(dtype: DType): boolean {
    return dtype === "float32";
  }

  // ---------------------------------------------------------------- memory

  alloc(length: number, dtype: DType, zeroed = true): Buf {
    if (dtype !== "float32") this.#fail(`supports only float32, not ${dtype}`);
    if (zeroed) this.#check(this.#s.sl_alloc(BigInt(length), this.#ptrOut), "sl_alloc");
    else this.#check(this.#s.sl_alloc_empty(BigInt(length), this.#ptrOut), "sl_alloc_empty");
    const p = Deno.UnsafePointer.create(this.#ptrOut[0]);
    if (p === null) this.#fail("sl_alloc returned a null pointer");
    return new NativeBuf(this, p, length);
  }

  free(buf: Buf): void {
    if (!(buf instanceof NativeBuf) || buf.owner !== this) {
      this.#fail("free: buffer belongs to another backend");
    }
    const p = buf.release();
    if (p !== null) this.#check(this.#s.sl_free(p), "sl_free");
  }

  upload(buf: Buf, data: ArrayLike<number>, offset = 0): void {
    const p = this.#buf(buf, offset + data.length, "upload destination");
    const src = data instanceof Float32Array ? data : Float32Array.from(data);
    if (src.length === 0) return;
    this.#check(this.#s.sl_upload(p, BigInt(offset), src, BigInt(src.length)), "sl_upload");
  }

  download(buf: Buf, offset = 0, length?: number): HostArray {
    const n = length ?? buf.length - offset;
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
    const total = d0 * d1 * inner;
    const px = this.#buf(x, total, "swapAxes01 input");
    const po = this.#buf(out, total, "swapAxes01 output");
    this.#check(
      this.#s.sl_swap_axes01(px, BigInt(d0), BigInt(d1), BigInt(inner), po),
      "sl_swap_axes01",
    );
  }

  // ---------------------------------------------------------------- windows

  /**
   * Packs `g` into the `sl_window` of the call and returns the output `[OH, OW]` computed from
   * the packed (int32) values C will see, for the length guards; `[0, 0]` when C will reject
   * the window (then nothing is written).
   */
  #window(g: Window2d): [number, number] {
    const v = this.#win; // WINDOW_FIELDS order
    v[0] = g.n, v[1] = g.c, v[2] = g.h, v[3] = g.w, v[4] = g.kh;
    v[5] = g.kw, v[6] = g.sh, v[7] = g.sw, v[8] = g.ph, v[9] = g.pw;
    const oh = Math.floor((v[2] + 2 * v[8] - v[4]) / v[6]) + 1;
    const ow = Math.floor((v[3] + 2 * v[9] - v[5]) / v[7]) + 1;
    return oh > 0 && ow > 0 && v[6] > 0 && v[7] > 0 ? [oh, ow] : [0, 0];
  }

  /**
   * Element counts of the packed window: the input `n c h w`, the output `n c oh ow`, the
   * output pixels of one channel `n oh ow`, and `c kh kw` (a row of the column matrix).
   */
  #windowSizes(g: Window2d): { x: number; y: number; s: number; ckk: number } {
    const [oh, ow] = this.#window(g);
    const v = this.#win, s = v[0] * oh * ow;
    return { x: v[0] * v[1] * v[2] * v[3], y: v[1] * s, s, ckk: v[1] * v[4] * v[5] };
  }

  im2col(x: Buf, g: Window2d, col: Buf): void {
    const n = this.#windowSizes(g);
    const px = this.#buf(x, n.x, "im2col input");
    const pc = this.#buf(col, n.ckk * n.s, "im2col output");
    this.#check(this.#s.sl_im2col(px, this.#win, pc), "sl_im2col");
  }

  col2im(col: Buf, g: Window2d, x: Buf): void {
    const n = this.#windowSizes(g);
    const pc = this.#buf(col, n.ckk * n.s, "col2im input");
    const px = this.#buf(x, n.x, "col2im output");
    this.#check(this.#s.sl_col2im(pc, this.#win, px), "sl_col2im");
  }

  override conv2dForward(
    x: Buf,
    w: Buf,
    bias: Buf | null,
    g: Window2d,
    filters: number,
    y: Buf,
    cols: Buf | null = null,
  ): void {
    const n = this.#windowSizes(g), f = filters | 0;
    const px = this.#buf(x, n.x, "conv2dForward input");
    const pw = this.#buf(w, f * n.ckk, "conv2dForward weight");
    const pb = bias === null ? null : this.#buf(bias, f, "conv2dForward bias");
    const py = this.#buf(y, f * n.s, "conv2dForward output");
    const pc = cols === null ? null : this.#buf(cols, n.ckk * n.s, "conv2dForward column cache");
    this.#check(this.#s.sl_conv2d_forward(px, pw, pb, this.#win, f, py, pc), "sl_conv2d_forward");
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
    cols: Buf | null = null,
  ): void {
    const n = this.#windowSizes(g), f = filters | 0;
    const px = this.#buf(x, n.x, "conv2dBackward input");
    const pw = this.#buf(w, f * n.ckk, "conv2dBackward weight");
    const pdy = this.#buf(dy, f * n.s, "conv2dBackward dy");
    const pdw = this.#buf(dw, f * n.ckk, "conv2dBackward dw");
    const pdb = db === null ? null : this.#buf(db, f, "conv2dBackward db");
    const pdx = dx === null ? null : this.#buf(dx, n.x, "conv2dBackward dx");
    const pc = cols === null ? null : this.#buf(cols, n.ckk * n.s, "conv2dBackward column cache");
    this.#check(
      this.#s.sl_conv2d_backward(px, pw, pdy, this.#win, f, pdw, pdb, pdx, pc),
      "sl_conv2d_backward",
    );
  }

  override conv2dColumns(g: Window2d, filters: number): number {
    this.#windowSizes(g);
    this.#check(
      this.#s.sl_conv2d_columns(this.#win, filters | 0, this.#i64Out),
      "sl_conv2d_columns",
    );
    return Number(this.#i64Out[0]);
  }

  override maxPoolForward(x: Buf, g: Window2d, y: Buf, argmax: Buf): void {
    const n = this.#windowSizes(g);
    const px = this.#buf(x, n.x, "maxPoolForward input");
    const py = this.#buf(y, n.y, "maxPoolForward output");
    const pi = this.#buf(argmax, n.y, "maxPoolForward argmax");
    this.#check(this.#s.sl_max_pool_forward(px, this.#win, py, pi), "sl_max_pool_forward");
  }

  override maxPoolBackward(dy: Buf, argmax: Buf, g: Window2d, dx: Buf): void {
    const n = this.#windowSizes(g);
    const pdy = this.#buf(dy, n.y, "maxPoolBackward dy");
    const pi = this.#buf(argmax, n.y, "maxPoolBackward argmax");
    const pdx = this.#buf(dx, n.x, "maxPoolBackward dx");
    this.#check(this.#s.sl_max_pool_backward(pdy, pi, this.#win, pdx), "sl_max_pool_backward");
  }

  override avgPoolForward(x: Buf, g: Window2d, y: Buf): void {
    const n = this.#windowSizes(g);
    const px = this.#buf(x, n.x, "avgPoolForward input");
    const py = this.#buf(y, n.y, "avgPoolForward output");
    this.#check(this.#s.sl_avg_pool_forward(px, this.#win, py), "sl_avg_pool_forward");
  }

  override avgPoolBackward(dy: Buf, g: Window2d, dx: Buf): void {
    const n = this.#windowSizes(g);
    const pdy = this.#buf(dy, n.y, "avgPoolBackward dy");
    const pdx = this.#buf(dx, n.x, "avgPoolBackward dx");
    this.#check(this.#s.sl_avg_pool_backward(pdy, this.#win, pdx), "sl_avg_pool_backward");
  }

  // ---------------------------------------------------------------- elementwise

  /** Packs a shape into `dst` (at most MAX_RANK dims); returns the element count C will see. */
  #shape(shape: readonly number[], dst: Int32Array, what: string): number {
    if (shape.length > MAX_RANK) this.#fail(`${what}: rank ${shape.length} exceeds ${MAX_RANK}`);
    let n = 1;
    for (let i = 0; i < shape.length; i++) n *= dst[i] = shape[i];
    return n;
  }

  binary(
    op: BinaryOp,
    a: Buf,
    aShape: readonly number[],
    b: Buf,
    bShape: readonly number[],
    out: Buf,
    outShape: readonly number[],
  ): void {
    const rank = outShape.length;
    // C reads `rank` dims of each shape: all three must have them
    if (aShape.length !== rank || bShape.length !== rank) {
      this.#fail(`binary ${op}: shapes must be aligned to the output rank ${rank}`);
    }
    const pa = this.#buf(a, this.#shape(aShape, this.#shapeA, "binary"), `binary ${op} a`);
    const pb = this.#buf(b, this.#shape(bShape, this.#shapeB, "binary"), `binary ${op} b`);
    const po = this.#buf(out, this.#shape(outShape, this.#shapeO, "binary"), `binary ${op} out`);
    this.#check(
      this.#s.sl_binary(
        codeOf(BINARY_CODES, op),
        pa,
        this.#shapeA,
        pb,
        this.#shapeB,
        po,
        this.#shapeO,
        rank,
      ),
      "sl_binary",
    );
  }

  unary(op: UnaryOp, x: Buf, out: Buf, alpha: number): void {
    const px = this.#buf(x, 0, `${op} input`);
    const po = this.#buf(out, x.length, `${op} output`);
    this.#check(
      this.#s.sl_unary(codeOf(UNARY_CODES, op), px, po, (x as NativeBuf).big, alpha),
      "sl_unary",
    );
  }

  unaryBackward(op: ActivationOp, x: Buf, y: Buf, dy: Buf, dx: Buf, alpha: number): void {
    const n = x.length;
    const px = this.#buf(x, 0, `${op} backward x`);
    const py = this.#buf(y, n, `${op} backward y`);
    const pdy = this.#buf(dy, n, `${op} backward dy`);
    const pdx = this.#buf(dx, n, `${op} backward dx`);
    const code = codeOf(UNARY_CODES, op);
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
    let mask = 0;
    for (const ax of axes) mask |= 1 << ax;
    const total = this.#shape(shape, this.#shapeA, "reduce");
    let outTotal = 1;
    for (let i = 0; i < shape.length; i++) if (!(mask & (1 << i))) outTotal *= this.#shapeA[i];
    const px = this.#buf(x, total, "reduce input");
    const po = this.#buf(out, outTotal, "reduce output");
    this.#check(
      this.#s.sl_reduce(codeOf(REDUCE_CODES, op), px, this.#shapeA, shape.length, mask, po),
      "sl_reduce",
    );
  }

  override scaleBackward(
    dy: Buf,
    x: Buf,
    shape: readonly number[],
    w: Buf,
    wShape: readonly number[],
    dx: Buf | null,
    dw: Buf,
  ): void {
    const total = this.#shape(shape, this.#shapeA, "scaleBackward");
    const wTotal = this.#shape(wShape, this.#shapeB, "scaleBackward");
    this.#check(
      this.#s.sl_scale_backward(
        this.#buf(dy, total, "scaleBackward dy"),
        this.#buf(x, total, "scaleBackward x"),
        this.#shapeA,
        shape.length,
        this.#buf(w, wTotal, "scaleBackward w"),
        this.#shapeB,
        dx ? this.#buf(dx, total, "scaleBackward dx") : null,
        this.#buf(dw, wTotal, "scaleBackward dw"),
      ),
      "sl_scale_backward",
    );
  }

  argmax(x: Buf, rows: number, cols: number, out: Buf): void {
    const px = this.#buf(x, rows * cols, "argmax input");
    const po = this.#buf(out, rows, "argmax output");
    this.#check(this.#s.sl_argmax(px, BigInt(rows), BigInt(cols), po), "sl_argmax");
  }

  topkMask(x: Buf, rows: number, cols: number, k: number, out: Buf): void {
    const px = this.#buf(x, rows * cols, "topkMask input");
    const po = this.#buf(out, rows * cols, "topkMask output");
    this.#check(
      this.#s.sl_topk_mask(px, BigInt(rows), BigInt(cols), BigInt(k), po),
      "sl_topk_mask",
    );
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

  // ---------------------------------------------------------------- optimizer

  /** A state slot's pointer, or null when the slot is missing (C then names it). */
  #slot(b: Buf | undefined, n: number, what: string): Deno.PointerObject | null {
    return b === undefined ? null : this.#buf(b, n, what);
  }

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
        code = rule.nesterov ? RULE_CODES.nesterov : RULE_CODES.momentum;
        h[1] = rule.momentum;
        s0 = this.#slot(state[0], n, "momentum velocity");
        break;
      case "adam":
        code = rule.decoupled ? RULE_CODES.adamw : RULE_CODES.adam;
        h[2] = rule.beta1;
        h[3] = rule.beta2;
        h[4] = rule.eps;
        h[6] = rule.step;
        s0 = this.#slot(state[0], n, "adam m");
        s1 = this.#slot(state[1], n, "adam v");
        break;
      default:
        code = -1; // C rejects it, naming the rule codes
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
