/**
 * The verdict rule as a decision procedure: its page-level false-verdict rate under no true
 * difference, and its power against one real difference, by simulation with fixed seeds; plus
 * the findings' verdicts on constructed values.
 */
import assert from "node:assert/strict";
import { pageInference } from "../src/report/analysis.ts";
import type { SeedValues } from "../src/report/inference.ts";
import { MIN_SEEDS_FOR_VERDICT, TestFamily } from "../src/report/inference.ts";
import { Rng } from "../src/rng.ts";

const TEN = ["plain", "bn", "sh", "sc", "sh_sc", "csh", "csc", "csh_csc", "lsh", "lsc"];

/**
 * One synthetic page: per seed a shared offset (seeds differ in difficulty), per run independent
 * noise of sd 1 on pace and on validation error, plus `shift[variant]` on validation error. The
 * paired differences between two variants then have sd √2.
 */
function synthetic(
  rng: Rng,
  seeds: number,
  shift: Record<string, number> = {},
): Map<string, SeedValues[]> {
  const offP = Array.from({ length: seeds }, () => 5 * rng.normal());
  const offV = Array.from({ length: seeds }, () => 5 * rng.normal());
  return new Map(TEN.map((v) => [
    v,
    offP.map((o, s) => ({
      seed: s + 1,
      steps: 100,
      pace: 100 + o + rng.normal(),
      finalValError: 50 + offV[s] + rng.normal() + (shift[v] ?? 0),
    })),
  ]));
}

/** Whether a page states any difference that does not exist (all values null here). */
function falseVerdicts(values: Map<string, SeedValues[]>): { any: boolean; family: number } {
  const inf = pageInference(values);
  const table = inf.tables.some((t) =>
    t.rows.some((r) =>
      [r.pace.verdict, r.finalValError.verdict].some((v) =>
        ["faster", "slower", "better", "worse"].includes(v)
      )
    )
  );
  // A finding asserts a difference when it is contradicted, or supported while made of
  // "is lower" checks; an equivalence or "does not help" claim supported under no difference
  // is true.
  const finding = inf.findings.some((f) =>
    f.verdict === "contradicted" ||
    (f.verdict === "supported" && f.checks.some((c) => c.kind === "less"))
  );
  return { any: table || finding, family: inf.family.size };
}

Deno.test("verdict rule: page-level false-verdict rate ≤ 6% with 10 variants × 5 seeds and no difference", () => {
  const rng = new Rng(2026, 1);
  let pages = 0;
  let size = 0;
  const N = 2000;
  for (let i = 0; i < N; i++) {
    const r = falseVerdicts(synthetic(rng, 5));
    if (r.any) pages++;
    size = r.family;
  }
  assert.ok(size >= 30, `the page's family holds ${size} tests`);
  const rate = pages / N;
  assert.ok(rate <= 0.06, `false-verdict rate ${rate} (${pages} of ${N} pages)`);
});

Deno.test("verdict rule: a difference of 2.5 sd of the paired differences at 8 seeds gets its verdict in ≥ 85%", () => {
  const rng = new Rng(2026, 2);
  const N = 2000;
  const shift = 2.5 * Math.SQRT2; // 2.5 × sd of the paired differences (√2)
  let hits = 0;
  let others = 0;
  for (let i = 0; i < N; i++) {
    const inf = pageInference(synthetic(rng, 8, { sh: shift }));
    const row = inf.tables.find((t) => t.reference === "plain")!.rows.find((r) =>
      r.variant === "sh"
    )!;
    if (row.finalValError.verdict === "worse") hits++;
    // The null comparisons (every row but sh's; sh is never a reference) stay quiet.
    const quiet = inf.tables.flatMap((t) => t.rows).filter((r) => r.variant !== "sh");
    if (quiet.some((r) => r.finalValError.verdict !== "no clear difference")) others++;
  }
  assert.ok(hits / N >= 0.85, `power ${hits / N} (${hits} of ${N})`);
  assert.ok(others / N <= 0.06, `null comparisons with a verdict on ${others} of ${N} pages`);
});

Deno.test("verdict rule: below 5 paired seeds there is no verdict, only numbers", () => {
  const rng = new Rng(7, 3);
  const values = synthetic(rng, MIN_SEEDS_FOR_VERDICT - 1, { sh: 100 });
  const inf = pageInference(values);
  const row = inf.tables[0].rows.find((r) => r.variant === "sh")!;
  assert.equal(row.finalValError.verdict, "too few seeds");
  assert.ok(row.finalValError.mean > 90, "the numbers are still there");
  assert.equal(inf.family.size, 0, "no test joins the family");
  assert.ok(inf.findings.every((f) => f.verdict === "too few seeds" || f.verdict === "not tested"));
});

