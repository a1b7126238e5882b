/**
 * Whole-network parity: 50 training steps of a small conv net (conv, ReLU, spatial dropout,
 * max pool, dropout, dense) for each of the 11 variants give the same loss curve on `cpu` and
 * `ts` within 1e-4 relative. Both backends draw the same dropout masks from the counter-based
 * generator (a different mask would move the loss far more than that). And a soak: 5,000
 * training steps leave the library's bytes in use and the process's resident memory flat.
 */
import assert from "node:assert/strict";
import type { Backend } from "../src/backend.ts";
import { architecture, type ArchSpec } from "../src/architectures.ts";
import { buildNetwork, VARIANTS } from "../src/variants.ts";
import { Optimizer } from "../src/optim.ts";
import { SoftmaxCrossEntropy } from "../src/loss.ts";
import { trainStep } from "../src/train.ts";
import { Tensor } from "../src/tensor.ts";
import { cpu, rand, ref } from "./native_helpers.ts";

const ARCH: ArchSpec = {
  name: "parity-net",
  inputShape: [2, 9, 9],
  classes: 5,
  layers: [
    { type: "conv", filters: 6, kernel: 3, stride: 1, pad: 1 },
    { type: "act", op: "relu" },
    { type: "spatial_dropout", p: 0.25 },
    { type: "maxpool", kernel: 2, stride: 2 },
    { type: "conv", filters: 8, kernel: 3, stride: 2, pad: 1 },
    { type: "act", op: "tanh" },
    { type: "flatten" },
    { type: "dropout", p: 0.5 },
    { type: "dense", units: 12 },
    { type: "act", op: "relu" },
    { type: "dense", units: 5 },
  ],
};
const BATCH = 8;
const STEPS = 50;

/** Every other window and reshaping path (avg pool with padding, 1x1 conv, global pooling). */
const ARCH2: ArchSpec = {
  name: "parity-net-2",
  inputShape: [2, 9, 9],
  classes: 5,
  layers: [
    { type: "conv", filters: 6, kernel: 3, stride: 2, pad: 0 },
    { type: "act", op: "leaky_relu" },
    { type: "avgpool", kernel: 3, stride: 1, pad: 1 },
    { type: "conv", filters: 7, kernel: 1, stride: 1, pad: 0 },
    { type: "act", op: "softplus" },
    { type: "conv", filters: 5, kernel: 1, stride: 1, pad: 0 },
    { type: "gap" },
  ],
};

function lossCurve(backend: Backend, variant: string, arch = ARCH, batch = BATCH): number[] {
  const model = buildNetwork(arch, variant, { backend, seed: 11 });
  const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.02, momentum: 0.9 });
  const loss = new SoftmaxCrossEntropy();
  const per = arch.inputShape.reduce((a, d) => a * d, 1);
  const xs = rand(batch * per * 4, 3, -1.5, 1.5);
  const ys = new Float32Array(batch * 4).map((_, i) => (i * 3 + 1) % 5);
  const curve: number[] = [];
  try {
    for (let step = 0; step < STEPS; step++) {
      const b = step % 4;
      const x = Tensor.from(
        backend,
        [batch, ...arch.inputShape],
        xs.subarray(b * batch * per, (b + 1) * batch * per),
      );
      const y = Tensor.from(backend, [batch], ys.subarray(b * batch, (b + 1) * batch));
      curve.push(trainStep(model, loss, opt, x, y, { training: true, seed: 5, step }).loss);
      x.dispose();
      y.dispose();
    }
  } finally {
    loss.dispose();
    opt.dispose();
    model.dispose();
  }
  return curve;
}

/** The cpu curve `a` follows the ts curve `b` within 1e-4 relative at every step. */
/** Curves a and b (named in `what` as "a vs b ...") agree within 1e-4 relative at every step. */
function assertSameCurve(a: number[], b: number[], what: string): void {
  for (let i = 0; i < STEPS; i++) {
    const rel = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-6);
    assert.ok(rel <= 1e-4, `${what} step ${i}: loss ${a[i]} vs ${b[i]} (rel ${rel})`);
  }
}

