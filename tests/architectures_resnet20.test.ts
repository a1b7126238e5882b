/**
 * ResNet-20 and the residual gates (SPEC §1b): the exact parameter count for CIFAR-10 with its
 * arithmetic, the block structure, where each gate goes, that skipinit, rezero and fixup
 * networks at initialisation compute exactly their shortcut path, and float64 gradient checks
 * of resnet20 shrunk to tiny widths under every gate and normalisation.
 */
import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { architecture, type ArchSpec, type LayerSpec } from "../src/architectures.ts";
import type { Layer, Param } from "../src/layers/layer.ts";
import { Activation, Conv2d, Dense, Residual, Scale, Shift } from "../src/layers/mod.ts";
import type { Sequential } from "../src/model.ts";
import { Tensor } from "../src/tensor.ts";
import { buildNetwork, countParameters, variantSpecs } from "../src/variants.ts";
import { checkNetworkGradients, randomNormal } from "./gradcheck.ts";

const CIFAR = { inputShape: [3, 32, 32], classes: 10 };

Deno.test("resnet20 for CIFAR-10 has 271,690 parameters (plain, 1x1 projection shortcuts)", () => {
  const arch = architecture("resnet20", CIFAR);
  // conv k x k, c_in → c_out, with bias: k·k·c_in·c_out + c_out
  const conv = (k: number, cin: number, cout: number) => k * k * cin * cout + cout;
  const stem = conv(3, 3, 16); //                                         432 + 16 = 448
  const block16 = 2 * conv(3, 16, 16); //                        2 × (2,304 + 16) = 4,640
  const block32 = 2 * conv(3, 32, 32); //                        2 × (9,216 + 32) = 18,496
  const block64 = 2 * conv(3, 64, 64); //                       2 × (36,864 + 64) = 73,856
  const down32 = conv(3, 16, 32) + conv(3, 32, 32) + conv(1, 16, 32); // 4,640 + 9,248 + 544
  const down64 = conv(3, 32, 64) + conv(3, 64, 64) + conv(1, 32, 64); // 18,496 + 36,928 + 2,112
  const classifier = 64 * 10 + 10; //                                                   650
  const total = stem + 3 * block16 + (down32 + 2 * block32) + (down64 + 2 * block64) +
    classifier; // 448 + 13,920 + 51,424 + 205,248 + 650
  assert.equal(down32, 14_432);
  assert.equal(down64, 57_536);
  assert.equal(total, 271_690); // He et al. report "0.27M" (with parameter-free shortcuts)
  assert.equal(countParameters(arch, "plain"), 271_690);
  // bn adds γ and β after each of the 21 convs (19 + 2 projections): 2 × (16 + 6·16 +
  // 6·32 + 32 + 6·64 + 64) = 2 × 784 = 1,568.
  assert.equal(countParameters(arch, "bn"), 271_690 + 1_568);
  // gates: a scalar per block (9), or a vector of the block's width (3·16 + 3·32 + 3·64).
  assert.equal(countParameters(arch, "skipinit"), 271_690 + 9);
  assert.equal(countParameters(arch, "rezero"), 271_690 + 9);
  assert.equal(countParameters(arch, "layerscale"), 271_690 + 336);
  // fixup: per block 4 scalar biases and 1 multiplier (45), plus the stem's and the
  // classifier's scalar bias.
  assert.equal(countParameters(arch, "fixup"), 271_690 + 45 + 2);
});

Deno.test("resnet20: 3 stages of 3 basic blocks, projections where the shape changes", () => {
  const arch = architecture("resnet20", { inputShape: [1, 28, 28], classes: 10 });
  assert.equal(arch.name, "resnet20");
  const blocks = arch.layers.filter((s) => s.type === "residual");
  assert.equal(blocks.length, 9);
  assert.deepEqual(
    blocks.map((b) => b.type === "residual" && (b.shortcut ?? []).length),
    [0, 0, 0, 1, 0, 0, 1, 0, 0],
  );
  const m = buildNetwork(arch, "plain", { backend: tsBackend, seed: 1 });
  const shapes = m.layerOutputShapes;
  assert.deepEqual(
    m.layers.map((l, i) => [l.kind, shapes[i].join("x")]).filter(([k]) => k === "Residual")
      .map(([, s]) => s),
    [
      "16x28x28",
      "16x28x28",
      "16x28x28",
      "32x14x14",
      "32x14x14",
      "32x14x14",
      "64x7x7",
      "64x7x7",
      "64x7x7",
    ],
  );
  assert.deepEqual(m.outputShape, [10]);
  m.dispose();
  // width scales the convs inside the blocks too; the classifier keeps one unit per class
  const narrow = architecture("resnet20", { ...CIFAR, width: 0.5 });
  const filters = (layers: readonly LayerSpec[]): number[] =>
    layers.flatMap((s) =>
      s.type === "conv"
        ? [s.filters]
        : s.type === "residual"
        ? [...filters(s.branch), ...filters(s.shortcut ?? [])]
        : []
    );
  assert.deepEqual(
    [...new Set(filters(narrow.layers))],
    [8, 16, 32],
  );
  assert.deepEqual(narrow.layers.at(-1), { type: "dense", units: 10, init: "xavier" });
});

