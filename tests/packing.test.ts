/**
 * The packing rule (src/experiment/packing.ts) on its own: given the cores, a step's cost and
 * the backend, how many runs train at once and with how many threads. No timing here: the
 * crossover it encodes is measured by `deno task bench --only packing`.
 */
import assert from "node:assert/strict";
import {
  DATASET_SHAPES,
  MIN_MACS_PER_THREAD,
  packRuns,
  stepCost,
} from "../src/experiment/packing.ts";

const mnist = DATASET_SHAPES.mnist;
const cifar = DATASET_SHAPES.cifar10;

Deno.test("packing: a step's cost is counted from the layer shapes", () => {
  // shiftlab-small on one 28x28 image: conv 3x3/2 16 (144 weights x 14x14), conv 3x3/2 32
  // (4608 x 7x7), dense 1568->64, dense 64->10: 355,008 MACs forward, three times for a training
  // step; and 11,114 output elements (conv, relu, conv, relu, flatten, dense, relu, dense) twice.
  assert.equal(stepCost("shiftlab-small", mnist, 1), 3 * 355_008 + 2 * 11_114);
  assert.equal(stepCost("shiftlab-small", mnist, 32), 32 * stepCost("shiftlab-small", mnist, 1));
  const small = stepCost("shiftlab-small", mnist, 32);
  const vonhacht = stepCost("vonhacht-mnist", mnist, 32);
  const allcnnc = stepCost("allcnnc", cifar, 32);
  assert.ok(small < vonhacht && vonhacht < allcnnc, `${small} < ${vonhacht} < ${allcnnc}`);
  assert.ok(allcnnc > 2e10 && allcnnc < 3e10, `All-CNN-C: ${allcnnc} MACs a step`);
  assert.equal(stepCost("allcnnc", DATASET_SHAPES.cifar100, 32) > allcnnc, true);
});

Deno.test("packing: small networks get one thread a run and every core a run", () => {
  const small = stepCost("shiftlab-small", mnist, 32);
  for (const cores of [1, 2, 4, 16]) {
    const p = packRuns({ cores, stepMacs: small, backend: "cpu" });
    assert.deepEqual([p.runs, p.threads], [cores, 1], `${cores} cores`);
    assert.match(p.reason, /35M MACs .*one thread a run/);
  }
  // the quick default's network and the von Hacht MNIST net on 2 cores: packed
  assert.deepEqual(
    [packRuns({ cores: 2, stepMacs: stepCost("vonhacht-mnist", mnist, 32), backend: "cpu" })]
      .map((p) => [p.runs, p.threads]),
    [[2, 1]],
  );
});

Deno.test("packing: All-CNN-C gets all cores for one run", () => {
  const big = stepCost("allcnnc", cifar, 32);
  for (const cores of [2, 4]) {
    const p = packRuns({ cores, stepMacs: big, backend: "cpu" });
    assert.deepEqual([p.runs, p.threads], [1, cores], `${cores} cores`);
  }
});

Deno.test("packing: each thread gets at least the threshold's work; threads divide the cores", () => {
  const w = MIN_MACS_PER_THREAD;
  const cases: [cores: number, macs: number, runs: number, threads: number][] = [
    [2, 1.99 * w, 2, 1], // just below two threads' worth
    [2, 2 * w, 1, 2],
    [16, 4.5 * w, 4, 4],
    [16, 7 * w, 4, 4], // 7 threads would leave 2 cores idle: 4 of 4 threads instead
    [16, 100 * w, 1, 16],
    [6, 5 * w, 2, 3],
    [1, 100 * w, 1, 1],
    [2, 0, 2, 1],
  ];
  for (const [cores, stepMacs, runs, threads] of cases) {
    const p = packRuns({ cores, stepMacs, backend: "cpu" });
    assert.deepEqual([p.runs, p.threads], [runs, threads], `${cores} cores, ${stepMacs} MACs`);
    assert.ok(p.runs * p.threads <= cores);
  }
});

Deno.test("packing: the ts backend runs one run per core; cuda one run per GPU", () => {
  const big = stepCost("allcnnc", cifar, 32);
  const ts = packRuns({ cores: 4, stepMacs: big, backend: "ts" });
  assert.deepEqual([ts.runs, ts.threads], [4, 1]);
  const one = packRuns({ cores: 8, stepMacs: big, backend: "cuda", gpus: 1 });
  assert.deepEqual([one.runs, one.threads], [1, 8]);
  const four = packRuns({ cores: 16, stepMacs: 1, backend: "cuda", gpus: 4 });
  assert.deepEqual([four.runs, four.threads], [4, 4]);
  assert.match(four.reason, /one run per GPU/);
});
