/**
 * The `Backend` interface: the only place that knows where tensor memory lives.
 *
 * A backend is a short list of {@link Primitives} plus the {@link FusedOps} (convolution,
 * pooling, batch norm, softmax cross-entropy). Every fused op has a default composition of the
 * primitives in `backends/compose.ts`, which every backend inherits; a backend overrides a
 * fused op only for speed. Argument and shape checks are not made here but once, in `ops.ts`,
 * the only caller of these methods in the library; a backend keeps only the guards that
 * protect memory (buffer ownership and lengths).
 *
 * Every op works on opaque {@link Buf} handles plus explicit sizes. All multi-dimensional data
 * is row-major (C order); images are NCHW. Ops never allocate their outputs: the caller (see
 * `ops.ts`) allocates and passes them, so backends stay a short list of kernels. Unless an op
 * says otherwise, an output buffer must not alias an input buffer.
 *
 * Implementations: `ts` (pure TypeScript, float32 and float64, the reference oracle), `cpu`
 * (the native library's host C build through Deno FFI, float32), `cuda` (the native library's
 * CUDA build, float32, memory on the device) and the shapes-only `dry-run` backend. Naming is
 * one rule across them: `maxPoolBackward` here, `sl_max_pool_backward` in the C API
 * (`cuda/include/shiftlab.h`), `k_max_pool_backward` as the CUDA kernel.
 *
 * @module
 */

/** Element type of a tensor. Native backends support only `float32`. */
export type DType = "float32" | "float64";

/** Host-side typed array for a dtype. */
export type HostArray = Float32Array | Float64Array;

/** An opaque memory handle owned by one backend. */
export interface Buf {
  /** Number of elements. */
  readonly length: number;
  /** Element type. */
  readonly dtype: DType;
  /** True once the memory was released. */
  readonly disposed: boolean;
}

/** Elementwise binary ops with NumPy-style broadcasting. */
export const BINARY_OPS = ["add", "sub", "mul", "div", "max", "min"] as const;
/** One of {@link BINARY_OPS}. */
export type BinaryOp = (typeof BINARY_OPS)[number];

/**
 * Elementwise unary ops, `y = f(x)`; `alpha` is the op's parameter where it has one:
 * `leaky_relu` slope, `scale` factor (`y = alpha x`), `add_scalar` (`y = x + alpha`),
 * `pow` exponent (`y = x^alpha`).
 */
export const UNARY_OPS = [
  "relu",
  "leaky_relu",
  "sigmoid",
  "tanh",
  "softplus",
  "exp",
  "log",
  "sqrt",
  "square",
  "abs",
  "neg",
  "sign",
  "scale",
  "add_scalar",
  "pow",
  "reciprocal",
] as const;
/** One of {@link UNARY_OPS}. */
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Activations whose derivative {@link Backend.unaryBackward} provides. */
export const ACTIVATION_OPS = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus"] as const;
/** One of {@link ACTIVATION_OPS}. */
export type ActivationOp = (typeof ACTIVATION_OPS)[number];

/** Reductions over chosen axes. */
export const REDUCE_OPS = ["sum", "mean", "max"] as const;
/** One of {@link REDUCE_OPS}. */
export type ReduceOp = (typeof REDUCE_OPS)[number];

/** Geometry of a 2-D window op (convolution via im2col, pooling) over NCHW input. */
export interface Window2d {
  /** Batch size. */
  n: number;
  /** Input channels. */
  c: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Window (kernel) height. */
  kh: number;
  /** Window (kernel) width. */
  kw: number;
  /** Vertical stride. */
  sh: number;
  /** Horizontal stride. */
  sw: number;
  /** Zero padding at the top and bottom. */
  ph: number;
  /** Zero padding at the left and right. */
  pw: number;
}

/** Output spatial size `floor((n + 2p - k) / s) + 1`. */
export function outSize(n: number, k: number, s: number, p: number): number {
  return Math.floor((n + 2 * p - k) / s) + 1;
}

/** Output `[OH, OW]` of a window. */
export function windowOut(g: Window2d): [number, number] {
  return [outSize(g.h, g.kh, g.sh, g.ph), outSize(g.w, g.kw, g.sw, g.pw)];
}

