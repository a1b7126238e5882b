/**
 * How a config names its architecture: a preset, a preset with a width factor, or an inline
 * layer list validated through the layer registry; what records, manifests and pages then show.
 */
import assert from "node:assert/strict";
import {
  architecture,
  architectureName,
  type ArchitectureRef,
  parseArchitectureRef,
  resolveArchitecture,
  scaleWidths,
} from "../src/architectures.ts";
import { tsBackend } from "../src/backends/ts.ts";
import { validateConfig } from "../src/experiment/config.ts";
import type { ExperimentManifest, RunRecord } from "../src/experiment/record.ts";
import { prepareData, runSweep } from "../src/experiment/sweep.ts";
import type { LayerSpec } from "../src/layers/registry.ts";
import { writeExperimentReport } from "../src/report/report.ts";
import { countParameters, dryRunNetwork } from "../src/variants.ts";

const MNIST = { inputShape: [1, 28, 28], classes: 10 };

/** flatten → dense 32 → relu → dense 10 (an MLP nobody wrote a preset for). */
const INLINE: LayerSpec[] = [
  { type: "flatten" },
  { type: "dense", units: 32 },
  { type: "act", op: "relu" },
  { type: "dense", units: 10, init: "xavier" },
];

Deno.test("width 0.25: All-CNN-C on 1x28x28 with 10 classes has exactly 86,266 parameters", () => {
  // Channels 96 -> 24 and 192 -> 48; the last 1x1 conv keeps its 10 (one logit per class).
  // Each conv has filters*in*k*k weights + filters biases:
  //   conv3x3  1 -> 24:  24*1*9   + 24 =    240
  //   conv3x3 24 -> 24:  24*24*9  + 24 =  5,208   (twice: p1, then p1 s2)   10,416
  //   conv3x3 24 -> 48:  48*24*9  + 48 = 10,416
  //   conv3x3 48 -> 48:  48*48*9  + 48 = 20,784   (three times: p1, p1 s2, p0) 62,352
  //   conv1x1 48 -> 48:  48*48    + 48 =  2,352
  //   conv1x1 48 -> 10:  10*48    + 10 =    490
  //   total: 240 + 10,416 + 10,416 + 62,352 + 2,352 + 490 = 86,266
  const arch = resolveArchitecture({ preset: "allcnnc", width: 0.25 }, MNIST);
  assert.equal(arch.name, "allcnnc(width=0.25)");
  assert.equal(countParameters(arch), 86_266);
  const filters = arch.layers.flatMap((l) => (l.type === "conv" ? [l.filters] : []));
  assert.deepEqual(filters, [24, 24, 24, 48, 48, 48, 48, 48, 10]);
  assert.deepEqual(dryRunNetwork(arch, "bn").outputShape, [10]);
  // Only widths change: kernels, strides, padding and the other layers are the preset's.
  const full = architecture("allcnnc", MNIST);
  assert.deepEqual(
    arch.layers.map((l) => (l.type === "conv" ? { ...l, filters: 0 } : l)),
    full.layers.map((l) => (l.type === "conv" ? { ...l, filters: 0 } : l)),
  );
});

Deno.test("width is general: conv channels and hidden dense units, rounded, never the logits", () => {
  // shiftlab-small at 0.1: 16 -> 1.6 -> 2, 32 -> 3.2 -> 3, 64 -> 6.4 -> 6; dense 10 stays.
  const small = architecture("shiftlab-small", { ...MNIST, width: 0.1 });
  assert.deepEqual(
    small.layers.flatMap((l) =>
      l.type === "conv" ? [l.filters] : l.type === "dense" ? [l.units] : []
    ),
    [2, 3, 6, 10],
  );
  // The MLP has only dense layers: all but the classifier scale, wider as well as narrower.
  const mlp = architecture("mlp24", { inputShape: [3, 32, 32], classes: 100, width: 1.5 });
  const units = mlp.layers.flatMap((l) => (l.type === "dense" ? [l.units] : []));
  assert.deepEqual(units, [4500, ...Array(11).fill(1500), ...Array(11).fill(450), 100]);
  // Widths never fall to 0, and width 1 changes nothing but the name.
  assert.deepEqual(scaleWidths(INLINE, 0.001).map((l) => l.type === "dense" && l.units), [
    false,
    1,
    false,
    10,
  ]);
  const one = resolveArchitecture({ preset: "vonhacht-mnist", width: 1 }, MNIST);
  assert.deepEqual(one.layers, architecture("vonhacht-mnist", MNIST).layers);
  assert.equal(one.name, "vonhacht-mnist(width=1)");
  assert.equal(countParameters(one), 3_274_634);
  // Dropout keeps its place in the name.
  assert.equal(
    resolveArchitecture({ preset: "allcnnc", width: 0.5 }, { ...MNIST, dropout: true }).name,
    "allcnnc(width=0.5)+dropout",
  );
});

