import assert from "node:assert/strict";
import {
  areaUnderCurve,
  bootstrapMeanInterval,
  downsampleIndices,
  ema,
  quantileSorted,
  sampleSd,
  stepsToThreshold,
  summarize,
} from "../src/report/stats.ts";

function close(actual: number, expected: number, tol = 1e-12, msg = "") {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} expected ${expected}, got ${actual}`);
}

Deno.test("ema: starts at the first value and weighs the past by the coefficient", () => {
  assert.deepEqual(ema([1, 0, 0], 0.5), [1, 0.5, 0.25]);
  const e = ema([0, 1, 1]); // coefficient 0.99
  close(e[0], 0);
  close(e[1], 0.01);
  close(e[2], 0.0199);
  assert.deepEqual(ema([]), []);
});

Deno.test("ema: a non-finite value poisons every later value", () => {
  const e = ema([1, NaN, 0], 0.5);
  assert.equal(e[0], 1);
  assert.ok(Number.isNaN(e[1]) && Number.isNaN(e[2]));
  assert.ok(Number.isNaN(ema([1, Infinity, 0], 0.5)[2]));
});

Deno.test("ema: rejects a coefficient outside [0, 1)", () => {
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

Deno.test("stepsToThreshold: 1-based count of the first step at or below the threshold", () => {
  assert.equal(stepsToThreshold([0.9, 0.6, 0.4, 0.2], 0.5), 3);
  assert.equal(stepsToThreshold([0.9, 0.5], 0.5), 2);
  assert.equal(stepsToThreshold([0.3], 0.5), 1);
  assert.equal(stepsToThreshold([0.9, 0.8], 0.5), null);
  assert.equal(stepsToThreshold([0.9, NaN, 0.1], 0.5), 3);
  assert.throws(() => stepsToThreshold([1], NaN), /threshold must be finite/);
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

Deno.test("bootstrap: constant differences give a zero-width interval at that value", () => {
  const ci = bootstrapMeanInterval([2, 2, 2]);
  assert.equal(ci.mean, 2);
  assert.equal(ci.lo, 2);
  assert.equal(ci.hi, 2);
  assert.equal(ci.n, 3);
});

Deno.test("bootstrap: two values a, b give the interval [a, b] (resample means a, (a+b)/2, b)", () => {
  // P(mean = a) = P(mean = b) = 1/4 > 2.5%, so both percentiles land on the extremes.
  const ci = bootstrapMeanInterval([1, 3], { resamples: 4000 });
  assert.equal(ci.mean, 2);
  assert.equal(ci.lo, 1);
  assert.equal(ci.hi, 3);
  const ci50 = bootstrapMeanInterval([1, 3], { resamples: 4000, level: 0.4 });
  assert.equal(ci50.lo, 2, "the 30% quantile is the middle value (probability 1/2)");
  assert.equal(ci50.hi, 2);
});

Deno.test("bootstrap: identical runs (all differences zero) give an interval containing zero", () => {
  const ci = bootstrapMeanInterval([0, 0, 0, 0]);
  assert.ok(ci.lo <= 0 && ci.hi >= 0);
});

Deno.test("bootstrap: a clearly positive effect gives an interval above zero within the data range", () => {
  const d = [1.0, 1.1, 0.9, 1.2, 0.95, 1.05];
  const ci = bootstrapMeanInterval(d, { seed: 3 });
  assert.ok(ci.lo > 0.9 && ci.lo < ci.mean && ci.mean < ci.hi && ci.hi < 1.2, JSON.stringify(ci));
  // Mixed signs around zero: the interval straddles zero.
  const mixed = bootstrapMeanInterval([-1, 1, -0.5, 0.5, 0.2, -0.2]);
  assert.ok(mixed.lo < 0 && mixed.hi > 0, JSON.stringify(mixed));
});

Deno.test("bootstrap: deterministic for a seed, and validates its input", () => {
  const d = [0.3, -0.1, 0.4, 0.2, 0.05];
  assert.deepEqual(bootstrapMeanInterval(d, { seed: 9 }), bootstrapMeanInterval(d, { seed: 9 }));
  assert.throws(() => bootstrapMeanInterval([]), /no values/);
  assert.throws(() => bootstrapMeanInterval([1, NaN]), /must be finite/);
  assert.throws(() => bootstrapMeanInterval([1], { level: 1 }), /level must be in \(0, 1\)/);
  assert.throws(() => bootstrapMeanInterval([1], { resamples: 0 }), /resamples/);
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
