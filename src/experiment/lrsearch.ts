/**
 * The thesis's learning-rate search (SPEC §3): an anchor for `plain` from `10^-i`, a small grid
 * around it, and batch norm on its own higher grid. Every trial is a normal run whose record is
 * kept in `search/`, so a resumed sweep does not repeat finished trials.
 *
 * @module
 */
import { isBatchNormVariant, type LrSearchConfig } from "./config.ts";

/** The outcome of a search. */
export interface LrSearchResult {
  /** Chosen rate for plain (and every non-batch-norm variant). */
  plain: number;
  /** Chosen rate for batch-norm variants, when any is in the sweep. */
  bn: number | null;
  /** Tried rate → mean final validation error (1 for a diverged trial), per searched variant. */
  table: Record<string, Record<string, number>>;
}

/** Scores one trial: mean final validation error of `variant` at `lr` (lower is better). */
export type TrialFn = (variant: string, lr: number) => Promise<number>;

/** Rounds away binary noise (0.1 * 0.5 → 0.05) so rates print and name files cleanly. */
export function cleanRate(x: number): number {
  return Number(x.toPrecision(6));
}

async function best(
  variant: string,
  rates: number[],
  trial: TrialFn,
  table: Record<string, Record<string, number>>,
): Promise<number> {
  const t = (table[variant] ??= {});
  let bestRate = NaN;
  let bestErr = Infinity;
  for (const r of [...new Set(rates.map(cleanRate))]) {
    const key = String(r);
    const err = t[key] ?? await trial(variant, r);
    t[key] = err;
    if (err < bestErr) {
      bestErr = err;
      bestRate = r;
    }
  }
  if (!Number.isFinite(bestRate)) bestRate = cleanRate(rates[0]);
  return bestRate;
}

/** Runs the search for `variants` with `trial` scoring each tried rate. */
export async function searchLearningRates(
  s: LrSearchConfig,
  variants: string[],
  trial: TrialFn,
): Promise<LrSearchResult> {
  const table: Record<string, Record<string, number>> = {};
  let plain: number;
  if (s.plainGrid) {
    plain = await best("plain", s.plainGrid, trial, table);
  } else {
    const anchor = await best("plain", s.anchors ?? [0.1, 0.01, 0.001, 0.0001], trial, table);
    plain = await best("plain", (s.grid ?? [0.5, 1, 2]).map((m) => anchor * m), trial, table);
  }
  let bn: number | null = null;
  if (variants.some(isBatchNormVariant)) {
    const grid = s.bnGrid ?? (s.bnMultipliers ?? [2, 4, 8]).map((m) => plain * m);
    bn = await best("bn", grid, trial, table);
  }
  return { plain, bn, table };
}

/** The rate each variant is trained at after the search. */
export function ratesFromSearch(variants: string[], r: LrSearchResult): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of variants) out[v] = [isBatchNormVariant(v) && r.bn !== null ? r.bn : r.plain];
  return out;
}
