/**
 * Weight initialisers. Each returns host data (`Float64Array`, row-major over `shape`) drawn
 * from the given counter-based {@link Rng}; layers upload it to their backend. Drawing order is
 * the element order, so one seed gives the same weights on every backend.
 *
 * - He normal: `std = sqrt(2 / fanIn)` (SPEC §4).
 * - Xavier normal: `std = sqrt(2 / (fanIn + fanOut))`.
 * - Xavier uniform: `U(-a, a)` with `a = sqrt(6 / (fanIn + fanOut))`.
 *
 * @module
 */
import type { Rng } from "./rng.ts";
import { checkShape, fmtShape, shapeSize } from "./tensor.ts";

function checkFan(name: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) {
    throw new Error(`${name}: ${what} must be a positive integer, got ${v}`);
  }
}

function sized(name: string, shape: readonly number[]): number {
  checkShape(shape, `${name} shape`);
  const n = shapeSize(shape);
  if (n === 0) throw new Error(`${name}: shape ${fmtShape(shape)} has no elements`);
  return n;
}

/** Normal values with mean 0 and the given standard deviation. */
function normal(rng: Rng, n: number, std: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}

/** He (Kaiming) normal initialisation: `N(0, 2 / fanIn)`. */
export function heNormal(rng: Rng, shape: readonly number[], fanIn: number): Float64Array {
  const n = sized("heNormal", shape);
  checkFan("heNormal", "fanIn", fanIn);
  return normal(rng, n, Math.sqrt(2 / fanIn));
}

/** Xavier (Glorot) normal initialisation: `N(0, 2 / (fanIn + fanOut))`. */
export function xavierNormal(
  rng: Rng,
  shape: readonly number[],
  fanIn: number,
  fanOut: number,
): Float64Array {
  const n = sized("xavierNormal", shape);
  checkFan("xavierNormal", "fanIn", fanIn);
  checkFan("xavierNormal", "fanOut", fanOut);
  return normal(rng, n, Math.sqrt(2 / (fanIn + fanOut)));
}

/** Xavier (Glorot) uniform initialisation: `U(-a, a)`, `a = sqrt(6 / (fanIn + fanOut))`. */
export function xavierUniform(
  rng: Rng,
  shape: readonly number[],
  fanIn: number,
  fanOut: number,
): Float64Array {
  const n = sized("xavierUniform", shape);
  checkFan("xavierUniform", "fanIn", fanIn);
  checkFan("xavierUniform", "fanOut", fanOut);
  const a = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a * (2 * rng.uniform() - 1);
  return out;
}

/** All zeros (biases, shifts, batch-norm beta). */
export function zeros(shape: readonly number[]): Float64Array {
  return new Float64Array(sized("zeros", shape));
}

/** All ones (scales, batch-norm gamma). */
export function ones(shape: readonly number[]): Float64Array {
  return new Float64Array(sized("ones", shape)).fill(1);
}