Deno.test("an inline layer list builds as given; its name is canonical", () => {
  const arch = resolveArchitecture(INLINE, MNIST);
  assert.match(arch.name, /^inline-[0-9a-f]{8}$/);
  assert.deepEqual(arch.layers, INLINE);
  assert.equal(countParameters(arch), 784 * 32 + 32 + 32 * 10 + 10);
  assert.equal(countParameters(arch, "lsh_lsc"), 784 * 32 + 32 + 32 * 10 + 10 + 4);
  // The same layers with keys in another order: the same name; other layers: another.
  const reordered = INLINE.map((l) =>
    Object.fromEntries(Object.entries(l).reverse())
  ) as LayerSpec[];
  assert.equal(architectureName(reordered), arch.name);
  assert.notEqual(
    architectureName([...INLINE.slice(0, 1), { type: "dense", units: 10 }]),
    arch.name,
  );
  assert.equal(architectureName("allcnnc"), "allcnnc");
  assert.equal(architectureName({ preset: "allcnnc", width: 0.25 }), "allcnnc(width=0.25)");
});

Deno.test("bad architecture references name what is wrong and what was expected", () => {
  const bad: [unknown, RegExp][] = [
    ["resnet50", /unknown architecture 'resnet50', expected one of allcnnc, mlp24,/],
    [{ preset: "allcnn", width: 0.5 }, /unknown architecture 'allcnn', expected one of allcnnc/],
    [
      { width: 0.5 },
      /architecture: 'preset' must name a preset, got undefined \(expected one of allcnnc,/,
    ],
    [
      { preset: "allcnnc", widht: 0.5 },
      /architecture: unknown field 'widht' \(expected: preset, width\)/,
    ],
    [{ preset: "allcnnc", width: 0 }, /architecture: 'width' must be a number > 0, got 0/],
    [{ preset: "allcnnc", width: "half" }, /'width' must be a number > 0, got "half"/],
    [[], /architecture: the layers must be a non-empty list of layer specs/],
    [
      [{ type: "flatten" }, { type: "dense", units: 32 }, { type: "dens", units: 10 }],
      /architecture, layer 2: field 'type' is "dens", which is not a registered layer type \(expected one of: act, /,
    ],
    [
      [{ type: "flatten" }, { type: "dense", unit: 10 }],
      /architecture, layer 1 \(dense\): unknown field 'unit' \(expected: units, init, bias, biasLrMult, lrMult, ws, initGain\)/,
    ],
    [
      [{ type: "conv", filters: 8, kernel: 3, stride: 0 }],
      /architecture, layer 0 \(conv\): field 'stride' must be a positive integer, got 0/,
    ],
    [
      42,
      /architecture: expected a preset name, \{"preset": NAME, "width": W\} or a list of layers, got 42/,
    ],
  ];
  for (const [ref, re] of bad) {
    assert.throws(() => parseArchitectureRef(ref), re);
    assert.throws(() => resolveArchitecture(ref as ArchitectureRef, MNIST), re);
  }
  // Shapes are checked when the network is built for the data.
  assert.throws(
    () =>
      dryRunNetwork(
        resolveArchitecture([{ type: "conv", filters: 4, kernel: 3 }, { type: "gap" }], {
          inputShape: [784],
          classes: 4,
        }),
        "plain",
      ),
    /Conv2d '0_conv2d': expected input shape \[C, H, W\], got \[784\]/,
  );
  assert.throws(
    () => resolveArchitecture(INLINE, { ...MNIST, dropout: true }),
    /architecture 'inline-[0-9a-f]+': an inline layer list takes no 'dropout' option/,
  );
  assert.throws(
    () => resolveArchitecture(INLINE, { ...MNIST, classes: 1 }),
    /classes must be an integer >= 2, got 1/,
  );
});

const BASE = {
  name: "archrefs",
  dataset: "mnist",
  variants: ["plain"],
  lr: 0.01,
  epochs: 1,
  batchSize: 16,
  runs: 1,
  trainSubset: 32,
  testSubset: 16,
};
const checks = { architecture: (a: ArchitectureRef) => void parseArchitectureRef(a) };

Deno.test("configs take an inline list or a preset with options; errors name the file, index and field", () => {
  const inline = validateConfig({ ...BASE, architecture: INLINE }, "cfg.json", checks);
  assert.deepEqual(inline.architecture, INLINE);
  const wide = validateConfig(
    { ...BASE, architecture: { preset: "allcnnc", width: 0.25 } },
    "cfg.json",
    checks,
  );
  assert.deepEqual(wide.architecture, { preset: "allcnnc", width: 0.25 });
  assert.throws(
    () =>
      validateConfig(
        { ...BASE, architecture: [{ type: "flatten" }, { type: "Dense", units: 10 }] },
        "cfg.json",
        checks,
      ),
    /^Error: cfg\.json: architecture, layer 1: field 'type' is "Dense", which is not a registered layer type/,
  );
  assert.throws(
    () =>
      validateConfig(
        { ...BASE, architecture: { preset: "allcnnc", width: -1 } },
        "cfg.json",
        checks,
      ),
    /cfg\.json: architecture: 'width' must be a number > 0, got -1/,
  );
  assert.throws(
    () => validateConfig({ ...BASE, architecture: INLINE, dropout: true }, "cfg.json", checks),
    /cfg\.json: 'dropout' and 'dropoutOverrides' apply to presets; an inline architecture places its own dropout layers/,
  );
  assert.throws(
    () => validateConfig({ ...BASE, architecture: 7 }, "cfg.json", checks),
    /cfg\.json: field 'architecture' must be string or array or object, got 7/,
  );
});

async function sweep(
  architecture: unknown,
): Promise<{ manifest: ExperimentManifest; record: RunRecord; page: string }> {
  const config = validateConfig({ ...BASE, architecture }, "test", checks);
  const dir = await Deno.makeTempDir();
  try {
    await runSweep({
      config,
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await prepareData(config),
    });
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    const record = JSON.parse(await Deno.readTextFile(`${dir}/runs/plain__lr0.01__run0.json`));
    const page = await Deno.readTextFile(await writeExperimentReport(dir));
    return { manifest, record, page };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("records, manifests and pages show an inline or optioned architecture's resolved layers", async () => {
  const inline = await sweep(INLINE);
  const name = architectureName(INLINE);
  assert.equal(inline.record.config.architecture, name);
  assert.deepEqual(inline.record.config.layers, INLINE);
  assert.equal(inline.record.parameters, 784 * 32 + 32 + 32 * 10 + 10);
  assert.equal(inline.manifest.architecture, name);
  assert.deepEqual(inline.manifest.layers, INLINE);
  assert.ok(
    inline.page.includes(
      `<dt>resolved layers</dt><dd>flatten() → dense(units=32) → act(op=relu) → dense(units=10, init=xavier)</dd>`,
    ),
  );

  const wide = await sweep({ preset: "shiftlab-small", width: 0.5 });
  assert.equal(wide.record.config.architecture, "shiftlab-small(width=0.5)");
  assert.equal(wide.manifest.architecture, "shiftlab-small(width=0.5)");
  const filters = wide.record.config.layers!.flatMap((l) => (l.type === "conv" ? [l.filters] : []));
  assert.deepEqual(filters, [8, 16]);
  assert.ok(wide.page.includes("conv(filters=8, kernel=3, stride=2, pad=1, init=he)"));

  // A preset named by a string keeps the record as it was: the name, no layer list.
  const preset = await sweep("shiftlab-small");
  assert.equal(preset.record.config.architecture, "shiftlab-small");
  assert.equal(preset.record.config.layers, undefined);
  assert.equal(preset.manifest.layers, undefined);
  assert.ok(!preset.page.includes("resolved layers"));
});
