/**
 * Finite-difference gradient checks (float64, central differences, relative error <= 1e-6)
 * for every layer: input gradient and every parameter gradient. Every registered layer type is
 * checked on its registry example (so a new registered layer is checked without editing this
 * file), and the cases below reach each layer's options and odd shapes.
 */
import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import * as layersModule from "../src/layers/mod.ts";
import * as publicApi from "../mod.ts";
import { buildLayer, LAYERS, type LayerSpec } from "../src/layers/registry.ts";
import {
  Activation,
  ACTIVATIONS,
  AvgPool2d,
  BatchNorm,
  Conv2d,
  Dense,
  Dropout,
  Flatten,
  GlobalAvgPool2d,
  GroupNorm,
  KWinners,
  LayerBase,
  LayerNorm,
  MaxPool2d,
  Scale,
  SHARINGS,
  Shift,
  SpatialDropout,
} from "../src/layers/mod.ts";
import type { ActivationOp } from "../src/backend.ts";
import { Tensor } from "../src/tensor.ts";
import { checkLayerGradients, distinctValues, gradCheck } from "./gradcheck.ts";
import { shapeSize } from "../src/tensor.ts";
import { Rng, Streams } from "../src/rng.ts";

const train = { training: true, seed: 11, step: 3 };

Deno.test("gradcheck: every registered layer, on its registry example", () => {
  assert.ok(LAYERS.length >= 13, `${LAYERS.length} registered layers`);
  for (const def of LAYERS) {
    const layer = buildLayer(def.example.spec as LayerSpec);
    layer.name = `2_${def.type}`;
    const shape = [4, ...def.example.inputShape];
    const res = checkLayerGradients(layer, shape, {
      ctx: train,
      input: distinctValues(shapeSize(shape), 17),
    });
    assert.equal(res.tensors.length, 1 + layer.params().length, `${def.type}: tensors checked`);
    layer.dispose();
  }
});

Deno.test("every concrete layer class the library exports is registered", () => {
  const bases: unknown[] = [
    LayerBase,
    layersModule.Pool2dBase,
    layersModule.DropoutBase,
    layersModule.PerSampleNorm,
  ];
  const classes = [...Object.entries(layersModule), ...Object.entries(publicApi)].filter(([, v]) =>
    typeof v === "function" && v.prototype instanceof LayerBase && !bases.includes(v)
  );
  assert.ok(classes.length >= 13, classes.map(([k]) => k).join(", "));
  const registered = new Set<unknown>(LAYERS.map((d) => d.layer));
  for (const [name, cls] of classes) assert.ok(registered.has(cls), `${name} is not registered`);
});

Deno.test("gradcheck: Dense, with and without bias, both inits", () => {
  checkLayerGradients(new Dense(4), [3, 5]);
  checkLayerGradients(new Dense(3, { bias: false, init: "xavier" }), [2, 6]);
});

Deno.test("gradcheck: Conv2d stride 2 pad 0, stride 1 pad 1, 1x1, odd sizes", () => {
  const cases: [Conv2d, number[]][] = [
    [new Conv2d(3, 3, { stride: 2, pad: 0 }), [2, 2, 7, 7]],
    [new Conv2d(2, 3, { stride: 1, pad: 1 }), [2, 3, 5, 5]],
    [new Conv2d(4, 1), [3, 3, 3, 5]],
    [new Conv2d(2, 2, { stride: 3, pad: 1, bias: false }), [1, 2, 7, 6]],
    [new Conv2d(3, 5, { pad: 2 }), [2, 1, 5, 3]],
  ];
  for (const [layer, shape] of cases) {
    const res = checkLayerGradients(layer, shape);
    assert.equal(res.tensors.length, layer.hasBias ? 3 : 2);
  }
});

Deno.test("gradcheck: MaxPool2d (no ties), AvgPool2d, GlobalAvgPool2d, Flatten", () => {
  const shapes: [number, number[], number?, number?][] = [
    [2, [2, 2, 4, 4]],
    [3, [1, 2, 7, 7], 2, 1],
    [2, [2, 1, 5, 5], 1],
  ];
  for (const [k, shape, s, p] of shapes) {
    checkLayerGradients(new MaxPool2d(k, s, p), shape, {
      input: distinctValues(shapeSize(shape), 5),
    });
    checkLayerGradients(new AvgPool2d(k, s, p), shape);
  }
  checkLayerGradients(new GlobalAvgPool2d(), [2, 3, 4, 5]);
  checkLayerGradients(new Flatten(), [2, 3, 2, 2]);
});