for (const variant of VARIANTS) {
  Deno.test(`native training: ${variant}, 50 steps, cpu and ts loss curves agree`, () => {
    const a = lossCurve(cpu, variant);
    const b = lossCurve(ref, variant);
    assert.ok(
      b[STEPS - 1] < b[0],
      `${variant}: the reference did not learn (${b[0]} -> ${b[STEPS - 1]})`,
    );
    assertSameCurve(a, b, `cpu vs ts, ${variant}`);
  });
}

/** ResNet-20 at width 0.125 (channels 2/4/8) on the same inputs: residual blocks, gates. */
const RESNET = architecture("resnet20", { inputShape: [2, 9, 9], classes: 5, width: 0.125 });

/**
 * Group norm wants groups of some size: with one channel of a few positions per group (the
 * nets above), a channel a ReLU zeroed has variance 0 and its rounding is multiplied by
 * 1/sqrt(1e-5), so ts in float32 itself leaves ts in float64 by 1e-2 within 20 steps. Here
 * each group is 2 channels of 81 positions and the three agree to 1e-7.
 */
const GN_ARCH: ArchSpec = {
  name: "gn-net",
  inputShape: [2, 9, 9],
  classes: 5,
  layers: [
    { type: "conv", filters: 16, kernel: 3, pad: 1 },
    { type: "act", op: "relu" },
    { type: "conv", filters: 16, kernel: 3, stride: 2, pad: 1 },
    { type: "act", op: "tanh" },
    { type: "gap" },
    { type: "dense", units: 5 },
  ],
};

for (
  const [variant, arch] of [
    ["gn", GN_ARCH],
    ["gn+lsh+lsc", GN_ARCH],
    ["ln", ARCH],
    ["ws", ARCH],
    ["bn+lsh+lsc", ARCH],
    ["csh+csc+frozen", ARCH],
    ["bn", RESNET],
    ["skipinit", RESNET],
    ["layerscale", RESNET],
    ["fixup", RESNET],
  ] as const
) {
  Deno.test(`native training: ${arch.name} ${variant}, cpu and ts loss curves agree`, () => {
    const a = lossCurve(cpu, variant, arch);
    const b = lossCurve(ref, variant, arch);
    assert.ok(b[STEPS - 1] < b[0], `${variant}: the reference did not learn`);
    assertSameCurve(a, b, `cpu vs ts, ${arch.name} ${variant}`);
  });
}

/**
 * Outputs that ops overwrite in full are allocated without a zero fill. With
 * SHIFTLAB_POISON_EMPTY set the library fills those with NaN, so any op that read one before
 * writing it would turn the loss curve into NaN.
 */
/**
 * A net whose 3x3 stride-1 convolutions the cpu build can take through Winograd: 50 steps
 * with Winograd forced (SHIFTLAB_CONV_ALGO=winograd, whatever the thread count) give the
 * curve of the same training with it switched off (im2col, itself checked against ts above).
 * Outputs allocated without a zero fill are NaN-poisoned throughout, so a position the
 * Winograd tiles left unwritten would show.
 */
const WINO_ARCH: ArchSpec = {
  name: "winograd-net",
  inputShape: [16, 16, 16],
  classes: 5,
  layers: [
    { type: "conv", filters: 24, kernel: 3, stride: 1, pad: 1 },
    { type: "act", op: "relu" },
    { type: "conv", filters: 16, kernel: 3, stride: 1, pad: 1 },
    { type: "act", op: "relu" },
    { type: "gap" },
    { type: "dense", units: 5 },
  ],
};

