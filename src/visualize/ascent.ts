/**
 * The gradient-ascent engine (seed 000 §2.4, SPEC §5): inject a hand-made error at layer `l`,
 * backpropagate it to the input, and step `x ← x + η (∇x − λ x)`, optionally clipped to a data
 * range. Runs on any backend: only `forwardTo`/`backwardFrom` of the model and host copies of
 * the input, the layer output and the input gradient are used.
 *
 * @module
 */
import type { Backend, DType, HostArray } from "../backend.ts";
import type { ForwardContext } from "../layers/layer.ts";
import type { Param } from "../param.ts";
import { fmtShape, Tensor, tidy } from "../tensor.ts";
import { type AscentMode, readNeurons, seedError, type SpatialReadout } from "./neuron.ts";

/** The part of `Sequential` (src/model.ts) the engine needs. */
export interface AscentModel {
  /** The layers, input to output (their names and kinds). */
  readonly layers: readonly { readonly name: string; readonly kind: string }[];
  /** Backend the network lives on. */
  readonly backend: Backend;
  /** Per-sample input shape. */
  readonly inputShape: readonly number[];
  /** Element type of the network (Sequential has it); else taken from the parameters. */
  readonly dtype?: DType;
  /** Forward pass from the input up to and including layer `layerIndex`. */
  forwardTo(x: Tensor, layerIndex: number, ctx: ForwardContext): Tensor;
  /** Backward pass from an error injected at layer `layerIndex`'s output to the input. */
  backwardFrom(dy: Tensor, layerIndex: number): Tensor;
  /** Learnable parameters (their gradients are zeroed, never stepped). */
  params(): Param[];
  /** Sets every parameter gradient to zero. */
  zeroGrad(): void;
}

/** Evaluation-mode forward context (no dropout, batch norm on running statistics). */
export const EVAL_CONTEXT: ForwardContext = { training: false, seed: 0, step: 0 };

/** The model's element type (that of its first parameter; float32 for parameter-free nets). */
export function modelDType(model: AscentModel): DType {
  return model.dtype ?? model.params()[0]?.value.dtype ?? "float32";
}

/** Resolves a layer given as index (negative counts from the end) or name. */
export function resolveLayer(model: AscentModel, layer: number | string): number {
  const count = model.layers.length;
  if (typeof layer === "string" && !/^-?\d+$/.test(layer)) {
    const i = model.layers.findIndex((l) => l.name === layer);
    if (i < 0) {
      throw new Error(
        `layer '${layer}' not found; layers are: ${model.layers.map((l) => l.name).join(", ")}`,
      );
    }
    return i;
  }
  const n = Number(layer);
  const i = n < 0 ? count + n : n;
  if (!Number.isInteger(i) || i < 0 || i >= count) {
    throw new Error(
      `layer index ${layer} is out of range: the model has ${count} layers (0..${count - 1})`,
    );
  }
  return i;
}

/** Per-sample input size of the model. */
function inputSize(model: AscentModel): number {
  return model.inputShape.reduce((a, b) => a * b, 1);
}

/** The result of one forward/backward probe. */
export interface GradientProbe {
  /** Per-sample output shape of the layer. */
  outShape: number[];
  /** Neurons per sample. */
  units: number;
  /** Neuron activations `[n, units]`. */
  activations: Float64Array;
  /** The input gradient `[n, ...inputShape]` of the selected objective. */
  grad: HostArray;
  /** Predicted classes `[n]` (argmax of the last layer), when asked for. */
  predictions?: Int32Array;
}

/** Options shared by {@link inputGradient} and {@link gradientAscent}. */
export interface ProbeOptions {
  /** Layer index. */
  layer: number;
  /** Neuron readout on conv outputs; default `"mean"`. */
  spatial?: SpatialReadout;
  /** Target neuron per sample. */
  targets: readonly number[];
  /** Default `"unbiased"`. */
  mode?: AscentMode;
  /** Also compute the predicted class of every sample. */
  classify?: boolean;
}

