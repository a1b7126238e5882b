/**
 * Tensor-level ops: shape and argument checking, output allocation and broadcasting, written
 * once on top of the {@link Backend} interface. Layers, losses and optimizers use only these,
 * and this is the one place where arguments are checked: the backends below keep only the
 * guards that protect memory (buffer ownership and lengths).
 *
 * @module
 */
import type {
  ActivationOp,
  Backend,
  BinaryOp,
  DType,
  ReduceOp,
  UnaryOp,
  UpdateRule,
  Window2d,
} from "./backend.ts";
import { ACTIVATION_OPS, BINARY_OPS, REDUCE_OPS, UNARY_OPS, windowOut } from "./backend.ts";
import { fmtShape, shapeSize, Tensor } from "./tensor.ts";

function sameBackend(op: string, ...ts: Tensor[]): void {
  const b = ts[0].backend;
  for (const t of ts) {
    if (t.backend !== b) {
      throw new Error(
        `${op}: tensors live on different backends (${b.name} and ${t.backend.name})`,
      );
    }
    if (t.dtype !== ts[0].dtype) {
      throw new Error(`${op}: dtype mismatch (${ts[0].dtype} and ${t.dtype})`);
    }
  }
}

/** Throws unless `op` is one of `known`. */
function knownOp(kind: string, op: string, known: readonly string[]): void {
  if (!known.includes(op)) {
    throw new Error(`${kind}: unknown op '${op}' (expected one of ${known.join(", ")})`);
  }
}

/** The broadcast shape of two shapes (NumPy rules), or an error naming both. */
export function broadcastShape(
  a: readonly number[],
  b: readonly number[],
  op = "broadcast",
): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

function align(shape: readonly number[], rank: number): number[] {
  return [...new Array(rank - shape.length).fill(1), ...shape];
}

/** `a op b` with broadcasting, into a new tensor (or into `out`, which must have the result shape). */
export function binary(op: BinaryOp, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  knownOp("binary", op, BINARY_OPS);
  sameBackend(op, a, b);
  const shape = broadcastShape(a.shape, b.shape, op);
  const o = out ?? Tensor.empty(a.backend, shape, a.dtype);
  if (o.size !== shapeSize(shape)) {
    throw new Error(`${op}: output ${fmtShape(o.shape)} does not hold result ${fmtShape(shape)}`);
  }
  a.backend.binary(
    op,
    a.buf,
    align(a.shape, shape.length),
    b.buf,
    align(b.shape, shape.length),
    o.buf,
    shape,
  );
  return o;
}

/** `a + b` (broadcasting). */
export const add = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary("add", a, b, out);
/** `a - b` (broadcasting). */
export const sub = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary("sub", a, b, out);
/** `a * b` (broadcasting). */
export const mul = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary("mul", a, b, out);
/** `a / b` (broadcasting). */
export const div = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary("div", a, b, out);

/** `f(x)` elementwise into a new tensor (or `out`, which may be `x`). */
export function unary(op: UnaryOp, x: Tensor, alpha = 0, out?: Tensor): Tensor {
  knownOp("unary", op, UNARY_OPS);
  const o = out ?? Tensor.empty(x.backend, x.shape, x.dtype);
  if (o.size !== x.size) throw new Error(`${op}: output size ${o.size} != input size ${x.size}`);
  x.backend.unary(op, x.buf, o.buf, alpha);
  return o;
}

/** `alpha * x`. */
export const scale = (x: Tensor, alpha: number, out?: Tensor): Tensor =>
  unary("scale", x, alpha, out);

/** `dy * f'(x)` for an activation (y = f(x) given as well). */
export function activationBackward(
  op: ActivationOp,
  x: Tensor,
  y: Tensor,
  dy: Tensor,
  alpha = 0,
): Tensor {
  knownOp("activationBackward", op, ACTIVATION_OPS);
  sameBackend(op, x, y, dy);
  if (dy.size !== x.size) {
    throw new Error(`${op} backward: gradient ${fmtShape(dy.shape)} vs input ${fmtShape(x.shape)}`);
  }
  const dx = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.unaryBackward(op, x.buf, y.buf, dy.buf, dx.buf, alpha);
  return dx;
}