for (const variant of ["plain", "bn"]) {
  Deno.test(`native training: ${variant}, Winograd and im2col convolutions agree`, () => {
    Deno.env.set("SHIFTLAB_POISON_EMPTY", "1");
    try {
      Deno.env.set("SHIFTLAB_CONV_ALGO", "winograd");
      const wino = lossCurve(cpu, variant, WINO_ARCH, 16);
      Deno.env.set("SHIFTLAB_CONV_ALGO", "im2col");
      const direct = lossCurve(cpu, variant, WINO_ARCH, 16);
      assert.ok(wino.every(Number.isFinite), `Winograd ${variant}: a non-finite loss`);
      assertSameCurve(wino, direct, `Winograd vs im2col, ${variant}`);
    } finally {
      Deno.env.delete("SHIFTLAB_CONV_ALGO");
      Deno.env.delete("SHIFTLAB_POISON_EMPTY");
    }
  });
}

Deno.test("native training: no op reads an output allocated without a zero fill", () => {
  try {
    Deno.env.set("SHIFTLAB_POISON_EMPTY", "1");
    const p = cpu.alloc(33, "float32", false);
    const seen = Array.from(cpu.download(p));
    cpu.free(p);
    assert.ok(seen.every(Number.isNaN), "poisoning is not in effect: the test would prove nothing");
    for (const variant of ["plain", "bn", "sh_sc", "csh_csc", "lsh_lsc"]) {
      for (const arch of [ARCH, ARCH2]) {
        assertSameCurve(
          lossCurve(cpu, variant, arch),
          lossCurve(ref, variant, arch),
          `cpu (poisoned) vs ts, ${arch.name} ${variant}`,
        );
      }
    }
  } finally {
    Deno.env.delete("SHIFTLAB_POISON_EMPTY");
  }
});

/** The soak, run in a process of its own so that its resident memory is its own. */
const SOAK = (url: (p: string) => string) => `
  import { NativeBackend } from ${url("../src/backends/native.ts")};
  import { buildNetwork } from ${url("../src/variants.ts")};
  import { Optimizer } from ${url("../src/optim.ts")};
  import { SoftmaxCrossEntropy } from ${url("../src/loss.ts")};
  import { trainStep } from ${url("../src/train.ts")};
  import { Tensor } from ${url("../src/tensor.ts")};
  const cpu = NativeBackend.open("cpu");
  const arch = {
    name: "soak", inputShape: [16], classes: 4,
    layers: [
      { type: "dense", units: 32 }, { type: "act", op: "relu" },
      { type: "dropout", p: 0.5 }, { type: "dense", units: 4 },
    ],
  };
  const model = buildNetwork(arch, "lsh_lsc", { backend: cpu, seed: 1 });
  const opt = new Optimizer(model.params(), { kind: "adam", lr: 1e-3 });
  const loss = new SoftmaxCrossEntropy();
  const x = Tensor.from(cpu, [8, 16], Array.from({ length: 128 }, (_, i) => Math.sin(i)));
  const y = Tensor.from(cpu, [8], [0, 1, 2, 3, 0, 1, 2, 3]);
  const step = (i) => trainStep(model, loss, opt, x, y, { training: true, seed: 1, step: i });
  for (let i = 0; i < 500; i++) step(i); // warm-up
  globalThis.gc?.();
  const bytes0 = cpu.memoryInUse(), rss0 = Deno.memoryUsage().rss;
  for (let i = 500; i < 5000; i++) step(i);
  globalThis.gc?.();
  const bytes1 = cpu.memoryInUse(), rss1 = Deno.memoryUsage().rss;
  console.log(JSON.stringify({ bytes0, bytes1, rss0, rss1 }));
`;

Deno.test("native training: 5,000 steps keep bytes in use and resident memory flat", async () => {
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(SOAK(url)));
  await w.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, `soak process failed: ${new TextDecoder().decode(out.stderr)}`);
  const { bytes0, bytes1, rss0, rss1 } = JSON.parse(text.split("\n").pop()!);
  assert.equal(bytes1, bytes0, "library bytes in use changed over 4,500 steps");
  assert.ok(rss1 - rss0 < 16 * 1024 * 1024, `resident memory grew by ${(rss1 - rss0) / 1e6} MB`);
});