function argmaxRows(y: ArrayLike<number>, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (y[r * cols + c] > y[r * cols + best]) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Forward `x` (host data `[n, ...inputShape]`) to the layer, inject the error for each
 * sample's target neuron and backpropagate it to the input. Parameter gradients touched on
 * the way are zeroed again.
 */
export function inputGradient(
  model: AscentModel,
  x: ArrayLike<number>,
  opts: ProbeOptions,
): GradientProbe {
  const spatial = opts.spatial ?? "mean";
  const mode = opts.mode ?? "unbiased";
  const n = opts.targets.length;
  const size = inputSize(model);
  if (x.length !== n * size) {
    throw new Error(
      `gradient ascent: ${n} targets need ${n} inputs of shape ${fmtShape(model.inputShape)} (${
        n * size
      } values), got ${x.length} values`,
    );
  }
  const layer = resolveLayer(model, opts.layer);
  const dtype = modelDType(model);
  const last = model.layers.length - 1;
  const result = tidy(() => {
    const xt = Tensor.from(model.backend, [n, ...model.inputShape], x, dtype);
    let predictions: Int32Array | undefined;
    if (opts.classify && layer !== last) {
      const logits = model.forwardTo(xt, last, EVAL_CONTEXT);
      predictions = argmaxRows(logits.toArray(), n, logits.size / n);
    }
    const y = model.forwardTo(xt, layer, EVAL_CONTEXT);
    const outShape = y.shape.slice(1);
    const yHost = y.toArray();
    const activations = readNeurons(yHost, n, outShape, spatial);
    const units = activations.length / n;
    if (opts.classify && layer === last) predictions = argmaxRows(yHost, n, y.size / n);
    const dy = Tensor.from(
      model.backend,
      y.shape,
      seedError(outShape, opts.targets, mode, spatial, dtype),
      dtype,
    );
    const dx = model.backwardFrom(dy, layer);
    if (dx.size !== xt.size) {
      throw new Error(
        `backwardFrom returned ${fmtShape(dx.shape)}, expected the input shape ${
          fmtShape(xt.shape)
        }`,
      );
    }
    return { outShape, units, activations, grad: dx.toArray(), predictions };
  });
  model.zeroGrad();
  return result;
}

/**
 * Per-element bounds `[lo_j, hi_j]` for every input element `j` of one sample (the same for
 * every sample), e.g. the raw pixel range mapped through per-element normalisation.
 */
export interface ClipBounds {
  /** Lower bound of every input element. */
  lo: ArrayLike<number>;
  /** Upper bound of every input element. */
  hi: ArrayLike<number>;
}

/** Options of {@link gradientAscent}. */
export interface AscentOptions extends ProbeOptions {
  /** Number of update steps `I` (the source used 60). */
  iters: number;
  /** Step size `η`. */
  rate: number;
  /**
   * Clip every input element after each step to the data range: one `[lo, hi]` for all
   * elements, or per-element {@link ClipBounds}.
   */
  clip?: readonly [number, number] | ClipBounds | null;
  /** L2 penalty `λ`: the step is `η (∇x − λ x)`. Default 0. */
  l2?: number;
  /** Keep the image and gradient every `recordEvery` iterations (and the last). Default 1. */
  recordEvery?: number;
}

/** Everything an ascent run produced. */
export interface AscentResult {
  /** Iterations at which images/gradients were kept (0 = the start). */
  recorded: number[];
  /** Input images `[n, ...inputShape]` at each recorded iteration (before that step). */
  images: Float32Array[];
  /** Input gradients at each recorded iteration. */
  gradients: Float32Array[];
  /** Target activation per iteration `0..I` (length I+1), per sample. */
  target: Float64Array[];
  /** Mean activation of the other neurons of the layer, per iteration, per sample. */
  others: Float64Array[];
  /** Predicted class per iteration `0..I`, per sample (only with `classify`). */
  predictions: Int32Array[];
  /** The final images. */
  final: Float32Array;
  /** Neurons of the layer. */
  units: number;
}

/** Throws unless `v` is a finite number satisfying `ok`. */
function checkNumber(name: string, v: number, ok: (v: number) => boolean, expected: string): void {
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
    throw new Error(`gradient ascent: ${name} must be ${expected}, got ${v}`);
  }
}