/** Hyperparameters of one optimizer update step, applied in place. */
export type UpdateRule =
  | { kind: "sgd"; lr: number; weightDecay: number }
  | { kind: "momentum"; lr: number; momentum: number; nesterov: boolean; weightDecay: number }
  | {
    kind: "adam";
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    /** 1-based step count, for bias correction. */
    step: number;
    /** L2 (added to the gradient) when `decoupled` is false, AdamW decay when true. */
    weightDecay: number;
    decoupled: boolean;
  };

/**
 * The primitives: what every backend implements. Semantics are defined here once; the C header
 * `cuda/include/shiftlab.h` mirrors them and the conformance suite checks every
 * implementation against `ts`.
 */
export interface Primitives {
  /** `ts`, `cpu`, `cuda` or `dry-run`. */
  readonly name: string;
  /** Human-readable device description for provenance (e.g. CPU model, GPU name). */
  readonly device: string;
  /**
   * Bytes of one layer's activations an inference forward should have in flight, so that they
   * stay in cache (a host backend: about one core's L2); `evaluate` then runs a batch's
   * forward a few samples at a time (each sample's outputs are the same bits either way).
   * Undefined: the whole batch at once (a GPU wants big batches).
   */
  readonly inferenceBytes?: number;
  /** Whether this backend can hold the given dtype. */
  supports(dtype: DType): boolean;

  // ---- memory ----
  /**
   * Allocates `length` elements, zero-filled unless `zeroed` is false: then the contents are
   * unspecified (for outputs an op overwrites in full; saves a pass over memory).
   */
  alloc(length: number, dtype: DType, zeroed?: boolean): Buf;
  /** Releases memory; idempotent. */
  free(buf: Buf): void;
  /** Copies host data into `buf` starting at element `offset` (default 0). */
  upload(buf: Buf, data: ArrayLike<number>, offset?: number): void;
  /** Copies `length` elements starting at `offset` to the host (defaults: the whole buffer). */
  download(buf: Buf, offset?: number, length?: number): HostArray;
  /** Sets every element to `value`. */
  fill(buf: Buf, value: number): void;
  /** `dst[dstOff + i] = src[srcOff + i]` for `i < n`. */
  copy(src: Buf, srcOff: number, dst: Buf, dstOff: number, n: number): void;

