import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { Activation, Dense, Flatten } from "../src/layers/mod.ts";
import { SoftmaxCrossEntropy } from "../src/loss.ts";
import { DryRunBackend } from "../src/backends/dryrun.ts";
import { dryRunContext, Sequential } from "../src/model.ts";
import { Optimizer } from "../src/optim.ts";
import type { ArchSpec } from "../src/architectures.ts";
import { Rng, Streams } from "../src/rng.ts";
import { Tensor } from "../src/tensor.ts";
import { buildNetwork, VARIANTS } from "../src/variants.ts";
import {
  assertGradCheck,
  checkModelGradients,
  type Differentiable,
  gradCheck,
  randomNormal,
} from "./gradcheck.ts";

/** input [2,6,6] → conv 3x3 p1 → relu → maxpool 2 → flatten → dense 5 → tanh → dense 4 */
const TINY: ArchSpec = {
  name: "tiny",
  inputShape: [2, 6, 6],
  classes: 4,
  layers: [
    { type: "conv", filters: 3, kernel: 3, pad: 1 },
    { type: "act", op: "relu" },
    { type: "maxpool", kernel: 2 },
    { type: "flatten" },
    { type: "dense", units: 5 },
    { type: "act", op: "tanh" },
    { type: "dense", units: 4, init: "xavier" },
  ],
};

/** Same with dropout and spatial dropout, for determinism of masks. */
const TINY_DROP: ArchSpec = {
  ...TINY,
  name: "tiny-drop",
  layers: [
    TINY.layers[0],
    TINY.layers[1],
    { type: "spatial_dropout", p: 0.3 },
    ...TINY.layers.slice(2, 6),
    { type: "dropout", p: 0.2 },
    TINY.layers[6],
  ],
};

const N = 3;

function input(seed = 21, shape = [N, 2, 6, 6]): Tensor {
  return Tensor.from(tsBackend, shape, randomNormal(N * 72, seed), "float64");
}

function f64(variant: string, seed = 4, arch = TINY): Sequential {
  return buildNetwork(arch, variant, { backend: tsBackend, dtype: "float64", seed });
}

Deno.test("build names layers `${i}_${kind}`, parameters and buffers `${layer}.${name}`", () => {
  const m = f64("bn");
  assert.deepEqual(m.layers.map((l) => l.name), [
    "0_conv2d",
    "1_batchnorm",
    "2_relu",
    "3_maxpool2d",
    "4_flatten",
    "5_dense",
    "6_batchnorm",
    "7_tanh",
    "8_dense",
  ]);
  assert.deepEqual(m.params().map((p) => p.name), [
    "0_conv2d.weight",
    "0_conv2d.bias",
    "1_batchnorm.gamma",
    "1_batchnorm.beta",
    "5_dense.weight",
    "5_dense.bias",
    "6_batchnorm.gamma",
    "6_batchnorm.beta",
    "8_dense.weight",
    "8_dense.bias",
  ]);
  assert.deepEqual(Object.keys(m.buffers()), [
    "1_batchnorm.runningMean",
    "1_batchnorm.runningVar",
    "6_batchnorm.runningMean",
    "6_batchnorm.runningVar",
  ]);
  assert.deepEqual(m.inputShape, [2, 6, 6]);
  assert.deepEqual(m.outputShape, [4]);
  assert.equal(m.backend, tsBackend);
  assert.equal(m.dtype, "float64");
  m.dispose();
});

Deno.test("summary lists every layer, its config, output shape and parameter count", () => {
  const m = f64("csh_csc");
  const s = m.summary();
  const lines = s.split("\n");
  assert.match(lines[0], /Sequential 'tiny\/csh_csc' \(ts, float64\)/);
  assert.match(s, /input\s+\[2, 6, 6\]/);
  assert.match(s, /\n\s*0\s+0_shift\s+Shift\s+channelwise\s+\[2, 6, 6\]\s+2\n/);
  assert.match(s, /\n\s*2\s+2_conv2d\s+Conv2d\s+3x3\/1 p1, 3\s+\[3, 6, 6\]\s+57\n/);
  assert.match(s, /\n\s*6\s+6_maxpool2d\s+MaxPool2d\s+.*\[3, 3, 3\]\s+0\n/);
  assert.match(s, /\n\s*8\s+8_dense\s+Dense\s+5\s+\[5\]\s+140\n/);
  // channelwise after a dense layer is elementwise: 5 parameters
  assert.match(s, /\n\s*10\s+10_shift\s+Shift\s+.*\[5\]\s+5\n/);
  const total = 57 + 140 + 24 + 2 * (2 + 3 + 5);
  assert.equal(m.parameterCount(), total);
  assert.match(lines.at(-1)!, new RegExp(`total parameters: ${total} `));
  assert.equal(lines.length, 1 + 2 + 1 + m.layers.length + 2);
  m.dispose();
});

