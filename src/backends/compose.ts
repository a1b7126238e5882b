/**
 * The default compositions of the fused ops (`FusedOps`) from the `Primitives`, written once:
 * every backend extends {@link ComposedBackend}, implements the primitives, and inherits these;
 * it overrides a fused op only where it has a faster (or, for the `ts` oracle, a
 * double-precision) version. A new backend (WebGPU, Metal) is complete once its primitives
 * are, and the conformance suite checks the compositions themselves through
 * {@link withDefaultCompositions}.
 *
 * The compositions work in the buffers' own dtype, on scratch buffers from the backend's
 * allocator, and overwrite their outputs in full (accumulating outputs, dw and db of the
 * convolution's backward, are accumulated as the interface says).
 *
 * @module
 */
import type { Backend, Buf, DType, HostArray, Primitives, Window2d } from "../backend.ts";
import { PRIMITIVE_OPS, windowOut } from "../backend.ts";

type Args<K extends keyof Primitives> = Primitives[K] extends (...a: infer A) => unknown ? A
  : never;

/** Runs `fn` on scratch buffers of `sizes` elements (contents unspecified), then frees them. */
function scratch<T>(be: Primitives, dtype: DType, sizes: number[], fn: (...bufs: Buf[]) => T): T {
  const bufs: Buf[] = [];
  try {
    for (const n of sizes) bufs.push(be.alloc(n, dtype, false));
    return fn(...bufs);
  } finally {
    for (const b of bufs) be.free(b);
  }
}

/** Runs `fn` on a buffer holding a copy of `host`, then frees it. */
function withConstant<T>(
  be: Primitives,
  dtype: DType,
  host: ArrayLike<number>,
  fn: (b: Buf) => T,
): T {
  return scratch(be, dtype, [host.length], (b) => {
    be.upload(b, host);
    return fn(b);
  });
}

/** `out = (a == b)` as 1 / 0 (from `1 - sign(|a - b|)`), with broadcasting shapes. */
function equal(
  be: Primitives,
  a: Buf,
  aShape: readonly number[],
  b: Buf,
  bShape: readonly number[],
  out: Buf,
  outShape: readonly number[],
): void {
  be.binary("sub", a, aShape, b, bShape, out, outShape);
  be.unary("abs", out, out, 0);
  be.unary("sign", out, out, 0);
  be.unary("scale", out, out, -1);
  be.unary("add_scalar", out, out, 1);
}

/**
 * The window positions as 1-based flat plane indices `iy * W + ix + 1`, padding 0, in
 * `[S, K]` order (output pixel, window position), into `out`.
 */
function windowIndices(be: Primitives, dtype: DType, g: Window2d, out: Buf): void {
  const [oh, ow] = windowOut(g);
  const k = g.kh * g.kw, s = oh * ow;
  const plane = new Float64Array(g.h * g.w).map((_, i) => i + 1);
  withConstant(be, dtype, plane, (idx) =>
    scratch(be, dtype, [k * s], (col) => {
      be.im2col(idx, { ...g, n: 1, c: 1 }, col);
      be.swapAxes01(col, k, s, 1, out);
    }));
}

/** One-hot `[N, K]` of `labels [N]` (class indices as floats) into `out`. */
function oneHot(be: Primitives, labels: Buf, n: number, k: number, out: Buf): void {
  const classes = new Float64Array(k).map((_, j) => j);
  withConstant(
    be,
    labels.dtype,
    classes,
    (cls) => equal(be, labels, [n, 1], cls, [1, k], out, [n, k]),
  );
}

/**
 * A backend whose fused ops are the default compositions of its primitives. Subclasses
 * implement the abstract primitives (see {@link Primitives} for their semantics).
 */