Deno.test("gradcheck: every activation", () => {
  for (const op of Object.keys(ACTIVATIONS) as ActivationOp[]) {
    const shape = [3, 2, 3, 3];
    // Inputs away from the kink at 0 for relu and leaky relu.
    checkLayerGradients(new Activation(op), shape, {
      input: distinctValues(shapeSize(shape), 9, 0.1),
    });
  }
});

Deno.test("gradcheck: Dropout and SpatialDropout with their (fixed) training mask", () => {
  for (const layer of [new Dropout(0.4), new SpatialDropout(0.5)]) {
    layer.name = `3_${layer.kind.toLowerCase()}`;
    checkLayerGradients(layer, [4, 3, 2, 2], { ctx: train });
  }
  checkLayerGradients(new SpatialDropout(0.3), [4, 6], { ctx: train });
  // The fixedMask hook.
  const d = new Dropout(0.5);
  const mask = Tensor.from(tsBackend, [2, 4], [2, 0, 2, 2, 0, 0, 2, 0], "float64");
  d.fixedMask = mask;
  const res = checkLayerGradients(d, [2, 4], { ctx: train });
  assert.equal(res.tensors[0].checked, 8);
  mask.dispose();
});

Deno.test("gradcheck: BatchNorm in training mode on [F] and [C,H,W], and in eval mode", () => {
  checkLayerGradients(new BatchNorm(), [5, 4], { ctx: train });
  checkLayerGradients(new BatchNorm({ eps: 1e-3 }), [3, 2, 3, 3], { ctx: train });
  checkLayerGradients(new BatchNorm(), [3, 2, 2, 3], {
    ctx: { training: false, seed: 1, step: 0 },
  });
});

Deno.test("gradcheck: Shift and Scale, every sharing mode, on [F] and [C,H,W]", () => {
  for (const sharing of SHARINGS) {
    for (const shape of [[3, 5], [2, 3, 2, 2]]) {
      checkLayerGradients(new Shift(sharing), shape);
      checkLayerGradients(new Scale(sharing), shape);
      checkLayerGradients(new Scale(sharing, { lrMult: 2 }), shape, { seed: 12 });
    }
  }
});

Deno.test("gradcheck: proportional Scale's gradient is dL/dw times sqrt(1e-12 + w²)", () => {
  for (const sharing of SHARINGS) {
    const layer = new Scale(sharing, { proportional: true });
    layer.build([2, 3, 3], { backend: tsBackend, dtype: "float64", rng: new Rng(1, Streams.init) });
    const w = layer.scale!.value;
    const wData = Array.from({ length: w.size }, (_, i) => (i % 2 ? -1 : 1) * (0.5 + 0.25 * i));
    tsBackend.upload(w.buf, wData);
    const x = Tensor.from(
      tsBackend,
      [2, 2, 3, 3],
      Array.from({ length: 36 }, (_, i) => Math.sin(i + 1)),
      "float64",
    );
    // Check only the input gradient with finite differences, then compare the parameter one
    // with the numeric derivative rescaled.
    const res = gradCheck(layer, x, { checkInput: true });
    const input = res.tensors[0];
    assert.ok(input.maxError <= 1e-6, `input error ${input.maxError}`);
    const scaleCheck = res.tensors[1];
    // The raw check must disagree (the gradient is rescaled) wherever |w| != 1.
    assert.ok(scaleCheck.maxError > 1e-2, "proportional gradient equals the plain one");
    // Recompute: analytic / sqrt(1e-12 + w^2) must equal the plain gradient.
    const plain = new Scale(sharing);
    plain.build([2, 3, 3], { backend: tsBackend, dtype: "float64", rng: new Rng(1, Streams.init) });
    tsBackend.upload(plain.scale!.value.buf, wData);
    const dy = Tensor.from(
      tsBackend,
      [2, 2, 3, 3],
      Array.from({ length: 36 }, (_, i) => Math.cos(i)),
      "float64",
    );
    for (const l of [layer, plain]) {
      l.scale!.zeroGrad();
      l.forward(x, train).dispose();
      l.backward(dy).dispose();
    }
    const gp = layer.scale!.grad.toArray();
    const g = plain.scale!.grad.toArray();
    for (let i = 0; i < g.length; i++) {
      const want = g[i] * Math.sqrt(1e-12 + wData[i] ** 2);
      assert.ok(Math.abs(gp[i] - want) <= 1e-12 * (1 + Math.abs(want)), `${gp[i]} vs ${want}`);
    }
    for (const t of [x, dy]) t.dispose();
    layer.dispose();
    plain.dispose();
  }
});