/** `out = alpha a + beta b` (same sizes); `out` defaults to a new tensor and may be `a` or `b`. */
export function axpby(alpha: number, a: Tensor, beta: number, b: Tensor, out?: Tensor): Tensor {
  sameBackend("axpby", a, b);
  if (a.size !== b.size) {
    throw new Error(`axpby: sizes differ, ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const o = out ?? Tensor.empty(a.backend, a.shape, a.dtype);
  a.backend.axpby(alpha, a.buf, beta, b.buf, o.buf);
  return o;
}

/** Accumulates `src` into `acc` in place: `acc += src`. */
export function accumulate(acc: Tensor, src: Tensor): void {
  axpby(1, acc, 1, src, acc);
}

/**
 * Reduces over `axes`; with `keepDims` the reduced axes stay as size 1.
 */
export function reduce(
  op: ReduceOp,
  x: Tensor,
  axes: readonly number[],
  keepDims = false,
): Tensor {
  knownOp("reduce", op, REDUCE_OPS);
  const ax = [...new Set(axes.map((a) => (a < 0 ? a + x.rank : a)))].sort((p, q) => p - q);
  for (const a of ax) {
    if (a < 0 || a >= x.rank) {
      throw new Error(`${op}: axis ${a} out of range for ${fmtShape(x.shape)}`);
    }
  }
  const outShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const o = Tensor.zeros(
    x.backend,
    keepDims ? outShape : x.shape.filter((_, i) => !ax.includes(i)),
    x.dtype,
  );
  x.backend.reduce(op, x.buf, x.shape, ax, o.buf);
  return o;
}

/** Sum over axes. */
export const sum = (x: Tensor, axes: readonly number[], keepDims = false): Tensor =>
  reduce("sum", x, axes, keepDims);
/** Mean over axes. */
export const mean = (x: Tensor, axes: readonly number[], keepDims = false): Tensor =>
  reduce("mean", x, axes, keepDims);

/**
 * Sums `grad` (of the broadcast output shape) down to `shape`, the inverse of broadcasting.
 */
export function sumTo(grad: Tensor, shape: readonly number[]): Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) {
    return grad.clone();
  }
  const aligned = align(shape, grad.rank);
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) if (aligned[i] === 1 && grad.shape[i] !== 1) axes.push(i);
  const r = reduce("sum", grad, axes, true);
  return r.reshape(shape);
}

/**
 * Backward of `y = x * w` (`w` broadcast against `x`, NumPy rules, as in {@link mul}): `dw`, the
 * sum of `dy * x` over the axes `w` is broadcast along, shaped as `w`; and `dx = dy * w` (null
 * when `wantDx` is false). New tensors; the bits of `sumTo(mul(dy, x), w.shape)` and
 * `mul(dy, w)`, computed by the backend's fused op (one pass on the native CPU build).
 */
export function scaleBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  wantDx = true,
): { dx: Tensor | null; dw: Tensor } {
  const op = "scaleBackward";
  sameBackend(op, dy, x, w);
  expectShape(op, "dy", dy, x.shape);
  const shape = broadcastShape(x.shape, w.shape, op);
  if (shape.length !== x.rank || shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(
      `${op}: w ${fmtShape(w.shape)} broadcasts x ${fmtShape(x.shape)} to a larger shape`,
    );
  }
  const b = x.backend;
  const dw = Tensor.empty(b, w.shape, x.dtype);
  const dx = wantDx ? Tensor.empty(b, x.shape, x.dtype) : null;
  b.scaleBackward(dy.buf, x.buf, x.shape, w.buf, align(w.shape, x.rank), dx?.buf ?? null, dw.buf);
  return { dx, dw };
}

/**
 * `alpha * op(a) @ op(b) + beta * out` for rank-2 tensors.
 */
export function matmul(
  a: Tensor,
  b: Tensor,
  opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; out?: Tensor } = {},
): Tensor {
  sameBackend("matmul", a, b);
  const { transA = false, transB = false, alpha = 1, beta = 0 } = opts;
  if (a.rank !== 2 || b.rank !== 2) {
    throw new Error(
      `matmul: rank-2 operands expected, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  const m = transA ? a.shape[1] : a.shape[0];
  const k = transA ? a.shape[0] : a.shape[1];
  const kb = transB ? b.shape[1] : b.shape[0];
  const n = transB ? b.shape[0] : b.shape[1];
  if (k !== kb) {
    throw new Error(
      `matmul: inner dimensions differ: ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} x ${
        fmtShape(b.shape)
      }${transB ? "ᵀ" : ""}`,
    );
  }
  // beta * C reads C: a new output is zero-filled unless beta is 0.
  const out = opts.out ??
    (beta === 0
      ? Tensor.empty(a.backend, [m, n], a.dtype)
      : Tensor.zeros(a.backend, [m, n], a.dtype));
  if (out.size !== m * n) {
    throw new Error(`matmul: output ${fmtShape(out.shape)} is not [${m}, ${n}]`);
  }
  a.backend.gemm(transA, transB, m, n, k, alpha, a.buf, 0, b.buf, 0, beta, out.buf, 0);
  return out;
}

/** Window geometry for an NCHW input. */
export function window2d(
  shape: readonly number[],
  k: [number, number],
  s: [number, number],
  p: [number, number],
): Window2d {
  const [n, c, h, w] = shape;
  return { n, c, h, w, kh: k[0], kw: k[1], sh: s[0], sw: s[1], ph: p[0], pw: p[1] };
}

/** Output `[OH, OW]` of a window. */
export { windowOut };

/** Fills a new tensor of `x`'s shape/backend with a constant. */
export function fullLike(x: Tensor, value: number): Tensor {
  return Tensor.full(x.backend, x.shape, value, x.dtype);
}

// ---------------------------------------------------------------- windows

const WINDOW_KEYS = ["n", "c", "h", "w", "kh", "kw", "sh", "sw", "ph", "pw"] as const;

/**
 * Checks a window's geometry (non-negative integer sizes and padding, positive kernel and
 * stride, the kernel fits the padded input) and returns its output `[OH, OW]`.
 */
export function checkWindow(g: Window2d, op: string): [number, number] {
  for (const key of WINDOW_KEYS) {
    const v = g[key];
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new Error(`${op}: window ${key} must be a non-negative integer, got ${v}`);
    }
  }
  if (g.kh === 0 || g.kw === 0 || g.sh === 0 || g.sw === 0) {
    throw new Error(
      `${op}: kernel and stride must be positive (kernel ${g.kh}x${g.kw}, stride ${g.sh}x${g.sw})`,
    );
  }
  const [oh, ow] = windowOut(g);
  if (!(oh > 0 && ow > 0)) {
    throw new Error(
      `${op}: window ${g.kh}x${g.kw} does not fit input ${g.h}x${g.w} (padding ${g.ph},${g.pw})`,
    );
  }
  return [oh, ow];
}

/** Throws unless `t` has exactly `shape`, naming `what`. */
function expectShape(op: string, what: string, t: Tensor, shape: readonly number[]): void {
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${op}: ${what} must be ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  }
}

