/**
 * The dry-run backend: holds no memory and computes nothing. Building a model on it runs the
 * real layer build logic (shapes, parameter creation) without allocating parameter memory, so
 * `parameterCount()` and `summary()` work for networks of any size (see `dryRunContext` in
 * `model.ts`).
 *
 * @module
 */
import type { Buf, DType, HostArray } from "../backend.ts";
import { ComposedBackend } from "./compose.ts";

/** A buffer that records only its length. */
class ShapeBuf implements Buf {
  disposed = false;
  constructor(readonly length: number, readonly dtype: DType) {}
}

function noCompute(op: string): never {
  throw new Error(
    `dry-run backend: '${op}' is not available; this backend only records shapes ` +
      `(used to count parameters without allocating them)`,
  );
}

/**
 * A backend that holds no memory: buffers record only their length, uploads and fills are
 * ignored, downloads read zeros, and every compute primitive throws (so does every fused op,
 * through its default composition).
 */
export class DryRunBackend extends ComposedBackend {
  /** Backend name. */
  readonly name = "dry-run";
  /** Device description. */
  readonly device = "none (shapes only)";
  /** Both dtypes. */
  supports(_dtype: DType): boolean {
    return true;
  }
  /** A length-only buffer. */
  alloc(length: number, dtype: DType): Buf {
    if (!Number.isInteger(length) || length < 0) {
      throw new Error(
        `dry-run backend: alloc length must be a non-negative integer, got ${length}`,
      );
    }
    return new ShapeBuf(length, dtype);
  }
  /** Marks the buffer disposed. */
  free(buf: Buf): void {
    (buf as ShapeBuf).disposed = true;
  }
  /** Ignored (checks the range only). */
  upload(buf: Buf, data: ArrayLike<number>, offset = 0): void {
    if (offset + data.length > buf.length) {
      throw new Error(
        `dry-run backend: upload of ${data.length} values at ${offset} overflows ${buf.length}`,
      );
    }
  }
  /** Zeros of the requested length. */
  download(buf: Buf, offset = 0, length = buf.length - offset): HostArray {
    return buf.dtype === "float64" ? new Float64Array(length) : new Float32Array(length);
  }
  /** Ignored. */
  fill(_buf: Buf, _value: number): void {}
  /** Ignored. */
  copy(_src: Buf, _srcOff: number, _dst: Buf, _dstOff: number, _n: number): void {}
  /** Throws: no compute. */
  gemm(): void {
    noCompute("gemm");
  }
  /** Throws: no compute. */
  swapAxes01(): void {
    noCompute("swapAxes01");
  }
  /** Throws: no compute. */
  im2col(): void {
    noCompute("im2col");
  }
  /** Throws: no compute. */
  col2im(): void {
    noCompute("col2im");
  }
  /** Throws: no compute. */
  binary(): void {
    noCompute("binary");
  }
  /** Throws: no compute. */
  unary(): void {
    noCompute("unary");
  }
  /** Throws: no compute. */
  unaryBackward(): void {
    noCompute("unaryBackward");
  }
  /** Throws: no compute. */
  axpby(): void {
    noCompute("axpby");
  }
  /** Throws: no compute. */
  reduce(): void {
    noCompute("reduce");
  }
  /** Throws: no compute. */
  argmax(): void {
    noCompute("argmax");
  }
  /** Throws: no compute. */
  topkMask(): void {
    noCompute("topkMask");
  }
  /** Throws: no compute. */
  dropoutMask(): void {
    noCompute("dropoutMask");
  }
  /** Throws: no compute. */
  update(): void {
    noCompute("update");
  }
  /** No-op. */
  synchronize(): void {}
  /** Always 0: nothing is held. */
  memoryInUse(): number {
    return 0;
  }
}
