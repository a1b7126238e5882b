/**
 * Finite-difference gradient checker, reusable by every test that owns a differentiable piece.
 *
 * The objective is `L = Σ y ⊙ u` for the network output `y` and a fixed random upstream
 * gradient `u`, so `backward(u)` must return `dL/dx` and accumulate `dL/dθ` into every
 * `Param.grad`. Each checked entry is compared with the central difference
 * `(L(v + h) - L(v - h)) / 2h` in float64 on the `ts` backend. The error of an entry is
 * `|analytic - numeric| / max(|analytic|, |numeric|, floor)`: a relative error wherever the
 * gradient is not tiny, and an absolute one (scaled by `1 / floor`) where it is (zero gradients
 * of ReLU or max-pool losers), since finite differences there are pure rounding noise.
 *
 * @module
 */
import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import type { Backend } from "../src/backend.ts";
import type { BuildContext, ForwardContext, Layer, Param } from "../src/layers/layer.ts";
import { Rng, Streams } from "../src/rng.ts";
import { fmtShape, shapeSize, Tensor } from "../src/tensor.ts";
import { allLayers } from "../src/layers/layer.ts";
import { Scale } from "../src/layers/scale.ts";
import { Shift } from "../src/layers/shift.ts";
import type { Conv2d } from "../src/layers/conv2d.ts";
import type { Sequential } from "../src/model.ts";

/** Anything with a forward/backward pair and parameters: a `Layer` or a `Sequential`. */
export interface Differentiable {
  /** Forward pass on a batch. */
  forward(x: Tensor, ctx: ForwardContext): Tensor;
  /** Backward pass: returns dL/dx, accumulates parameter gradients. */
  backward(dy: Tensor): Tensor;
  /** Learnable parameters. */
  params(): Param[];
}

/** Options of the gradient checks. */
export interface GradCheckOptions {
  /** Forward context used for every evaluation (default training, seed 1, step 0). */
  ctx?: ForwardContext;
  /** Seed of the random upstream gradient and default input (default 7). */
  seed?: number;
  /** Finite-difference step (default 1e-5). */
  h?: number;
  /** Largest accepted error (default 1e-6). */
  tol?: number;
  /** Denominator floor of the error (default 1e-3). */
  floor?: number;
  /** Check at most this many entries per tensor, chosen at random (default: all). */
  maxPerTensor?: number;
  /** Whether to check dL/dx (default true). */
  checkInput?: boolean;
  /**
   * Require every checked tensor to have some numeric gradient above `floor`, so a check
   * cannot pass on an all-zero gradient (default true).
   */
  requireSignal?: boolean;
}

/** The outcome for one tensor (the input or one parameter). */
export interface TensorCheck {
  /** `input` or the parameter's name. */
  name: string;
  /** Entries compared. */
  checked: number;
  /** Largest error over those entries. */
  maxError: number;
  /** Flat index of that entry, with both values there. */
  worst: { index: number; analytic: number; numeric: number };
  /** Largest |numeric gradient| seen. */
  maxAbsNumeric: number;
}

/** Outcome of a gradient check. */
export interface GradCheckResult {
  /** One entry per checked tensor. */
  tensors: TensorCheck[];
  /** Largest error over all tensors. */
  maxError: number;
}

/** `n` standard-normal values from a fixed seed. */
export function randomNormal(n: number, seed: number, std = 1): Float64Array {
  const r = new Rng(seed, Streams.noise);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = std * r.normal();
  return out;
}

/**
 * `n` values that are pairwise at least `spacing` apart and at least `spacing / 2` away from
 * zero (a shuffled grid), so max pooling, k-winners and ReLU kinks are never crossed by a
 * finite-difference step.
 */
