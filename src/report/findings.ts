/**
 * Findings: each claim of the thesis (SPEC §3, "What the thesis reported") that a run's variants
 * allow testing, turned into paired tests registered in the page's {@link TestFamily}, and a
 * verdict: *supported*, *contradicted*, *inconclusive*, *too few seeds* (below
 * {@link MIN_SEEDS_FOR_VERDICT} paired seeds) or *not tested* (a needed variant was not run).
 *
 * A claim is a set of checks, each one paired test or a pair of them:
 * - `less(a, b)`: `a` is lower than `b` (two-sided difference test; holds when significant with
 *   a < b, the opposite when significant with a > b);
 * - `equivalent(a, b)`: `|a − b|` within the margin (TOST holds it; a significant difference
 *   whose mean lies outside the margin is the opposite);
 * - `notBetter(a, b)`: `a` is not lower than `b` by more than the margin (one-sided test holds
 *   it; a significant difference with `a` lower by more than the margin is the opposite).
 * A claim over "all" its checks is supported when every check holds and contradicted when any
 * check shows the opposite; over "any", supported when one holds and contradicted when all show
 * the opposite. Everything else is inconclusive. The margin is a share
 * ({@link EQUIVALENCE_MARGIN}) of the reference's mean, fixed before any data is seen.
 *
 * @module
 */

import {
  type HypothesisTest,
  METRIC_INFO,
  MIN_SEEDS_FOR_VERDICT,
  oriented,
  type OrientedDifference,
  type SeedValues,
  type TestFamily,
  type VerdictMetric,
} from "./inference.ts";
import { mean } from "./stats.ts";
import { parseVariant } from "../variant_grammar.ts";

/**
 * Equivalence and "does not help" margin: 10% of the reference variant's mean of the metric
 * (e.g. 0.25 percentage points of a 2.5% validation error).
 */
export const EQUIVALENCE_MARGIN = 0.1;

/** Verdict of a finding. */
export type FindingVerdict =
  | "supported"
  | "contradicted"
  | "inconclusive"
  | "too few seeds"
  | "not tested";

/** What one check of a finding found. */
export type CheckOutcome = "holds" | "opposite" | "open" | "too few seeds";

/** One check of a finding, with its numbers. */
export interface FindingCheck {
  /** e.g. `lsh − csh, learning pace`. */
  label: string;
  kind: "less" | "equivalent" | "notBetter";
  /** The paired difference `a − b` (interval, p, Holm p). */
  difference: OrientedDifference;
  /** Absolute margin of `equivalent` / `notBetter`, else null. */
  margin: number | null;
  /** p-value of the equivalence or one-sided test, and its Holm-adjusted value. */
  marginP: number | null;
  marginPHolm: number | null;
  outcome: CheckOutcome;
}

/** One claim of the thesis and what the run says about it. */
export interface Finding {
  id: string;
  /** The thesis's claim, in words. */
  claim: string;
  /** How the claim is tested here, in words. */
  test: string;
  verdict: FindingVerdict;
  /** Why this verdict (one sentence). */
  reason: string;
  checks: FindingCheck[];
  /** For "not tested": the variants that would be needed. */
  missing: string[];
}

type CheckSpec = {
  kind: FindingCheck["kind"];
  a: string;
  b: string;
  metric: VerdictMetric;
};

interface ClaimDef {
  id: string;
  claim: string;
  test: string;
  mode: "all" | "any";
  /** The checks for the variants present, or the variants missing. */
  plan(present: ReadonlySet<string>): CheckSpec[] | { missing: string[] };
}

const SHIFT = ["sh", "sh_sc", "csh", "csh_csc", "lsh", "lsh_lsc"];
const SCALE_ONLY = ["sc", "csc", "lsc"];
const NEW_VARIANTS = ["sh", "sc", "sh_sc", "csh", "csc", "csh_csc", "lsh", "lsc", "lsh_lsc"];

function against(
  present: ReadonlySet<string>,
  names: readonly string[],
  ref: string,
  make: (v: string) => CheckSpec,
): CheckSpec[] | { missing: string[] } {
  const here = names.filter((n) => present.has(n) && n !== ref);
  if (!present.has(ref) || here.length === 0) {
    return { missing: [ref, ...names.filter((n) => n !== ref)].filter((n) => !present.has(n)) };
  }
  return here.map(make);
}

/** A "raising this learning rate does not help" claim: `names` against `ref` on learning pace. */
function doesNotHelp(
  id: string,
  claim: string,
  names: string[],
  ref: string,
  listed: string,
): ClaimDef {
  return {
    id,
    claim,
    test: `${listed} (those run) against ${ref} on learning pace: none faster by more than ${
      EQUIVALENCE_MARGIN * 100
    }% of ${ref}'s mean (one-sided tests)`,
    mode: "all",
    plan: (p) =>
      against(p, names, ref, (v) => ({ kind: "notBetter", a: v, b: ref, metric: "pace" })),
  };
}

