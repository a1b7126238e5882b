/**
 * `Tensor`: a shape plus an opaque buffer owned by one backend, and the scope helper that
 * disposes temporaries.
 *
 * @module
 */
import type { Backend, Buf, DType, HostArray } from "./backend.ts";

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2,3,4]` → `"[2, 3, 4]"`, for error messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Throws unless `shape` is a list of non-negative integers. */
export function checkShape(shape: readonly number[], what = "shape"): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${what} ${fmtShape(shape)}: every dimension must be a non-negative integer`);
    }
  }
}

const scopes: Set<Tensor>[] = [];

/** Owners of a buffer beyond the first, added by {@link Tensor.share}. */
const extraOwners = new WeakMap<Buf, number>();

/** An n-dimensional array living on one backend. */
export class Tensor {
  /** Element count. */
  readonly size: number;
  #buf: Buf;
  #owner: boolean;
  #released = false;

  /**
   * Wraps a buffer. `owner` false marks a view (e.g. a reshape) whose `dispose()` leaves the
   * memory to the owning tensor.
   */
  constructor(
    readonly backend: Backend,
    readonly shape: readonly number[],
    buf: Buf,
    owner = true,
  ) {
    checkShape(shape);
    this.size = shapeSize(shape);
    if (buf.length < this.size) {
      throw new Error(
        `tensor of shape ${fmtShape(shape)} needs ${this.size} elements, buffer has ${buf.length}`,
      );
    }
    this.#buf = buf;
    this.#owner = owner;
    if (owner && scopes.length > 0) scopes[scopes.length - 1].add(this);
  }

  /** The backend buffer; throws once disposed. */
  get buf(): Buf {
    if (this.#released || this.#buf.disposed) {
      throw new Error(`tensor ${fmtShape(this.shape)} used after dispose()`);
    }
    return this.#buf;
  }

  /** Element type. */
  get dtype(): DType {
    return this.#buf.dtype;
  }

  /** Number of axes. */
  get rank(): number {
    return this.shape.length;
  }

  /** Whether the memory was released. */
  get disposed(): boolean {
    return this.#released || this.#buf.disposed;
  }

  /** A zero-filled tensor. */
  static zeros(backend: Backend, shape: readonly number[], dtype: DType = "float32"): Tensor {
    return Tensor.#allocate(backend, shape, dtype, true);
  }

  /**
   * A tensor with unspecified contents, for an output that is about to be overwritten in full
   * (the native backends skip the zero fill; the `ts` backend's arrays are zeroed anyway).
   */
  static empty(backend: Backend, shape: readonly number[], dtype: DType = "float32"): Tensor {
    return Tensor.#allocate(backend, shape, dtype, false);
  }

