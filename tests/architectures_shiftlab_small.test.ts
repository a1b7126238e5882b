import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { batches, loadTrainTest, subset } from "../src/data/mod.ts";
import { SoftmaxCrossEntropy } from "../src/loss.ts";
import { Optimizer } from "../src/optim.ts";
import { architecture } from "../src/architectures.ts";
import { Tensor } from "../src/tensor.ts";
import { buildNetwork } from "../src/variants.ts";

Deno.test("shiftlab-small learns MNIST quickly: 2000 images, one epoch, < 25% test error", async () => {
  const { train, test } = await loadTrainTest("mnist");
  const tr = subset(train, 2000);
  const te = subset(test, 1000);
  const arch = architecture("shiftlab-small", { inputShape: [1, 28, 28], classes: 10 });
  const m = buildNetwork(arch, "plain", { backend: tsBackend, seed: 1 });
  const opt = new Optimizer(m.params(), { kind: "momentum", lr: 0.03 });
  const loss = new SoftmaxCrossEntropy();
  const t0 = performance.now();
  let step = 0;
  const first: number[] = [];
  for (const b of batches(tr, 32, { shuffle: true, seed: 1, epoch: 0 })) {
    const x = Tensor.from(tsBackend, [b.n, 1, 28, 28], b.x);
    const y = Tensor.from(tsBackend, [b.n], b.y);
    m.zeroGrad();
    const out = m.forward(x, { training: true, seed: 1, step: step++ });
    const l = loss.forward(out, y);
    if (step <= 5) first.push(l);
    const dx = m.backward(loss.backward());
    opt.step();
    for (const t of [x, y, out, dx]) t.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  let wrong = 0;
  for (const b of batches(te, 250)) {
    const x = Tensor.from(tsBackend, [b.n, 1, 28, 28], b.x);
    const out = m.forward(x, { training: false, seed: 0, step: 0, noGrad: true });
    const logits = out.toArray();
    for (let i = 0; i < b.n; i++) {
      const row = logits.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) !== b.y[i]) wrong++;
    }
    x.dispose();
    out.dispose();
  }
  const error = wrong / te.size;
  console.log(`shiftlab-small on ts: ${(seconds / 2).toFixed(2)} s per 1000 training images`);
  assert.ok(first[0] > 1.5, `initial loss ${first[0]} should be near ln 10`);
  assert.ok(error < 0.25, `test error ${error} after one epoch of 2000 images`);
  loss.dispose();
  opt.dispose();
  m.dispose();
});