/** The branch of the first residual block of `variant`, as layer types (sharing/init noted). */
function firstBranch(variant: string): string[] {
  const arch = architecture("resnet20", CIFAR);
  const block = variantSpecs(arch, variant).find((s) => s.type === "residual");
  assert.ok(block && block.type === "residual");
  return block.branch.map((s) =>
    s.type === "scale" || s.type === "shift"
      ? `${s.type}:${s.sharing}${s.type === "scale" && s.init !== undefined ? `=${s.init}` : ""}`
      : s.type === "conv"
      ? `conv${s.initGain === undefined ? "" : `x${Number(s.initGain.toFixed(4))}`}`
      : s.type
  );
}

Deno.test("gates and normalisation placed per block as SPEC §1b says", () => {
  assert.deepEqual(firstBranch("plain"), ["conv", "act", "conv"]);
  assert.deepEqual(firstBranch("bn"), ["conv", "batchnorm", "act", "conv", "batchnorm"]);
  assert.deepEqual(firstBranch("bn+skipinit"), [
    "conv",
    "batchnorm",
    "act",
    "conv",
    "batchnorm",
    "scale:layerwise=0",
  ]);
  assert.deepEqual(firstBranch("rezero"), ["conv", "act", "conv", "scale:layerwise=0"]);
  assert.deepEqual(firstBranch("layerscale"), ["conv", "act", "conv", "scale:channelwise=0.1"]);
  assert.deepEqual(firstBranch("lsh+lsc"), [
    "conv",
    "act",
    "shift:layerwise",
    "scale:layerwise",
    "conv",
  ]);
  // Fixup: scalar bias before each conv and activation, multiplier and bias at the end; the
  // first conv He times L^(-1/2) = 9^(-1/2), the last zero.
  assert.deepEqual(firstBranch("fixup"), [
    "shift:layerwise",
    "convx0.3333",
    "shift:layerwise",
    "act",
    "shift:layerwise",
    "convx0",
    "scale:layerwise",
    "shift:layerwise",
  ]);
  const arch = architecture("resnet20", CIFAR);
  // ReZero: no activation after the sum; the others keep it.
  const kinds = (v: string) => variantSpecs(arch, v).map((s) => s.type).join(" ");
  assert.match(kinds("skipinit"), /residual act residual act/);
  assert.doesNotMatch(kinds("rezero"), /residual act/);
  // Fixup outside the blocks: a scalar bias after the stem conv and before the classifier,
  // whose weights start at 0.
  const fixup = variantSpecs(arch, "fixup");
  assert.deepEqual(fixup.slice(0, 3).map((s) => s.type), ["conv", "shift", "act"]);
  assert.deepEqual(fixup.slice(-2), [
    { type: "shift", sharing: "layerwise" },
    { type: "dense", units: 10, init: "xavier", initGain: 0 },
  ]);
});

Deno.test("fixup initialisation: scaled He branch convs, zero last conv and classifier", () => {
  const arch = architecture("resnet20", { inputShape: [1, 8, 8], classes: 3, width: 0.25 });
  const plain = buildNetwork(arch, "plain", { backend: tsBackend, dtype: "float64", seed: 4 });
  const fixup = buildNetwork(arch, "fixup", { backend: tsBackend, dtype: "float64", seed: 4 });
  const weights = (m: Sequential) =>
    m.params().filter((p) => p.kind === "weight").map((p) => Array.from(p.value.toArray()));
  const a = weights(plain);
  const b = weights(fixup);
  assert.equal(a.length, b.length);
  const names = fixup.params().filter((p) => p.kind === "weight").map((p) => p.name);
  let scaled = 0, zeroed = 0, same = 0;
  names.forEach((name, i) => {
    const inBranch = /branch/.test(name);
    if (inBranch && b[i].every((v) => v === 0)) {
      zeroed++;
    } else if (inBranch) {
      b[i].forEach((v, j) => assert.ok(Math.abs(v - a[i][j] / 3) <= 1e-15 * Math.abs(a[i][j])));
      scaled++;
    } else if (i === names.length - 1) {
      assert.ok(b[i].every((v) => v === 0), "classifier starts at 0");
      zeroed++;
    } else {
      assert.deepEqual(b[i], a[i], `${name}: stem and projections as in plain`);
      same++;
    }
  });
  assert.deepEqual([scaled, zeroed, same], [9, 10, 3]);
  plain.dispose();
  fixup.dispose();
});

/** A tiny resnet20 (channels 2/4/8 at width 0.125) on `[2, 8, 8]` inputs. */
function tiny(act: "relu" | "tanh" = "relu"): ArchSpec {
  const a = architecture("resnet20", { inputShape: [2, 8, 8], classes: 3, width: 0.125 });
  const swap = (layers: readonly LayerSpec[]): LayerSpec[] =>
    layers.map((s): LayerSpec =>
      s.type === "act"
        ? { ...s, op: act }
        : s.type === "residual"
        ? { ...s, branch: swap(s.branch), shortcut: swap(s.shortcut ?? []) }
        : s
    );
  return { ...a, name: `tiny-resnet20-${act}`, layers: swap(a.layers) };
}

