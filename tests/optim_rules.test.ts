import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { Param, type ParamKind } from "../src/param.ts";
import { Optimizer, type OptimizerConfig } from "../src/optim.ts";
import { Tensor } from "../src/tensor.ts";

function param(
  name: string,
  values: number[],
  kind: ParamKind = "weight",
  opts: { lrMult?: number; decay?: boolean } = {},
): Param {
  return new Param(name, Tensor.from(tsBackend, [values.length], values, "float64"), kind, opts);
}

function setGrad(p: Param, g: number[]): void {
  tsBackend.upload(p.grad.buf, g);
}

function values(p: Param): number[] {
  return Array.from(p.value.toArray());
}

function close(actual: number[], expected: number[], tol = 1e-12, what = ""): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  actual.forEach((a, i) => {
    assert.ok(
      Math.abs(a - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: got ${a}, expected ${expected[i]}`,
    );
  });
}

Deno.test("sgd: theta -= lr * g", () => {
  const p = param("w", [1, 2, 3]);
  setGrad(p, [0.5, -1, 2]);
  const opt = new Optimizer([p], { kind: "sgd", lr: 0.1 });
  opt.step();
  close(values(p), [0.95, 2.1, 2.8]);
});

Deno.test("momentum under a constant gradient steps -lr g, -(1+mu) lr g, -(1+mu+mu^2) lr g", () => {
  const g = [1, -2];
  const lr = 0.1, mu = 0.9;
  const p = param("w", [0, 0]);
  setGrad(p, g);
  const opt = new Optimizer([p], { kind: "momentum", lr, momentum: mu });
  let prev = values(p);
  const factors = [1, 1 + mu, 1 + mu + mu * mu];
  for (const f of factors) {
    opt.step();
    const now = values(p);
    close(now.map((v, i) => v - prev[i]), g.map((gi) => -f * lr * gi), 1e-12, `step x${f}`);
    prev = now;
  }
});

Deno.test("nesterov: first step is -(1+mu) lr g, second -(1+mu+mu^2) lr g", () => {
  const g = [2, -1];
  const lr = 0.05, mu = 0.9;
  const p = param("w", [0, 0]);
  setGrad(p, g);
  const opt = new Optimizer([p], { kind: "nesterov", lr, momentum: mu });
  opt.step();
  close(values(p), g.map((gi) => -(1 + mu) * lr * gi), 1e-12, "first step");
  opt.step();
  // v2 = -(1+mu) lr g; step2 = mu v2 - lr g = -(1 + mu + mu^2) lr g
  close(values(p), g.map((gi) => -(1 + mu + (1 + mu + mu * mu)) * lr * gi), 1e-12, "two steps");
});

Deno.test("adam: the first step is about lr * sign(g), whatever the gradient's size", () => {
  const g = [3, -0.5, 1e-3, -200];
  const lr = 0.01;
  const p = param("w", [0, 0, 0, 0]);
  setGrad(p, g);
  const opt = new Optimizer([p], { kind: "adam", lr });
  opt.step();
  close(values(p), g.map((gi) => -lr * Math.sign(gi)), 1e-4, "adam step");
  assert.equal(opt.stepCount, 1);
});

Deno.test("adamw decays weights but not biases; adam with weight decay uses L2", () => {
  const lr = 0.1, wd = 0.01;
  const w = param("w", [2, -4]);
  const b = param("b", [2, -4], "bias");
  const opt = new Optimizer([w, b], { kind: "adamw", lr, weightDecay: wd });
  opt.step(); // zero gradients: only decoupled decay moves anything
  close(values(w), [2 - lr * wd * 2, -4 + lr * wd * 4], 1e-12, "weight");
  assert.deepEqual(values(b), [2, -4], "bias must not decay");

  const w2 = param("w", [2, -4]);
  const l2 = new Optimizer([w2], { kind: "adam", lr, weightDecay: wd });
  l2.step(); // L2: gradient wd*theta, so adam's first step is lr * sign(theta)
  close(values(w2), [2 - lr, -4 + lr], 1e-5, "adam L2");
});

Deno.test("L2 weight decay adds wd * theta to weights' gradients only", () => {
  const lr = 0.1, wd = 0.5;
  const w = param("w", [1, -2]);
  const b = param("b", [1, -2], "bias");
  const sh = param("s", [1, -2], "shift");
  const sc = param("c", [1, -2], "scale");
  const bn = param("g", [1, -2], "bn");
  const all = [w, b, sh, sc, bn];
  for (const p of all) setGrad(p, [0.2, 0.2]);
  new Optimizer(all, { kind: "sgd", lr, weightDecay: wd }).step();
  close(values(w), [1 - lr * (0.2 + wd * 1), -2 - lr * (0.2 + wd * -2)], 1e-12, "weight");
  for (const p of [b, sh, sc, bn]) {
    close(values(p), [1 - lr * 0.2, -2 - lr * 0.2], 1e-12, `${p.kind} (no decay by default)`);
  }
  // opting in works
  const b2 = param("b2", [1], "bias", { decay: true });
  setGrad(b2, [0]);
  new Optimizer([b2], { kind: "momentum", lr, weightDecay: wd }).step();
  close(values(b2), [1 - lr * wd], 1e-12, "bias with decay: true");
});

Deno.test("learning-rate multipliers scale each parameter's step; 0 freezes it", () => {
  const a = param("a", [0]);
  const b = param("b", [0], "shift", { lrMult: 4 });
  const c = param("c", [0], "bias", { lrMult: 0 });
  for (const p of [a, b, c]) setGrad(p, [1]);
  for (const kind of ["sgd", "momentum", "adam"] as const) {
    for (const p of [a, b, c]) tsBackend.fill(p.value.buf, 0);
    new Optimizer([a, b, c], { kind, lr: 0.01 }).step();
    const da = values(a)[0], db = values(b)[0];
    assert.ok(da < 0, `${kind}: a moved`);
    close([db], [4 * da], 1e-12, `${kind}: lrMult 4`);
    assert.equal(values(c)[0], 0, `${kind}: lrMult 0 must not move`);
  }
});

Deno.test("the learning rate can be changed between steps and is validated", () => {
  const p = param("w", [0]);
  setGrad(p, [1]);
  const opt = new Optimizer([p], { kind: "sgd", lr: 0.1 });
  opt.step();
  opt.lr = 0.01;
  opt.step();
  close(values(p), [-0.11]);
  assert.throws(() => (opt.lr = -1), /learning rate \(lr\) must be .* got -1/);
});

function cloneParam(p: Param): Param {
  return new Param(p.name, p.value.clone(), p.kind, { lrMult: p.lrMult, decay: p.decay });
}

for (const kind of ["momentum", "nesterov", "adam", "adamw"] as const) {
  Deno.test(`${kind}: state save -> restore -> identical continuation`, () => {
    const cfg: OptimizerConfig = { kind, lr: 0.01, weightDecay: 0.1 };
    const ps = [param("w", [0.5, -1, 2]), param("b", [0.1, 0.2], "bias")];
    const grads = (t: number) => [
      [Math.sin(t), Math.cos(t), t * 0.1],
      [1 / (t + 1), -t],
    ];
    const a = new Optimizer(ps, cfg);
    for (let t = 0; t < 3; t++) {
      ps.forEach((p, i) => setGrad(p, grads(t)[i]));
      a.step();
    }
    const saved = a.stateDict();
    assert.equal(saved.step, 3);
    const slots = kind.startsWith("adam") ? ["m", "v"] : ["velocity"];
    for (const s of slots) assert.ok(saved[`w.${s}`] instanceof Float64Array, `slot w.${s}`);

    const qs = ps.map(cloneParam);
    const b = new Optimizer(qs, cfg);
    b.loadStateDict(saved);
    for (let t = 3; t < 6; t++) {
      ps.forEach((p, i) => setGrad(p, grads(t)[i]));
      qs.forEach((p, i) => setGrad(p, grads(t)[i]));
      a.step();
      b.step();
    }
    ps.forEach((p, i) => assert.deepEqual(values(qs[i]), values(p), `param ${p.name}`));
    // without the state, the continuation differs
    const rs = qs.map(cloneParam);
    const c = new Optimizer(rs, cfg);
    rs.forEach((p, i) => setGrad(p, grads(0)[i]));
    c.step();
    qs.forEach((p, i) => setGrad(p, grads(0)[i]));
    b.step();
    assert.notDeepEqual(values(rs[0]), values(qs[0]), "fresh state must differ");
  });
}

Deno.test("bad configs and bad state throw, naming what was wrong", () => {
  const p = param("w", [0, 0]);
  assert.throws(() => new Optimizer([p], { kind: "sgd", lr: -0.1 }), /lr\) must be .* got -0.1/);
  assert.throws(() => new Optimizer([p], { kind: "sgd", lr: NaN }), /lr/);
  assert.throws(
    () => new Optimizer([p], { kind: "rmsprop" as "sgd", lr: 0.1 }),
    /unknown kind 'rmsprop', expected one of sgd, momentum, nesterov, adam, adamw/,
  );
  assert.throws(
    () => new Optimizer([p], { kind: "momentum", lr: 0.1, momentum: 1 }),
    /momentum must be .*\[0, 1\).* got 1/,
  );
  assert.throws(() => new Optimizer([p], { kind: "adam", lr: 0.1, eps: 0 }), /eps/);
  assert.throws(
    () => new Optimizer([p], { kind: "sgd", lr: 0.1, weightDecay: -1 }),
    /weightDecay/,
  );
  assert.throws(() => new Optimizer([p, param("w", [1])], { kind: "sgd", lr: 1 }), /duplicate/);
  const opt = new Optimizer([p], { kind: "momentum", lr: 0.1 });
  assert.throws(
    () => opt.loadStateDict({ step: 1, "w.velocity": new Float64Array(3) }),
    /'w.velocity' needs 2 values .* got 3 values/,
  );
  assert.throws(
    () => opt.loadStateDict({ step: 1, "x.velocity": new Float64Array(2) }),
    /unexpected key 'x.velocity'/,
  );
  assert.throws(() => opt.loadStateDict({ step: -1 }), /'step' must be a non-negative integer/);
});

Deno.test("agc: a unit whose gradient norm exceeds λ·max(‖W_i‖, 1e-3) is clipped to it, others kept", () => {
  // Weight [4 units, 3 fan-in] and its gradient, unit by unit:
  const w = [
    [3, 4, 0], //        ‖W‖ = 5,    λ‖W‖ = 0.5;  ‖G‖ = 2   → clipped to 0.5
    [1, 0, 0], //        ‖W‖ = 1,    λ‖W‖ = 0.1;  ‖G‖ = 0.05 → kept
    [0, 0, 0], //        ‖W‖ = 0,    λ·1e-3 = 1e-4; ‖G‖ = 1 → clipped to 1e-4
    [0, 2, 0], //        ‖W‖ = 2,    λ‖W‖ = 0.2;  ‖G‖ = 0.2 → kept (not above)
  ];
  const g = [[0, 0, 2], [0.03, 0.04, 0], [0.6, 0, 0.8], [0.12, 0.16, 0]];
  const p = new Param(
    "w",
    Tensor.from(tsBackend, [4, 3], w.flat(), "float64"),
    "weight",
  );
  tsBackend.upload(p.grad.buf, g.flat());
  new Optimizer([p], { kind: "sgd", lr: 1, agc: 0.1 }).step();
  // The gradient is clipped in place before the update (which used it: W - G).
  const clipped = Array.from(p.grad.toArray());
  const unit = (i: number) => clipped.slice(3 * i, 3 * i + 3);
  close(Array.from(p.value.toArray()), w.flat().map((v, i) => v - clipped[i]), 0, "update");
  close(unit(0), [0, 0, 0.5], 1e-15, "unit 0");
  assert.deepEqual(unit(1), g[1], "unit 1 untouched");
  close(unit(2), [0.6e-4, 0, 0.8e-4], 1e-12, "unit 2 (norm floor 1e-3)");
  assert.deepEqual(unit(3), g[3], "unit 3 at the limit: untouched");
});

Deno.test("agc: only parameters with the agc flag; conv/dense weights but the classifier's", async () => {
  const weight = param("w", [1, 0], "weight");
  const bias = param("b", [1, 0], "bias");
  const off = param("c", [1, 0], "weight", {});
  off.agc = false;
  for (const p of [weight, bias, off]) setGrad(p, [0, 10]);
  new Optimizer([weight, bias, off], { kind: "sgd", lr: 1, agc: 0.01 }).step();
  // A [2] weight has 2 units of one value each: unit 1 has ‖W‖ = 0, so its limit is 1e-5.
  close(values(weight), [1, -1e-5], 1e-12, "weight clipped");
  assert.deepEqual(values(bias), [1, -10], "biases are not clipped");
  assert.deepEqual(values(off), [1, -10], "agc: false is not clipped");
  assert.equal(param("s", [1], "scale").agc, false);
  assert.equal(param("g", [1], "gain").agc, false);
  // The variant builder exempts the classifier, the last conv/dense weight.
  const { buildNetwork } = await import("../src/variants.ts");
  const { architecture } = await import("../src/architectures.ts");
  const arch = architecture("shiftlab-small", { inputShape: [1, 8, 8], classes: 3 });
  const m = buildNetwork(arch, "ws", { backend: tsBackend, seed: 1 });
  assert.deepEqual(
    m.params().filter((p) => p.agc).map((p) => p.name),
    ["0_conv2d.weight", "2_conv2d.weight", "5_dense.weight"],
  );
  m.dispose();
  assert.throws(
    () => new Optimizer([weight], { kind: "sgd", lr: 1, agc: -1 }),
    /optimizer: agc must be a number in \[0, Infinity\), got -1/,
  );
});
