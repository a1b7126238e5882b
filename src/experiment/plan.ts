/**
 * The sweep plan: the list of independent runs (variant x learning rate x run index), its
 * deterministic order, and sharding.
 *
 * @module
 */
import { runFileName } from "./record.ts";

/** One run of a sweep. */
export interface RunSpec {
  variant: string;
  lr: number;
  /** Run index; run k of every variant shares the seed. */
  run: number;
  seed: number;
  dropout: boolean;
  /** Record file name (`runs/<file>`). */
  file: string;
}

/** A part of a sweep: `index` of `count` (0-based). */
export interface Shard {
  index: number;
  count: number;
}

/**
 * All runs, ordered run-major (every variant's run 0 first, then run 1, …) so a partial sweep
 * already compares all variants. Seeds are `baseSeed + run`.
 */
export function planRuns(opts: {
  variants: string[];
  rates: Record<string, number[]>;
  runs: number;
  baseSeed: number;
  dropout: (variant: string) => boolean;
}): RunSpec[] {
  const out: RunSpec[] = [];
  for (let run = 0; run < opts.runs; run++) {
    for (const variant of opts.variants) {
      const rates = opts.rates[variant];
      if (!rates || rates.length === 0) {
        throw new Error(`planRuns: no learning rate for '${variant}'`);
      }
      for (const lr of rates) {
        out.push({
          variant,
          lr,
          run,
          seed: opts.baseSeed + run,
          dropout: opts.dropout(variant),
          file: runFileName(variant, lr, run),
        });
      }
    }
  }
  return out;
}

/** Parses `i/n` (0 <= i < n); throws naming the expected form. */
export function parseShard(text: string, what = "--shard"): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`${what} must look like i/n (e.g. 0/4), got '${text}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) {
    throw new Error(`${what} ${text}: need 0 <= i < n and n >= 1`);
  }
  return { index, count };
}

/** The runs of part `shard` of `plan`: every `count`-th run starting at `index`. */
export function selectShard<T>(plan: readonly T[], shard: Shard): T[] {
  return plan.filter((_, i) => i % shard.count === shard.index);
}
