/**
 * Paired inference over seeds with one multiplicity correction per page.
 *
 * Every statement a report page makes about a difference (a verdict in a comparison table, or a
 * check behind a finding) is a hypothesis test registered in one {@link TestFamily}. Once all are
 * registered, {@link TestFamily.finalize} applies Holm–Bonferroni across the whole family, so the
 * probability that the page makes any false verdict is at most {@link FAMILY_ALPHA}. Tests with
 * fewer than {@link MIN_SEEDS_FOR_VERDICT} paired seeds show their numbers but join no family
 * and give no verdict.
 *
 * Three kinds of test, all on per-seed differences `d_i = a_i − b_i` (paired Student t, df = n − 1):
 * - `difference`: two-sided `H0: mean d = 0`;
 * - `equivalence`: TOST, `H0: |mean d| ≥ margin` (small p: shown to be within the margin);
 * - `notBetter`: one-sided `H0: mean d ≤ −margin`, i.e. small p shows that `a` is *not* lower
 *   (better, for error-like metrics) than `b` by more than the margin.
 *
 * @module
 */

import {
  equivalenceP,
  oneSidedP,
  type PairedT,
  pairedT,
  probabilityOfImprovement,
  signFlipP,
} from "./stats.ts";
import { holm } from "./stats.ts";

/** Family-wise error rate of every page's verdicts. */
export const FAMILY_ALPHA = 0.05;

/**
 * Fewest paired seeds for a verdict. Below it the page shows the numbers and says why there is
 * no verdict: with 3-4 seeds a paired t-interval is very wide, and the smallest attainable
 * sign-flip p-value (2/2^n) cannot reach 5% before n = 6.
 */
export const MIN_SEEDS_FOR_VERDICT = 5;

/** Metrics that verdicts are made on (all lower-is-better). */
export type VerdictMetric = "pace" | "finalValError";

/** Wording of each verdict metric. */
export const METRIC_INFO: Record<
  VerdictMetric,
  { label: string; lower: "faster" | "better"; higher: "slower" | "worse" }
> = {
  pace: {
    label: "learning pace (area under the EMA training error)",
    lower: "faster",
    higher: "slower",
  },
  finalValError: { label: "final validation error", lower: "better", higher: "worse" },
};

/** Kinds of hypothesis test (see the module documentation). */
export type TestKind = "difference" | "equivalence" | "notBetter";

/** One registered test and, after {@link TestFamily.finalize}, its corrected outcome. */
export interface HypothesisTest {
  key: string;
  kind: TestKind;
  /** The differences are `a − b`. */
  a: string;
  b: string;
  metric: VerdictMetric;
  /** Absolute margin of `equivalence` and `notBetter` tests. */
  margin: number | null;
  /** Seeds paired. */
  seeds: number[];
  d: number[];
  /** Paired t analysis (null below 2 pairs). */
  t: PairedT | null;
  /** The p-value of this test's null hypothesis (null below 2 pairs). */
  p: number | null;
  /** Exact sign-flip p-value of `H0: mean d = 0` for n ≤ 12 (null otherwise). */
  signFlipP: number | null;
  /** Whether the test is in the corrected family (at least {@link MIN_SEEDS_FOR_VERDICT} pairs). */
  inFamily: boolean;
  /** Holm-adjusted p-value (set by finalize; null outside the family). */
  pHolm: number | null;
  /** `pHolm < alpha`. */
  rejected: boolean;
}

/** Per-seed values of one group, as inference needs them. */
export interface SeedValues {
  seed: number;
  /** Training steps of the run: pace is paired only between runs of equal length. */
  steps: number;
  pace: number;
  finalValError: number;
}

/** Paired differences of `a − b` on `metric` over the seeds both have. */
export function pairDifferences(
  a: readonly SeedValues[],
  b: readonly SeedValues[],
  metric: VerdictMetric,
): { seeds: number[]; d: number[]; dropped: number[]; stepMismatch: boolean } {
  const bySeed = new Map(b.map((r) => [r.seed, r]));
  const seeds: number[] = [];
  const d: number[] = [];
  const dropped: number[] = [];
  let stepMismatch = false;
  const all = [...new Set([...a.map((r) => r.seed), ...b.map((r) => r.seed)])].sort((x, y) =>
    x - y
  );
  const aBySeed = new Map(a.map((r) => [r.seed, r]));
  for (const seed of all) {
    const ra = aBySeed.get(seed);
    const rb = bySeed.get(seed);
    if (!ra || !rb || !Number.isFinite(ra[metric]) || !Number.isFinite(rb[metric])) {
      dropped.push(seed);
      continue;
    }
    if (metric === "pace" && ra.steps !== rb.steps) {
      stepMismatch = true;
      dropped.push(seed);
      continue;
    }
    seeds.push(seed);
    d.push(ra[metric] - rb[metric]);
  }
  return { seeds, d, dropped, stepMismatch };
}

