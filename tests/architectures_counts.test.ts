import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { architecture, ARCHITECTURES, type LayerSpec } from "../src/architectures.ts";
import { buildNetwork, countParameters, dryRunNetwork } from "../src/variants.ts";

const CIFAR = { inputShape: [3, 32, 32], classes: 10 };
const MNIST = { inputShape: [1, 28, 28], classes: 10 };

const EXACT: [string, { inputShape: number[]; classes: number }, number][] = [
  ["vonhacht-mnist", MNIST, 3_274_634],
  ["vonhacht-a", CIFAR, 4_259_274],
  ["vonhacht-b", CIFAR, 29_853_002],
  ["vonhacht-c", CIFAR, 31_005_290],
  ["allcnnc", CIFAR, 1_369_738],
  ["mlp24", CIFAR, 23_436_310],
];

for (const [name, opts, expected] of EXACT) {
  Deno.test(`${name}: exactly ${expected.toLocaleString("en-US")} parameters`, () => {
    assert.equal(countParameters(architecture(name, opts), "plain"), expected);
  });
}

Deno.test("dropout never changes a parameter count; All-CNN-C places two spatial dropouts", () => {
  const plain = architecture("allcnnc", { ...CIFAR, dropout: false });
  const drop = architecture("allcnnc", { ...CIFAR, dropout: true });
  assert.equal(countParameters(drop), 1_369_738);
  assert.equal(plain.layers.filter((l) => l.type === "spatial_dropout").length, 0);
  assert.equal(drop.layers.filter((l) => l.type === "spatial_dropout").length, 2);
  assert.notEqual(plain.name, drop.name, "the dropout version is named apart");
  const mlp = architecture("mlp24", { ...CIFAR, dropout: true });
  assert.equal(mlp.layers.filter((l) => l.type === "dropout").length, 2);
  assert.equal(countParameters(mlp), 23_436_310);
  const vh = architecture("vonhacht-b", { ...CIFAR, dropout: false });
  assert.equal(vh.layers.filter((l) => l.type === "dropout").length, 0);
  assert.equal(countParameters(vh), 29_853_002);
  const vhDefault = architecture("vonhacht-b", CIFAR);
  assert.equal(vhDefault.layers.filter((l) => l.type === "dropout").length, 2);
});

Deno.test("the dry-run count equals the count of a real build (same layer logic)", () => {
  for (const [name, opts] of [["shiftlab-small", MNIST], ["botos-mlp", MNIST]] as const) {
    for (const variant of ["plain", "bn", "sh_sc", "csh", "lsh_lsc"]) {
      const arch = architecture(name, opts);
      const real = buildNetwork(arch, variant, { backend: tsBackend, seed: 1 });
      const dry = dryRunNetwork(arch, variant);
      assert.equal(dry.parameterCount(), real.parameterCount(), `${name}/${variant}`);
      assert.deepEqual(dry.layerOutputShapes, real.layerOutputShapes, `${name}/${variant}`);
      real.dispose();
      dry.dispose();
    }
  }
});

Deno.test("All-CNN-C follows the dataset: MNIST input, CIFAR-100 classes", () => {
  const mnist = dryRunNetwork(architecture("allcnnc", MNIST), "plain");
  assert.deepEqual(mnist.outputShape, [10]);
  assert.deepEqual(mnist.layerOutputShapes.at(-2), [10, 5, 5], "7x7 map, then 3x3 p0 -> 5x5");
  const c100 = architecture("allcnnc", { inputShape: [3, 32, 32], classes: 100 });
  // Only the last 1x1 conv changes: 192*100 + 100 instead of 192*10 + 10.
  assert.equal(countParameters(c100), 1_369_738 - 1930 + 19_300);
  const cifar = dryRunNetwork(architecture("allcnnc", CIFAR), "plain");
  assert.deepEqual(cifar.layerOutputShapes.at(-2), [10, 6, 6], "global average over 6x6");
});

Deno.test("the 24-layer MLP: 24 dense layers, ReLU after all but the last, Xavier last", () => {
  const arch = architecture("mlp24", CIFAR);
  const dense = arch.layers.filter((l): l is Extract<LayerSpec, { type: "dense" }> =>
    l.type === "dense"
  );
  assert.equal(dense.length, 24);
  assert.deepEqual(
    dense.map((d) => d.units),
    [3000, ...Array(11).fill(1000), ...Array(11).fill(300), 10],
  );
  assert.equal(dense.at(-1)!.init, "xavier");
  assert.ok(dense.slice(0, -1).every((d) => d.init === "he"));
  assert.equal(arch.layers.filter((l) => l.type === "act").length, 23);
  assert.equal(arch.layers.at(-1)!.type, "dense");
});

Deno.test("Botos MLP: 784 ReLU, 784 ReLU, 100 tanh, 10", () => {
  const m = dryRunNetwork(architecture("botos-mlp", MNIST), "plain");
  assert.deepEqual(m.layers.map((l) => l.kind), [
    "Flatten",
    "Dense",
    "ReLU",
    "Dense",
    "ReLU",
    "Dense",
    "Tanh",
    "Dense",
  ]);
  assert.equal(m.parameterCount(), 784 * 785 * 2 + 100 * 785 + 10 * 101);
});

Deno.test("every listed preset builds for its usual input", () => {
  assert.deepEqual(ARCHITECTURES.map((a) => a.name), [
    "allcnnc",
    "mlp24",
    "vonhacht-mnist",
    "vonhacht-a",
    "vonhacht-b",
    "vonhacht-c",
    "botos-mlp",
    "resnet20",
    "shiftlab-small",
  ]);
  for (const a of ARCHITECTURES) {
    assert.ok(a.description.length > 10, `${a.name} has a description`);
    const opts = a.name === "vonhacht-mnist" || a.name === "shiftlab-small" ? MNIST : CIFAR;
    assert.deepEqual(dryRunNetwork(architecture(a.name, opts), "bn").outputShape, [10]);
  }
  assert.ok(ARCHITECTURES.find((a) => a.name === "shiftlab-small")!.description.includes("ours"));
});

Deno.test("presets are plain JSON data", () => {
  const arch = architecture("allcnnc", { ...CIFAR, dropout: true });
  assert.deepEqual(JSON.parse(JSON.stringify(arch)), arch);
});

Deno.test("bad names and shapes throw, naming what was wrong and what was expected", () => {
  assert.throws(
    () => architecture("resnet50", CIFAR),
    /unknown architecture 'resnet50', expected one of allcnnc, mlp24, vonhacht-mnist, .*shiftlab-small/,
  );
  assert.throws(
    () => architecture("allcnnc", { inputShape: [784], classes: 10 }),
    /'allcnnc': needs an image input \[C, H, W\], got \[784\]/,
  );
  assert.throws(
    () => architecture("mlp24", { inputShape: [3, 0, 32], classes: 10 }),
    /inputShape must be a non-empty list of positive integers/,
  );
  assert.throws(() => architecture("mlp24", { ...CIFAR, classes: 1 }), /classes must be .* got 1/);
  // vonhacht-a's dense layer expects 4096 inputs only for 32x32 images; other sizes still build,
  // with another count, because the layer list is what is fixed.
  assert.notEqual(
    countParameters(architecture("vonhacht-a", { inputShape: [3, 28, 28], classes: 10 })),
    4_259_274,
  );
});