export function distinctValues(n: number, seed: number, spacing = 0.05): Float64Array {
  const perm = new Rng(seed, Streams.noise).permutation(n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (perm[i] - (n - 1) / 2) * spacing;
  if (n % 2 === 1) { for (let i = 0; i < n; i++) out[i] += spacing / 2; }
  return out;
}

function objective(y: Tensor, u: Float64Array): number {
  const a = y.toArray();
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * u[i];
  return s;
}

function pickIndices(size: number, max: number | undefined, seed: number): number[] {
  if (max === undefined || max >= size) return Array.from({ length: size }, (_, i) => i);
  const perm = new Rng(seed, Streams.split).permutation(size);
  return [...perm.subarray(0, max)].sort((a, b) => a - b);
}

function compare(
  name: string,
  analytic: ArrayLike<number>,
  numericAt: (i: number) => number,
  indices: number[],
  floor: number,
): TensorCheck {
  const res: TensorCheck = {
    name,
    checked: 0,
    maxError: 0,
    worst: { index: -1, analytic: 0, numeric: 0 },
    maxAbsNumeric: 0,
  };
  for (const i of indices) {
    const a = analytic[i];
    const n = numericAt(i);
    const err = Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), floor);
    res.checked++;
    res.maxAbsNumeric = Math.max(res.maxAbsNumeric, Math.abs(n));
    if (!(err <= res.maxError)) {
      res.maxError = Number.isNaN(err) ? Infinity : err;
      res.worst = { index: i, analytic: a, numeric: n };
    }
  }
  return res;
}

/**
 * Compares the analytic gradients of `target` at input `x` (float64, any backend the target
 * lives on) with central differences. Does not assert; see {@link assertGradCheck}.
 */
export function gradCheck(
  target: Differentiable,
  x: Tensor,
  opts: GradCheckOptions = {},
): GradCheckResult {
  const ctx = opts.ctx ?? { training: true, seed: 1, step: 0 };
  const h = opts.h ?? 1e-5;
  const floor = opts.floor ?? 1e-3;
  const seed = opts.seed ?? 7;
  if (x.dtype !== "float64") throw new Error(`gradCheck needs float64 input, got ${x.dtype}`);
  const b = x.backend;
  const params = target.params();

  // Analytic pass.
  for (const p of params) p.zeroGrad();
  const y0 = target.forward(x, ctx);
  const u = randomNormal(y0.size, seed + 1000);
  const uT = Tensor.from(b, y0.shape, u, "float64");
  y0.dispose();
  const dx = target.backward(uT);
  uT.dispose();
  assert.deepEqual(dx.shape, x.shape, `dx shape ${fmtShape(dx.shape)} != x ${fmtShape(x.shape)}`);
  const dxHost = dx.toArray();
  dx.dispose();
  const grads = params.map((p) => p.grad.toArray());

  const evalAt = (buf: Tensor, i: number, base: number, delta: number): number => {
    b.upload(buf.buf, [base + delta], i);
    const y = target.forward(x, ctx);
    const l = objective(y, u);
    y.dispose();
    return l;
  };
  const numeric = (t: Tensor, host: ArrayLike<number>) => (i: number) => {
    const v = host[i];
    const lp = evalAt(t, i, v, h);
    const lm = evalAt(t, i, v, -h);
    b.upload(t.buf, [v], i);
    return (lp - lm) / (2 * h);
  };

  const tensors: TensorCheck[] = [];
  if (opts.checkInput ?? true) {
    const host = x.toArray();
    const idx = pickIndices(x.size, opts.maxPerTensor, seed + 1);
    tensors.push(compare("input", dxHost, numeric(x, host), idx, floor));
  }
  params.forEach((p, k) => {
    const host = p.value.toArray();
    const idx = pickIndices(p.value.size, opts.maxPerTensor, seed + 2 + k);
    tensors.push(compare(p.name, grads[k], numeric(p.value, host), idx, floor));
  });
  // Leave the target's cache and gradients as after a plain forward/backward at x.
  for (const p of params) p.zeroGrad();
  return { tensors, maxError: Math.max(0, ...tensors.map((t) => t.maxError)) };
}