/** Throws unless `t` holds `size` elements, naming `what` and the shape it stands for. */
function expectSize(op: string, what: string, t: Tensor, shape: readonly number[]): void {
  if (t.size !== shapeSize(shape)) {
    throw new Error(
      `${op}: ${what} must hold ${fmtShape(shape)} (${shapeSize(shape)} elements), got ` +
        fmtShape(t.shape),
    );
  }
}

/** The window `g` checked against the NCHW input `x`; returns the output `[OH, OW]`. */
function inputWindow(op: string, x: Tensor, g: Window2d): [number, number] {
  const out = checkWindow(g, op);
  expectShape(op, "input", x, [g.n, g.c, g.h, g.w]);
  return out;
}

// ---------------------------------------------------------------- convolution

/** Throws unless `weight` is `[F, C, kh, kw]` for window `g` (and `bias`, if any, `[F]`). */
function convParams(op: string, g: Window2d, weight: Tensor, bias: Tensor | null): number {
  const f = weight.shape[0];
  if (weight.rank !== 4 || !(f > 0)) {
    throw new Error(`${op}: weight must be [filters, C, kh, kw], got ${fmtShape(weight.shape)}`);
  }
  expectShape(op, "weight", weight, [f, g.c, g.kh, g.kw]);
  if (bias) expectShape(op, "bias", bias, [f]);
  return f;
}

