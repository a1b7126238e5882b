/**
 * The pure TypeScript backend: float32 and float64, always available, and the reference oracle
 * that every other backend is tested against. Written for clarity first; loops are arranged to
 * be reasonably cache-friendly but nothing here is tuned.
 *
 * Arguments are checked once, in `ops.ts`; this class keeps the length and ownership guards of
 * its typed arrays. It inherits the default convolution and scaling backward (`compose.ts`;
 * the latter's reduction already sums in double) and overrides the other fused ops (pooling,
 * batch norm, softmax cross-entropy) with direct loops that accumulate in double: the oracle's
 * precision, which the native builds match.
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
import { windowOut } from "../backend.ts";
import { ComposedBackend } from "./compose.ts";
import { dropThreshold, randomU32 } from "../rng.ts";

/** A host buffer of the ts backend. */
export class TsBuf implements Buf {
  disposed = false;
  /** Wraps a typed array. */
  constructor(public data: HostArray) {}
  /** Element count. */
  get length(): number {
    return this.data.length;
  }
  /** Element type. */
  get dtype(): DType {
    return this.data instanceof Float64Array ? "float64" : "float32";
  }
}

function d(b: Buf): HostArray {
  if (!(b instanceof TsBuf)) throw new Error("ts backend: buffer belongs to another backend");
  if (b.disposed) throw new Error("ts backend: buffer used after free");
  return b.data;
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new Error(`ts backend: ${msg}`);
}

function need(b: Buf, n: number, what: string): HostArray {
  const a = d(b);
  check(a.length >= n, `${what} needs ${n} elements, buffer has ${a.length}`);
  return a;
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

const unaryFns: Record<UnaryOp, (x: number, a: number) => number> = {
  relu: (x) => (x > 0 ? x : 0),
  leaky_relu: (x, a) => (x > 0 ? x : a * x),
  sigmoid,
  tanh: Math.tanh,
  softplus,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  square: (x) => x * x,
  abs: Math.abs,
  neg: (x) => -x,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  scale: (x, a) => a * x,
  add_scalar: (x, a) => x + a,
  pow: (x, a) => Math.pow(x, a),
  reciprocal: (x) => 1 / x,
};

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  max: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  min: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
};

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const x of shape) n *= x;
  return n;
}

/** The TypeScript reference backend. */
export class TsBackend extends ComposedBackend {
  readonly name = "ts";
  readonly device = "TypeScript (host)";
  #bytes = 0;

  supports(_dtype: DType): boolean {
    return true;
  }

  alloc(length: number, dtype: DType): Buf {
    check(Number.isInteger(length) && length >= 0, `alloc: invalid length ${length}`);
    this.#bytes += length * (dtype === "float64" ? 8 : 4);
    return new TsBuf(dtype === "float64" ? new Float64Array(length) : new Float32Array(length));
  }

  free(buf: Buf): void {
    if (buf instanceof TsBuf && !buf.disposed) {
      buf.disposed = true;
      this.#bytes -= buf.data.byteLength;
      buf.data = new Float32Array(0);
    }
  }

  upload(buf: Buf, data: ArrayLike<number>, offset = 0): void {
    const a = d(buf);
    check(offset >= 0 && offset + data.length <= a.length, "upload out of range");
    a.set(data as ArrayLike<number>, offset);
  }

  download(buf: Buf, offset = 0, length?: number): HostArray {
    const a = d(buf);
    const n = length ?? a.length - offset;
    check(offset >= 0 && n >= 0 && offset + n <= a.length, "download out of range");
    return a.slice(offset, offset + n);
  }

  fill(buf: Buf, value: number): void {
    d(buf).fill(value);
  }

