/**
 * `Sequential`: a stack of layers with naming, shape bookkeeping, summary and the forward and
 * backward passes (also partial ones, for gradient-ascent visualisation).
 *
 * Ownership: `forward`/`forwardTo` and `backward`/`backwardFrom` return new tensors owned by
 * the caller; intermediate activations and gradients are released as soon as the next layer
 * has consumed them (each layer keeps what its own backward needs). The input and the upstream
 * gradient stay the caller's.
 *
 * @module
 */
import type { Backend, DType } from "./backend.ts";
import { DryRunBackend } from "./backends/dryrun.ts";
import type { BuildContext, ForwardContext, Layer } from "./layers/layer.ts";
import type { Param } from "./param.ts";
import { shapeError } from "./layers/layer.ts";
import { Rng } from "./rng.ts";
import { fmtShape, shapeSize, type Tensor } from "./tensor.ts";

/** Options of {@link Sequential}. */
export type SequentialOptions = {
  /** Model name for summaries and errors; default `sequential`. */
  name?: string;
};

/** A feed-forward stack of layers. */
export class Sequential {
  /** The layers, in order. */
  readonly layers: Layer[];
  /** Model name. */
  readonly name: string;
  /** Kind, for error messages. */
  readonly kind = "Sequential";
  #inputShape: number[] | null = null;
  #shapes: number[][] = [];
  #backend: Backend | null = null;
  #dtype: DType = "float32";
  #forwardDepth = -1;
  #disposed = false;

  /** Wraps layers (not built yet); throws on an empty list or a non-layer. */
  constructor(layers: Layer[], opts: SequentialOptions = {}) {
    if (!Array.isArray(layers) || layers.length === 0) {
      throw new Error("Sequential: needs a non-empty array of layers");
    }
    layers.forEach((l, i) => {
      if (!l || typeof l.build !== "function" || typeof l.forward !== "function") {
        throw new Error(`Sequential: element ${i} is not a layer (got ${String(l)})`);
      }
    });
    if (new Set(layers).size !== layers.length) {
      throw new Error("Sequential: the same layer object appears twice");
    }
    this.layers = [...layers];
    this.name = opts.name ?? "sequential";
  }

  /**
   * Names the layers `${i}_${kind}`, builds them in order (parameters are drawn from
   * `ctx.rng` in layer order, so one seed gives bit-identical parameters) and names the
   * parameters `${layer}.${param}`.
   */
  build(inputShape: readonly number[], ctx: BuildContext): this {
    this.#alive();
    if (this.#inputShape) throw new Error(`Sequential '${this.name}' is already built`);
    let shape = [...inputShape];
    const shapes: number[][] = [];
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      layer.name = `${i}_${layer.kind.toLowerCase()}`;
      shape = [...layer.build(shape, ctx)];
      shapes.push(shape);
      for (const p of layer.params()) {
        if (!p.name.startsWith(`${layer.name}.`)) p.name = `${layer.name}.${p.name}`;
      }
    }
    this.#inputShape = [...inputShape];
    this.#shapes = shapes;
    this.#backend = ctx.backend;
    this.#dtype = ctx.dtype;
    return this;
  }

  #alive(): void {
    if (this.#disposed) throw new Error(`Sequential '${this.name}' used after dispose()`);
  }

  #built(): number[] {
    this.#alive();
    if (!this.#inputShape) throw new Error(`Sequential '${this.name}' used before build()`);
    return this.#inputShape;
  }

  /** Whether `build` has run. */
  get isBuilt(): boolean {
    return this.#inputShape !== null;
  }

  /** Per-sample input shape. */
  get inputShape(): number[] {
    return [...this.#built()];
  }

  /** Per-sample output shape. */
  get outputShape(): number[] {
    this.#built();
    return [...this.#shapes[this.#shapes.length - 1]];
  }

  /** Per-sample output shape of every layer, in order. */
  get layerOutputShapes(): number[][] {
    this.#built();
    return this.#shapes.map((s) => [...s]);
  }

  /** The backend the model was built on. */
  get backend(): Backend {
    this.#built();
    return this.#backend!;
  }

  /** The element type the model was built with. */
  get dtype(): DType {
    this.#built();
    return this.#dtype;
  }

  #checkIndex(layerIndex: number, what: string): void {
    if (!Number.isInteger(layerIndex) || layerIndex < 0 || layerIndex >= this.layers.length) {
      throw new Error(
        `Sequential '${this.name}': ${what} layer index must be an integer in ` +
          `[0, ${this.layers.length - 1}], got ${layerIndex}`,
      );
    }
  }

  /** Runs the whole network on a batch `[N, ...inputShape]`. */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    return this.forwardTo(x, this.layers.length - 1, ctx);
  }

  /** Runs layers `0..layerIndex` (inclusive) and returns that layer's output. */
  forwardTo(x: Tensor, layerIndex: number, ctx: ForwardContext): Tensor {
    const inShape = this.#built();
    this.#checkIndex(layerIndex, "forward");
    if (x.rank !== inShape.length + 1 || inShape.some((d, i) => x.shape[i + 1] !== d)) {
      shapeError(this, `[N${inShape.map((d) => `, ${d}`).join("")}]`, x.shape);
    }
    this.#forwardDepth = -1;
    let h = x;
    for (let i = 0; i <= layerIndex; i++) {
      const next = this.layers[i].forward(h, ctx);
      if (h !== x && h !== next) h.dispose();
      h = next;
    }
    this.#forwardDepth = layerIndex;
    return h;
  }

