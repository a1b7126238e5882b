/**
 * Every layer on each native backend that loads here (`cpu`, `cuda`; float32) against the ts
 * reference in float64 (every registered layer on its registry example, then more cases): same parameters, input and upstream gradient; outputs, input
 * gradients, parameter gradients and batch-norm running statistics must agree to float32
 * precision, and dropout masks exactly. Backends that do not load are reported as ignored.
 */
import assert from "node:assert/strict";
import type { Backend, DType } from "../src/backend.ts";
import { tsBackend } from "../src/backends/ts.ts";
import { tryNative } from "../src/backends/select.ts";
import { buildLayer, LAYERS, type LayerSpec } from "../src/layers/registry.ts";
import type { ForwardContext } from "../src/layers/layer.ts";
import { Rng, Streams } from "../src/rng.ts";
import { shapeSize, Tensor } from "../src/tensor.ts";
import { distinctValues, randomNormal } from "./gradcheck.ts";

const train: ForwardContext = { training: true, seed: 21, step: 6 };

interface Case {
  name: string;
  spec: LayerSpec;
  shape: number[];
  input?: (n: number) => Float64Array;
  ctx?: ForwardContext;
}

const distinct = (n: number) => distinctValues(n, 8, 0.1);

const cases: Case[] = [
  // Every registered layer on its registry example (inputs without ties, away from 0).
  ...LAYERS.map((d) => ({
    name: `${d.type} (registry example)`,
    spec: d.example.spec as LayerSpec,
    shape: [4, ...d.example.inputShape],
    input: distinct,
  })),
  { name: "Dense", spec: { type: "dense", units: 7 }, shape: [5, 9] },
  {
    name: "Conv2d 3x3/2 p0",
    spec: { type: "conv", filters: 4, kernel: 3, stride: 2 },
    shape: [3, 3, 9, 9],
  },
  {
    name: "Conv2d 3x3/1 p1",
    spec: { type: "conv", filters: 5, kernel: 3, pad: 1 },
    shape: [2, 3, 6, 7],
  },
  { name: "Conv2d 1x1", spec: { type: "conv", filters: 6, kernel: 1 }, shape: [2, 4, 5, 5] },
  {
    name: "MaxPool2d",
    spec: { type: "maxpool", kernel: 3, stride: 2, pad: 1 },
    shape: [2, 3, 7, 7],
    input: (n) => distinctValues(n, 3),
  },
  { name: "AvgPool2d", spec: { type: "avgpool", kernel: 2 }, shape: [2, 3, 6, 6] },
  { name: "GlobalAvgPool2d", spec: { type: "gap" }, shape: [2, 5, 3, 4] },
  { name: "Flatten", spec: { type: "flatten" }, shape: [2, 3, 2, 2] },
  ...(["relu", "leaky_relu", "sigmoid", "tanh", "softplus"] as const).map((op) => ({
    name: op,
    spec: { type: "act", op } as const,
    shape: [3, 4, 5],
    input: (n: number) => distinctValues(n, 5, 0.1),
  })),
  { name: "Dropout", spec: { type: "dropout", p: 0.3 }, shape: [4, 50] },
  { name: "SpatialDropout", spec: { type: "spatial_dropout", p: 0.5 }, shape: [4, 8, 3, 3] },
  { name: "BatchNorm [F]", spec: { type: "batchnorm" }, shape: [8, 6] },
  { name: "BatchNorm [C,H,W]", spec: { type: "batchnorm" }, shape: [4, 3, 5, 5] },
  {
    name: "BatchNorm eval",
    spec: { type: "batchnorm" },
    shape: [4, 3, 2, 2],
    ctx: { training: false, seed: 1, step: 0 },
  },
  {
    name: "Shift channelwise",
    spec: { type: "shift", sharing: "channelwise" },
    shape: [3, 4, 2, 2],
  },
  { name: "Shift elementwise", spec: { type: "shift", sharing: "elementwise" }, shape: [3, 10] },
  { name: "Scale layerwise", spec: { type: "scale", sharing: "layerwise" }, shape: [3, 4, 2, 2] },
  {
    name: "Scale proportional",
    spec: { type: "scale", sharing: "channelwise", proportional: true },
    shape: [3, 4, 2, 2],
  },
  {
    name: "KWinners",
    spec: { type: "kwinners", k: 4 },
    shape: [3, 12],
    input: (n) => distinctValues(n, 8),
  },
  // The later methods (SPEC §1b), composed of the ops above.
  { name: "GroupNorm 16 channels", spec: { type: "groupnorm" }, shape: [3, 16, 3, 3] },
  { name: "GroupNorm gcd(12, 8)", spec: { type: "groupnorm" }, shape: [2, 12, 2, 2] },
  { name: "LayerNorm [C,H,W]", spec: { type: "layernorm" }, shape: [3, 4, 3, 3] },
  {
    name: "Conv2d ws",
    spec: { type: "conv", filters: 5, kernel: 3, pad: 1, ws: true },
    shape: [2, 3, 6, 6],
  },
  { name: "Dense ws", spec: { type: "dense", units: 6, ws: true }, shape: [4, 9] },
  {
    name: "ReLU gain",
    spec: { type: "act", op: "relu", gain: 1.7139588594436646 },
    shape: [3, 4, 5],
    input: (n: number) => distinctValues(n, 5, 0.1),
  },
  {
    name: "Residual, BN in both paths",
    spec: {
      type: "residual",
      branch: [
        { type: "conv", filters: 4, kernel: 3, pad: 1, stride: 2 },
        { type: "batchnorm" },
        { type: "act", op: "tanh" },
        { type: "conv", filters: 4, kernel: 3, pad: 1 },
        { type: "scale", sharing: "layerwise", init: 0 },
      ],
      shortcut: [{ type: "conv", filters: 4, kernel: 1, stride: 2 }, { type: "batchnorm" }],
    },
    shape: [3, 2, 6, 6],
  },
];

