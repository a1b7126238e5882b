/**
 * Tensor-level ops: shape checking, output allocation and broadcasting, written once on top of
 * the {@link Backend} interface. Layers, losses and optimizers use only these.
 *
 * @module
 */
import type { ActivationOp, BinaryOp, ReduceOp, UnaryOp, UpdateRule, Window2d } from "./backend.ts";
import { windowOut } from "./backend.ts";
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

/** Applies one optimizer update in place. */
export function applyUpdate(rule: UpdateRule, param: Tensor, grad: Tensor, state: Tensor[]): void {
  if (param.size !== grad.size) {
    throw new Error(
      `update: parameter ${fmtShape(param.shape)} vs gradient ${fmtShape(grad.shape)}`,
    );
  }
  param.backend.update(rule, param.buf, grad.buf, state.map((s) => s.buf));
}
