import assert from "node:assert/strict";
import {
  areaUnderCurve,
  bootstrapIqmInterval,
  downsampleIndices,
  ema,
  equivalenceP,
  holm,
  interquartileMean,
  oneSidedP,
  pairedT,
  probabilityOfImprovement,
  quantileSorted,
  sampleSd,
  signFlipP,
  summarize,
  timeToTarget,
} from "../src/report/stats.ts";

function close(actual: number, expected: number, tol = 1e-12, msg = "") {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} expected ${expected}, got ${actual}`);
}

Deno.test("ema: bias-corrected weighted mean of the values so far", () => {
  // c = 0.5: e0 = 1/1; e1 = (0.5·1 + 0)/(0.5 + 1) = 1/3; e2 = (0.25·1)/(0.25 + 0.5 + 1) = 1/7.
  const e = ema([1, 0, 0], 0.5);
  close(e[0], 1);
  close(e[1], 1 / 3);
  close(e[2], 1 / 7);
  // c = 0.99: e1 = 1/1.99, e2 = (0.99 + 1)/(0.9801 + 0.99 + 1) = 1.99/2.9701.
  const f = ema([0, 1, 1]);
  close(f[0], 0);
  close(f[1], 1 / 1.99);
  close(f[2], 1.99 / 2.9701);
  assert.deepEqual(ema([]), []);
  // A constant series stays constant (no pull towards the first value or towards zero).
  assert.ok(ema(Array(50).fill(0.3)).every((x) => Math.abs(x - 0.3) < 1e-12));
});

Deno.test("ema: the first batch keeps no lasting weight (the uncorrected EMA kept 0.99^t)", () => {
  // One error of 1 at step 0, then 187 zeros: the uncorrected e_0 = x_0 EMA ends at
  // 0.99^187 = 0.1527; the bias-corrected one at 0.99^187 / Σ_{j=0}^{187} 0.99^j = 0.0017987.
  const e = ema([1, ...Array(187).fill(0)]);
  close(e[187], 0.0017986718522432408, 1e-12);
});

Deno.test("ema: a non-finite value poisons every later value; bad coefficients are refused", () => {
  const e = ema([1, NaN, 0], 0.5);
  assert.equal(e[0], 1);
  assert.ok(Number.isNaN(e[1]) && Number.isNaN(e[2]));
  assert.ok(Number.isNaN(ema([1, Infinity, 0], 0.5)[2]));
  assert.throws(() => ema([1], 1), /coefficient must be in \[0, 1\), got 1/);
  assert.throws(() => ema([1], -0.1), /coefficient/);
});

Deno.test("areaUnderCurve: trapezoidal rule with unit spacing", () => {
  close(areaUnderCurve([1, 0.5, 0.25]), 1.125);
  close(areaUnderCurve([2, 2, 2, 2]), 6);
  assert.equal(areaUnderCurve([3]), 0);
  assert.ok(Number.isNaN(areaUnderCurve([1, NaN, 1])));
  assert.throws(() => areaUnderCurve([]), /empty/);
});

Deno.test("timeToTarget: first epoch at or below the target, its steps and cumulative seconds", () => {
  assert.deepEqual(timeToTarget([0.5, 0.3, 0.2], [10, 11, 12], 100, 0.3), {
    epoch: 2,
    steps: 200,
    seconds: 21,
  });
  assert.deepEqual(timeToTarget([0.1], [4], 7, 0.3), { epoch: 1, steps: 7, seconds: 4 });
  assert.equal(timeToTarget([0.5, 0.4], [1, 1], 10, 0.3), null);
  assert.throws(() => timeToTarget([1], [1], 1, NaN), /target must be finite/);
});

Deno.test("summarize and sampleSd: sample standard deviation with divisor n - 1", () => {
  const s = summarize([1, 2, 3, 4]);
  close(s.mean, 2.5);
  close(s.sd, Math.sqrt(5 / 3));
  assert.equal(s.min, 1);
  assert.equal(s.max, 4);
  assert.equal(s.n, 4);
  assert.equal(sampleSd([7]), 0);
  assert.equal(summarize([]).n, 0);
});

Deno.test("quantileSorted: linear interpolation between order statistics", () => {
  close(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  close(quantileSorted([0, 10], 0.25), 2.5);
  assert.equal(quantileSorted([5, 6, 7], 0), 5);
  assert.equal(quantileSorted([5, 6, 7], 1), 7);
});

Deno.test("pairedT: hand-computed interval and p at df = 2 and df = 4 (stdlib-js t)", () => {
  // d = [1, 2, 6]: mean 3, sd = sqrt((4 + 1 + 9)/2) = sqrt 7, se = sqrt(7/3) = 1.5275252,
  // t = 1.9639610. For df = 2 the t CDF is F(t) = 1/2 + t / (2 sqrt(t² + 2)), so
  // p = 1 − t/sqrt(t² + 2) = 0.1884973 and t_{0.975,2} = 0.95 / sqrt(2·0.975·0.025) = 4.3026527.
  const r = pairedT([1, 2, 6]);
  assert.equal(r.n, 3);
  assert.equal(r.df, 2);
  close(r.mean, 3);
  close(r.sd, Math.sqrt(7), 1e-12);
  close(r.t, 1.9639610121239313, 1e-9);
  close(r.p, 0.1884973287993108, 1e-9);
  close(r.lo, 3 - 4.302652729749464 * 1.5275252316519468, 1e-8);
  close(r.hi, 3 + 4.302652729749464 * 1.5275252316519468, 1e-8);
  // d = [1, 2, 3, 4, 6]: mean 3.2, sd = sqrt(14.8/4) = sqrt 3.7, se = sqrt(3.7/5) = 0.8602325,
  // t = 3.7199244, t_{0.975,4} = 2.7764451 (tables: 2.776).
  const s = pairedT([1, 2, 3, 4, 6]);
  close(s.t, 3.2 / Math.sqrt(3.7 / 5), 1e-9);
  close(s.hi - s.mean, 2.776445105197794 * Math.sqrt(3.7 / 5), 1e-8);
  assert.ok(s.p > 0.02 && s.p < 0.021, `p ${s.p} (tables: between 0.02 and 0.05, near 0.0205)`);
  // Equal differences: zero-width interval, p 0 (or 1 at zero).
  assert.deepEqual([pairedT([2, 2, 2]).lo, pairedT([2, 2, 2]).p], [2, 0]);
  assert.equal(pairedT([0, 0, 0]).p, 1);
  assert.throws(() => pairedT([1]), /at least 2/);
  assert.throws(() => pairedT([1, NaN]), /finite/);
});

Deno.test("oneSidedP and equivalenceP (TOST): hand-computed at df = 2", () => {
  const F = (t: number) => 0.5 + t / (2 * Math.sqrt(t * t + 2));
  const se = Math.sqrt(7 / 3);
  const r = pairedT([1, 2, 6]);
  // H1: mean > −1: t = (3 + 1)/se; p = 1 − F(t) = 0.0600587.
  close(oneSidedP(r, -1, "greater"), 1 - F(4 / se), 1e-9);
  close(oneSidedP(r, -1, "greater"), 0.06005865493594009, 1e-9);
  // TOST with margin 5: max(1 − F((3 + 5)/se), F((3 − 5)/se)) = max(0.0172892, 0.1603169).
  close(equivalenceP(r, 5), 0.16031688975662128, 1e-9);
  close(equivalenceP(pairedT([0.1, -0.1, 0.05, -0.05, 0]), 1), 0, 1e-4);
  assert.throws(() => equivalenceP(r, 0), /margin must be > 0/);
});

Deno.test("signFlipP: exact enumeration of the 2^n sign patterns (n = 5)", () => {
  // All five differences positive: only the all-plus and all-minus patterns reach |Σ| = 16.
  assert.equal(signFlipP([1, 2, 3, 4, 6]), 2 / 32);
  // Four +1 and one −1: Σ = 3; |Σ ± 1| ≥ 3 when 0, 1, 4 or 5 signs are plus:
  // C(5,0) + C(5,1) + C(5,4) + C(5,5) = 12 of 32 patterns.
  assert.equal(signFlipP([1, 1, 1, 1, -1]), 12 / 32);
  assert.equal(signFlipP([0, 0, 0]), 1);
  assert.equal(signFlipP(Array(13).fill(1)), null, "n > 12 is not enumerated");
});

Deno.test("holm: adjusted p-values on a small list", () => {
  // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06.
  const adj = holm([0.01, 0.04, 0.03, 0.005]);
  [0.03, 0.06, 0.06, 0.02].forEach((v, i) => close(adj[i], v, 1e-15));
  assert.deepEqual(holm([0.9, 0.2]), [0.9, 0.4]);
  assert.deepEqual(holm([0.6, 0.6]), [1, 1], "capped at 1");
  assert.deepEqual(holm([]), []);
  assert.throws(() => holm([1.2]), /p-values must be in \[0, 1\]/);
});

Deno.test("interquartileMean and its bootstrap interval (rliable's trim of 25% each side)", () => {
  // n = 8: drop floor(8/4) = 2 each side of [1..7, 100] → mean(3, 4, 5, 6) = 4.5.
  assert.equal(interquartileMean([1, 2, 3, 4, 100, 5, 6, 7]), 4.5);
  // n = 5: drop 1 each side → mean(2, 3, 4) = 3.
  assert.equal(interquartileMean([5, 1, 4, 2, 3]), 3);
  const ci = bootstrapIqmInterval([2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
  assert.deepEqual([ci.estimate, ci.lo, ci.hi], [2, 2, 2]);
  const xs = Array.from({ length: 12 }, (_, i) => i);
  const b = bootstrapIqmInterval(xs, { resamples: 2000, seed: 3 });
  assert.ok(b.lo < b.estimate && b.estimate < b.hi && b.lo >= 0 && b.hi <= 11, JSON.stringify(b));
  assert.deepEqual(b, bootstrapIqmInterval(xs, { resamples: 2000, seed: 3 }), "deterministic");
});

Deno.test("probabilityOfImprovement: share of seeds where the variant is lower, ties half", () => {
  assert.equal(probabilityOfImprovement([-1, 0, 2, -3]), (1 + 0.5 + 0 + 1) / 4);
  assert.equal(probabilityOfImprovement([1, 2], false), 1);
});

Deno.test("downsampleIndices: keeps first and last, at most maxPoints, evenly spread", () => {
  assert.deepEqual(downsampleIndices(10, 4), [0, 3, 6, 9]);
  assert.deepEqual(downsampleIndices(3, 10), [0, 1, 2]);
  const idx = downsampleIndices(100000, 2000);
  assert.equal(idx.length, 2000);
  assert.equal(idx[0], 0);
  assert.equal(idx[1999], 99999);
  assert.ok(idx.every((v, i) => i === 0 || v > idx[i - 1]));
  assert.throws(() => downsampleIndices(10, 1), /maxPoints must be an integer >= 2/);
});