Deno.test("forward rejects a wrong input shape, naming the model and both shapes", () => {
  const m = f64("plain");
  const x = Tensor.zeros(tsBackend, [N, 72], "float64");
  assert.throws(
    () => m.forward(x, { training: false, seed: 0, step: 0 }),
    /Sequential 'tiny\/plain': expected input shape \[N, 2, 6, 6\], got \[3, 72\]/,
  );
  const x2 = Tensor.zeros(tsBackend, [N, 2, 6, 5], "float64");
  assert.throws(() => m.forward(x2, { training: false, seed: 0, step: 0 }), /got \[3, 2, 6, 5\]/);
  m.dispose();
  assert.throws(() => m.forward(x, { training: false, seed: 0, step: 0 }), /after dispose/);
});

Deno.test("constructor, build and index errors are explicit", () => {
  assert.throws(() => new Sequential([]), /non-empty array of layers/);
  assert.throws(
    () => new Sequential([new Flatten(), {} as unknown as Flatten]),
    /element 1 is not a layer/,
  );
  const d = new Dense(3);
  assert.throws(() => new Sequential([d, d]), /same layer object appears twice/);
  const m = new Sequential([new Flatten(), new Dense(3), new Activation("relu")], { name: "m" });
  assert.throws(() => m.forward(input(), { training: false, seed: 0, step: 0 }), /before build/);
  m.build([2, 6, 6], { backend: tsBackend, dtype: "float64", rng: new Rng(1, Streams.init) });
  assert.throws(
    () => m.build([2, 6, 6], { backend: tsBackend, dtype: "float64", rng: new Rng(1, 1) }),
    /already built/,
  );
  const x = input();
  assert.throws(
    () => m.forwardTo(x, 3, { training: false, seed: 0, step: 0 }),
    /in \[0, 2\], got 3/,
  );
  const y = m.forwardTo(x, 1, { training: false, seed: 0, step: 0 });
  assert.throws(() => m.backwardFrom(y, 2), /needs a forward that reached it .* stopped at 1/);
  m.dispose();
});

Deno.test("forwardTo runs a prefix; backwardFrom backpropagates from that layer", () => {
  const m = f64("sh_sc");
  // take shift/scale away from identity so their input gradients are generic
  m.params().forEach((p, k) => {
    if (p.kind === "shift") tsBackend.upload(p.value.buf, randomNormal(p.value.size, 80 + k, 0.3));
    if (p.kind === "scale") {
      tsBackend.upload(p.value.buf, randomNormal(p.value.size, 90 + k, 0.3).map((v) => 1 + v));
    }
  });
  const ctx = { training: true, seed: 1, step: 0 };
  const x = input();
  const last = m.layers.length - 1;
  const full = m.forward(x, ctx);
  const upTo = m.forwardTo(x, last, ctx);
  assert.deepEqual(upTo.toArray(), full.toArray());
  const k = m.layers.findIndex((l) => l.kind === "Dense"); // the hidden dense layer
  const hidden = m.forwardTo(x, k, ctx);
  assert.deepEqual(hidden.shape, [N, 5]);
  // composing by hand gives the same values
  let h = x;
  for (let i = 0; i <= k; i++) h = m.layers[i].forward(h, ctx);
  assert.deepEqual(hidden.toArray(), h.toArray());
  const prefix: Differentiable = {
    forward: (t, c) => m.forwardTo(t, k, c),
    backward: (dy) => m.backwardFrom(dy, k),
    params: () => m.layers.slice(0, k + 1).flatMap((l) => l.params()),
  };
  checkModelGradients(prefix, x, { ctx }, "forwardTo/backwardFrom");
  m.dispose();
});