/** The claims of SPEC §3 that a report can test, in the order the page lists them. */
export const CLAIMS: readonly ClaimDef[] = [
  {
    id: "shift-faster",
    claim: "Variants with a shift learn faster than plain.",
    test: "each shift variant run (sh, sh_sc, csh, csh_csc, lsh, lsh_lsc) against plain on " +
      "learning pace; supported when every one is faster",
    mode: "all",
    plan: (p) =>
      against(p, SHIFT, "plain", (v) => ({ kind: "less", a: v, b: "plain", metric: "pace" })),
  },
  {
    id: "shift-sharing-order",
    claim: "The fewer shift parameters the better: layerwise > channelwise > elementwise shift.",
    test: "lsh against csh and csh against sh on learning pace; supported when both are faster",
    mode: "all",
    plan: (p) => {
      const missing = ["lsh", "csh", "sh"].filter((n) => !p.has(n));
      if (missing.length) return { missing };
      return [
        { kind: "less", a: "lsh", b: "csh", metric: "pace" },
        { kind: "less", a: "csh", b: "sh", metric: "pace" },
      ];
    },
  },
  {
    id: "scale-only-equivalent",
    claim: "Scale-only variants ≈ plain.",
    test: `each scale-only variant run (sc, csc, lsc) against plain on learning pace and final ` +
      `validation error, equivalent within ±${
        EQUIVALENCE_MARGIN * 100
      }% of plain's mean (two one-sided tests)`,
    mode: "all",
    plan: (p) => {
      const out = against(
        p,
        SCALE_ONLY,
        "plain",
        (v) => ({ kind: "equivalent", a: v, b: "plain", metric: "pace" }),
      );
      if (!Array.isArray(out)) return out;
      return out.flatMap((c) => [c, { ...c, metric: "finalValError" as const }]);
    },
  },
  {
    id: "lsh-lsc-best-new",
    claim: "lsh_lsc is the best of the new (shift/scale) variants.",
    test: "lsh_lsc against every other shift/scale variant run on final validation error; " +
      "supported when it is better than each",
    mode: "all",
    plan: (p) =>
      against(
        p,
        NEW_VARIANTS,
        "lsh_lsc",
        (v) => ({ kind: "less", a: "lsh_lsc", b: v, metric: "finalValError" }),
      ),
  },
  {
    id: "layerwise-scale-fixes-shift",
    claim: "Layerwise shift stalls or overfits; adding layerwise scale fixes most of that.",
    test: "lsh_lsc against lsh on final validation error",
    mode: "all",
    plan: (p) => {
      const missing = ["lsh_lsc", "lsh"].filter((n) => !p.has(n));
      if (missing.length) return { missing };
      return [{ kind: "less", a: "lsh_lsc", b: "lsh", metric: "finalValError" }];
    },
  },
  {
    id: "bn-best",
    claim: "Batch normalisation stays best on validation error.",
    test: "bn against every other variant run on final validation error; supported when it is " +
      "better than each",
    mode: "all",
    plan: (p) =>
      against(
        p,
        [...p].filter((n) => n !== "bn"),
        "bn",
        (v) => ({ kind: "less", a: "bn", b: v, metric: "finalValError" }),
      ),
  },
  {
    id: "elementwise-shift-lr-helps",
    claim: "Raising the elementwise shift's learning rate helps.",
    test: "sh2, sh4, sh8, sh16 (those run) against sh on learning pace; supported when at least " +
      "one is faster, contradicted when all are slower",
    mode: "any",
    plan: (p) =>
      against(
        p,
        ["sh2", "sh4", "sh8", "sh16"],
        "sh",
        (v) => ({ kind: "less", a: v, b: "sh", metric: "pace" }),
      ),
  },
  doesNotHelp(
    "channelwise-shift-lr-no-help",
    "Raising the channelwise shift's learning rate does not help.",
    ["csh2", "csh4", "csh8"],
    "csh",
    "csh2, csh4, csh8",
  ),
  doesNotHelp(
    "biased-no-help",
    "Raising the learning rate of ordinary biases (biasedK) does not help.",
    ["biased2", "biased4", "biased8", "biased16"],
    "plain",
    "biased2..biased16",
  ),
  {
    id: "bn-combined-no-help",
    claim: "Combining shift/scale with batch normalisation did not help.",
    test: `every variant run that combines bn with a shift or scale (e.g. bn+lsh+lsc) against bn ` +
      `on final validation error: none better by more than ${
        EQUIVALENCE_MARGIN * 100
      }% of bn's mean (one-sided tests)`,
    mode: "all",
    plan: (p) => {
      const combined = [...p].filter(combinesBnWithShiftScale);
      if (!p.has("bn") || combined.length === 0) {
        return { missing: p.has("bn") ? ["bn+<shift/scale>"] : ["bn", "bn+<shift/scale>"] };
      }
      return combined.map((v) => ({
        kind: "notBetter" as const,
        a: v,
        b: "bn",
        metric: "finalValError" as const,
      }));
    },
  },
];

/**
 * Whether a variant name has both the `bn` component and a shift or scale (`bn+lsh+lsc`,
 * `bn+csh+csc+ddi`; not `bn+frozen`), in any spelling the grammar accepts.
 */