export abstract class ComposedBackend implements Backend {
  abstract readonly name: string;
  abstract readonly device: string;
  abstract supports(dtype: DType): boolean;
  abstract alloc(...a: Args<"alloc">): Buf;
  abstract free(...a: Args<"free">): void;
  abstract upload(...a: Args<"upload">): void;
  abstract download(...a: Args<"download">): HostArray;
  abstract fill(...a: Args<"fill">): void;
  abstract copy(...a: Args<"copy">): void;
  abstract gemm(...a: Args<"gemm">): void;
  abstract swapAxes01(...a: Args<"swapAxes01">): void;
  abstract im2col(...a: Args<"im2col">): void;
  abstract col2im(...a: Args<"col2im">): void;
  abstract binary(...a: Args<"binary">): void;
  abstract unary(...a: Args<"unary">): void;
  abstract unaryBackward(...a: Args<"unaryBackward">): void;
  abstract axpby(...a: Args<"axpby">): void;
  abstract reduce(...a: Args<"reduce">): void;
  abstract argmax(...a: Args<"argmax">): void;
  abstract topkMask(...a: Args<"topkMask">): void;
  abstract dropoutMask(...a: Args<"dropoutMask">): void;
  abstract update(...a: Args<"update">): void;
  abstract synchronize(): void;
  abstract memoryInUse(): number;

  // ---------------------------------------------------------------- convolution

  /**
   * im2col, GEMM `[F, CKK] x [CKK, N*S]`, swap to `[N, F, S]`, broadcast add of the bias; the
   * columns in `cols` when a column cache is given.
   */
  conv2dForward(
    x: Buf,
    w: Buf,
    bias: Buf | null,
    g: Window2d,
    filters: number,
    y: Buf,
    cols: Buf | null = null,
  ): void {
    const [oh, ow] = windowOut(g);
    const s = oh * ow, ckk = g.c * g.kh * g.kw, n = g.n * s;
    scratch(this, x.dtype, [cols ? 0 : ckk * n, filters * n], (scratchCol, t) => {
      const col = cols ?? scratchCol;
      this.im2col(x, g, col);
      this.gemm(false, false, filters, n, ckk, 1, w, 0, col, 0, 0, t, 0);
      this.swapAxes01(t, filters, g.n, s, y);
    });
    const shape = [g.n, filters, s];
    if (bias !== null) this.binary("add", y, shape, bias, [1, filters, 1], y, shape);
  }

  /**
   * `dY' = swap(dy) [F, N*S]`, `dw += dY' colᵀ`, `db += Σ dY'`, `dx = col2im(wᵀ dY')`; the
   * columns read from `cols` when the forward left them there.
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
    cols: Buf | null = null,
  ): void {
    const [oh, ow] = windowOut(g);
    const s = oh * ow, ckk = g.c * g.kh * g.kw, n = g.n * s;
    const sizes = [cols && dx === null ? 0 : ckk * n, filters * n, filters];
    scratch(this, x.dtype, sizes, (col, dt, sums) => {
      if (!cols) this.im2col(x, g, col);
      this.swapAxes01(dy, g.n, filters, s, dt);
      this.gemm(false, true, filters, ckk, n, 1, dt, 0, cols ?? col, 0, 1, dw, 0);
      if (db !== null) {
        this.reduce("sum", dt, [filters, n], [1], sums);
        this.axpby(1, sums, 1, db, db);
      }
      if (dx !== null) {
        this.gemm(true, false, ckk, n, filters, 1, w, 0, dt, 0, 0, col, 0);
        this.col2im(col, g, dx);
      }
    });
  }

  /** The composition above builds the whole column matrix. */
  conv2dColumns(g: Window2d, _filters: number): number {
    const [oh, ow] = windowOut(g);
    return g.c * g.kh * g.kw * g.n * oh * ow;
  }

  // ---------------------------------------------------------------- pooling

  /**
   * Columns of every channel plane (`[K, P*S]`, P = N*C planes), padding as -inf, turned to
   * `[P*S, K]`; the max is a row reduction, the winner the row's top-1 mask (first maximum).
   */
  maxPoolForward(x: Buf, g: Window2d, y: Buf, argmax: Buf): void {
    const [oh, ow] = windowOut(g);
    const p = g.n * g.c, k = g.kh * g.kw, s = oh * ow, rows = p * s;
    const dt = x.dtype;
    scratch(this, dt, [k * rows, k * rows, k * s, k * s], (col, t, valid, idx) => {
      this.im2col(x, { ...g, n: p, c: 1 }, col);
      // 1 inside the input, 0 on padding
      withConstant(
        this,
        dt,
        new Float32Array(g.h * g.w).fill(1),
        (ones) => this.im2col(ones, { ...g, n: 1, c: 1 }, valid),
      );
      this.unary("log", valid, valid, 0); // 0 inside, -inf on padding
      this.binary("add", col, [k, p, s], valid, [k, 1, s], col, [k, p, s]);
      this.swapAxes01(col, k, rows, 1, t);
      this.reduce("max", t, [rows, k], [1], y);
      this.topkMask(t, rows, k, 1, col); // one-hot of the first maximum, [rows, K]
      windowIndices(this, dt, g, idx);
      this.binary("mul", col, [p, s, k], idx, [1, s, k], t, [p, s, k]);
      this.reduce("sum", t, [rows, k], [1], argmax);
      this.unary("add_scalar", argmax, argmax, -1);
    });
  }