Deno.test("backwardParams gives the same parameter gradients as backward, skipping dL/dx", () => {
  // first layer with parameters: a conv (plain), a dense after flatten (MLP, input dropout
  // first), a shift at the input (sh, whose dL/dx the conv after it must still compute), a
  // scale at the input (sc: it skips its dL/dx) and a scale after the input shift (sh_sc)
  const mlp: ArchSpec = {
    name: "mlp",
    inputShape: [2, 6, 6],
    classes: 4,
    layers: [
      { type: "dropout", p: 0.2 },
      { type: "flatten" },
      { type: "dense", units: 7 },
      { type: "act", op: "relu" },
      { type: "dense", units: 4 },
    ],
  };
  const cases: [ArchSpec, string][] = [
    [TINY, "plain"],
    [TINY_DROP, "plain"],
    [mlp, "plain"],
    [
      TINY,
      "sh",
    ],
    [TINY, "sc"],
    [TINY, "sh_sc"],
    [mlp, "bn"],
  ];
  for (const [arch, variant] of cases) {
    const grads = (viaParams: boolean) => {
      const m = f64(variant, 3, arch);
      const ctx = { training: true, seed: 1, step: 0 };
      const y = m.forward(input(), ctx);
      const dy = Tensor.from(tsBackend, y.shape, randomNormal(y.size, 7), "float64");
      if (viaParams) m.backwardParams(dy);
      else m.backward(dy).dispose();
      const out = m.params().map((p) => p.grad.toArray());
      m.dispose();
      return out;
    };
    assert.deepEqual(grads(true), grads(false), `${arch.name}/${variant}`);
  }
  // the first conv's col2im (its dL/dx) is the only one in TINY: backwardParams skips it
  const col2im = tsBackend.col2im;
  let calls = 0;
  tsBackend.col2im = (...a: Parameters<typeof col2im>) => {
    calls++;
    return col2im.apply(tsBackend, a);
  };
  try {
    const ctx = { training: true, seed: 1, step: 0 };
    const m = f64("plain");
    const dy = () => Tensor.zeros(tsBackend, [N, 4], "float64");
    m.forward(input(), ctx).dispose();
    m.backward(dy()).dispose();
    assert.equal(calls, 1);
    m.forward(input(), ctx).dispose();
    m.backwardParams(dy());
    assert.equal(calls, 1, "backwardParams computed the first layer's input gradient");
    m.dispose();
  } finally {
    tsBackend.col2im = col2im;
  }
  // with `sc` the input scale is the first layer: under backwardParams it alone skips dL/dx
  const scaleBackward = tsBackend.scaleBackward;
  const withoutDx: boolean[] = [];
  tsBackend.scaleBackward = (...a: Parameters<typeof scaleBackward>) => {
    withoutDx.push(a[5] === null);
    return scaleBackward.apply(tsBackend, a);
  };
  try {
    const ctx = { training: true, seed: 1, step: 0 };
    const s = f64("sc");
    s.forward(input(), ctx).dispose();
    s.backward(Tensor.zeros(tsBackend, [N, 4], "float64")).dispose();
    assert.ok(withoutDx.length > 1 && withoutDx.every((v) => !v), `backward: ${withoutDx}`);
    withoutDx.length = 0;
    s.forward(input(), ctx).dispose();
    s.backwardParams(Tensor.zeros(tsBackend, [N, 4], "float64"));
    assert.deepEqual(withoutDx.map(Number).sort(), [...new Array(withoutDx.length - 1).fill(0), 1]);
    s.dispose();
  } finally {
    tsBackend.scaleBackward = scaleBackward;
  }
  const m = f64("plain");
  assert.throws(
    () => m.backwardParams(Tensor.zeros(tsBackend, [N, 4], "float64")),
    /backwardParams needs a full forward first/,
  );
  m.dispose();
});

