import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { Activation, Conv2d, Dense, Flatten } from "../src/layers/mod.ts";
import type { Layer } from "../src/layers/layer.ts";
import { Sequential } from "../src/model.ts";
import { architecture, type ArchSpec } from "../src/architectures.ts";
import { tryNative } from "../src/backends/select.ts";
import { decodeModel, encodeModel } from "../src/io/safetensors.ts";
import { buildNetwork } from "../src/variants.ts";
import { Rng, Streams } from "../src/rng.ts";
import { Tensor, tidy } from "../src/tensor.ts";
import { EVAL_CONTEXT, gradientAscent, inputGradient } from "../src/visualize/ascent.ts";
import { type AscentMode, readNeurons, type SpatialReadout } from "../src/visualize/neuron.ts";

function net(layers: Layer[], inputShape: number[], seed = 3): Sequential {
  return new Sequential(layers).build(inputShape, {
    backend: tsBackend,
    dtype: "float64",
    rng: new Rng(seed, Streams.init),
  });
}

function randomInput(n: number, size: number, seed: number): Float64Array {
  const rng = new Rng(seed, Streams.noise);
  return Float64Array.from({ length: n * size }, () => rng.normal());
}

/** The objective the injected error differentiates: a_t (unbiased) or a_t - sum of others (biased). */
function objective(
  model: Sequential,
  x: Float64Array,
  layer: number,
  target: number,
  mode: AscentMode,
  spatial: SpatialReadout,
): number {
  return tidy(() => {
    const t = Tensor.from(tsBackend, [1, ...model.inputShape], x, "float64");
    const y = model.forwardTo(t, layer, EVAL_CONTEXT);
    const a = readNeurons(y.toArray(), 1, y.shape.slice(1), spatial);
    let v = a[target];
    if (mode === "biased") { for (let u = 0; u < a.length; u++) if (u !== target) v -= a[u]; }
    return v;
  });
}

function checkFiniteDifferences(
  model: Sequential,
  layer: number,
  targets: number[],
  mode: AscentMode,
  spatial: SpatialReadout,
) {
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const x = randomInput(targets.length, size, 11 + layer);
  const probe = inputGradient(model, x, { layer, targets, mode, spatial });
  const h = 1e-5;
  let worst = 0;
  for (let s = 0; s < targets.length; s++) {
    const xs = x.slice(s * size, (s + 1) * size);
    for (let i = 0; i < size; i++) {
      const keep = xs[i];
      xs[i] = keep + h;
      const up = objective(model, xs, layer, targets[s], mode, spatial);
      xs[i] = keep - h;
      const down = objective(model, xs, layer, targets[s], mode, spatial);
      xs[i] = keep;
      const fd = (up - down) / (2 * h);
      const an = probe.grad[s * size + i];
      const err = Math.abs(fd - an) / Math.max(1e-3, Math.abs(fd) + Math.abs(an));
      worst = Math.max(worst, err);
    }
  }
  assert.ok(
    worst < 1e-6,
    `worst relative error ${worst} (layer ${layer}, ${mode}, ${JSON.stringify(spatial)})`,
  );
  // The gradient is not trivially zero.
  assert.ok(probe.grad.some((g) => Math.abs(g) > 1e-4));
}

Deno.test("input gradient matches finite differences: dense layers (float64, ts)", () => {
  const model = net(
    [new Dense(7), new Activation("tanh"), new Dense(5), new Activation("softplus"), new Dense(4)],
    [6],
  );
  for (const mode of ["unbiased", "biased"] as const) {
    checkFiniteDifferences(model, 0, [2, 6], mode, "mean");
    checkFiniteDifferences(model, 3, [1, 4], mode, "mean");
    checkFiniteDifferences(model, 4, [0, 3], mode, "mean");
  }
  model.dispose();
});

Deno.test("input gradient matches finite differences: conv layers, channel mean and position", () => {
  const model = net(
    [
      new Conv2d(3, 3, { pad: 1 }),
      new Activation("tanh"),
      new Conv2d(4, 3, { stride: 2 }),
      new Activation("sigmoid"),
      new Flatten(),
      new Dense(3),
    ],
    [2, 6, 6],
  );
  for (const mode of ["unbiased", "biased"] as const) {
    checkFiniteDifferences(model, 0, [0, 2], mode, "mean");
    checkFiniteDifferences(model, 2, [3, 1], mode, "mean");
    checkFiniteDifferences(model, 3, [1, 2], mode, [1, 0]);
    checkFiniteDifferences(model, 5, [2, 0], mode, "mean");
  }
  model.dispose();
});

