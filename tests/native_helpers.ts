/**
 * Shared helpers of the native backend tests: building and opening the cpu library, random
 * data that is never zero, and float32-aware comparison against the ts reference.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Backend, Buf } from "../src/backend.ts";
import { tsBackend } from "../src/backends/ts.ts";
import { NativeBackend } from "../src/backends/native.ts";
import { buildCpu } from "../ffi/build.ts";
import { NativeLibrary, resolveLibrary } from "../ffi/library.ts";
import { Rng } from "../src/rng.ts";

await buildCpu({ quiet: true });

/** The native cpu backend under test (built above when stale). */
export const cpu: NativeBackend = NativeBackend.open("cpu");
/**
 * A cpu backend over a private copy of the library: its allocator counts only this caller's
 * memory, even while other test files (run in parallel in the same process) use the shared
 * library.
 */
export function privateCpu(): NativeBackend {
  const copy = Deno.makeTempFileSync({ prefix: "shiftlab_cpu_", suffix: ".so" });
  Deno.copyFileSync(resolveLibrary("cpu").path, copy);
  const b = new NativeBackend(new NativeLibrary("cpu", copy), "cpu");
  Deno.removeSync(copy); // stays mapped
  return b;
}

/** The reference. */
export const ref: Backend = tsBackend;

/** `n` uniform values in `[lo, hi)`, never exactly zero. */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng(seed, 77);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = lo + (hi - lo) * r.uniform();
    if (v === 0) v = 1e-3;
    a[i] = v;
  }
  return a;
}

/** The same host data uploaded to both backends (float32). */
export function pair(data: ArrayLike<number>): [Buf, Buf] {
  const a = cpu.alloc(data.length, "float32");
  cpu.upload(a, data);
  const b = ref.alloc(data.length, "float32");
  ref.upload(b, data);
  return [a, b];
}

/** Zero buffers of `n` elements on both backends. */
export function zeros(n: number): [Buf, Buf] {
  return [cpu.alloc(n, "float32"), ref.alloc(n, "float32")];
}

/** Frees a pair. */
export function free(...ps: [Buf, Buf][]): void {
  for (const [a, b] of ps) {
    cpu.free(a);
    ref.free(b);
  }
}

/**
 * Asserts `actual` (cpu) matches `expected` (ts) within float32 rounding: every element within
 * `rtol * (|expected| + scale)`, where `scale` is the mean magnitude of `expected` (so values
 * that cancel to near zero are judged against the size of what was summed).
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rtol = 2e-6,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale += Math.abs(expected[i]);
  scale = expected.length > 0 ? scale / expected.length : 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
      continue;
    }
    if (!Number.isFinite(e)) {
      assert.equal(a, e, `${what}[${i}]`);
      continue;
    }
    const tol = rtol * (Math.abs(e) + scale) + 1e-30;
    assert.ok(Math.abs(a - e) <= tol, `${what}[${i}]: cpu ${a} vs ts ${e} (tolerance ${tol})`);
  }
}

/** Downloads both buffers of a pair and compares them. */
export function assertPair(p: [Buf, Buf], what: string, rtol = 2e-6): void {
  assertClose(cpu.download(p[0]), ref.download(p[1]), what, rtol);
}