/** Asserts every tensor's error is within `tol` (and, unless disabled, has some signal). */
export function assertGradCheck(
  res: GradCheckResult,
  opts: Pick<GradCheckOptions, "tol" | "floor" | "requireSignal"> = {},
  label = "",
): void {
  const tol = opts.tol ?? 1e-6;
  const floor = opts.floor ?? 1e-3;
  assert.ok(res.tensors.length > 0, `${label}: nothing was checked`);
  for (const t of res.tensors) {
    assert.ok(
      t.maxError <= tol,
      `${label} ${t.name}: relative error ${t.maxError.toExponential(3)} > ${tol} at index ` +
        `${t.worst.index} (analytic ${t.worst.analytic}, numeric ${t.worst.numeric})`,
    );
    if (opts.requireSignal ?? true) {
      assert.ok(
        t.maxAbsNumeric > floor,
        `${label} ${t.name}: every numeric gradient is below ${floor}; the check proves nothing`,
      );
    }
  }
}

/** Options of {@link checkLayerGradients}. */
export interface LayerCheckOptions extends GradCheckOptions {
  /** Input data (default: standard normal from `seed`). */
  input?: ArrayLike<number>;
  /**
   * Overwrite every parameter with N(0, 1) noise before checking (default true), so layers
   * that start at identity (shift 0, scale 1) are checked away from that point.
   */
  randomizeParams?: boolean;
  /** Seed of the build generator (default 3). */
  buildSeed?: number;
  /** Backend (default the ts backend). */
  backend?: Backend;
}

/**
 * Builds `layer` (unless built) for `batchShape.slice(1)` in float64, and asserts its input
 * and parameter gradients match central differences. Returns the result for more checks.
 */
export function checkLayerGradients(
  layer: Layer,
  batchShape: readonly number[],
  opts: LayerCheckOptions = {},
): GradCheckResult {
  const backend = opts.backend ?? tsBackend;
  const seed = opts.seed ?? 7;
  const built = (layer as { isBuilt?: boolean }).isBuilt === true;
  if (!built) {
    const ctx: BuildContext = {
      backend,
      dtype: "float64",
      rng: new Rng(opts.buildSeed ?? 3, Streams.init),
    };
    layer.build(batchShape.slice(1), ctx);
  }
  if (opts.randomizeParams ?? true) {
    layer.params().forEach((p, k) => {
      backend.upload(p.value.buf, randomNormal(p.value.size, seed + 100 + k));
    });
  }
  const data = opts.input ?? randomNormal(shapeSize(batchShape), seed);
  const x = Tensor.from(backend, batchShape, data, "float64");
  try {
    const res = gradCheck(layer, x, opts);
    assertGradCheck(res, opts, `${layer.kind} '${layer.name}'`);
    return res;
  } finally {
    x.dispose();
  }
}

/**
 * Asserts a whole model's input and parameter gradients (e.g. a built float64 `Sequential`)
 * match central differences at `x`. Use `maxPerTensor` to sample large parameter tensors.
 */
export function checkModelGradients(
  model: Differentiable,
  x: Tensor,
  opts: GradCheckOptions = {},
  label = "model",
): GradCheckResult {
  const res = gradCheck(model, x, opts);
  assertGradCheck(res, opts, label);
  return res;
}

/** A loss with the `forward(pred, target): number` / `backward(): Tensor` contract. */
export interface LossLike {
  /** Scalar loss. */
  forward(pred: Tensor, target: Tensor): number;
  /** dLoss/dpred of the last forward. */
  backward(): Tensor;
}

/**
 * Asserts `loss.backward()` matches central differences of `loss.forward` with respect to
 * every entry of `pred` (float64).
 */