/** Validates the clip option and expands it to per-element bounds. */
function clipBounds(
  clip: readonly [number, number] | ClipBounds | null,
  size: number,
): { lo: Float64Array; hi: Float64Array } | null {
  if (!clip) return null;
  if (Array.isArray(clip)) {
    const [lo, hi] = clip as readonly [number, number];
    if (!(lo < hi)) {
      throw new Error(`gradient ascent: clip range must be [lo, hi] with lo < hi, got [${clip}]`);
    }
    return { lo: new Float64Array(size).fill(lo), hi: new Float64Array(size).fill(hi) };
  }
  const b = clip as ClipBounds;
  if (b.lo.length !== size || b.hi.length !== size) {
    throw new Error(
      `gradient ascent: per-element clip bounds need ${size} values each, got ${b.lo.length} and ${b.hi.length}`,
    );
  }
  const lo = Float64Array.from(b.lo);
  const hi = Float64Array.from(b.hi);
  for (let j = 0; j < size; j++) {
    if (!(lo[j] <= hi[j])) {
      throw new Error(
        `gradient ascent: clip bounds at element ${j} run backwards: [${lo[j]}, ${hi[j]}]`,
      );
    }
  }
  return { lo, hi };
}

/**
 * Runs `I` steps of gradient ascent from `x0` (host data `[n, ...inputShape]`; each sample
 * pushes its own target neuron). Iteration `k` reads the activation, then updates
 * `x ← clip(x + η (∇x − λ x))`; the activation and prediction at `I` are read after the last
 * update.
 */
export function gradientAscent(
  model: AscentModel,
  x0: ArrayLike<number>,
  opts: AscentOptions,
): AscentResult {
  checkNumber("iters", opts.iters, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
  checkNumber("rate", opts.rate, (v) => v > 0, "a positive number");
  const l2 = opts.l2 ?? 0;
  checkNumber("l2", l2, (v) => v >= 0, "a number >= 0");
  const every = opts.recordEvery ?? 1;
  checkNumber("recordEvery", every, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
  const n = opts.targets.length;
  const size = inputSize(model);
  const bounds = clipBounds(opts.clip ?? null, size);
  const x = Float32Array.from(x0 as ArrayLike<number>);
  const res: AscentResult = {
    recorded: [],
    images: [],
    gradients: [],
    target: Array.from({ length: n }, () => new Float64Array(opts.iters + 1)),
    others: Array.from({ length: n }, () => new Float64Array(opts.iters + 1)),
    predictions: opts.classify
      ? Array.from({ length: n }, () => new Int32Array(opts.iters + 1))
      : [],
    final: x,
    units: 0,
  };
  for (let it = 0; it <= opts.iters; it++) {
    const probe = inputGradient(model, x, opts);
    res.units = probe.units;
    for (let s = 0; s < n; s++) {
      const t = opts.targets[s];
      let others = 0;
      for (let u = 0; u < probe.units; u++) {
        if (u !== t) others += probe.activations[s * probe.units + u];
      }
      res.target[s][it] = probe.activations[s * probe.units + t];
      res.others[s][it] = probe.units > 1 ? others / (probe.units - 1) : 0;
      if (probe.predictions) res.predictions[s][it] = probe.predictions[s];
    }
    if (it % every === 0 || it === opts.iters) {
      res.recorded.push(it);
      res.images.push(Float32Array.from(x));
      res.gradients.push(Float32Array.from(probe.grad));
    }
    if (it === opts.iters) break;
    const g = probe.grad;
    for (let i = 0; i < x.length; i++) {
      let v = x[i] + opts.rate * (g[i] - l2 * x[i]);
      if (bounds) {
        const j = i % size;
        v = v < bounds.lo[j] ? bounds.lo[j] : v > bounds.hi[j] ? bounds.hi[j] : v;
      }
      x[i] = v;
    }
  }
  return res;
}