  copy(src: Buf, srcOff: number, dst: Buf, dstOff: number, n: number): void {
    const s = need(src, srcOff + n, "copy source");
    const t = need(dst, dstOff + n, "copy destination");
    t.set(s.subarray(srcOff, srcOff + n), dstOff);
  }

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
    const A = need(a, aOff + m * k, "gemm A");
    const B = need(b, bOff + k * n, "gemm B");
    const C = need(c, cOff + m * n, "gemm C");
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      if (!transB) {
        for (let p = 0; p < k; p++) {
          const aip = transA ? A[aOff + p * m + i] : A[aOff + i * k + p];
          const row = bOff + p * n;
          for (let j = 0; j < n; j++) acc[j] += aip * B[row + j];
        }
      } else {
        for (let j = 0; j < n; j++) {
          let s = 0;
          const row = bOff + j * k;
          if (transA) { for (let p = 0; p < k; p++) s += A[aOff + p * m + i] * B[row + p]; }
          else {
            const ar = aOff + i * k;
            for (let p = 0; p < k; p++) s += A[ar + p] * B[row + p];
          }
          acc[j] = s;
        }
      }
      const cr = cOff + i * n;
      if (beta === 0) { for (let j = 0; j < n; j++) C[cr + j] = alpha * acc[j]; }
      else for (let j = 0; j < n; j++) C[cr + j] = alpha * acc[j] + beta * C[cr + j];
    }
  }

  swapAxes01(x: Buf, d0: number, d1: number, inner: number, out: Buf): void {
    const total = d0 * d1 * inner;
    const X = need(x, total, "swapAxes01 input");
    const O = need(out, total, "swapAxes01 output");
    for (let i = 0; i < d0; i++) {
      for (let j = 0; j < d1; j++) {
        const src = (i * d1 + j) * inner;
        const dst = (j * d0 + i) * inner;
        for (let t = 0; t < inner; t++) O[dst + t] = X[src + t];
      }
    }
  }

  im2col(x: Buf, g: Window2d, col: Buf): void {
    const [oh, ow] = windowOut(g);
    const X = need(x, g.n * g.c * g.h * g.w, "im2col input");
    const cols = g.n * oh * ow;
    const C = need(col, g.c * g.kh * g.kw * cols, "im2col output");
    for (let c = 0; c < g.c; c++) {
      for (let ky = 0; ky < g.kh; ky++) {
        for (let kx = 0; kx < g.kw; kx++) {
          const row = ((c * g.kh + ky) * g.kw + kx) * cols;
          for (let n = 0; n < g.n; n++) {
            const plane = (n * g.c + c) * g.h * g.w;
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * g.sh - g.ph + ky;
              const base = row + (n * oh + oy) * ow;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * g.sw - g.pw + kx;
                C[base + ox] = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w
                  ? X[plane + iy * g.w + ix]
                  : 0;
              }
            }
          }
        }
      }
    }
  }

  col2im(col: Buf, g: Window2d, x: Buf): void {
    const [oh, ow] = windowOut(g);
    const X = need(x, g.n * g.c * g.h * g.w, "col2im output");
    const cols = g.n * oh * ow;
    const C = need(col, g.c * g.kh * g.kw * cols, "col2im input");
    X.fill(0, 0, g.n * g.c * g.h * g.w);
    for (let c = 0; c < g.c; c++) {
      for (let ky = 0; ky < g.kh; ky++) {
        for (let kx = 0; kx < g.kw; kx++) {
          const row = ((c * g.kh + ky) * g.kw + kx) * cols;
          for (let n = 0; n < g.n; n++) {
            const plane = (n * g.c + c) * g.h * g.w;
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * g.sh - g.ph + ky;
              if (iy < 0 || iy >= g.h) continue;
              const base = row + (n * oh + oy) * ow;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * g.sw - g.pw + kx;
                if (ix >= 0 && ix < g.w) X[plane + iy * g.w + ix] += C[base + ox];
              }
            }
          }
        }
      }
    }
  }

  override maxPoolForward(x: Buf, g: Window2d, y: Buf, argmax: Buf): void {
    const [oh, ow] = windowOut(g);
    const X = need(x, g.n * g.c * g.h * g.w, "maxpool input");
    const Y = need(y, g.n * g.c * oh * ow, "maxpool output");
    const I = need(argmax, g.n * g.c * oh * ow, "maxpool argmax");
    for (let p = 0; p < g.n * g.c; p++) {
      const plane = p * g.h * g.w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let best = -Infinity;
          let bi = -1;
          for (let ky = 0; ky < g.kh; ky++) {
            const iy = oy * g.sh - g.ph + ky;
            if (iy < 0 || iy >= g.h) continue;
            for (let kx = 0; kx < g.kw; kx++) {
              const ix = ox * g.sw - g.pw + kx;
              if (ix < 0 || ix >= g.w) continue;
              const v = X[plane + iy * g.w + ix];
              if (v > best || bi < 0) {
                best = v;
                bi = iy * g.w + ix;
              }
            }
          }
          const o = (p * oh + oy) * ow + ox;
          Y[o] = best;
          I[o] = bi;
        }
      }
    }
  }

  override maxPoolBackward(dy: Buf, argmax: Buf, g: Window2d, dx: Buf): void {
    const [oh, ow] = windowOut(g);
    const DY = need(dy, g.n * g.c * oh * ow, "maxpool dy");
    const I = need(argmax, g.n * g.c * oh * ow, "maxpool argmax");
    const DX = need(dx, g.n * g.c * g.h * g.w, "maxpool dx");
    DX.fill(0, 0, g.n * g.c * g.h * g.w);
    for (let p = 0; p < g.n * g.c; p++) {
      for (let o = 0; o < oh * ow; o++) {
        const idx = I[p * oh * ow + o];
        if (idx >= 0) DX[p * g.h * g.w + idx] += DY[p * oh * ow + o];
      }
    }
  }

  override avgPoolForward(x: Buf, g: Window2d, y: Buf): void {
    const [oh, ow] = windowOut(g);
    const X = need(x, g.n * g.c * g.h * g.w, "avgpool input");
    const Y = need(y, g.n * g.c * oh * ow, "avgpool output");
    const inv = 1 / (g.kh * g.kw);
    for (let p = 0; p < g.n * g.c; p++) {
      const plane = p * g.h * g.w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let s = 0;
          for (let ky = 0; ky < g.kh; ky++) {
            const iy = oy * g.sh - g.ph + ky;
            if (iy < 0 || iy >= g.h) continue;
            for (let kx = 0; kx < g.kw; kx++) {
              const ix = ox * g.sw - g.pw + kx;
              if (ix >= 0 && ix < g.w) s += X[plane + iy * g.w + ix];
            }
          }
          Y[(p * oh + oy) * ow + ox] = s * inv;
        }
      }
    }
  }

  override avgPoolBackward(dy: Buf, g: Window2d, dx: Buf): void {
    const [oh, ow] = windowOut(g);
    const DY = need(dy, g.n * g.c * oh * ow, "avgpool dy");
    const DX = need(dx, g.n * g.c * g.h * g.w, "avgpool dx");
    DX.fill(0, 0, g.n * g.c * g.h * g.w);
    const inv = 1 / (g.kh * g.kw);
    for (let p = 0; p < g.n * g.c; p++) {
      const plane = p * g.h * g.w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const v = DY[(p * oh + oy) * ow + ox] * inv;
          for (let ky = 0; ky < g.kh; ky++) {
            const iy = oy * g.sh - g.ph + ky;
            if (iy < 0 || iy >= g.h) continue;
            for (let kx = 0; kx < g.kw; kx++) {
              const ix = ox * g.sw - g.pw + kx;
              if (ix >= 0 && ix < g.w) DX[plane + iy * g.w + ix] += v;
            }
          }
        }
      }
    }
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
    const f = binaryFns[op];
    const rank = outShape.length;
    const total = size(outShape);
    const A = need(a, size(aShape), "binary a");
    const B = need(b, size(bShape), "binary b");
    const O = need(out, total, "binary out");
    const na = size(aShape);
    const nb = size(bShape);
    if (na === total && nb === total) {
      for (let i = 0; i < total; i++) O[i] = f(A[i], B[i]);
      return;
    }
    if (nb === 1 && na === total) {
      const bv = B[0];
      for (let i = 0; i < total; i++) O[i] = f(A[i], bv);
      return;
    }
    const sa = stridesOf(aShape).map((s, i) => (aShape[i] === 1 ? 0 : s));
    const sb = stridesOf(bShape).map((s, i) => (bShape[i] === 1 ? 0 : s));
    const idx = new Array(rank).fill(0);
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < total; i++) {
      O[i] = f(A[ia], B[ib]);
      for (let r = rank - 1; r >= 0; r--) {
        idx[r]++;
        ia += sa[r];
        ib += sb[r];
        if (idx[r] < outShape[r]) break;
        ia -= sa[r] * outShape[r];
        ib -= sb[r] * outShape[r];
        idx[r] = 0;
      }
    }
  }

  unary(op: UnaryOp, x: Buf, out: Buf, alpha: number): void {
    const f = unaryFns[op];
    const X = d(x);
    const O = need(out, X.length, "unary out");
    for (let i = 0; i < X.length; i++) O[i] = f(X[i], alpha);
  }

  unaryBackward(op: ActivationOp, x: Buf, y: Buf, dy: Buf, dx: Buf, alpha: number): void {
    const X = d(x);
    const n = X.length;
    const Y = need(y, n, "activation backward y");
    const DY = need(dy, n, "activation backward dy");
    const DX = need(dx, n, "activation backward dx");
    switch (op) {
      case "relu":
        for (let i = 0; i < n; i++) DX[i] = X[i] > 0 ? DY[i] : 0;
        break;
      case "leaky_relu":
        for (let i = 0; i < n; i++) DX[i] = X[i] > 0 ? DY[i] : alpha * DY[i];
        break;
      case "sigmoid":
        for (let i = 0; i < n; i++) DX[i] = DY[i] * Y[i] * (1 - Y[i]);
        break;
      case "tanh":
        for (let i = 0; i < n; i++) DX[i] = DY[i] * (1 - Y[i] * Y[i]);
        break;
      case "softplus":
        for (let i = 0; i < n; i++) DX[i] = DY[i] * sigmoid(X[i]);
        break;
    }
  }

  axpby(alpha: number, a: Buf, beta: number, b: Buf, out: Buf): void {
    const A = d(a);
    const n = A.length;
    const B = need(b, n, "axpby b");
    const O = need(out, n, "axpby out");
    for (let i = 0; i < n; i++) O[i] = alpha * A[i] + beta * B[i];
  }

  reduce(op: ReduceOp, x: Buf, shape: readonly number[], axes: readonly number[], out: Buf): void {
    const rank = shape.length;
    const total = size(shape);
    const X = need(x, total, "reduce input");
    const outShape = shape.map((s, i) => (axes.includes(i) ? 1 : s));
    const outTotal = size(outShape);
    const O = need(out, outTotal, "reduce output");
    const so = stridesOf(outShape).map((s, i) => (axes.includes(i) ? 0 : s));
    const acc = new Float64Array(outTotal).fill(op === "max" ? -Infinity : 0);
    const idx = new Array(rank).fill(0);
    let io = 0;
    for (let i = 0; i < total; i++) {
      const v = X[i];
      if (op === "max") {
        if (v > acc[io] || Number.isNaN(v)) acc[io] = v;
      } else acc[io] += v;
      for (let r = rank - 1; r >= 0; r--) {
        idx[r]++;
        io += so[r];
        if (idx[r] < shape[r]) break;
        io -= so[r] * shape[r];
        idx[r] = 0;
      }
    }
    const div = op === "mean" ? total / Math.max(outTotal, 1) : 1;
    for (let i = 0; i < outTotal; i++) O[i] = op === "mean" ? acc[i] / div : acc[i];
  }

  argmax(x: Buf, rows: number, cols: number, out: Buf): void {
    const X = need(x, rows * cols, "argmax input");
    const O = need(out, rows, "argmax output");
    for (let r = 0; r < rows; r++) {
      let best = -Infinity;
      let bi = 0;
      for (let c = 0; c < cols; c++) {
        const v = X[r * cols + c];
        if (v > best) {
          best = v;
          bi = c;
        }
      }
      O[r] = bi;
    }
  }

  override softmaxCrossEntropy(
    logits: Buf,
    labels: Buf,
    n: number,
    k: number,
    probs: Buf,
    losses: Buf,
  ): void {
    const L = need(logits, n * k, "softmax logits");
    const Y = need(labels, n, "softmax labels");
    const P = need(probs, n * k, "softmax probs");
    const O = need(losses, n, "softmax losses");
    for (let i = 0; i < n; i++) {
      const label = Y[i];
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, L[i * k + j]);
      let s = 0;
      for (let j = 0; j < k; j++) s += Math.exp(L[i * k + j] - m);
      const logS = Math.log(s);
      for (let j = 0; j < k; j++) P[i * k + j] = Math.exp(L[i * k + j] - m - logS);
      O[i] = logS - (L[i * k + label] - m);
    }
  }

  override softmaxCrossEntropyBackward(
    probs: Buf,
    labels: Buf,
    n: number,
    k: number,
    scale: number,
    dlogits: Buf,
  ): void {
    const P = need(probs, n * k, "softmax probs");
    const Y = need(labels, n, "softmax labels");
    const D = need(dlogits, n * k, "softmax dlogits");
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        D[i * k + j] = scale * (P[i * k + j] - (j === Y[i] ? 1 : 0));
      }
    }
  }

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
    const X = need(x, total, "batchnorm x");
    const Y = need(y, total, "batchnorm y");
    const G = need(gamma, c, "batchnorm gamma");
    const Bt = need(beta, c, "batchnorm beta");
    const RM = need(runningMean, c, "batchnorm running mean");
    const RV = need(runningVar, c, "batchnorm running var");
    const M = need(mean, c, "batchnorm mean");
    const IS = need(invStd, c, "batchnorm invStd");
    const count = outer * inner;
    for (let ch = 0; ch < c; ch++) {
      let mu: number;
      let istd: number;
      if (training) {
        let s = 0;
        for (let o = 0; o < outer; o++) {
          const base = (o * c + ch) * inner;
          for (let t = 0; t < inner; t++) s += X[base + t];
        }
        mu = s / count;
        let v = 0;
        for (let o = 0; o < outer; o++) {
          const base = (o * c + ch) * inner;
          for (let t = 0; t < inner; t++) {
            const q = X[base + t] - mu;
            v += q * q;
          }
        }
        const varB = v / count;
        istd = 1 / Math.sqrt(varB + eps);
        M[ch] = mu;
        IS[ch] = istd;
        const unbiased = count > 1 ? (varB * count) / (count - 1) : varB;
        RM[ch] = (1 - momentum) * RM[ch] + momentum * mu;
        RV[ch] = (1 - momentum) * RV[ch] + momentum * unbiased;
      } else {
        mu = RM[ch];
        istd = 1 / Math.sqrt(RV[ch] + eps);
      }
      const g = G[ch];
      const b = Bt[ch];
      for (let o = 0; o < outer; o++) {
        const base = (o * c + ch) * inner;
        for (let t = 0; t < inner; t++) Y[base + t] = g * (X[base + t] - mu) * istd + b;
      }
    }
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
    const X = need(x, total, "batchnorm x");
    const DY = need(dy, total, "batchnorm dy");
    const DX = need(dx, total, "batchnorm dx");
    const G = need(gamma, c, "batchnorm gamma");
    const M = need(mean, c, "batchnorm mean");
    const IS = need(invStd, c, "batchnorm invStd");
    const DG = need(dgamma, c, "batchnorm dgamma");
    const DB = need(dbeta, c, "batchnorm dbeta");
    const count = outer * inner;
    for (let ch = 0; ch < c; ch++) {
      const mu = M[ch];
      const istd = IS[ch];
      let sdy = 0;
      let sdyx = 0;
      for (let o = 0; o < outer; o++) {
        const base = (o * c + ch) * inner;
        for (let t = 0; t < inner; t++) {
          sdy += DY[base + t];
          sdyx += DY[base + t] * (X[base + t] - mu) * istd;
        }
      }
      DB[ch] = sdy;
      DG[ch] = sdyx;
      const k = (G[ch] * istd) / count;
      for (let o = 0; o < outer; o++) {
        const base = (o * c + ch) * inner;
        for (let t = 0; t < inner; t++) {
          const xh = (X[base + t] - mu) * istd;
          DX[base + t] = k * (count * DY[base + t] - sdy - xh * sdyx);
        }
      }
    }
  }

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
    const total = outer * c * inner;
    const O = need(out, total, "dropout mask");
    const thr = dropThreshold(p);
    const keep = 1 / (1 - p);
    if (perChannel) {
      for (let u = 0; u < outer * c; u++) {
        const v = randomU32(seed, stream, counter + u) >= thr ? keep : 0;
        O.fill(v, u * inner, (u + 1) * inner);
      }
    } else {
      for (let i = 0; i < total; i++) O[i] = randomU32(seed, stream, counter + i) >= thr ? keep : 0;
    }
  }

  topkMask(x: Buf, rows: number, cols: number, k: number, out: Buf): void {
    const X = need(x, rows * cols, "topk input");
    const O = need(out, rows * cols, "topk output");
    const order = new Array<number>(cols);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cols; j++) order[j] = j;
      const base = r * cols;
      order.sort((p, q) => X[base + q] - X[base + p] || p - q);
      O.fill(0, base, base + cols);
      for (let j = 0; j < k; j++) O[base + order[j]] = 1;
    }
  }

  update(rule: UpdateRule, param: Buf, grad: Buf, state: readonly Buf[]): void {
    const P = d(param);
    const n = P.length;
    const G = need(grad, n, "update grad");
    const wd = rule.weightDecay;
    switch (rule.kind) {
      case "sgd":
        for (let i = 0; i < n; i++) P[i] -= rule.lr * (G[i] + wd * P[i]);
        break;
      case "momentum": {
        const V = need(state[0], n, "momentum velocity");
        const mu = rule.momentum;
        for (let i = 0; i < n; i++) {
          const g = G[i] + wd * P[i];
          V[i] = mu * V[i] - rule.lr * g;
          const v = V[i]; // the stored state (rounded to float32 in a Float32Array)
          P[i] += rule.nesterov ? mu * v - rule.lr * g : v;
        }
        break;
      }
      case "adam": {
        const Mm = need(state[0], n, "adam m");
        const Vv = need(state[1], n, "adam v");
        const { beta1, beta2, eps, lr, step } = rule;
        const c1 = 1 - Math.pow(beta1, step);
        const c2 = 1 - Math.pow(beta2, step);
        for (let i = 0; i < n; i++) {
          const g = rule.decoupled ? G[i] : G[i] + wd * P[i];
          Mm[i] = beta1 * Mm[i] + (1 - beta1) * g;
          Vv[i] = beta2 * Vv[i] + (1 - beta2) * g * g;
          const m = Mm[i], v = Vv[i]; // the stored state
          const upd = (m / c1) / (Math.sqrt(v / c2) + eps);
          P[i] -= lr * (upd + (rule.decoupled ? wd * P[i] : 0));
        }
        break;
      }
    }
  }

  synchronize(): void {}

  memoryInUse(): number {
    return this.#bytes;
  }
}

/** The shared instance. */
export const tsBackend: TsBackend = new TsBackend();