Deno.test("gradcheck: KWinners (inputs without ties)", () => {
  checkLayerGradients(new KWinners(3), [3, 8], { input: distinctValues(24, 4) });
  checkLayerGradients(new KWinners(5), [2, 2, 2, 3], { input: distinctValues(24, 6) });
});

Deno.test("gradcheck: LayerNorm on [F] and [C,H,W]; GroupNorm with 1, 2, C groups, gcd rule", () => {
  for (const shape of [[3, 5], [2, 3, 2, 2]]) {
    const res = checkLayerGradients(new LayerNorm(), shape);
    assert.equal(res.tensors.length, 3);
  }
  checkLayerGradients(new LayerNorm({ eps: 1e-3 }), [2, 7]);
  const cases: [GroupNorm, number[], number][] = [
    [new GroupNorm(1), [2, 4, 2, 3], 1],
    [new GroupNorm(2), [3, 4, 3, 3], 2],
    [new GroupNorm(8), [2, 6, 2, 2], 2], // gcd(6, 8) = 2
    [new GroupNorm(4), [2, 4, 3], 4], // one channel per group, [C, L] input
    [new GroupNorm(8), [3, 16], 8], // [F] input: features as channels
  ];
  for (const [layer, shape, groups] of cases) {
    checkLayerGradients(layer, shape);
    assert.equal(layer.effectiveGroups, groups, `${shape}`);
  }
});

Deno.test("gradcheck: weight-standardised Conv2d and Dense (weight, bias, gain)", () => {
  const conv = new Conv2d(3, 3, { pad: 1, ws: true });
  const res = checkLayerGradients(conv, [2, 2, 4, 4]);
  assert.deepEqual(res.tensors.map((t) => t.name), ["input", "weight", "bias", "gain"]);
  checkLayerGradients(new Conv2d(2, 1, { stride: 2, ws: true, bias: false }), [2, 3, 5, 5]);
  const dense = new Dense(4, { ws: true });
  assert.equal(checkLayerGradients(dense, [3, 6]).tensors.length, 4);
  checkLayerGradients(new Dense(2, { ws: true, init: "xavier", lrMult: 0 }), [2, 5]);
});

Deno.test("gradcheck: Activation with a gain, Scale with an initial value", () => {
  const shape = [2, 3, 4];
  for (const op of ["relu", "tanh", "sigmoid"] as const) {
    checkLayerGradients(new Activation(op, 1.7), shape, {
      input: distinctValues(shapeSize(shape), 3, 0.1),
    });
  }
  checkLayerGradients(new Scale("channelwise", { init: 0.1 }), [2, 3, 2, 2], {
    randomizeParams: false,
  });
});

Deno.test("gradcheck: Residual blocks, identity and projection shortcuts, BN in the branch", () => {
  const conv = (filters: number, kernel: number, stride = 1, pad = 0, bias = true): LayerSpec => ({
    type: "conv",
    filters,
    kernel,
    stride,
    pad,
    bias,
  });
  const blocks: [LayerSpec, number[]][] = [
    [{
      type: "residual",
      branch: [conv(3, 3, 1, 1), { type: "act", op: "tanh" }, conv(3, 3, 1, 1)],
    }, [2, 3, 4, 4]],
    [{
      type: "residual",
      // no conv bias before batch norm: its gradient is exactly 0
      branch: [
        conv(4, 3, 2, 1, false),
        { type: "batchnorm" },
        { type: "act", op: "softplus" },
      ],
      shortcut: [conv(4, 1, 2, 0, false), { type: "batchnorm" }],
    }, [3, 2, 5, 5]],
    [{
      type: "residual",
      branch: [{ type: "shift", sharing: "layerwise" }, { type: "scale", sharing: "channelwise" }],
    }, [2, 3, 2, 2]],
  ];
  for (const [spec, shape] of blocks) {
    const layer = buildLayer(spec);
    layer.name = "4_residual";
    const res = checkLayerGradients(layer, shape, { ctx: train });
    assert.equal(res.tensors.length, 1 + layer.params().length);
    assert.ok(layer.params().length > 0);
    layer.dispose();
  }
});