export function combinesBnWithShiftScale(name: string): boolean {
  try {
    const v = parseVariant(name);
    return v.norm === "bn" && (v.shift !== null || v.scale !== null);
  } catch {
    return false;
  }
}

/** Registered tests of one claim, evaluated after the family is finalised. */
export interface PlannedFinding {
  def: ClaimDef;
  checks: {
    spec: CheckSpec;
    difference: HypothesisTest;
    margin: number | null;
    marginTest: HypothesisTest | null;
  }[];
  missing: string[];
}

/**
 * Registers the tests of every claim that the variants in `values` allow testing. Call before
 * the family is finalised; evaluate with {@link evaluateFindings} after.
 */
export function planFindings(
  family: TestFamily,
  values: ReadonlyMap<string, readonly SeedValues[]>,
): PlannedFinding[] {
  const present = new Set([...values.keys()].filter((k) => family.has(k)));
  return CLAIMS.map((def) => {
    const plan = def.plan(present);
    if (!Array.isArray(plan)) return { def, checks: [], missing: plan.missing };
    const checks = plan.map((spec) => {
      const difference = family.test("difference", spec.a, spec.b, spec.metric);
      if (spec.kind === "less") return { spec, difference, margin: null, marginTest: null };
      const refMean = Math.abs(mean((values.get(spec.b) ?? []).map((r) => r[spec.metric])));
      const margin = Number.isFinite(refMean) && refMean > 0
        ? Number((EQUIVALENCE_MARGIN * refMean).toPrecision(6))
        : null;
      const marginTest = margin === null ? null : family.test(
        spec.kind === "equivalent" ? "equivalence" : "notBetter",
        spec.a,
        spec.b,
        spec.metric,
        margin,
      );
      return { spec, difference, margin, marginTest };
    });
    return { def, checks, missing: [] };
  });
}

function outcome(c: PlannedFinding["checks"][number], diff: OrientedDifference): CheckOutcome {
  const d = c.difference;
  if (!d.inFamily || (c.spec.kind !== "less" && (!c.marginTest || !c.marginTest.inFamily))) {
    return "too few seeds";
  }
  if (c.spec.kind === "less") {
    if (!d.rejected) return "open";
    return diff.mean < 0 ? "holds" : "opposite";
  }
  if (c.marginTest!.rejected) return "holds";
  if (d.rejected) {
    const beyond = c.spec.kind === "equivalent"
      ? Math.abs(diff.mean) > c.margin!
      : diff.mean < -c.margin!;
    if (beyond) return "opposite";
  }
  return "open";
}

/** Verdicts of the planned claims; call after `family.finalize()`. */
export function evaluateFindings(planned: readonly PlannedFinding[]): Finding[] {
  return planned.map(({ def, checks, missing }) => {
    if (checks.length === 0) {
      return {
        id: def.id,
        claim: def.claim,
        test: def.test,
        verdict: "not tested",
        reason: `not run: ${missing.join(", ")}`,
        checks: [],
        missing,
      };
    }
    const results: FindingCheck[] = checks.map((c) => {
      const diff = oriented(c.difference, c.spec.a);
      return {
        label: `${c.spec.a} − ${c.spec.b}, ${METRIC_INFO[c.spec.metric].label}`,
        kind: c.spec.kind,
        difference: diff,
        margin: c.margin,
        marginP: c.marginTest?.p ?? null,
        marginPHolm: c.marginTest?.pHolm ?? null,
        outcome: outcome(c, diff),
      };
    });
    const count = (o: CheckOutcome) => results.filter((r) => r.outcome === o).length;
    const n = results.length;
    let verdict: FindingVerdict;
    let reason: string;
    if (def.mode === "all") {
      if (count("opposite") > 0) {
        verdict = "contradicted";
        reason = `${count("opposite")} of ${n} checks show the opposite`;
      } else if (count("holds") === n) {
        verdict = "supported";
        reason = n === 1 ? "the check holds" : `all ${n} checks hold`;
      } else if (count("too few seeds") > 0) {
        verdict = "too few seeds";
        reason = `fewer than ${MIN_SEEDS_FOR_VERDICT} paired seeds for ${
          count("too few seeds")
        } of ${n} checks`;
      } else {
        verdict = "inconclusive";
        reason = `${count("holds")} of ${n} checks hold, none shows the opposite`;
      }
    } else {
      if (count("holds") > 0) {
        verdict = "supported";
        reason = `${count("holds")} of ${n} checks hold`;
      } else if (count("opposite") === n) {
        verdict = "contradicted";
        reason = `all ${n} checks show the opposite`;
      } else if (count("too few seeds") > 0) {
        verdict = "too few seeds";
        reason = `fewer than ${MIN_SEEDS_FOR_VERDICT} paired seeds for ${
          count("too few seeds")
        } of ${n} checks`;
      } else {
        verdict = "inconclusive";
        reason = `no check holds; ${count("opposite")} of ${n} show the opposite`;
      }
    }
    return {
      id: def.id,
      claim: def.claim,
      test: def.test,
      verdict,
      reason,
      checks: results,
      missing: [],
    };
  });
}