  /** The one-hot of each output's argmax over its window, times dy, summed back by col2im. */
  maxPoolBackward(dy: Buf, argmax: Buf, g: Window2d, dx: Buf): void {
    const [oh, ow] = windowOut(g);
    const p = g.n * g.c, k = g.kh * g.kw, s = oh * ow, rows = p * s;
    const dt = dy.dtype;
    scratch(this, dt, [k * rows, k * rows, k * s, rows], (hot, col, idx, am1) => {
      windowIndices(this, dt, g, idx);
      this.unary("add_scalar", argmax, am1, 1);
      equal(this, idx, [1, s, k], am1, [p, s, 1], hot, [p, s, k]);
      this.binary("mul", hot, [rows, k], dy, [rows, 1], hot, [rows, k]);
      this.swapAxes01(hot, rows, k, 1, col);
      this.col2im(col, { ...g, n: p, c: 1 }, dx);
    });
  }

  /** The mean of each window's column (padding counts as zeros: the divisor is `kh * kw`). */
  avgPoolForward(x: Buf, g: Window2d, y: Buf): void {
    const [oh, ow] = windowOut(g);
    const p = g.n * g.c, k = g.kh * g.kw, cols = p * oh * ow;
    scratch(this, x.dtype, [k * cols], (col) => {
      this.im2col(x, { ...g, n: p, c: 1 }, col);
      this.reduce("mean", col, [k, cols], [0], y);
    });
  }

  /** `dy / (kh * kw)` spread over each window by col2im. */
  avgPoolBackward(dy: Buf, g: Window2d, dx: Buf): void {
    const [oh, ow] = windowOut(g);
    const p = g.n * g.c, k = g.kh * g.kw, cols = p * oh * ow;
    scratch(this, dy.dtype, [k * cols, k], (col, inv) => {
      this.fill(inv, 1 / k);
      this.binary("mul", dy, [1, cols], inv, [k, 1], col, [k, cols]);
      this.col2im(col, { ...g, n: p, c: 1 }, dx);
    });
  }

  // ---------------------------------------------------------------- softmax cross-entropy

  /** `z = logits - max`, `log s = log Σ exp z`, `probs = exp(z - log s)`,
   * `loss = log s - z[label]`. */
  softmaxCrossEntropy(
    logits: Buf,
    labels: Buf,
    n: number,
    k: number,
    probs: Buf,
    losses: Buf,
  ): void {
    scratch(this, logits.dtype, [n * k, n * k, n, n], (z, e, m, logS) => {
      this.reduce("max", logits, [n, k], [1], m);
      this.binary("sub", logits, [n, k], m, [n, 1], z, [n, k]);
      this.unary("exp", z, e, 0);
      this.reduce("sum", e, [n, k], [1], logS);
      this.unary("log", logS, logS, 0);
      this.binary("sub", z, [n, k], logS, [n, 1], probs, [n, k]);
      this.unary("exp", probs, probs, 0);
      oneHot(this, labels, n, k, e);
      this.binary("mul", e, [n, k], z, [n, k], e, [n, k]);
      this.reduce("sum", e, [n, k], [1], m); // z at the label
      this.binary("sub", logS, [n], m, [n], losses, [n]);
    });
  }

  /** `dlogits = scale * (probs - onehot(labels))`. */
  softmaxCrossEntropyBackward(
    probs: Buf,
    labels: Buf,
    n: number,
    k: number,
    scale: number,
    dlogits: Buf,
  ): void {
    oneHot(this, labels, n, k, dlogits);
    this.binary("sub", probs, [n, k], dlogits, [n, k], dlogits, [n, k]);
    this.unary("scale", dlogits, dlogits, scale);
  }

