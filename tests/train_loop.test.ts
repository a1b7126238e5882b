import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { tryNative } from "../src/backends/select.ts";
import type { Backend } from "../src/backend.ts";
import { architecture } from "../src/architectures.ts";
import { buildNetwork } from "../src/variants.ts";
import type { Dataset } from "../src/data/dataset.ts";
import { Activation, Dense } from "../src/layers/mod.ts";
import { SoftmaxCrossEntropy } from "../src/loss.ts";
import { Sequential } from "../src/model.ts";
import { Optimizer } from "../src/optim.ts";
import { Rng, Streams } from "../src/rng.ts";
import { Tensor } from "../src/tensor.ts";
import { batchTensors, evaluate, fit, inferenceRows, trainStep } from "../src/train.ts";

/** Three Gaussian blobs in 4-D: learnable, small. */
function blobs(n: number, seed: number): Dataset {
  const rng = new Rng(seed, 9);
  const images = new Float32Array(n * 4);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let j = 0; j < 4; j++) images[i * 4 + j] = (j === c ? 2 : 0) + 0.5 * rng.normal();
  }
  return { name: "blobs", inputShape: [4], classes: 3, size: n, images, labels };
}

function net(seed = 1, dtype: "float32" | "float64" = "float64"): Sequential {
  return new Sequential([new Dense(8), new Activation("tanh"), new Dense(3)]).build([4], {
    backend: tsBackend,
    dtype,
    rng: new Rng(seed, Streams.init),
  });
}

function hostCe(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number) {
  let loss = 0;
  let wrong = 0;
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: k }, (_, j) => logits[i * k + j]);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    loss += lse - row[labels[i]];
    if (row.indexOf(m) !== labels[i]) wrong++;
  }
  return { loss: loss / n, error: wrong / n };
}

Deno.test("train: trainStep returns the batch loss and error, and repeated steps lower the loss", () => {
  const model = net();
  const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.1 });
  const loss = new SoftmaxCrossEntropy();
  const ds = blobs(30, 1);
  const t = batchTensors(model, ds.images, Float32Array.from(ds.labels), 30);
  const ctx = { training: true, seed: 1, step: 0 };
  const logits0 = model.forward(t.x, ctx).toArray();
  const expected = hostCe(logits0, ds.labels, 3);
  const first = trainStep(model, loss, opt, t.x, t.y, ctx);
  assert.ok(Math.abs(first.loss - expected.loss) < 1e-9, `${first.loss} vs ${expected.loss}`);
  assert.equal(first.error, expected.error);
  let last = first;
  for (let i = 0; i < 30; i++) {
    last = trainStep(model, loss, opt, t.x, t.y, { ...ctx, step: i + 1 });
  }
  assert.ok(last.loss < first.loss * 0.5, `loss ${first.loss} -> ${last.loss}`);
  assert.ok(last.error <= first.error);
  t.x.dispose();
  t.y.dispose();
  loss.dispose();
  opt.dispose();
  model.dispose();
});

Deno.test("train: evaluate gives the mean cross-entropy and error over all batches", () => {
  const model = net(3);
  const ds = blobs(25, 2);
  const x = Tensor.from(tsBackend, [25, 4], ds.images, "float64");
  const logits = model.forward(x, { training: false, seed: 0, step: 0 }).toArray();
  const expected = hostCe(logits, ds.labels, 3);
  for (const bs of [7, 25, 100]) {
    const m = evaluate(model, ds, bs);
    assert.ok(Math.abs(m.loss - expected.loss) < 1e-9, `batch ${bs}`);
    assert.ok(Math.abs(m.error - expected.error) < 1e-12);
  }
  x.dispose();
  model.dispose();
});

/** MNIST-shaped random images with labels, for the conv-net tests. */
function digits(n: number, seed: number): Dataset {
  const rng = new Rng(seed, 9);
  const images = new Float32Array(n * 784).map(() => rng.normal());
  const labels = new Uint8Array(n).map((_, i) => (i * 7) % 10);
  return { name: "digits", inputShape: [1, 28, 28], classes: 10, size: n, images, labels };
}

Deno.test("train: evaluate keeps nothing for backward (an inference forward)", () => {
  const model = net(3);
  const ds = blobs(9, 2);
  evaluate(model, ds, 4);
  assert.throws(() => model.backward(Tensor.zeros(tsBackend, [1, 3], "float64")), /noGrad/);
  model.dispose();
});

