import assert from "node:assert/strict";
import { join } from "node:path";
import { tsBackend } from "../src/backends/ts.ts";
import { loadDataset } from "../src/data/mod.ts";
import { adversarialStudy } from "../src/visualize/adversarial.ts";
import { scanActivations } from "../src/visualize/candidates.ts";
import { writeVisualizePage } from "../src/visualize/page.ts";
import { PNG_SIGNATURE } from "../src/visualize/png.ts";
import { trainQuickModel } from "../src/visualize/quick.ts";
import { runStudy, type StudyOptions } from "../src/visualize/study.ts";

// One small MNIST network for the whole file: shiftlab-small, 2000 samples, one epoch (seconds).
const setup = (async () => {
  const train = await loadDataset("mnist", { split: "train" });
  const test = await loadDataset("mnist", { split: "test" });
  const quick = await trainQuickModel({
    backend: tsBackend,
    train,
    test,
    trainSamples: 2000,
    testSamples: 500,
    seed: 3,
  });
  return { ...quick, test };
})();

Deno.test("the quick MNIST network learns (held-out error well below chance)", async () => {
  const { testError, meta } = await setup;
  assert.ok(testError < 0.3, `held-out error ${testError}`);
  assert.equal(meta.dataset, "mnist");
  assert.equal(meta.normalization!.mean.length, 784);
});

Deno.test("adversarial ascent flips the prediction for most targets within the budget", async () => {
  const { model, test } = await setup;
  const count = 400;
  const table = scanActivations(model, test.images, count, { layer: -1 });
  assert.equal(table.units, 10);
  const report = adversarialStudy(model, {
    table,
    images: test.images,
    labels: test.labels,
    perClass: 1,
    iters: 40,
    rate: 1,
  });
  assert.equal(report.attempts.length, 10);
  for (const a of report.attempts) {
    assert.notEqual(a.label, a.target, "starts come from another class");
    // The start is the least activating sample of the target neuron among the other classes.
    for (let s = 0; s < count; s++) {
      if (test.labels[s] === a.target) continue;
      assert.ok(table.values[s * 10 + a.target] >= table.values[a.sample * 10 + a.target]);
    }
    assert.notEqual(a.initialPrediction, a.target);
    if (a.flippedAt !== null) {
      assert.ok(a.flippedAt > 0 && a.flippedAt <= 40);
      assert.ok(a.targetActivation[a.flippedAt] > a.targetActivation[0]);
    }
  }
  assert.ok(report.successRate >= 0.8, `success rate ${report.successRate}`);
  const sum = report.perClass.reduce((s, p) => s + p.flipped, 0);
  assert.equal(sum / 10, report.successRate);
});

Deno.test("the study and page: candidates, strips, heat maps, chart and flip table", async () => {
  const { model, meta, test } = await setup;
  const count = 300;
  const opts: StudyOptions = {
    layer: -1,
    neurons: [0, 3, 7],
    mode: "unbiased",
    iters: 10,
    rate: 0.5,
    start: "top",
    top: 3,
    clip: true,
    l2: 0.01,
    frames: 5,
    adversarial: true,
    adversarialPerClass: 1,
  };
  const norm = meta.normalization!;
  const result = runStudy(model, {
    images: test.images,
    labels: test.labels,
    count,
    normalization: norm,
  }, opts);
  assert.equal(result.units, 10);
  assert.deepEqual(result.neurons.map((n) => n.neuron), [0, 3, 7]);
  assert.ok(result.accuracy > 0.7, `accuracy ${result.accuracy}`);
  for (const n of result.neurons) {
    assert.equal(n.topIndices.length, 3);
    assert.ok(
      n.topActivations[0] >= n.topActivations[1] && n.topActivations[1] >= n.topActivations[2],
    );
    assert.deepEqual(n.strip.map((f) => f.iteration), [0, 2, 4, 6, 8, 10]);
    assert.ok(n.target[10] > n.target[0], `neuron ${n.neuron} rises`);
    assert.equal(n.target.length, 11);
    // Clipped, per element, to the raw data range mapped through the normalisation.
    const [lo, hi] = result.clipRange!;
    assert.ok(lo >= -1e-6 && hi <= 1 + 1e-6 && hi > 0.9, `raw MNIST range [${lo}, ${hi}]`);
    for (const f of n.strip) {
      f.image.forEach((v, j) => {
        const raw = v * norm.std[j] + norm.mean[j];
        assert.ok(raw >= lo - 1e-4 && raw <= hi + 1e-4, `element ${j}: raw ${raw}`);
      });
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-vis-" });
  try {
    const path = await writeVisualizePage(join(dir, "visualize-test"), result, {
      title: "test page",
      model: { architecture: meta.architecture.name, variant: meta.variant },
      summary: model.summary(),
      inputShape: model.inputShape,
      normalization: meta.normalization,
      options: opts,
      backend: "ts",
    });
    const html = await Deno.readTextFile(path);
    for (const h of ["Candidates", "Gradient ascent", "Adversarial samples"]) {
      assert.ok(html.includes(`<h2>${h}</h2>`), h);
    }
    assert.ok(html.includes("new Chart("));
    assert.ok(html.length > 100_000, "Chart.js is inlined");
    const urls = [...html.matchAll(/src="data:image\/png;base64,([^"]+)"/g)].map((m) => m[1]);
    // 3 neurons x (2 candidate means + strip + heat maps) + 10 adversarial x 2.
    assert.equal(urls.length, 3 * 4 + 10 * 2);
    // every heat map (a row of two gradients per neuron, one perturbation per attempt) has a
    // colour scale stating the values its ends stand for
    const scales = [...html.matchAll(/<span class="scale">([\s\S]*?)<\/span><\/span>/g)];
    assert.equal(scales.length, 3 + 10, "one colour scale per heat map row");
    for (const [, inner] of scales) {
      assert.match(inner, /−\d\.\d+e[-+]\d+<\/span><i class="bar"><\/i><span>\+\d\.\d+e[-+]\d+/);
      assert.match(inner, /min −?\d\.\d+e[-+]\d+ · max −?\d\.\d+e[-+]\d+/);
    }
    const first = Uint8Array.from(atob(urls[0]), (c) => c.charCodeAt(0));
    assert.deepEqual(first.subarray(0, 8), PNG_SIGNATURE);
    const summary = JSON.parse(
      await Deno.readTextFile(join(dir, "visualize-test", "visualize.json")),
    );
    assert.equal(summary.kind, "visualize");
    assert.equal(summary.adversarial.attempts.length, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dispose the shared model", async () => {
  (await setup).model.dispose();
});