/** Throws unless `cols` (if any) is a column cache of the backend's size for this convolution. */
function checkColumns(op: string, x: Tensor, g: Window2d, f: number, cols: Tensor | null): void {
  if (!cols) return;
  sameBackend(op, x, cols);
  const want = x.backend.conv2dColumns(g, f);
  if (want === 0 || cols.size !== want) {
    throw new Error(
      `${op}: column cache of ${cols.size} elements, expected ${want} ` +
        `(conv2dColumns; 0: this convolution takes none)`,
    );
  }
}

/**
 * 2-D convolution (cross-correlation) of `x [N, C, H, W]` with `weight [F, C, kh, kw]` over
 * window `g`, plus `bias [F]` per filter (null: none): `[N, F, OH, OW]`. `cols`, a column
 * cache of `backend.conv2dColumns(g, F)` elements, receives `im2col(x)` for
 * {@link conv2dBackward} of the same `x`.
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  g: Window2d,
  cols: Tensor | null = null,
): Tensor {
  const op = "conv2d";
  sameBackend(op, ...(bias ? [x, weight, bias] : [x, weight]));
  const [oh, ow] = inputWindow(op, x, g);
  const f = convParams(op, g, weight, bias);
  checkColumns(op, x, g, f, cols);
  const y = Tensor.empty(x.backend, [g.n, f, oh, ow], x.dtype);
  x.backend.conv2dForward(
    x.buf,
    weight.buf,
    bias ? bias.buf : null,
    g,
    f,
    y.buf,
    cols ? cols.buf : null,
  );
  return y;
}

/**
 * Backward of {@link conv2d} from `dy [N, F, OH, OW]`: accumulates `dWeight += dL/dW` and
 * `dBias += dL/db` (null: no bias), and returns `dL/dx` (null when `inputGrad` is false).
 * `cols`: the column cache the forward of this `x` filled, or null.
 */
export function conv2dBackward(
  x: Tensor,
  weight: Tensor,
  dy: Tensor,
  g: Window2d,
  dWeight: Tensor,
  dBias: Tensor | null,
  inputGrad: boolean,
  cols: Tensor | null = null,
): Tensor | null {
  const op = "conv2dBackward";
  sameBackend(op, ...(dBias ? [x, weight, dy, dWeight, dBias] : [x, weight, dy, dWeight]));
  const [oh, ow] = inputWindow(op, x, g);
  const f = convParams(op, g, weight, dBias);
  checkColumns(op, x, g, f, cols);
  expectShape(op, "dy", dy, [g.n, f, oh, ow]);
  expectShape(op, "weight gradient", dWeight, weight.shape);
  const dx = inputGrad ? Tensor.empty(x.backend, x.shape, x.dtype) : null;
  x.backend.conv2dBackward(
    x.buf,
    weight.buf,
    dy.buf,
    g,
    f,
    dWeight.buf,
    dBias ? dBias.buf : null,
    dx ? dx.buf : null,
    cols ? cols.buf : null,
  );
  return dx;
}

// ---------------------------------------------------------------- pooling

/**
 * Max pooling of `x [N, C, H, W]` over window `g`: the maxima `[N, C, OH, OW]` and, per output,
 * the flat index `iy * W + ix` of the winner in its channel plane (for the backward).
 */
export function maxPool2d(x: Tensor, g: Window2d): { y: Tensor; argmax: Tensor } {
  const [oh, ow] = inputWindow("maxPool2d", x, g);
  const y = Tensor.empty(x.backend, [g.n, g.c, oh, ow], x.dtype);
  const argmax = Tensor.empty(x.backend, y.shape, x.dtype);
  x.backend.maxPoolForward(x.buf, g, y.buf, argmax.buf);
  return { y, argmax };
}