const cpu = tryNative("cpu");
Deno.test({
  name: `train: evaluate on the cpu build gives the bits of a recording forward${
    typeof cpu === "string" ? ` (${cpu})` : ""
  }`,
  ignore: typeof cpu === "string",
  fn() {
    // the convolutions take the column-free path without a cache, and a batch of 200 runs its
    // forward in chunks (83 images for this network): the same sums in the same order
    const be = cpu as Backend;
    const arch = architecture("shiftlab-small", { inputShape: [1, 28, 28], classes: 10 });
    const ds = digits(213, 5);
    for (const variant of ["plain", "bn", "lsh_lsc"]) {
      const model = buildNetwork(arch, variant, { backend: be, seed: 4 });
      assert.equal(inferenceRows(model, 200), 83);
      for (const bs of [5, 200]) {
        const loss = new SoftmaxCrossEntropy();
        let total = 0;
        for (let lo = 0; lo < ds.size; lo += bs) {
          const hi = Math.min(ds.size, lo + bs);
          const x = Tensor.from(be, [hi - lo, 1, 28, 28], ds.images.subarray(lo * 784, hi * 784));
          const y = Tensor.from(be, [hi - lo], Float32Array.from(ds.labels.subarray(lo, hi)));
          const logits = model.forward(x, { training: false, seed: 0, step: 0 });
          total += loss.forward(logits, y) * (hi - lo);
          for (const t of [x, y, logits]) t.dispose();
        }
        loss.dispose();
        assert.equal(evaluate(model, ds, bs).loss, total / ds.size, `${variant}, batch ${bs}`);
      }
      model.dispose();
    }
  },
});

Deno.test("train: fit records per-step and per-epoch metrics, learns, and is deterministic", async () => {
  const train = blobs(60, 3);
  const test = blobs(30, 4);
  const run = async (seed: number) => {
    const model = net(1);
    const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.05 });
    const epochs: number[] = [];
    const h = await fit(model, opt, train, test, {
      epochs: 3,
      batchSize: 16,
      seed,
      onEpoch: (e) => epochs.push(e.epoch),
    });
    model.dispose();
    opt.dispose();
    return { h, epochs };
  };
  const { h, epochs } = await run(7);
  assert.equal(h.stepsPerEpoch, 4);
  assert.equal(h.trainLoss.length, 12);
  assert.equal(h.trainError.length, 12);
  assert.equal(h.valLoss.length, 3);
  assert.deepEqual(epochs, [0, 1, 2]);
  assert.equal(h.divergedAtStep, null);
  assert.equal(h.stopped, false);
  assert.ok(h.valLoss[2] < h.valLoss[0], `val loss ${h.valLoss}`);
  const again = await run(7);
  assert.deepEqual(again.h.trainLoss, h.trainLoss);
  assert.deepEqual(again.h.valError, h.valError);
  const other = await run(8);
  assert.notDeepEqual(other.h.trainLoss, h.trainLoss, "the seed sets the data order");
});

Deno.test("train: a non-finite loss stops fit and records the step; shouldStop interrupts", async () => {
  const train = blobs(40, 5);
  train.images[20 * 4] = NaN; // sample 20 poisons whichever batch holds it
  const model = net(2);
  const before = model.params()[0].value.toArray().slice();
  const opt = new Optimizer(model.params(), { kind: "sgd", lr: 0.01 });
  const h = await fit(model, opt, train, blobs(10, 6), { epochs: 2, batchSize: 40, seed: 1 });
  assert.equal(h.divergedAtStep, 0);
  assert.equal(h.trainLoss.length, 1);
  assert.ok(Number.isNaN(h.trainLoss[0]));
  assert.deepEqual(model.params()[0].value.toArray(), before, "no update from a NaN step");
  let calls = 0;
  const h2 = await fit(model, opt, blobs(40, 5), blobs(10, 6), {
    epochs: 5,
    batchSize: 8,
    seed: 1,
    shouldStop: () => ++calls > 3,
  });
  assert.equal(h2.stopped, true);
  assert.equal(h2.trainLoss.length, 3);
  await assert.rejects(
    fit(model, opt, train, train, { epochs: 0, batchSize: 8, seed: 1 }),
    /epochs must be a positive integer/,
  );
  opt.dispose();
  model.dispose();
});
