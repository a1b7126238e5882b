/**
 * The learning-rate search, in two modes (see {@link LrSearchConfig}): the thesis's (SPEC §3: an
 * anchor for `plain` from `10^-i`, a small grid around it, batch norm on its own higher grid,
 * plain's rate for every shift/scale variant) and per-variant tuning (DeepOBS: every variant on
 * the same grid with the same budget). Trials are scored on the validation split; each is a
 * normal run whose record is kept in `search/`, so a resumed sweep does not repeat finished
 * trials, and no trial reads the test set.
 *
 * @module
 */
import { isBatchNormVariant, type LrSearchConfig, type LrSearchMode } from "./config.ts";

/** The outcome of a search. */
export interface LrSearchResult {
  mode: LrSearchMode;
  /** The rate each variant of the sweep is trained at. */
  chosen: Record<string, number>;
  /** Tried rate → mean final validation error (1 for a diverged trial), per searched variant. */
  table: Record<string, Record<string, number>>;
}

/** Scores one trial: mean final validation error of `variant` at `lr` (lower is better). */
export type TrialFn = (variant: string, lr: number) => Promise<number>;

/**
 * Told the rates a stage of the search is about to score, before it scores them one by one:
 * a caller that can train trials side by side trains them here (each stage's rates depend
 * only on the stages before it).
 */
export type PrefetchFn = (trials: { variant: string; lr: number }[]) => Promise<void>;

/** Rounds away binary noise (0.1 * 0.5 → 0.05) so rates print and name files cleanly. */
export function cleanRate(x: number): number {
  return Number(x.toPrecision(6));
}

async function best(
  variant: string,
  rates: number[],
  trial: TrialFn,
  table: Record<string, Record<string, number>>,
  prefetch?: PrefetchFn,
): Promise<number> {
  const t = (table[variant] ??= {});
  let bestRate = NaN;
  let bestErr = Infinity;
  const unique = [...new Set(rates.map(cleanRate))];
  const fresh = unique.filter((r) => t[String(r)] === undefined);
  if (prefetch && fresh.length > 0) await prefetch(fresh.map((lr) => ({ variant, lr })));
  for (const r of unique) {
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

/** Anchors then multipliers around the best anchor (or just `grid` when given) for `variant`. */
async function anchorThenGrid(
  variant: string,
  s: LrSearchConfig,
  grid: number[] | undefined,
  trial: TrialFn,
  table: Record<string, Record<string, number>>,
  prefetch?: PrefetchFn,
): Promise<number> {
  if (grid) return await best(variant, grid, trial, table, prefetch);
  const anchors = s.anchors ?? [0.1, 0.01, 0.001, 0.0001];
  const anchor = await best(variant, anchors, trial, table, prefetch);
  const around = (s.grid ?? [0.5, 1, 2]).map((m) => anchor * m);
  return await best(variant, around, trial, table, prefetch);
}

/**
 * The grid every variant tries in per-variant mode: `perVariantGrid`, else the union of
 * `plainGrid` and `bnGrid`, else null (anchors and multipliers per variant).
 */
export function perVariantGrid(s: LrSearchConfig): number[] | undefined {
  if (s.perVariantGrid) return [...s.perVariantGrid];
  if (!s.plainGrid && !s.bnGrid) return undefined;
  return [...new Set([...(s.plainGrid ?? []), ...(s.bnGrid ?? [])].map(cleanRate))]
    .sort((a, b) => a - b);
}

/**
 * Runs the search for `variants` with `trial` scoring each tried rate; `prefetch`, when given,
 * hears each stage's new rates first (see {@link PrefetchFn}).
 */
export async function searchLearningRates(
  s: LrSearchConfig,
  variants: string[],
  trial: TrialFn,
  prefetch?: PrefetchFn,
): Promise<LrSearchResult> {
  const table: Record<string, Record<string, number>> = {};
  const chosen: Record<string, number> = {};
  if (s.mode === "per-variant") {
    const grid = perVariantGrid(s);
    for (const v of variants) chosen[v] = await anchorThenGrid(v, s, grid, trial, table, prefetch);
    return { mode: "per-variant", chosen, table };
  }
  const plain = await anchorThenGrid("plain", s, s.plainGrid, trial, table, prefetch);
  let bn: number | null = null;
  if (variants.some(isBatchNormVariant)) {
    const grid = s.bnGrid ?? (s.bnMultipliers ?? [2, 4, 8]).map((m) => plain * m);
    bn = await best("bn", grid, trial, table, prefetch);
  }
  for (const v of variants) chosen[v] = isBatchNormVariant(v) && bn !== null ? bn : plain;
  return { mode: "thesis", chosen, table };
}

/**
 * How many rates the search tries (each with `lrSearch.runs` trials), when its grids fix the
 * number: every trial of {@link searchTrials}, or batch norm's multipliers of plain's rate after
 * plain's grid; null when anchors come first (the second grid's overlap with the anchors
 * depends on the anchor chosen).
 */
export function plannedTrials(s: LrSearchConfig, variants: string[]): number | null {
  const fixed = searchTrials(s, variants);
  if (fixed) return fixed.length;
  if (s.mode === "per-variant" || !s.plainGrid) return null;
  // a bn variant without bnGrid: plain's grid, then one trial per multiplier
  return new Set(s.plainGrid.map(cleanRate)).size + new Set(s.bnMultipliers ?? [2, 4, 8]).size;
}

/**
 * Every (variant, rate) the search tries, when its grids fix them all before any trial (explicit
 * grids; batch norm on its own grid, not on multiples of plain's chosen rate), in the order the
 * search scores them; null otherwise. Such trials do not depend on one another, so a packed
 * sweep trains them side by side before the search reads their records.
 */
export function searchTrials(
  s: LrSearchConfig,
  variants: string[],
): { variant: string; lr: number }[] | null {
  const pairs = (variant: string, rates: number[]) =>
    [...new Set(rates.map(cleanRate))].map((lr) => ({ variant, lr }));
  if (s.mode === "per-variant") {
    const grid = perVariantGrid(s);
    return grid ? variants.flatMap((v) => pairs(v, grid)) : null;
  }
  if (!s.plainGrid) return null;
  const bn = variants.some(isBatchNormVariant);
  if (bn && !s.bnGrid) return null;
  return [...pairs("plain", s.plainGrid), ...(bn ? pairs("bn", s.bnGrid!) : [])];
}