  static #allocate(backend: Backend, shape: readonly number[], dtype: DType, zeroed: boolean) {
    checkShape(shape);
    if (!backend.supports(dtype)) {
      throw new Error(`backend '${backend.name}' does not support ${dtype}`);
    }
    return new Tensor(backend, shape, backend.alloc(shapeSize(shape), dtype, zeroed));
  }

  /** A tensor filled with `value`. */
  static full(
    backend: Backend,
    shape: readonly number[],
    value: number,
    dtype: DType = "float32",
  ): Tensor {
    const t = Tensor.zeros(backend, shape, dtype);
    if (value !== 0) backend.fill(t.buf, value);
    return t;
  }

  /** A tensor holding a copy of host data. */
  static from(
    backend: Backend,
    shape: readonly number[],
    data: ArrayLike<number>,
    dtype: DType = "float32",
  ): Tensor {
    const t = Tensor.zeros(backend, shape, dtype);
    if (data.length !== t.size) {
      t.dispose();
      throw new Error(
        `Tensor.from: shape ${fmtShape(shape)} needs ${t.size} values, got ${data.length}`,
      );
    }
    backend.upload(t.buf, data);
    return t;
  }

  /** Copies the data to the host. */
  toArray(): HostArray {
    return this.backend.download(this.buf, 0, this.size);
  }

  /** Reads a single element (a host copy of one value). */
  item(index = 0): number {
    return this.backend.download(this.buf, index, 1)[0];
  }

  /** `shape` with a -1 resolved, checked to hold exactly this tensor's elements; `what` names
   * the caller in the error. */
  #resolve(shape: readonly number[], what: string): number[] {
    const resolved = [...shape];
    const neg = resolved.indexOf(-1);
    if (neg >= 0) {
      const rest = shapeSize(resolved.filter((_, i) => i !== neg));
      resolved[neg] = rest === 0 ? 0 : this.size / rest;
    }
    if (
      shapeSize(resolved) !== this.size || !resolved.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      throw new Error(`cannot ${what} ${fmtShape(this.shape)} as ${fmtShape(shape)}`);
    }
    return resolved;
  }

  /** A view with another shape of the same size (one axis may be -1); it shares memory with
   * this tensor. */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.backend, this.#resolve(shape, "reshape"), this.buf, false);
  }

  /** A new tensor with a copy of the data. */
  clone(): Tensor {
    const t = Tensor.empty(this.backend, this.shape, this.dtype);
    this.backend.copy(this.buf, 0, t.buf, 0, this.size);
    return t;
  }

  /**
   * Copies another tensor into this one: of the same size, or, given `at`, into the elements
   * from `at` on (for filling a batch's rows from the parts computed a few rows at a time).
   */
  assign(src: Tensor, at?: number): void {
    const fits = at === undefined
      ? src.size === this.size
      : Number.isInteger(at) && at >= 0 && at + src.size <= this.size;
    if (!fits) {
      throw new Error(
        `assign: ${fmtShape(src.shape)} does not fit into ${fmtShape(this.shape)}` +
          (at === undefined ? "" : ` at element ${at}`),
      );
    }
    this.backend.copy(src.buf, 0, this.buf, at ?? 0, src.size);
  }

  /**
   * Another owning handle of the same memory, without a copy, with this tensor's shape or
   * `shape` (the same size): the memory is freed when the last owner is disposed. For keeping a
   * tensor that its producer will dispose (a layer saving its input for backward) or handing it
   * on under another shape (flatten); the data must not be changed in place while both are in
   * use.
   */
  share(shape: readonly number[] = this.shape): Tensor {
    const buf = this.buf;
    const t = new Tensor(this.backend, this.#resolve(shape, "share"), buf, true);
    extraOwners.set(buf, (extraOwners.get(buf) ?? 0) + 1);
    return t;
  }

  /** Releases this handle's ownership: the memory once no other owner remains (views: no-op).
   * Safe to call twice. */
  dispose(): void {
    if (this.#owner && !this.#released) {
      this.#released = true;
      const extra = extraOwners.get(this.#buf) ?? 0;
      if (extra > 0) extraOwners.set(this.#buf, extra - 1);
      else this.backend.free(this.#buf);
    }
    for (const s of scopes) s.delete(this);
  }

  /** Removes this tensor from the enclosing scopes so `tidy` does not dispose it. */
  keep(): this {
    for (const s of scopes) s.delete(this);
    return this;
  }
}

/**
 * Runs `fn`, then disposes every tensor created inside it except those reachable from its
 * return value (a tensor, an array of tensors, or an object whose values are tensors).
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keepers = new Set<Tensor>();
  const visit = (v: unknown, depth: number) => {
    if (v instanceof Tensor) keepers.add(v);
    else if (depth < 3 && v && typeof v === "object") {
      for (const x of Array.isArray(v) ? v : Object.values(v)) visit(x, depth + 1);
    }
  };
  visit(result, 0);
  for (const t of scope) {
    if (!keepers.has(t)) t.dispose();
    else if (scopes.length > 0) scopes[scopes.length - 1].add(t);
  }
  return result;
}