/** Backward of {@link maxPool2d}: routes `dy` to the argmax positions; `[N, C, H, W]`. */
export function maxPool2dBackward(dy: Tensor, argmax: Tensor, g: Window2d): Tensor {
  const op = "maxPool2dBackward";
  sameBackend(op, dy, argmax);
  const [oh, ow] = checkWindow(g, op);
  expectSize(op, "dy", dy, [g.n, g.c, oh, ow]);
  expectSize(op, "argmax", argmax, [g.n, g.c, oh, ow]);
  const dx = Tensor.empty(dy.backend, [g.n, g.c, g.h, g.w], dy.dtype);
  dy.backend.maxPoolBackward(dy.buf, argmax.buf, g, dx.buf);
  return dx;
}

/**
 * Average pooling of `x [N, C, H, W]` over window `g` (the divisor is always `kh * kw`):
 * `[N, C, OH, OW]`, or into `out`, which may have any shape of that size (`[N, C]` for a
 * global pool).
 */
export function avgPool2d(x: Tensor, g: Window2d, out?: Tensor): Tensor {
  const op = "avgPool2d";
  const [oh, ow] = inputWindow(op, x, g);
  const y = out ?? Tensor.empty(x.backend, [g.n, g.c, oh, ow], x.dtype);
  if (out) {
    sameBackend(op, x, out);
    expectSize(op, "output", out, [g.n, g.c, oh, ow]);
  }
  x.backend.avgPoolForward(x.buf, g, y.buf);
  return y;
}

/** Backward of {@link avgPool2d} from `dy` (any shape of the output's size): `[N, C, H, W]`. */
export function avgPool2dBackward(dy: Tensor, g: Window2d): Tensor {
  const op = "avgPool2dBackward";
  const [oh, ow] = checkWindow(g, op);
  expectSize(op, "dy", dy, [g.n, g.c, oh, ow]);
  const dx = Tensor.empty(dy.backend, [g.n, g.c, g.h, g.w], dy.dtype);
  dy.backend.avgPoolBackward(dy.buf, g, dx.buf);
  return dx;
}

// ---------------------------------------------------------------- batch normalization

/** `x [N, C, ...]` as `[outer, C, inner]`, after checking the `[C]` parameters. */
function batchNormGeometry(op: string, x: Tensor, ...perChannel: Tensor[]): [number, number] {
  if (x.rank < 2) throw new Error(`${op}: input must be [N, C, ...], got ${fmtShape(x.shape)}`);
  const c = x.shape[1];
  for (const t of perChannel) expectShape(op, "per-channel tensor", t, [c]);
  return [c, shapeSize(x.shape.slice(2))];
}

/** Options of {@link batchNorm}. */
export interface BatchNormStep {
  /** Batch statistics (and a running-average update) when true, running statistics when false. */
  training: boolean;
  /** Weight of the batch statistic in the running averages, in [0, 1]. */
  momentum: number;
  /** Added to the variance, > 0. */
  eps: number;
}

/**
 * Batch normalization of `x [N, C, ...]` per channel (see `Backend.batchNormForward`): `y`,
 * and the batch `mean` and `invStd` the backward needs (training; zeros in eval mode). Updates
 * the running statistics in place when training.
 */
export function batchNorm(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  step: BatchNormStep,
): { y: Tensor; mean: Tensor; invStd: Tensor } {
  const op = "batchNorm";
  sameBackend(op, x, gamma, beta, runningMean, runningVar);
  const [c, inner] = batchNormGeometry(op, x, gamma, beta, runningMean, runningVar);
  const { training, momentum, eps } = step;
  if (!(momentum >= 0 && momentum <= 1)) {
    throw new Error(`${op}: momentum must be in [0, 1], got ${momentum}`);
  }
  if (!(eps > 0) || !Number.isFinite(eps)) {
    throw new Error(`${op}: eps must be a finite number > 0, got ${eps}`);
  }
  const b = x.backend;
  const y = Tensor.empty(b, x.shape, x.dtype);
  const mean = Tensor.zeros(b, [c], x.dtype);
  const invStd = Tensor.zeros(b, [c], x.dtype);
  b.batchNormForward(
    x.buf,
    x.shape[0],
    c,
    inner,
    gamma.buf,
    beta.buf,
    runningMean.buf,
    runningVar.buf,
    training,
    momentum,
    eps,
    y.buf,
    mean.buf,
    invStd.buf,
  );
  return { y, mean, invStd };
}