  /** Backpropagates `dy` (the gradient of the last output) to the input; returns dL/dx. */
  backward(dy: Tensor): Tensor {
    return this.backwardFrom(dy, this.layers.length - 1);
  }

  /**
   * Backpropagates `dy`, the gradient of layer `layerIndex`'s output, through layers
   * `layerIndex..0`, accumulating parameter gradients; returns dL/dx. Needs a forward that
   * reached at least that layer.
   */
  backwardFrom(dy: Tensor, layerIndex: number): Tensor {
    this.#built();
    this.#checkIndex(layerIndex, "backward");
    if (layerIndex > this.#forwardDepth) {
      throw new Error(
        `Sequential '${this.name}': backward from layer ${layerIndex} needs a forward that ` +
          `reached it (the last forward stopped at ${this.#forwardDepth})`,
      );
    }
    return this.#backwardThrough(dy, layerIndex, 0);
  }

  /**
   * The training backward pass: backpropagates `dy`, the gradient of the network's output,
   * only as far as parameter gradients need. Layers before the first one with parameters are
   * skipped, and that layer does not compute dL/dx (a conv or dense layer saves a GEMM, and a
   * conv its col2im). Use `backward` when dL/dx is wanted.
   */
  backwardParams(dy: Tensor): void {
    this.#built();
    const last = this.layers.length - 1;
    if (this.#forwardDepth !== last) {
      throw new Error(
        `Sequential '${this.name}': backwardParams needs a full forward first (the last ` +
          `forward stopped at ${this.#forwardDepth})`,
      );
    }
    const first = this.layers.findIndex((l) => l.params().length > 0);
    if (first < 0) return;
    const g = this.#backwardThrough(dy, last, first + 1);
    const layer = this.layers[first];
    if (layer.backwardParams) layer.backwardParams(g);
    else layer.backward(g).dispose();
    if (g !== dy) g.dispose();
  }

  /** Runs `backward` through layers `from..to` (descending); returns the gradient below `to`. */
  #backwardThrough(dy: Tensor, from: number, to: number): Tensor {
    let g = dy;
    for (let i = from; i >= to; i--) {
      const next = this.layers[i].backward(g);
      if (g !== dy && g !== next) g.dispose();
      g = next;
    }
    return g;
  }

  /** Every learnable parameter, in layer order. */
  params(): Param[] {
    this.#built();
    return this.layers.flatMap((l) => l.params());
  }

  /** Persistent buffers, keyed `${layer}.${buffer}`. */
  buffers(): Record<string, Tensor> {
    this.#built();
    const out: Record<string, Tensor> = {};
    for (const l of this.layers) {
      for (const [k, t] of Object.entries(l.buffers())) out[`${l.name}.${k}`] = t;
    }
    return out;
  }

  /** Sets every parameter gradient to zero. */
  zeroGrad(): void {
    for (const p of this.params()) p.zeroGrad();
  }

  /** Total number of learnable scalars. */
  parameterCount(): number {
    return this.params().reduce((s, p) => s + p.value.size, 0);
  }

  /** A text table: layer, kind, hyperparameters, output shape, parameter count; then totals. */
  summary(): string {
    const inShape = this.#built();
    const rows: string[][] = [["#", "layer", "kind", "config", "output", "params"]];
    rows.push(["", "input", "", "", fmtShape(inShape), ""]);
    this.layers.forEach((l, i) => {
      const n = l.params().reduce((s, p) => s + p.value.size, 0);
      rows.push([
        String(i),
        l.name,
        l.kind,
        l.describe(),
        fmtShape(this.#shapes[i]),
        n.toLocaleString("en-US"),
      ]);
    });
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    const line = (r: string[]) =>
      r.map((s, c) => (c === 0 || c === 5 ? s.padStart(widths[c]) : s.padEnd(widths[c])))
        .join("  ").trimEnd();
    const rule = "-".repeat(widths.reduce((a, b) => a + b + 2, -2));
    return [
      `Sequential '${this.name}' (${this.#backend!.name}, ${this.#dtype})`,
      line(rows[0]),
      rule,
      ...rows.slice(1).map(line),
      rule,
      `total parameters: ${this.parameterCount().toLocaleString("en-US")}` +
      ` (${shapeSize(inShape)} inputs -> ${shapeSize(this.outputShape)} outputs)`,
    ].join("\n");
  }

  /** Releases every layer's parameters, buffers and caches. */
  dispose(): void {
    if (this.#disposed) return;
    for (const l of this.layers) l.dispose();
    this.#disposed = true;
  }
}

/** A generator that draws constants (0.5 uniform, 0 normal) cheaply, for dry-run builds. */
export class ConstantRng extends Rng {
  /** Always 0.5. */
  override uniform(): number {
    this.counter++;
    return 0.5;
  }
  /** Always 0. */
  override normal(): number {
    this.counter += 2;
    return 0;
  }
}

/**
 * A build context on the dry-run backend (`backends/dryrun.ts`): counts and shapes, no memory,
 * no randomness.
 */
export function dryRunContext(dtype: DType = "float32"): BuildContext {
  return { backend: new DryRunBackend(), dtype, rng: new ConstantRng(0, 0) };
}