/**
 * The family of every test on one page. Register tests with {@link TestFamily.test} (an identical
 * test registered twice is one test), then call {@link TestFamily.finalize} once.
 */
export class TestFamily {
  readonly alpha: number;
  private tests = new Map<string, HypothesisTest>();
  private done = false;

  constructor(
    private readonly values: ReadonlyMap<string, readonly SeedValues[]>,
    alpha = FAMILY_ALPHA,
  ) {
    this.alpha = alpha;
  }

  /** Whether `name` has values to test. */
  has(name: string): boolean {
    return (this.values.get(name)?.length ?? 0) > 0;
  }

  /**
   * Registers (or returns the already registered) test of `kind` on `a − b`. A two-sided
   * `difference` and an `equivalence` of `(a, b)` are the same tests as those of `(b, a)`; they
   * are stored once, in the alphabetical order of the names, and {@link oriented} reads them in
   * the asked order.
   */
  test(
    kind: TestKind,
    a: string,
    b: string,
    metric: VerdictMetric,
    margin: number | null = null,
  ): HypothesisTest {
    if (this.done) throw new Error("TestFamily: finalize() was already called");
    const symmetric = kind !== "notBetter";
    const [x, y] = symmetric && a > b ? [b, a] : [a, b];
    const key = `${kind}:${metric}:${x}|${y}${margin === null ? "" : `:${margin}`}`;
    const found = this.tests.get(key);
    if (found) return found;
    const pairs = pairDifferences(this.values.get(x) ?? [], this.values.get(y) ?? [], metric);
    const t = pairs.d.length >= 2 ? pairedT(pairs.d) : null;
    let p: number | null = null;
    if (t) {
      if (kind === "difference") p = t.p;
      else if (kind === "equivalence") p = equivalenceP(t, margin!);
      else p = oneSidedP(t, -margin!, "greater");
    }
    const test: HypothesisTest = {
      key,
      kind,
      a: x,
      b: y,
      metric,
      margin,
      seeds: pairs.seeds,
      d: pairs.d,
      t,
      p,
      signFlipP: pairs.d.length >= 1 ? signFlipP(pairs.d) : null,
      inFamily: t !== null && pairs.d.length >= MIN_SEEDS_FOR_VERDICT,
      pHolm: null,
      rejected: false,
    };
    this.tests.set(key, test);
    return test;
  }

  /** Applies Holm–Bonferroni across every test with enough seeds. */
  finalize(): void {
    if (this.done) return;
    this.done = true;
    const members = [...this.tests.values()].filter((t) => t.inFamily);
    const adj = holm(members.map((t) => t.p!));
    members.forEach((t, i) => {
      t.pHolm = adj[i];
      t.rejected = adj[i] < this.alpha;
    });
  }

  /** Number of tests in the corrected family. */
  get size(): number {
    return [...this.tests.values()].filter((t) => t.inFamily).length;
  }

  /** Every registered test. */
  all(): HypothesisTest[] {
    return [...this.tests.values()];
  }
}

/** A `difference` test read as `a − b` (its stored orientation may be `b − a`). */
export interface OrientedDifference {
  a: string;
  b: string;
  metric: VerdictMetric;
  n: number;
  seeds: number[];
  /** Mean of `a − b`, and its t-interval (null below 2 pairs). */
  mean: number;
  lo: number | null;
  hi: number | null;
  /** Two-sided t-test p, sign-flip p, Holm-adjusted p. */
  p: number | null;
  signFlipP: number | null;
  pHolm: number | null;
  /** Share of seeds on which `a` is lower (better) than `b`, ties counting one half. */
  probabilityOfImprovement: number | null;
  /** The corrected verdict, or why there is none. */
  verdict: Verdict;
}

/** Verdict of a paired difference. */
export type Verdict =
  | "faster"
  | "slower"
  | "better"
  | "worse"
  | "no clear difference"
  | "too few seeds";

/** Reads a registered `difference` test as `a − b`; call after finalize. */
export function oriented(test: HypothesisTest, a: string): OrientedDifference {
  const flip = test.a !== a;
  const s = flip ? -1 : 1;
  const info = METRIC_INFO[test.metric];
  const d = test.d.map((x) => s * x);
  const mean = d.length ? d.reduce((x, y) => x + y, 0) / d.length : NaN;
  let verdict: Verdict;
  if (!test.inFamily) verdict = "too few seeds";
  else if (!test.rejected) verdict = "no clear difference";
  else verdict = mean < 0 ? info.lower : info.higher;
  return {
    a,
    b: flip ? test.a : test.b,
    metric: test.metric,
    n: d.length,
    seeds: test.seeds,
    mean,
    lo: test.t ? (flip ? -test.t.hi : test.t.lo) : null,
    hi: test.t ? (flip ? -test.t.lo : test.t.hi) : null,
    p: test.p,
    signFlipP: test.signFlipP,
    pHolm: test.pHolm,
    probabilityOfImprovement: d.length ? probabilityOfImprovement(d) : null,
    verdict,
  };
}