/**
 * Backward of a training-mode {@link batchNorm} through the batch mean and variance: `dx` and
 * the gradients of `gamma` and `beta` (new tensors, not accumulated).
 */
export function batchNormBackward(
  x: Tensor,
  dy: Tensor,
  gamma: Tensor,
  mean: Tensor,
  invStd: Tensor,
): { dx: Tensor; dgamma: Tensor; dbeta: Tensor } {
  const op = "batchNormBackward";
  sameBackend(op, x, dy, gamma, mean, invStd);
  const [c, inner] = batchNormGeometry(op, x, gamma, mean, invStd);
  expectShape(op, "dy", dy, x.shape);
  const b = x.backend;
  const dx = Tensor.empty(b, x.shape, x.dtype);
  const dgamma = Tensor.empty(b, [c], x.dtype);
  const dbeta = Tensor.empty(b, [c], x.dtype);
  b.batchNormBackward(
    x.buf,
    dy.buf,
    x.shape[0],
    c,
    inner,
    gamma.buf,
    mean.buf,
    invStd.buf,
    dx.buf,
    dgamma.buf,
    dbeta.buf,
  );
  return { dx, dgamma, dbeta };
}

// ---------------------------------------------------------------- masks

/** Where a dropout mask's random numbers come from (see `rng.ts`). */
export interface DropoutKey {
  /** 32-bit seed. */
  seed: number;
  /** 32-bit stream. */
  stream: number;
  /** First counter (a non-negative safe integer). */
  counter: number;
}

/**
 * An inverted-dropout mask of `shape` (see `Backend.dropoutMask`): entries `1/(1-p)` or 0,
 * drawn per element, or per `(sample, channel)` when `perChannel` (shape `[N, C, ...]`).
 */
export function dropoutMask(
  backend: Backend,
  shape: readonly number[],
  dtype: DType,
  p: number,
  perChannel: boolean,
  key: DropoutKey,
): Tensor {
  const op = "dropoutMask";
  if (!(p >= 0 && p < 1)) throw new Error(`${op}: dropout p must be in [0, 1), got ${p}`);
  if (!Number.isSafeInteger(key.counter) || key.counter < 0) {
    throw new Error(`${op}: counter must be a non-negative safe integer, got ${key.counter}`);
  }
  if (perChannel && shape.length < 2) {
    throw new Error(`${op}: a per-channel mask needs [N, C, ...], got ${fmtShape(shape)}`);
  }
  const m = Tensor.empty(backend, shape, dtype);
  const c = perChannel ? shape[1] : 1;
  const inner = shapeSize(shape.slice(perChannel ? 2 : 1));
  backend.dropoutMask(
    m.buf,
    shape[0] ?? 1,
    c,
    inner,
    p,
    perChannel,
    key.seed,
    key.stream,
    key.counter,
  );
  return m;
}

/** k-winners-take-all mask of `x [N, ...]`: 1 for the `k` largest features of each sample. */
export function topkMask(x: Tensor, k: number): Tensor {
  const op = "topkMask";
  if (x.rank < 1) throw new Error(`${op}: input must be [N, ...], got ${fmtShape(x.shape)}`);
  const rows = x.shape[0], cols = rows > 0 ? x.size / rows : 0;
  if (!Number.isInteger(k) || k < 0 || k > cols) {
    throw new Error(`${op}: k=${k} outside [0, ${cols}] (features per sample)`);
  }
  const mask = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.topkMask(x.buf, rows, cols, k, mask.buf);
  return mask;
}

/** Row-wise argmax of `x [N, K]` (first maximum wins): `[N]` class indices as floats. */
export function argmax(x: Tensor): Tensor {
  if (x.rank !== 2) throw new Error(`argmax: input must be [N, K], got ${fmtShape(x.shape)}`);
  const [n, k] = x.shape;
  const out = Tensor.empty(x.backend, [n], x.dtype);
  x.backend.argmax(x.buf, n, k, out.buf);
  return out;
}

// ---------------------------------------------------------------- loss