function smallConvNet(): Sequential {
  return net(
    [
      new Conv2d(4, 3, { pad: 1 }),
      new Activation("tanh"),
      new Conv2d(6, 3, { stride: 2, pad: 1 }),
      new Activation("relu"),
      new Flatten(),
      new Dense(5),
    ],
    [1, 8, 8],
    7,
  );
}

Deno.test("with a small step the target activation rises at every iteration", () => {
  const model = smallConvNet();
  const x0 = randomInput(6, 64, 5);
  for (const [layer, spatial, units] of [[5, "mean", 5], [2, "mean", 6], [1, [2, 3], 4]] as const) {
    const targets = [0, 1, 2, 3, 4, 5].map((t) => t % units);
    const res = gradientAscent(model, x0, { layer, spatial, targets, iters: 12, rate: 0.01 });
    for (let s = 0; s < targets.length; s++) {
      const curve = res.target[s];
      for (let it = 1; it < curve.length; it++) {
        assert.ok(
          curve[it] > curve[it - 1],
          `layer ${layer} sample ${s}: activation fell at iteration ${it}: ${curve[it - 1]} -> ${
            curve[it]
          }`,
        );
      }
    }
    assert.deepEqual(res.recorded, Array.from({ length: 13 }, (_, i) => i));
  }
  model.dispose();
});

Deno.test("biased mode lowers the other neurons of the layer, unbiased mode does not aim to", () => {
  const model = smallConvNet();
  const targets = [0, 1, 2, 3, 4];
  const x0 = randomInput(targets.length, 64, 9);
  const biased = gradientAscent(model, x0, {
    layer: 5,
    targets,
    iters: 20,
    rate: 0.01,
    mode: "biased",
  });
  const unbiased = gradientAscent(model, x0, {
    layer: 5,
    targets,
    iters: 20,
    rate: 0.01,
    mode: "unbiased",
  });
  for (let s = 0; s < targets.length; s++) {
    const o = biased.others[s];
    for (let it = 1; it < o.length; it++) {
      assert.ok(o[it] < o[it - 1], `sample ${s}: others rose at iteration ${it} in biased mode`);
    }
    assert.ok(
      o[20] < unbiased.others[s][20],
      `sample ${s}: biased others ${o[20]} not below unbiased ${unbiased.others[s][20]}`,
    );
    assert.ok(biased.target[s][20] > biased.target[s][0]);
  }
  model.dispose();
});

Deno.test("clipping keeps the input in range, L2 shrinks it, recording keeps the last frame", () => {
  const model = smallConvNet();
  const x0 = randomInput(2, 64, 1);
  const clipped = gradientAscent(model, x0, {
    layer: 5,
    targets: [0, 1],
    iters: 30,
    rate: 1,
    clip: [-0.5, 0.75],
    recordEvery: 7,
  });
  assert.ok(clipped.final.every((v) => v >= -0.5 && v <= 0.75));
  assert.deepEqual(clipped.recorded, [0, 7, 14, 21, 28, 30]);
  const lo = Float32Array.from({ length: 64 }, (_, j) => -0.1 * (j % 4));
  const hi = Float32Array.from({ length: 64 }, (_, j) => 0.2 + 0.1 * (j % 3));
  const perElement = gradientAscent(model, x0, {
    layer: 5,
    targets: [0, 1],
    iters: 10,
    rate: 1,
    clip: { lo, hi },
  });
  perElement.final.forEach((v, i) =>
    assert.ok(v >= lo[i % 64] - 1e-7 && v <= hi[i % 64] + 1e-7, `element ${i}`)
  );
  assert.ok(
    perElement.final.some((v, i) => Math.abs(v - hi[i % 64]) < 1e-7),
    "some element sits at its bound",
  );
  const free = gradientAscent(model, x0, { layer: 5, targets: [0, 1], iters: 30, rate: 0.05 });
  const shrunk = gradientAscent(model, x0, {
    layer: 5,
    targets: [0, 1],
    iters: 30,
    rate: 0.05,
    l2: 5,
  });
  const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  assert.ok(
    norm(shrunk.final) < 0.5 * norm(free.final),
    `${norm(shrunk.final)} vs ${norm(free.final)}`,
  );
  model.dispose();
});

Deno.test("readNeurons reads channel means and positions", () => {
  // 1 sample, 2 channels of 2x2.
  const y = [1, 2, 3, 4, 10, 20, 30, 40];
  assert.deepEqual([...readNeurons(y, 1, [2, 2, 2], "mean")], [2.5, 25]);
  assert.deepEqual([...readNeurons(y, 1, [2, 2, 2], [1, 0])], [3, 30]);
  assert.deepEqual([...readNeurons(y, 2, [4], "mean")], y);
});