/** Runs `m` with every residual block replaced by its shortcut alone, up to layer `upTo`. */
function shortcutPath(m: Sequential, x: Tensor, upTo: number): Float64Array {
  const ctx = { training: true, seed: 1, step: 0 };
  let h = x;
  for (const l of m.layers.slice(0, upTo + 1) as Layer[]) {
    let next = h;
    if (l instanceof Residual) {
      for (const s of l.shortcut) next = s.forward(next, ctx);
      if (next === h) next = h.clone(); // identity
    } else {
      next = l.forward(h, ctx);
    }
    if (h !== x) h.dispose();
    h = next;
  }
  const out = h.toArray() as Float64Array;
  h.dispose();
  return out;
}

Deno.test("skipinit, rezero, fixup at initialisation compute exactly the shortcut path", () => {
  const arch = tiny();
  const x = Tensor.from(tsBackend, [4, 2, 8, 8], randomNormal(4 * 128, 12), "float64");
  const ctx = { training: true, seed: 1, step: 0 };
  const exact = ["skipinit", "rezero", "fixup", "bn+skipinit", "gn+skipinit", "lsh+lsc+fixup"];
  for (const v of [...exact, "plain", "layerscale", "bn"]) {
    const m = buildNetwork(arch, v, { backend: tsBackend, dtype: "float64", seed: 3 });
    // Compare before the classifier (Fixup's classifier outputs 0 whatever comes in).
    const gap = m.layers.findIndex((l) => l.kind === "GlobalAvgPool2d");
    const y = m.forwardTo(x, gap, ctx);
    const full = Array.from(y.toArray());
    y.dispose();
    const path = Array.from(shortcutPath(m, x, gap));
    if (exact.includes(v)) {
      assert.deepEqual(full, path, `${v}: the network is its shortcut path`);
      assert.ok(full.some((a) => a !== 0), `${v}: the shortcut path carries a signal`);
    } else {
      assert.notDeepEqual(full, path, `${v}: the branches contribute`);
    }
    m.dispose();
  }
  x.dispose();
});

Deno.test("gates: a moved α makes the branch count (the exactness above is the gate's)", () => {
  const arch = tiny();
  const m = buildNetwork(arch, "skipinit", { backend: tsBackend, dtype: "float64", seed: 3 });
  const x = Tensor.from(tsBackend, [2, 2, 8, 8], randomNormal(256, 13), "float64");
  const gap = m.layers.findIndex((l) => l.kind === "GlobalAvgPool2d");
  const gates = m.layers.filter((l): l is Residual => l instanceof Residual)
    .map((b) => b.branch.at(-1)!);
  assert.ok(gates.every((g) => g instanceof Scale && g.init === 0));
  tsBackend.fill((gates[4] as Scale).scale!.value.buf, 0.5);
  const y = m.forwardTo(x, gap, { training: true, seed: 1, step: 0 });
  assert.notDeepEqual(Array.from(y.toArray()), Array.from(shortcutPath(m, x, gap)));
  for (const t of [x, y]) t.dispose();
  m.dispose();
});

Deno.test("gradcheck (float64, ts): resnet20 at tiny widths under every gate and normalisation", () => {
  const arch = tiny("tanh");
  const variants = [
    "plain",
    "bn",
    "gn",
    "ln",
    "ws",
    "skipinit",
    "bn+skipinit",
    "rezero",
    "layerscale",
    "gn+layerscale",
    "fixup",
    "lsh+lsc+fixup",
    "csh+csc+ddi",
    "bn+frozen",
  ];
  for (const v of variants) {
    const m = buildNetwork(arch, v, { backend: tsBackend, dtype: "float64", seed: 2 });
    // Small weights, biases and shifts: 9 un-normalised blocks of N(0, 1) saturate every tanh.
    // Multipliers (gates, ws gains, bn γ) of N(0, 0.3²) would starve the signal instead.
    const std = (p: Param) => (["scale", "gain", "bn"].includes(p.kind) ? 1 : 0.3);
    checkNetworkGradients(m, `resnet20 ${v}`, { maxPerTensor: 3, std, signalShare: 0.85 });
    m.dispose();
  }
});

Deno.test("resnet20 layers are registered classes end to end (gates are Scale, Fixup's biases Shift)", () => {
  const m = buildNetwork(tiny(), "fixup", { backend: tsBackend, seed: 1 });
  const block = m.layers.find((l) => l instanceof Residual) as Residual;
  assert.deepEqual(
    block.branch.map((l) => l.constructor),
    [Shift, Conv2d, Shift, Activation, Shift, Conv2d, Scale, Shift],
  );
  assert.ok(m.layers.at(-1) instanceof Dense);
  assert.match(m.summary(), /Residual\s+branch Shift-Conv2d-Shift-ReLU-Shift-Conv2d-Scale-Shift/);
  m.dispose();
});
