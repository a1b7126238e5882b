/**
 * Softmax cross-entropy and mean squared error: values, gradients (finite differences and the
 * closed form (p - onehot) / N), numerical stability, and bad input.
 */
import assert from "node:assert/strict";
import { tsBackend as B } from "../src/backends/ts.ts";
import { MeanSquaredError, SoftmaxCrossEntropy } from "../src/loss.ts";
import { Tensor } from "../src/tensor.ts";
import { checkLossGradients, randomNormal } from "./gradcheck.ts";

const f64 = (shape: number[], data: ArrayLike<number>) => Tensor.from(B, shape, data, "float64");

Deno.test("softmax cross-entropy: value is the mean of -log p[label]", () => {
  const logits = [1, 2, 3, 0.5, -1, 2];
  const labels = [2, 0];
  const ce = new SoftmaxCrossEntropy();
  const loss = ce.forward(f64([2, 3], logits), f64([2], labels));
  let want = 0;
  for (let i = 0; i < 2; i++) {
    const row = logits.slice(i * 3, i * 3 + 3);
    const z = row.reduce((a, v) => a + Math.exp(v), 0);
    want += -Math.log(Math.exp(row[labels[i]]) / z) / 2;
  }
  assert.ok(Math.abs(loss - want) < 1e-12, `${loss} vs ${want}`);
  const p = ce.probs!.toArray();
  assert.ok(Math.abs(p[0] + p[1] + p[2] - 1) < 1e-12);
  ce.dispose();
  assert.equal(ce.probs, null);
});

Deno.test("softmax cross-entropy: gradient equals (p - onehot) / N and finite differences", () => {
  const n = 4;
  const k = 5;
  const logits = f64([n, k], randomNormal(n * k, 3, 2));
  const labels = f64([n], [0, 4, 2, 2]);
  const ce = new SoftmaxCrossEntropy();
  ce.forward(logits, labels);
  const g = ce.backward().toArray();
  const p = ce.probs!.toArray();
  const lab = [0, 4, 2, 2];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const want = (p[i * k + j] - (j === lab[i] ? 1 : 0)) / n;
      assert.ok(Math.abs(g[i * k + j] - want) < 1e-15, `(${i}, ${j})`);
    }
  }
  checkLossGradients(ce, logits, labels, {}, "softmax cross-entropy");
  ce.dispose();
});

Deno.test("softmax cross-entropy: logits of ±1000 give a finite, exact loss", () => {
  const ce = new SoftmaxCrossEntropy();
  for (const dtype of ["float32", "float64"] as const) {
    const logits = Tensor.from(B, [2, 2], [1000, -1000, 1000, -1000], dtype);
    const labels = Tensor.from(B, [2], [0, 1], dtype);
    const loss = ce.forward(logits, labels);
    assert.ok(Number.isFinite(loss), `${dtype} loss ${loss}`);
    assert.ok(Math.abs(loss - 1000) < 1e-3, `${dtype}: (0 + 2000) / 2, got ${loss}`);
    const g = ce.backward().toArray();
    assert.ok(g.every(Number.isFinite));
    assert.deepEqual([...g].map((v) => Math.round(v * 2) / 2), [0, 0, 0.5, -0.5]);
    const big = Tensor.from(B, [1, 3], [1000, 1000, -1000], dtype);
    const l2 = ce.forward(big, Tensor.from(B, [1], [1], dtype));
    assert.ok(Math.abs(l2 - Math.log(2)) < 1e-6, `${dtype} tie loss ${l2}`);
  }
  ce.dispose();
});

Deno.test("softmax cross-entropy: bad shapes and labels throw with what was expected", () => {
  const ce = new SoftmaxCrossEntropy();
  const logits = f64([2, 3], [0, 0, 0, 0, 0, 0]);
  assert.throws(
    () => ce.forward(f64([6], [0, 0, 0, 0, 0, 0]), f64([2], [0, 1])),
    /\[N, K\].*\[6\]/,
  );
  assert.throws(() => ce.forward(logits, f64([3], [0, 1, 2])), /labels must be \[2\].*got \[3\]/);
  assert.throws(() => ce.forward(logits, f64([2], [0, 3])), /label 3 of sample 1.*\[0, 3\)/);
  assert.throws(() => ce.forward(logits, f64([2], [0.5, 1])), /label 0.5 of sample 0/);
  assert.throws(
    () => ce.forward(logits, Tensor.from(B, [2], [0, 1], "float32")),
    /labels \(ts, float32\).*\(ts, float64\)/,
  );
  assert.throws(() => new SoftmaxCrossEntropy().backward(), /needs a forward/);
});

Deno.test("mean squared error: value, gradient, bad shapes", () => {
  const mse = new MeanSquaredError();
  const pred = f64([2, 3], [1, 2, 3, 4, 5, 6]);
  const target = f64([2, 3], [1, 0, 3, 0, 5, 9]);
  assert.equal(mse.forward(pred, target), (4 + 16 + 9) / 6);
  assert.deepEqual([...mse.backward().toArray()], [0, 4 / 6, 0, 8 / 6, 0, -6 / 6]);
  const p2 = f64([3, 4], randomNormal(12, 1));
  const t2 = f64([3, 4], randomNormal(12, 2));
  checkLossGradients(mse, p2, t2, {}, "mse");
  assert.throws(() => mse.forward(pred, f64([3, 2], [0, 0, 0, 0, 0, 0])), /\[2, 3\].*\[3, 2\]/);
  assert.throws(() => new MeanSquaredError().backward(), /needs a forward/);
  mse.dispose();
});