Deno.test("bad ascent settings give clear errors", () => {
  const model = smallConvNet();
  const x = randomInput(1, 64, 2);
  assert.throws(
    () => inputGradient(model, x, { layer: 5, targets: [5] }),
    /neuron 5 does not exist: the layer has 5 neurons/,
  );
  assert.throws(
    () => inputGradient(model, x, { layer: 9, targets: [0] }),
    /layer index 9 is out of range: the model has 6 layers/,
  );
  assert.throws(
    () => inputGradient(model, x, { layer: "nope", targets: [0] } as never),
    /layer 'nope' not found; layers are: 0_conv2d/,
  );
  assert.throws(
    () => inputGradient(model, x, { layer: 5, targets: [0], spatial: [0, 0] }),
    /position applies only to \[C, H, W\]/,
  );
  assert.throws(
    () => inputGradient(model, x, { layer: 0, targets: [0], spatial: [8, 0] }),
    /outside the layer's 8x8 map/,
  );
  assert.throws(
    () => inputGradient(model, x, { layer: 5, targets: [0, 1] }),
    /2 targets need 2 inputs/,
  );
  assert.throws(
    () => gradientAscent(model, x, { layer: 5, targets: [0], iters: 3, rate: 0 }),
    /rate must be a positive number/,
  );
  assert.throws(
    () => gradientAscent(model, x, { layer: 5, targets: [0], iters: 3, rate: 1, clip: [1, 0] }),
    /lo < hi/,
  );
  model.dispose();
});

Deno.test("input gradient matches finite differences through bn, shift/scale and dropout (eval mode)", () => {
  const arch = {
    name: "fd-net",
    inputShape: [1, 6, 6],
    classes: 3,
    layers: [
      { type: "conv", filters: 3, kernel: 3, pad: 1 },
      { type: "act", op: "tanh" },
      { type: "spatial_dropout", p: 0.5 },
      { type: "flatten" },
      { type: "dense", units: 5 },
      { type: "act", op: "softplus" },
      { type: "dropout", p: 0.3 },
      { type: "dense", units: 3 },
    ],
  } as ArchSpec;
  for (const variant of ["bn", "csh_csc", "lsh_lsc", "sh_sc"]) {
    const model = buildNetwork(arch, variant, { backend: tsBackend, dtype: "float64", seed: 4 });
    const rng = new Rng(8, 9);
    for (const p of model.params()) {
      tsBackend.upload(
        p.value.buf,
        Array.from({ length: p.value.size }, () => 0.5 * rng.normal() + 0.2),
      );
    }
    for (const t of Object.values(model.buffers())) {
      tsBackend.upload(t.buf, Array.from({ length: t.size }, () => 0.5 + rng.uniform()));
    }
    const last = model.layers.length - 1;
    const conv = model.layers.findIndex((l) => l.kind === "Conv2d");
    for (const mode of ["unbiased", "biased"] as const) {
      checkFiniteDifferences(model, last, [0, 2], mode, "mean");
      checkFiniteDifferences(model, conv + 2, [1, 2], mode, "mean");
    }
    model.dispose();
  }
});

// The engine runs on any backend: native results agree with the ts oracle.
for (const kind of ["cpu", "cuda"] as const) {
  const native = tryNative(kind);
  Deno.test({
    name: `gradient ascent on the ${kind} backend agrees with ts`,
    ignore: typeof native === "string",
    fn: () => {
      const backend = native as Exclude<typeof native, string>;
      const arch = architecture("shiftlab-small", { inputShape: [1, 12, 12], classes: 4 });
      const meta = { architecture: arch, variant: "bn" };
      const ref = buildNetwork(arch, "bn", { backend: tsBackend, seed: 6 });
      const bytes = encodeModel(ref, meta);
      const onNative = decodeModel(bytes, { backend }).model;
      const x0 = randomInput(3, 144, 12);
      const opts = { layer: 2, targets: [0, 5, 9], mode: "biased" as const, iters: 5, rate: 0.05 };
      const a = gradientAscent(ref, x0, opts);
      const b = gradientAscent(onNative, x0, opts);
      for (let s = 0; s < 3; s++) {
        for (let it = 0; it <= 5; it++) {
          const d = Math.abs(a.target[s][it] - b.target[s][it]);
          assert.ok(
            d <= 1e-3 * (1 + Math.abs(a.target[s][it])),
            `sample ${s} iteration ${it}: ${d}`,
          );
        }
      }
      let worst = 0;
      a.final.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b.final[i]))));
      assert.ok(worst < 1e-3, `final images differ by ${worst}`);
      ref.dispose();
      onNative.dispose();
    },
  });
}