  // ---------------------------------------------------------------- batch normalization

  /** Batch statistics by reductions over axes 0 and 2, then `(x - mean) (gamma invStd) + beta`. */
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
  ): void {
    const shape = [outer, c, inner], ch = [1, c, 1], count = outer * inner;
    scratch(this, x.dtype, [outer * c * inner, c, c, c], (d, v, is, k) => {
      const mu = training ? mean : runningMean;
      if (training) {
        this.reduce("mean", x, shape, [0, 2], mean);
        this.binary("sub", x, shape, mean, ch, d, shape);
        this.unary("square", d, y, 0);
        this.reduce("mean", y, shape, [0, 2], v); // biased batch variance
      } else {
        this.copy(runningVar, 0, v, 0, c);
      }
      const istd = training ? invStd : is;
      this.unary("add_scalar", v, istd, eps);
      this.unary("sqrt", istd, istd, 0);
      this.unary("reciprocal", istd, istd, 0);
      if (!training) this.binary("sub", x, shape, mu, ch, d, shape);
      this.binary("mul", gamma, [c], istd, [c], k, [c]);
      this.binary("mul", d, shape, k, ch, y, shape);
      this.binary("add", y, shape, beta, ch, y, shape);
      if (training) {
        this.axpby(1 - momentum, runningMean, momentum, mean, runningMean);
        if (count > 1) this.unary("scale", v, v, count / (count - 1)); // unbiased
        this.axpby(1 - momentum, runningVar, momentum, v, runningVar);
      }
    });
  }

  /**
   * `dw = Σ dy x` over the axes `w` is shared across (through a product buffer, as
   * `sumTo(mul(dy, x))` computes it), `dx = dy w`.
   */
  scaleBackward(
    dy: Buf,
    x: Buf,
    shape: readonly number[],
    w: Buf,
    wShape: readonly number[],
    dx: Buf | null,
    dw: Buf,
  ): void {
    const n = shape.reduce((p, q) => p * q, 1);
    const axes = shape.flatMap((d, i) => (wShape[i] === 1 && d !== 1 ? [i] : []));
    scratch(this, dy.dtype, [n], (p) => {
      this.binary("mul", dy, shape, x, shape, p, shape);
      if (axes.length > 0) this.reduce("sum", p, shape, axes, dw);
      else this.copy(p, 0, dw, 0, n);
    });
    if (dx) this.binary("mul", dy, shape, w, wShape, dx, shape);
  }

  /** `dbeta = Σ dy`, `dgamma = Σ dy x̂`, `dx = gamma invStd / count (count dy - dbeta - x̂ dgamma)`. */
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
  ): void {
    const shape = [outer, c, inner], ch = [1, c, 1], count = outer * inner;
    scratch(this, x.dtype, [outer * c * inner, c], (xhat, k) => {
      this.binary("sub", x, shape, mean, ch, xhat, shape);
      this.binary("mul", xhat, shape, invStd, ch, xhat, shape);
      this.reduce("sum", dy, shape, [0, 2], dbeta);
      this.binary("mul", dy, shape, xhat, shape, dx, shape);
      this.reduce("sum", dx, shape, [0, 2], dgamma);
      this.unary("scale", dy, dx, count);
      this.binary("sub", dx, shape, dbeta, ch, dx, shape);
      this.binary("mul", xhat, shape, dgamma, ch, xhat, shape);
      this.binary("sub", dx, shape, xhat, shape, dx, shape);
      this.binary("mul", gamma, [c], invStd, [c], k, [c]);
      this.unary("scale", k, k, 1 / count);
      this.binary("mul", dx, shape, k, ch, dx, shape);
    });
  }
}

/**
 * `base`'s primitives with the default compositions as its fused ops: what a backend that
 * implements only the primitives computes. The conformance suite runs it against the `ts`
 * reference so the compositions stay correct while every shipped backend overrides them.
 */
export function withDefaultCompositions(base: Backend): Backend {
  const composed = Object.create(ComposedBackend.prototype) as Record<string, unknown>;
  const from = base as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const op of PRIMITIVE_OPS) composed[op] = from[op].bind(base);
  composed.name = `${base.name}+compositions`;
  composed.device = base.device;
  return composed as unknown as Backend;
}
