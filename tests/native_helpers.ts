/**
 * Shared helpers of the native backend tests: building and opening the cpu library, and
 * random data that is never zero. (Op parity is the conformance suite's.)
 *
 * @module
 */
import type { Backend } from "../src/backend.ts";
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

/** A deterministic source of test data drawn from one generator stream. */
export function dataSource(seed: number) {
  const rng = new Rng(seed, 77);
  return {
    /** `n` uniform values in `[lo, hi)`, never exactly zero. */
    rand(n: number, lo = -1, hi = 1): Float32Array {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = lo + (hi - lo) * rng.uniform();
        a[i] = v === 0 ? 1e-3 : v;
      }
      return a;
    },
    /** Values from a small set of integers, so ties are common. */
    coarse(n: number, levels = 5): Float32Array {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = rng.int(levels) - 2;
      return a;
    },
    /** A uniform integer in `[0, n)`. */
    int: (n: number): number => rng.int(n),
  };
}

/** `n` uniform values in `[lo, hi)`, never exactly zero. */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return dataSource(seed).rand(n, lo, hi);
}