/** Throws unless `logits [N, K]` (N, K >= 1) and `labels [N]` match; returns `[N, K]`. */
function lossShapes(op: string, logits: Tensor, labels: Tensor): [number, number] {
  if (logits.rank !== 2 || logits.shape[0] === 0 || logits.shape[1] === 0) {
    throw new Error(`${op}: logits must be [N, K] with N, K >= 1, got ${fmtShape(logits.shape)}`);
  }
  const [n, k] = logits.shape;
  if (labels.rank !== 1 || labels.shape[0] !== n) {
    throw new Error(
      `${op}: labels must be [${n}] for logits ${fmtShape(logits.shape)}, ` +
        `got ${fmtShape(labels.shape)}`,
    );
  }
  if (labels.backend !== logits.backend || labels.dtype !== logits.dtype) {
    throw new Error(
      `${op}: labels (${labels.backend.name}, ${labels.dtype}) must live on ` +
        `the logits' backend and dtype (${logits.backend.name}, ${logits.dtype})`,
    );
  }
  return [n, k];
}

/**
 * Softmax cross-entropy of `logits [N, K]` against `labels [N]` (class indices as floats,
 * checked on the host): the probabilities `[N, K]` and the per-sample losses `[N]`.
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Tensor,
  op = "softmaxCrossEntropy",
): { probs: Tensor; losses: Tensor } {
  const [n, k] = lossShapes(op, logits, labels);
  const host = labels.toArray();
  for (let i = 0; i < n; i++) {
    const v = host[i];
    if (!Number.isInteger(v) || v < 0 || v >= k) {
      throw new Error(`${op}: label ${v} of sample ${i} is not a class index in [0, ${k})`);
    }
  }
  const b = logits.backend;
  const probs = Tensor.empty(b, [n, k], logits.dtype);
  const losses = Tensor.empty(b, [n], logits.dtype);
  b.softmaxCrossEntropy(logits.buf, labels.buf, n, k, probs.buf, losses.buf);
  return { probs, losses };
}

/** Gradient of the softmax cross-entropy with respect to the logits: `scale (probs - onehot)`. */
export function softmaxCrossEntropyBackward(probs: Tensor, labels: Tensor, scale: number): Tensor {
  const [n, k] = lossShapes("softmaxCrossEntropyBackward", probs, labels);
  const d = Tensor.empty(probs.backend, [n, k], probs.dtype);
  probs.backend.softmaxCrossEntropyBackward(probs.buf, labels.buf, n, k, scale, d.buf);
  return d;
}

// ---------------------------------------------------------------- optimizer

/** State slots each update rule needs. */
const RULE_SLOTS: Record<UpdateRule["kind"], number> = { sgd: 0, momentum: 1, adam: 2 };

/**
 * Applies one optimizer update in place: `param` from `grad` with `rule`; `state` holds the
 * rule's slots (none for SGD, `[velocity]` for momentum, `[m, v]` for Adam), each of the
 * parameter's size.
 */
export function applyUpdate(rule: UpdateRule, param: Tensor, grad: Tensor, state: Tensor[]): void {
  const op = "update";
  const slots = RULE_SLOTS[rule.kind];
  if (slots === undefined) {
    throw new Error(`${op}: unknown rule '${rule.kind}' (expected sgd, momentum or adam)`);
  }
  if (param.size !== grad.size) {
    throw new Error(
      `${op}: parameter ${fmtShape(param.shape)} vs gradient ${fmtShape(grad.shape)}`,
    );
  }
  if (state.length < slots) {
    throw new Error(`${op}: ${rule.kind} needs ${slots} state slot(s), got ${state.length}`);
  }
  for (const s of state.slice(0, slots)) {
    if (s.size !== param.size) {
      throw new Error(
        `${op}: state slot ${fmtShape(s.shape)} vs parameter ${fmtShape(param.shape)}`,
      );
    }
  }
  sameBackend(op, param, grad, ...state.slice(0, slots));
  if (rule.kind === "adam" && !(rule.step >= 1)) {
    throw new Error(`${op}: adam step must be >= 1, got ${rule.step}`);
  }
  param.backend.update(rule, param.buf, grad.buf, state.map((s) => s.buf));
}