  // ---- linear algebra ----
  /**
   * `C = alpha * op(A) * op(B) + beta * C`, row-major; `op(A)` is `M x K` (A stored `K x M`
   * when `transA`), `op(B)` is `K x N`, `C` is `M x N`. Offsets are in elements.
   * With `beta = 0` the old content of C is ignored (NaN included).
   */
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
  ): void;

  // ---- convolution helpers (the default convolution's layout ops) ----
  /**
   * Batched im2col: `x` is `[N, C, H, W]`; `col` is `[C*kh*kw, N*OH*OW]` with rows ordered
   * `(c, ky, kx)` and columns `(n, oy, ox)`; padding reads as 0.
   */
  im2col(x: Buf, g: Window2d, col: Buf): void;
  /** Adjoint of {@link im2col}: sums `col` back into `x` (overwrites `x`). */
  col2im(col: Buf, g: Window2d, x: Buf): void;
  /**
   * Reorders `[d0, d1, inner]` to `[d1, d0, inner]` (swaps the first two axes).
   */
  swapAxes01(x: Buf, d0: number, d1: number, inner: number, out: Buf): void;

  // ---- elementwise ----
  /**
   * `out = a op b` with broadcasting. Shapes are given already aligned to the output rank
   * (size-1 axes broadcast). `out` may alias `a` or `b` when that operand has the output shape.
   */
  binary(
    op: BinaryOp,
    a: Buf,
    aShape: readonly number[],
    b: Buf,
    bShape: readonly number[],
    out: Buf,
    outShape: readonly number[],
  ): void;
  /** `out = f(x)`; `out` may alias `x`. */
  unary(op: UnaryOp, x: Buf, out: Buf, alpha: number): void;
  /**
   * `dx = dy * f'(x)`; `y = f(x)` is passed too since some derivatives are cheaper from it.
   * `dx` may alias `dy`.
   */
  unaryBackward(op: ActivationOp, x: Buf, y: Buf, dy: Buf, dx: Buf, alpha: number): void;
  /** `out[i] = alpha * a[i] + beta * b[i]`; `out` may alias `a` or `b`. */
  axpby(alpha: number, a: Buf, beta: number, b: Buf, out: Buf): void;

  // ---- reductions and row selections ----
  /**
   * Reduces `x` of `shape` over `axes` (sorted, unique); `out` has the shape with those axes
   * removed (its element order is the input's with reduced axes dropped).
   */
  reduce(op: ReduceOp, x: Buf, shape: readonly number[], axes: readonly number[], out: Buf): void;
  /** Row-wise argmax of `[rows, cols]` into `out[rows]` (as float indices; first max wins). */
  argmax(x: Buf, rows: number, cols: number, out: Buf): void;
  /** k-winners-take-all mask over `[rows, cols]`: 1 for the k largest entries of a row, else 0. */
  topkMask(x: Buf, rows: number, cols: number, k: number, out: Buf): void;

  // ---- randomness ----
  /**
   * Inverted-dropout mask over `[outer, C, inner]`: each element (or, when `perChannel`, each
   * `(outer, c)` pair) is kept with probability `1 - p`; kept entries are `1/(1-p)`, dropped 0.
   * Unit `j` (element index, or `outer_index * C + c` when per channel) is kept iff
   * `randomU32(seed, stream, counter + j) >= floor(p * 2^32)` (see `rng.ts`).
   */
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
  ): void;

  // ---- optimizer steps (in place) ----
  /**
   * Updates `param` from `grad` with `rule`. `state` holds the rule's slots: none for SGD,
   * `[velocity]` for momentum, `[m, v]` for Adam. Weight decay here is the rule's (already
   * multiplied by the parameter's decay flag by the caller); `lr` already includes the
   * parameter's multiplier. Precision policy, the same on every backend: the new state is
   * computed in double from the stored values and rounded once to the parameter's dtype, and
   * the parameter then moves by the stored (rounded) state.
   */
  update(rule: UpdateRule, param: Buf, grad: Buf, state: readonly Buf[]): void;

  /** Waits for queued work (no-op on synchronous backends). */
  synchronize(): void;
  /** Bytes currently held by this backend's allocator (live + cached), for soak tests. */
  memoryInUse(): number;
}

/**
 * The fused ops. Each has a default composition of the {@link Primitives} in
 * `backends/compose.ts` (which every backend inherits); a backend overrides one only for speed,
 * and the conformance suite checks both the overrides and the compositions against `ts`.
 */
export interface FusedOps {
  // ---- convolution ----
  /**
   * Convolution forward, weight `[filters, C, kh, kw]`: `y [N, filters, OH, OW]` is
   * `w · im2col(x)` plus `bias[f]` per filter (`bias` null: none). The default composition
   * is im2col, one GEMM and a reorder; the native CPU build instead builds the column matrix a
   * group of images at a time and takes 3x3 stride-1 windows through Winograd.
   */
  conv2dForward(
    x: Buf,
    w: Buf,
    bias: Buf | null,
    g: Window2d,
    filters: number,
    y: Buf,
    cols?: Buf | null,
  ): void;
  /**
   * Convolution backward from `dy [N, filters, OH, OW]` and the forward's input `x`:
   * `dw += dL/dw`, `db += dL/db` (null: no bias), and `dx = dL/dx`, overwritten (null: not
   * wanted).
   */
  conv2dBackward(
    x: Buf,
    w: Buf,
    dy: Buf,
    g: Window2d,
    filters: number,
    dw: Buf,
    db: Buf | null,
    dx: Buf | null,
    cols?: Buf | null,
  ): void;
  /**
   * Elements of a column cache for this convolution, 0 when this backend's convolution of `g`
   * builds no column matrix a cache could hold (Winograd; the CUDA build). Given a buffer of
   * that size as `cols`, `conv2dForward` leaves `im2col(x)` there and `conv2dBackward` of the
   * same `x` reads it instead of building it again; the results are the same bits either way.
   */
  conv2dColumns(g: Window2d, filters: number): number;