/** Values where each variant's pace and error are `base + effect`, with tiny noise. */
function constructed(
  effects: Record<string, { pace?: number; err?: number }>,
  seeds = 8,
  noise = 0.01,
): Map<string, SeedValues[]> {
  const rng = new Rng(11, 4);
  return new Map(
    Object.entries(effects).map(([v, e]) => [
      v,
      Array.from({ length: seeds }, (_, s) => ({
        seed: s,
        steps: 50,
        pace: 100 + (e.pace ?? 0) + noise * rng.normal(),
        finalValError: 0.05 + (e.err ?? 0) + noise * 0.001 * rng.normal(),
      })),
    ]),
  );
}

function finding(values: Map<string, SeedValues[]>, id: string) {
  const f = pageInference(values).findings.find((x) => x.id === id);
  assert.ok(f, id);
  return f;
}

Deno.test("findings: a claim that holds, one contradicted, one inconclusive, one not tested", () => {
  // Shift variants clearly faster than plain: supported.
  const fast = constructed({
    plain: {},
    sh: { pace: -20 },
    csh: { pace: -30 },
    lsh: { pace: -40 },
  });
  assert.equal(finding(fast, "shift-faster").verdict, "supported");
  // ... and the sharing order lsh < csh < sh holds too.
  assert.equal(finding(fast, "shift-sharing-order").verdict, "supported");
  // One shift variant clearly slower: contradicted.
  const slow = constructed({ plain: {}, sh: { pace: -20 }, lsh: { pace: +25 } });
  const f = finding(slow, "shift-faster");
  assert.equal(f.verdict, "contradicted");
  assert.deepEqual(f.checks.map((c) => c.outcome), ["holds", "opposite"]);
  // Pure noise: inconclusive.
  const noisy = constructed({ plain: {}, sh: {}, csh: {} }, 8, 5);
  assert.equal(finding(noisy, "shift-faster").verdict, "inconclusive");
  // Variants not run: not tested, naming them.
  const nt = finding(fast, "biased-no-help");
  assert.equal(nt.verdict, "not tested");
  assert.match(nt.reason, /biased2/);
  assert.equal(finding(fast, "bn-best").verdict, "not tested");
});

Deno.test("findings: equivalence within the margin, and beyond it", () => {
  // sc equal to plain up to tiny noise: TOST within ±10% of plain's mean holds → supported.
  const eq = constructed({ plain: {}, sc: {}, csc: {} });
  const f = finding(eq, "scale-only-equivalent");
  assert.equal(f.verdict, "supported");
  assert.equal(f.checks.length, 4, "two variants × (pace, final validation error)");
  assert.ok(f.checks.every((c) => c.margin !== null && c.marginPHolm !== null));
  // sc 30% slower than plain: beyond the margin → contradicted.
  const far = constructed({ plain: {}, sc: { pace: 30 } });
  assert.equal(finding(far, "scale-only-equivalent").verdict, "contradicted");
  // "does not help": csh2 faster than csh by 40% contradicts; csh2 = csh supports.
  assert.equal(
    finding(constructed({ csh: {}, csh2: { pace: -40 } }), "channelwise-shift-lr-no-help").verdict,
    "contradicted",
  );
  assert.equal(
    finding(constructed({ csh: {}, csh2: {} }), "channelwise-shift-lr-no-help").verdict,
    "supported",
  );
  // "any" claim: one of the raised rates helps → supported.
  assert.equal(
    finding(constructed({ sh: {}, sh2: {}, sh4: { pace: -30 } }), "elementwise-shift-lr-helps")
      .verdict,
    "supported",
  );
});

Deno.test("test family: one test per hypothesis; Holm over the family; orientation", () => {
  const values = constructed({ plain: {}, sh: { pace: -20 } });
  const fam = new TestFamily(values);
  const a = fam.test("difference", "sh", "plain", "pace");
  const b = fam.test("difference", "plain", "sh", "pace");
  assert.equal(a, b, "the same hypothesis is registered once");
  fam.test("equivalence", "sh", "plain", "pace", 10);
  assert.equal(fam.size, 2);
  fam.finalize();
  assert.ok(a.pHolm !== null && a.pHolm >= a.p!, "Holm never lowers a p-value");
  assert.throws(() => fam.test("difference", "sh", "plain", "finalValError"), /finalize/);
});
