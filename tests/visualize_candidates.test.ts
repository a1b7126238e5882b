import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { Dense } from "../src/layers/mod.ts";
import { Sequential } from "../src/model.ts";
import { Rng, Streams } from "../src/rng.ts";
import { gather, meanImage, rankCandidates, scanActivations } from "../src/visualize/candidates.ts";

/** y = x Wᵀ with W = [[1, 0], [0, 1], [1, -1]] (bias 0): neuron 2 is x0 - x1. */
function linear(): Sequential {
  const model = new Sequential([new Dense(3)]).build([2], {
    backend: tsBackend,
    dtype: "float64",
    rng: new Rng(1, Streams.init),
  });
  const [w, b] = model.params();
  tsBackend.upload(w.value.buf, [1, 0, 0, 1, 1, -1]);
  tsBackend.fill(b.value.buf, 0);
  return model;
}

const images = Float32Array.from([
  0,
  0, // s0: acts [0, 0, 0]
  3,
  1, // s1: [3, 1, 2]
  1,
  4, // s2: [1, 4, -3]
  -2,
  2, // s3: [-2, 2, -4]
  5,
  -1, // s4: [5, -1, 6]
]);

Deno.test("scanActivations reads every neuron and the predicted class, in batches", () => {
  const model = linear();
  const t = scanActivations(model, images, 5, { layer: 0, batchSize: 2 });
  assert.equal(t.units, 3);
  assert.deepEqual([...t.values], [0, 0, 0, 3, 1, 2, 1, 4, -3, -2, 2, -4, 5, -1, 6]);
  assert.deepEqual([...t.predictions], [0, 0, 1, 1, 2]);
  assert.throws(
    () => scanActivations(model, images, 6, { layer: 0 }),
    /need 6 samples of 2 values, got 10/,
  );
  model.dispose();
});

Deno.test("rankCandidates gives the top-T and bottom-T samples per neuron; meanImage averages them", () => {
  const model = linear();
  const t = scanActivations(model, images, 5, { layer: -1 });
  assert.deepEqual(rankCandidates(t, 2, "top"), [[4, 1], [2, 3], [4, 1]]);
  assert.deepEqual(rankCandidates(t, 2, "bottom"), [[3, 0], [4, 0], [3, 2]]);
  // Excluding samples (e.g. of the target's own class).
  assert.deepEqual(rankCandidates(t, 1, "bottom", (s) => s !== 3), [[0], [4], [2]]);
  assert.deepEqual([...meanImage(images, 2, [4, 1])], [4, 0]);
  assert.deepEqual([...gather(images, 2, [2, 0])], [1, 4, 0, 0]);
  assert.throws(() => rankCandidates(t, 0, "top"), /T must be >= 1/);
  model.dispose();
});
