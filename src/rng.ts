/**
 * Counter-based random numbers keyed by `(seed, stream, counter)`.
 *
 * The same function is implemented in C (`cuda/cpu/random.c`) and CUDA (`cuda/gpu/random.cu`), so one seed
 * gives the same dropout masks on every backend. It is a stateless hash, so any element can be
 * drawn independently (one GPU thread per element) and nothing has to be carried between calls
 * except the counter.
 *
 * Algorithm (all arithmetic on unsigned 32-bit integers):
 * ```
 * mix(x)   = x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
 * h = mix(seed ^ 0x9e3779b9)
 * h = mix(h ^ stream)
 * h = mix(h ^ counter_hi)        (counter_hi = floor(counter / 2^32))
 * h = mix(h ^ counter_lo)        (counter_lo = counter mod 2^32)
 * ```
 *
 * @module
 */

/** 32-bit integer finaliser (lowbias32). */
export function mix32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform 32-bit integer for `(seed, stream, counter)`; `counter` may go up to 2^53. */
export function randomU32(seed: number, stream: number, counter: number): number {
  const hi = Math.floor(counter / 4294967296);
  const lo = counter - hi * 4294967296;
  let h = mix32((seed ^ 0x9e3779b9) >>> 0);
  h = mix32((h ^ stream) >>> 0);
  h = mix32((h ^ hi) >>> 0);
  return mix32((h ^ lo) >>> 0);
}

/** Uniform float in `[0, 1)` with 24 random bits. */
export function randomUniform(seed: number, stream: number, counter: number): number {
  return (randomU32(seed, stream, counter) >>> 8) * (1 / 16777216);
}

/** The dropout threshold `floor(p * 2^32)`, clamped to the 32-bit range. */
export function dropThreshold(p: number): number {
  return Math.min(4294967295, Math.floor(p * 4294967296));
}

/** Well-known streams, so different uses of one seed never overlap. */
export const Streams = {
  init: 1,
  shuffle: 2,
  dropout: 3,
  noise: 4,
  split: 5,
} as const;

/**
 * A sequential generator over one `(seed, stream)`: each draw advances the counter.
 * Used on the host for initialisation and shuffling.
 */
export class Rng {
  /** Next counter value. */
  counter = 0;
  /** Creates a generator; `seed` and `stream` are reduced to unsigned 32 bits. */
  constructor(readonly seed: number, readonly stream: number) {
    this.seed = seed >>> 0;
    this.stream = stream >>> 0;
  }
  /** Uniform in `[0, 1)`. */
  uniform(): number {
    return randomUniform(this.seed, this.stream, this.counter++);
  }
  /** Standard normal (Box-Muller; uses two counters). */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1]
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  /** Integer in `[0, n)`. */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  /** A Fisher-Yates permutation of `0..n-1`. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
