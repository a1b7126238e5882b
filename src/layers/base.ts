/**
 * `LayerBase`: the bookkeeping every layer shares, so each layer file only holds its maths.
 *
 * - `build` validates the per-sample input shape once and records backend, dtype and shapes;
 * - `forward` checks the batch tensor against the built shape (a {@link shapeError} naming the
 *   layer and both shapes otherwise), runs the layer's `forwardImpl` inside `tidy`, and keeps
 *   the tensors that `backward` needs, owned by the layer (the caller may dispose its input and
 *   output at once); the previous step's cache is released first;
 * - `backward` checks the upstream gradient's shape and runs `backwardImpl` inside `tidy`.
 *
 * Ownership: `forward` and `backward` return new tensors owned by the caller.
 *
 * @module
 */
import type { Backend, DType } from "../backend.ts";
import { fmtShape, Tensor, tidy } from "../tensor.ts";
import type { BuildContext, ForwardContext, Layer, Param } from "./layer.ts";
import { shapeError } from "./layer.ts";

/** Throws unless `v` is a positive integer, naming the layer and the hyperparameter. */
export function checkPositiveInt(kind: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) {
    throw new Error(`${kind}: ${what} must be a positive integer, got ${v}`);
  }
}

/** Throws unless `v` is a non-negative integer, naming the layer and the hyperparameter. */
export function checkNonNegInt(kind: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) {
    throw new Error(`${kind}: ${what} must be a non-negative integer, got ${v}`);
  }
}

/** Throws unless `v` is a finite number >= 0 (learning-rate multipliers). */
export function checkLrMult(kind: string, v: number): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new Error(`${kind}: learning-rate multiplier must be a finite number >= 0, got ${v}`);
  }
}

/** `[N, 3, 32, 32]`-style description of a batch of `perSample` shapes. */
export function batchShapeText(perSample: readonly number[]): string {
  return `[N${perSample.map((d) => `, ${d}`).join("")}]`;
}

/** Shared implementation of the {@link Layer} contract; subclasses supply the maths. */
export abstract class LayerBase implements Layer {
  /** Class name, e.g. `Conv2d`. */
  abstract readonly kind: string;
  /** Instance name (set by the model before `build`). */
  name = "";
  #inShape: number[] | null = null;
  #outShape: number[] | null = null;
  #backend: Backend | null = null;
  #dtype: DType = "float32";
  #params: Param[] = [];
  #buffers: Record<string, Tensor> = {};
  #cache: Tensor[] | null = null;
  #lastOut: number[] | null = null;
  #recording = true;
  #disposed = false;