  // ---- pooling ----
  /**
   * Max pooling over `[N, C, H, W]`; `y` is `[N, C, OH, OW]`; `argmax` receives, per output,
   * the flat index `iy * W + ix` of the winning input within its channel plane (first
   * maximum wins ties; padding never wins).
   */
  maxPoolForward(x: Buf, g: Window2d, y: Buf, argmax: Buf): void;
  /** Routes `dy` to the argmax positions; overwrites `dx`. */
  maxPoolBackward(dy: Buf, argmax: Buf, g: Window2d, dx: Buf): void;
  /** Average pooling; the divisor is always `kh * kw` (padding counts as zeros). */
  avgPoolForward(x: Buf, g: Window2d, y: Buf): void;
  /** Backward of {@link avgPoolForward}; overwrites `dx`. */
  avgPoolBackward(dy: Buf, g: Window2d, dx: Buf): void;

  // ---- losses ----
  /**
   * Numerically stable softmax cross-entropy over `logits [N, K]` with `labels [N]` (class
   * indices stored as floats). Writes `probs [N, K]` and per-sample `losses [N]`.
   */
  softmaxCrossEntropy(
    logits: Buf,
    labels: Buf,
    n: number,
    k: number,
    probs: Buf,
    losses: Buf,
  ): void;
  /** `dlogits = scale * (probs - onehot(labels))`; `scale` is usually `1 / N`. */
  softmaxCrossEntropyBackward(
    probs: Buf,
    labels: Buf,
    n: number,
    k: number,
    scale: number,
    dlogits: Buf,
  ): void;

  // ---- scaling layer ----
  /**
   * A scaling layer's backward, `y = x * w` with `w [wShape]` broadcast to `shape` (`wShape`
   * has `shape`'s rank, 1 on the axes `w` is shared across): `dw` = the sum of `dy * x` over
   * those axes and `dx = dy * w` (null: not wanted), both overwritten. The default composition
   * is binary mul, reduce, binary mul; the native CPU build does the three in one pass, with the
   * same bits.
   */
  scaleBackward(
    dy: Buf,
    x: Buf,
    shape: readonly number[],
    w: Buf,
    wShape: readonly number[],
    dx: Buf | null,
    dw: Buf,
  ): void;

  // ---- batch normalization over [outer, C, inner] ----
  /**
   * Training mode (`training`): per-channel batch mean and biased variance over `outer` and
   * `inner`, `y = gamma (x - mean) / sqrt(var + eps) + beta`; saves `mean` and
   * `invStd = 1/sqrt(var + eps)`; updates running statistics as
   * `running = (1 - momentum) running + momentum batch` (the running variance uses the unbiased
   * batch variance). Eval mode normalises with the running statistics and leaves the others.
   */
  batchNormForward(
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
  ): void;
  /** Full backward through mean and variance (training mode); overwrites dx, dgamma, dbeta. */
  batchNormBackward(
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
  ): void;
}

/** A backend: the primitives plus the fused ops. */
export interface Backend extends Primitives, FusedOps {}

/** The method names of {@link Primitives}. */
export const PRIMITIVE_OPS = [
  "supports",
  "alloc",
  "free",
  "upload",
  "download",
  "fill",
  "copy",
  "gemm",
  "im2col",
  "col2im",
  "swapAxes01",
  "binary",
  "unary",
  "unaryBackward",
  "axpby",
  "reduce",
  "argmax",
  "topkMask",
  "dropoutMask",
  "update",
  "synchronize",
  "memoryInUse",
] as const satisfies readonly (keyof Primitives)[];

/** The method names of {@link FusedOps}. */
export const FUSED_OPS = [
  "conv2dForward",
  "conv2dBackward",
  "conv2dColumns",
  "maxPoolForward",
  "maxPoolBackward",
  "avgPoolForward",
  "avgPoolBackward",
  "softmaxCrossEntropy",
  "softmaxCrossEntropyBackward",
  "scaleBackward",
  "batchNormForward",
  "batchNormBackward",
] as const satisfies readonly (keyof FusedOps)[];