function runOn(backend: Backend, dtype: DType, c: Case) {
  const layer = buildLayer(c.spec);
  layer.name = "4_layer";
  layer.build(c.shape.slice(1), { backend, dtype, rng: new Rng(2, Streams.init) });
  // Move parameters off their initial values, identically on both backends.
  layer.params().forEach((p, k) => {
    backend.upload(p.value.buf, randomNormal(p.value.size, 50 + k, 0.5).map((v) => v + 1));
  });
  const n = shapeSize(c.shape);
  const x = Tensor.from(backend, c.shape, c.input ? c.input(n) : randomNormal(n, 1), dtype);
  const ctx = c.ctx ?? train;
  const y = layer.forward(x, ctx);
  const dy = Tensor.from(backend, y.shape, randomNormal(y.size, 2), dtype);
  const dx = layer.backward(dy);
  const out = {
    y: y.toArray(),
    dx: dx.toArray(),
    grads: layer.params().map((p) => p.grad.toArray()),
    buffers: Object.values(layer.buffers()).map((t) => t.toArray()),
  };
  for (const t of [x, y, dy, dx]) t.dispose();
  layer.dispose();
  return out;
}

function near(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= 2e-5 * (scale + 1), `${what} at ${i}: ${got[i]} vs ${want[i]}`);
  }
}

for (const kind of ["cpu", "cuda"] as const) {
  const b = tryNative(kind);
  Deno.test({
    name: `layers on the ${kind} backend match ts${typeof b === "string" ? ` (${b})` : ""}`,
    ignore: typeof b === "string",
    fn() {
      const backend = b as Backend;
      for (const c of cases) {
        const ref = runOn(tsBackend, "float64", c);
        const got = runOn(backend, "float32", c);
        near(got.y, ref.y, `${c.name} output`);
        near(got.dx, ref.dx, `${c.name} dx`);
        got.grads.forEach((g, k) => near(g, ref.grads[k], `${c.name} grad ${k}`));
        got.buffers.forEach((g, k) => near(g, ref.buffers[k], `${c.name} buffer ${k}`));
        if (c.spec.type.includes("dropout")) {
          assert.deepEqual(
            [...got.y].map((v) => v === 0),
            [...ref.y].map((v) => v === 0),
            `${c.name}: masks differ between backends`,
          );
        }
      }
    },
  });
}