  /** Per-sample input shape (after `build`). */
  get inputShape(): number[] {
    return [...this.#built().inShape];
  }

  /** Per-sample output shape (after `build`). */
  get outputShape(): number[] {
    return [...this.#built().outShape];
  }

  /** Backend chosen at `build`. */
  protected get backend(): Backend {
    if (!this.#backend) throw new Error(`${this.kind} '${this.name}' used before build()`);
    return this.#backend;
  }

  /** Element type chosen at `build`. */
  protected get dtype(): DType {
    return this.#dtype;
  }

  /**
   * Whether the running forward keeps tensors for backward (false under `noGrad`); layers
   * skip building their caches when it is false.
   */
  protected get recording(): boolean {
    return this.#recording;
  }

  /** Whether `build` has run. */
  get isBuilt(): boolean {
    return this.#inShape !== null;
  }

  #built(): { inShape: number[]; outShape: number[]; backend: Backend } {
    if (this.#disposed) throw new Error(`${this.kind} '${this.name}' used after dispose()`);
    if (!this.#inShape || !this.#outShape || !this.#backend) {
      throw new Error(`${this.kind} '${this.name}' used before build()`);
    }
    return { inShape: this.#inShape, outShape: this.#outShape, backend: this.#backend };
  }

  /** Throws the standard shape error for a per-sample shape this layer cannot take. */
  protected rejectShape(expected: string, got: readonly number[]): never {
    shapeError(this, expected, got);
  }

  /** Validates the per-sample input shape, creates parameters, returns the output shape. */
  build(inputShape: readonly number[], ctx: BuildContext): number[] {
    if (this.#disposed) throw new Error(`${this.kind} '${this.name}' used after dispose()`);
    if (this.#inShape) throw new Error(`${this.kind} '${this.name}' is already built`);
    if (
      inputShape.length === 0 || !inputShape.every((d) => Number.isInteger(d) && d > 0)
    ) {
      this.rejectShape("a non-empty list of positive integers", inputShape);
    }
    if (!ctx.backend.supports(ctx.dtype)) {
      throw new Error(
        `${this.kind} '${this.name}': backend '${ctx.backend.name}' lacks ${ctx.dtype}`,
      );
    }
    this.#backend = ctx.backend;
    this.#dtype = ctx.dtype;
    const inShape = [...inputShape];
    const out = this.setup(inShape, ctx);
    this.#inShape = inShape;
    this.#outShape = [...out];
    return [...out];
  }

  /**
   * Validates the per-sample input shape (via {@link rejectShape}), creates parameters and
   * buffers, and returns the per-sample output shape. `backend`/`dtype` are already set.
   */
  protected abstract setup(inputShape: readonly number[], ctx: BuildContext): number[];

  /** Computes the output of a validated batch; temporaries are disposed by the caller's tidy. */
  protected abstract forwardImpl(x: Tensor, ctx: ForwardContext): Tensor;

  /**
   * Accumulates parameter gradients from dL/dy (shape checked) and returns dL/dx; with
   * `inputGrad` false the caller does not need dL/dx, and a layer may skip it (return null).
   */
  protected abstract backwardImpl(dy: Tensor, inputGrad: boolean): Tensor | null;

  /** Registers a parameter (its value and gradient live until `dispose`). */
  protected addParam(p: Param): Param {
    this.#params.push(p);
    return p;
  }

  /** Registers a persistent buffer (e.g. running statistics). */
  protected addBuffer(name: string, t: Tensor): Tensor {
    t.keep();
    this.#buffers[name] = t;
    return t;
  }

  /** Uploads host data as a new tensor on this layer's backend and dtype. */
  protected upload(shape: readonly number[], data: ArrayLike<number>): Tensor {
    return Tensor.from(this.backend, shape, data, this.#dtype);
  }

  /**
   * Keeps tensors for `backward` (owned by the layer; released at the next forward or at
   * dispose). Only call from `forwardImpl`.
   */
  protected save(...ts: Tensor[]): void {
    if (!this.#recording) return;
    if (this.#cache === null) this.#cache = [];
    for (const t of ts) this.#cache.push(t.keep());
  }

  /** Releases the tensors kept by the last forward. */
  #clearCache(): void {
    if (this.#cache) { for (const t of this.#cache) t.dispose(); }
    this.#cache = null;
  }

  /** The tensors saved by the last forward, in order. */
  protected saved(): Tensor[] {
    if (!this.#cache) {
      throw new Error(
        `${this.kind} '${this.name}': backward() needs a forward() with gradients first ` +
          `(the last forward ran with noGrad, or none ran)`,
      );
    }
    return this.#cache;
  }

  /** Forward pass on `[N, ...inputShape]`; the result is owned by the caller. */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const { inShape, backend } = this.#built();
    if (x.rank !== inShape.length + 1 || inShape.some((d, i) => x.shape[i + 1] !== d)) {
      shapeError(this, batchShapeText(inShape), x.shape);
    }
    if (x.shape[0] === 0) shapeError(this, `${batchShapeText(inShape)} with N >= 1`, x.shape);
    if (x.backend !== backend) {
      throw new Error(
        `${this.kind} '${this.name}': input lives on backend '${x.backend.name}', ` +
          `layer on '${backend.name}'`,
      );
    }
    if (x.dtype !== this.#dtype) {
      throw new Error(
        `${this.kind} '${this.name}': input dtype ${x.dtype}, layer built for ${this.#dtype}`,
      );
    }
    this.#clearCache();
    this.#lastOut = null;
    const grad = ctx.noGrad !== true;
    this.#recording = grad;
    const y = tidy(() => {
      const out = this.forwardImpl(x, ctx);
      if (grad && this.#cache === null) this.#cache = [];
      return out;
    });
    if (!grad) this.#clearCache();
    else this.#lastOut = [...y.shape];
    return y;
  }

  /** dL/dx for the last forward (owned by the caller); accumulates parameter gradients. */
  backward(dy: Tensor): Tensor {
    this.#checkGrad(dy);
    return tidy(() => this.backwardImpl(dy, true)!);
  }

  /** Accumulates parameter gradients for the last forward without computing dL/dx. */
  backwardParams(dy: Tensor): void {
    this.#checkGrad(dy);
    tidy(() => {
      this.backwardImpl(dy, false);
    });
  }

  #checkGrad(dy: Tensor): void {
    this.#built();
    const out = this.#lastOut;
    if (!out || !this.#cache) this.saved();
    if (dy.rank !== out!.length || dy.shape.some((d, i) => d !== out![i])) {
      throw new Error(
        `${this.kind} '${this.name}': gradient shape ${fmtShape(dy.shape)} does not match ` +
          `the last output ${fmtShape(out!)}`,
      );
    }
  }

  /** The learnable parameters, in a fixed order. */
  params(): Param[] {
    return [...this.#params];
  }

  /** Persistent non-learned state (running statistics). */
  buffers(): Record<string, Tensor> {
    return { ...this.#buffers };
  }

  /** Hyperparameters for `summary()` (empty by default). */
  describe(): string {
    return "";
  }

  /** Releases parameters, buffers and cached tensors. */
  dispose(): void {
    this.#clearCache();
    for (const p of this.#params) p.dispose();
    for (const t of Object.values(this.#buffers)) t.dispose();
    this.#params = [];
    this.#buffers = {};
    this.#disposed = true;
  }
}