export function checkLossGradients(
  loss: LossLike,
  pred: Tensor,
  target: Tensor,
  opts: Pick<GradCheckOptions, "h" | "tol" | "floor" | "requireSignal"> = {},
  label = "loss",
): TensorCheck {
  const h = opts.h ?? 1e-5;
  const b = pred.backend;
  loss.forward(pred, target);
  const g = loss.backward();
  assert.deepEqual(g.shape, pred.shape, `${label}: gradient shape`);
  const analytic = g.toArray();
  g.dispose();
  const host = pred.toArray();
  const numericAt = (i: number) => {
    b.upload(pred.buf, [host[i] + h], i);
    const lp = loss.forward(pred, target);
    b.upload(pred.buf, [host[i] - h], i);
    const lm = loss.forward(pred, target);
    b.upload(pred.buf, [host[i]], i);
    return (lp - lm) / (2 * h);
  };
  const idx = Array.from({ length: pred.size }, (_, i) => i);
  const res = compare("prediction", analytic, numericAt, idx, opts.floor ?? 1e-3);
  assertGradCheck({ tensors: [res], maxError: res.maxError }, opts, label);
  return res;
}

/** Options of {@link checkNetworkGradients}. */
export interface NetworkCheckOptions {
  /** Check at most this many entries per tensor (default: all). */
  maxPerTensor?: number;
  /** Standard deviation of the random parameters, or of each parameter (default 1). */
  std?: number | ((p: Param) => number);
  /**
   * Share of the tensors (the exempt ones aside) that must show a numeric gradient above
   * 1e-3 (default 1: all); deep networks sampled at few entries may see tiny ones.
   */
  signalShare?: number;
}

/**
 * Float64 central differences for a whole network with every parameter set to N(0, std²)
 * (zero-initialised gates and scales would otherwise hide gradients). Two kinds of parameter
 * may have an exactly zero gradient under a normalisation, which is scale- and shift-invariant
 * per channel (ws: shift-invariant per unit): a conv/dense bias that feeds one, and a layerwise
 * scale or shift before a conv/dense layer that feeds one. Every other tensor must show signal
 * (or the share `signalShare` of them).
 */
export function checkNetworkGradients(
  m: Sequential,
  label: string,
  opts: NetworkCheckOptions = {},
): void {
  const std = opts.std ?? 1;
  m.params().forEach((p, k) => {
    const sd = typeof std === "number" ? std : std(p);
    tsBackend.upload(p.value.buf, randomNormal(p.value.size, 300 + k, sd));
  });
  const n = shapeSize(m.inputShape);
  const x = Tensor.from(tsBackend, [3, ...m.inputShape], randomNormal(3 * n, 77), "float64");
  try {
    const ctx = { training: true, seed: 3, step: 0 };
    const res = gradCheck(m, x, { ctx, maxPerTensor: opts.maxPerTensor });
    assertGradCheck(res, { requireSignal: false }, label);
    const invariant = new Set<string>();
    const layers = allLayers(m.layers);
    // ws too: each standardised unit's weights sum to 0, so a constant shift of its input
    // does nothing.
    const normalised = layers.some((l) =>
      /Norm$/.test(l.kind) || (l as Partial<Conv2d>).ws === true
    );
    layers.forEach((l, i) => {
      const next = layers[i + 1];
      if (next && /Norm$/.test(next.kind)) invariant.add(`${l.name}.bias`);
      if (normalised && l instanceof Scale && l.effectiveSharing === "layerwise") {
        invariant.add(`${l.name}.scale`);
      }
      if (normalised && l instanceof Shift && l.effectiveSharing === "layerwise") {
        invariant.add(`${l.name}.shift`); // before a dense layer (convs pad: not invariant)
      }
    });
    const checked = res.tensors.filter((t) =>
      ![...invariant].some((b) => t.name === b || t.name.endsWith(`.${b}`))
    );
    const silent = checked.filter((t) => !(t.maxAbsNumeric > 1e-3)).map((t) => t.name);
    const allowed = Math.floor(checked.length * (1 - (opts.signalShare ?? 1)));
    assert.ok(
      silent.length <= allowed,
      `${label}: no gradient signal in ${silent.join(", ")} (${allowed} allowed)`,
    );
  } finally {
    x.dispose();
  }
}