for (const variant of VARIANTS) {
  Deno.test(`whole-network finite-difference gradient check: ${variant}`, () => {
    const m = f64(variant);
    // move shift/scale/bn parameters off their initial values so every path is exercised
    m.params().forEach((p, k) => {
      if (p.kind === "shift" || p.kind === "scale" || p.kind === "bn") {
        const base = p.kind === "shift" || p.name.endsWith("beta") ? 0 : 1;
        const noise = randomNormal(p.value.size, 200 + k, 0.3);
        tsBackend.upload(p.value.buf, noise.map((v) => base + v));
      }
    });
    const x = input(33);
    const res = gradCheck(m, x, { maxPerTensor: 24 });
    assertGradCheck(res, { requireSignal: false }, variant);
    // biases right before batch norm have zero gradient (bn subtracts the batch mean)
    const beforeBn = new Set(
      m.layers.flatMap((l, i) => m.layers[i + 1]?.kind === "BatchNorm" ? [`${l.name}.bias`] : []),
    );
    assert.equal(beforeBn.size, variant === "bn" ? 2 : 0);
    for (const t of res.tensors) {
      if (beforeBn.has(t.name)) {
        assert.ok(t.maxAbsNumeric < 1e-6, `${t.name}: gradient should vanish before bn`);
      } else assert.ok(t.maxAbsNumeric > 1e-3, `${variant} ${t.name}: no gradient signal`);
    }
    x.dispose();
    m.dispose();
  });
}

/** Builds, then trains `steps` momentum-SGD steps on fixed batches; returns params and losses. */
function run(seed: number, variant: string, steps = 3): { params: number[][]; losses: number[] } {
  const m = buildNetwork(TINY_DROP, variant, { backend: tsBackend, dtype: "float32", seed });
  const opt = new Optimizer(m.params(), { kind: "momentum", lr: 0.05 });
  const loss = new SoftmaxCrossEntropy();
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const x = Tensor.from(tsBackend, [4, 2, 6, 6], randomNormal(4 * 72, 100 + step), "float32");
    const y = Tensor.from(tsBackend, [4], [0, 1, 2, 3], "float32");
    m.zeroGrad();
    const out = m.forward(x, { training: true, seed, step });
    losses.push(loss.forward(out, y));
    const dx = m.backward(loss.backward());
    opt.step();
    for (const t of [x, y, out, dx]) t.dispose();
  }
  const params = m.params().map((p) => Array.from(p.value.toArray()));
  loss.dispose();
  opt.dispose();
  m.dispose();
  return { params, losses };
}

Deno.test("determinism: the same seed gives bit-identical parameters and losses, twice", () => {
  for (const variant of ["plain", "lsh_lsc", "bn"]) {
    const init1 = f64(variant, 8).params().map((p) => Array.from(p.value.toArray()));
    const init2 = f64(variant, 8).params().map((p) => Array.from(p.value.toArray()));
    assert.deepEqual(init1, init2, `${variant}: initial parameters`);
    const a = run(8, variant);
    const b = run(8, variant);
    assert.deepEqual(a.losses, b.losses, `${variant}: losses`);
    assert.deepEqual(a.params, b.params, `${variant}: trained parameters`);
    assert.ok(a.losses.every(Number.isFinite));
    const c = run(9, variant);
    assert.notDeepEqual(c.params, a.params, `${variant}: another seed differs`);
  }
});

Deno.test("intermediate activations and gradients are released (memory stays flat)", () => {
  const m = buildNetwork(TINY_DROP, "bn", { backend: tsBackend, seed: 1 });
  const step = (i: number) => {
    const x = Tensor.from(tsBackend, [4, 2, 6, 6], randomNormal(4 * 72, i), "float32");
    m.zeroGrad();
    const y = m.forward(x, { training: true, seed: 1, step: i });
    const dy = Tensor.full(tsBackend, y.shape, 0.1, "float32");
    const dx = m.backward(dy);
    for (const t of [x, y, dy, dx]) t.dispose();
  };
  step(0);
  const before = tsBackend.memoryInUse();
  for (let i = 1; i < 20; i++) step(i);
  assert.equal(tsBackend.memoryInUse() - before, 0, "bytes held beyond the first step");
  m.dispose();
});

Deno.test("the dry-run backend builds real layers without memory and refuses compute", () => {
  const m = new Sequential([new Flatten(), new Dense(1000), new Activation("relu"), new Dense(10)]);
  m.build([3, 32, 32], dryRunContext());
  assert.equal(m.parameterCount(), 3072 * 1000 + 1000 + 10010);
  assert.equal(m.backend.memoryInUse(), 0);
  assert.ok(m.backend instanceof DryRunBackend);
  const x = Tensor.zeros(m.backend, [2, 3, 32, 32]);
  assert.throws(
    () => m.forward(x, { training: false, seed: 0, step: 0 }),
    /dry-run backend: '\w+' is not available/,
  );
  m.dispose();
});
