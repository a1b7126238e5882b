/**
 * Argument and shape checks live once, in `ops.ts`: every bad call below throws an error that
 * names the op, what was wrong and what was expected, and no backend op runs before it (a spy
 * backend records every call past allocation).
 */
import assert from "node:assert/strict";
import type {
  ActivationOp,
  Backend,
  BinaryOp,
  ReduceOp,
  UnaryOp,
  UpdateRule,
} from "../src/backend.ts";
import { tsBackend } from "../src/backends/ts.ts";
import * as ops from "../src/ops.ts";
import { Tensor } from "../src/tensor.ts";

/** Backend methods that only manage memory or answer a size: allowed before the checks. */
const MEMORY = new Set([
  "alloc",
  "free",
  "upload",
  "download",
  "fill",
  "copy",
  "supports",
  "conv2dColumns",
]);

/** The ts backend, recording every compute call. */
function spy(): { backend: Backend; calls: string[] } {
  const calls: string[] = [];
  const backend = new Proxy(tsBackend, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (!MEMORY.has(String(key))) calls.push(String(key));
        return v.apply(target, args);
      };
    },
  });
  return { backend, calls };
}

function t(be: Backend, shape: number[], value = 0.5): Tensor {
  return Tensor.full(be, shape, value, "float64");
}

/** Asserts `fn` throws matching `re` and that no compute op ran. */
function rejects(calls: string[], fn: () => unknown, re: RegExp): void {
  calls.length = 0;
  assert.throws(fn, re);
  assert.deepEqual(calls, [], `a backend op ran before the check (${re})`);
}

Deno.test("ops checks: convolution geometry, weight, bias and gradient shapes", () => {
  const { backend: be, calls } = spy();
  const x = t(be, [2, 3, 5, 5]), w = t(be, [4, 3, 3, 3]), b = t(be, [4]);
  const g = ops.window2d(x.shape, [3, 3], [1, 1], [0, 0]);
  rejects(
    calls,
    () => ops.conv2d(x, t(be, [4, 3, 7, 7]), b, { ...g, kh: 7, kw: 7 }),
    /conv2d: window 7x7 does not fit input 5x5 \(padding 0,0\)/,
  );
  rejects(
    calls,
    () => ops.conv2d(x, t(be, [4, 2, 3, 3]), b, g),
    /conv2d: weight must be \[4, 3, 3, 3\], got \[4, 2, 3, 3\]/,
  );
  rejects(calls, () => ops.conv2d(x, w, t(be, [5]), g), /conv2d: bias must be \[4\], got \[5\]/);
  rejects(calls, () => ops.conv2d(x, w, b, { ...g, sh: 0 }), /kernel and stride must be positive/);
  rejects(
    calls,
    () => ops.conv2d(x, w, b, { ...g, ph: -1 }),
    /conv2d: window ph must be a non-negative integer, got -1/,
  );
  rejects(calls, () => ops.conv2d(x, w, b, { ...g, h: 6 }), /input must be \[2, 3, 6, 5\]/);
  const dw = t(be, [4, 3, 3, 3]);
  rejects(
    calls,
    () => ops.conv2dBackward(x, w, t(be, [2, 4, 2, 3]), g, dw, null, true),
    /conv2dBackward: dy must be \[2, 4, 3, 3\], got \[2, 4, 2, 3\]/,
  );
  rejects(
    calls,
    () => ops.conv2dBackward(x, w, t(be, [2, 4, 3, 3]), g, t(be, [4, 27]), null, true),
    /weight gradient must be \[4, 3, 3, 3\]/,
  );
  // a column cache must have the size the backend asks for (2 images x 9 pixels x 27 taps)
  assert.equal(be.conv2dColumns(g, 4), 486);
  rejects(
    calls,
    () => ops.conv2d(x, w, b, g, t(be, [485])),
    /conv2d: column cache of 485 elements, expected 486/,
  );
  rejects(
    calls,
    () => ops.conv2dBackward(x, w, t(be, [2, 4, 3, 3]), g, dw, null, true, t(be, [500])),
    /conv2dBackward: column cache of 500 elements, expected 486/,
  );
  // and a valid call runs, with a cache or without
  calls.length = 0;
  ops.conv2d(x, w, b, g).dispose();
  assert.deepEqual(calls.slice(0, 1), ["conv2dForward"]);
  const cols = t(be, [486]);
  ops.conv2d(x, w, b, g, cols).dispose();
  ops.conv2dBackward(x, w, t(be, [2, 4, 3, 3]), g, dw, null, true, cols)!.dispose();
});

Deno.test("ops checks: pooling, batch norm, masks, scale backward", () => {
  const { backend: be, calls } = spy();
  const x = t(be, [2, 3, 4, 4]);
  const g = ops.window2d(x.shape, [2, 2], [2, 2], [0, 0]);
  rejects(calls, () => ops.maxPool2d(x, { ...g, c: 4 }), /maxPool2d: input must be \[2, 4, 4, 4\]/);
  rejects(
    calls,
    () => ops.maxPool2dBackward(t(be, [2, 3, 3, 3]), t(be, [2, 3, 2, 2]), g),
    /maxPool2dBackward: dy must hold \[2, 3, 2, 2\] \(24 elements\), got \[2, 3, 3, 3\]/,
  );
  rejects(calls, () => ops.avgPool2d(x, g, t(be, [2, 3])), /avgPool2d: output must hold/);
  const c3 = t(be, [3]);
  rejects(
    calls,
    () => ops.batchNorm(x, t(be, [4]), c3, c3, c3, { training: true, momentum: 0.1, eps: 1e-5 }),
    /batchNorm: per-channel tensor must be \[3\], got \[4\]/,
  );
  rejects(
    calls,
    () => ops.batchNorm(x, c3, c3, c3, c3, { training: true, momentum: 2, eps: 1e-5 }),
    /batchNorm: momentum must be in \[0, 1\], got 2/,
  );
  rejects(
    calls,
    () => ops.batchNorm(x, c3, c3, c3, c3, { training: false, momentum: 0.1, eps: 0 }),
    /batchNorm: eps must be a finite number > 0, got 0/,
  );
  const key = { seed: 1, stream: 3, counter: 0 };
  rejects(
    calls,
    () => ops.dropoutMask(be, [2, 3], "float64", 1, false, key),
    /dropoutMask: dropout p must be in \[0, 1\), got 1/,
  );
  rejects(
    calls,
    () => ops.dropoutMask(be, [2, 3], "float64", 0.5, false, { ...key, counter: -1 }),
    /counter must be a non-negative safe integer, got -1/,
  );
  rejects(calls, () => ops.topkMask(t(be, [2, 5]), 6), /topkMask: k=6 outside \[0, 5\]/);
  const x23 = t(be, [2, 3]);
  rejects(
    calls,
    () => ops.scaleBackward(t(be, [2, 4]), x23, t(be, [3])),
    /scaleBackward: dy must be \[2, 3\], got \[2, 4\]/,
  );
  rejects(
    calls,
    () => ops.scaleBackward(x23, x23, t(be, [4])),
    /scaleBackward: shapes \[2, 3\] and \[4\] do not broadcast/,
  );
  rejects(
    calls,
    () => ops.scaleBackward(x23, x23, t(be, [2, 1, 3])),
    /scaleBackward: w \[2, 1, 3\] broadcasts x \[2, 3\] to a larger shape/,
  );
});

Deno.test("ops checks: the loss, the optimizer update and op names", () => {
  const { backend: be, calls } = spy();
  const logits = t(be, [2, 3]);
  rejects(
    calls,
    () => ops.softmaxCrossEntropy(t(be, [2, 3, 1]), t(be, [2])),
    /softmaxCrossEntropy: logits must be \[N, K\] with N, K >= 1, got \[2, 3, 1\]/,
  );
  rejects(
    calls,
    () => ops.softmaxCrossEntropy(logits, t(be, [3])),
    /labels must be \[2\] for logits \[2, 3\], got \[3\]/,
  );
  const labels = Tensor.from(be, [2], [0, 3], "float64");
  rejects(
    calls,
    () => ops.softmaxCrossEntropy(logits, labels),
    /label 3 of sample 1 is not a class index in \[0, 3\)/,
  );
  const p = t(be, [10]), grad = t(be, [10]);
  const momentum: UpdateRule = {
    kind: "momentum",
    lr: 0.1,
    momentum: 0.9,
    nesterov: false,
    weightDecay: 0,
  };
  rejects(calls, () => ops.applyUpdate(momentum, p, grad, []), /momentum needs 1 state slot/);
  rejects(
    calls,
    () => ops.applyUpdate(momentum, p, grad, [t(be, [9])]),
    /state slot \[9\] vs parameter \[10\]/,
  );
  const adam: UpdateRule = {
    kind: "adam",
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    step: 0,
    weightDecay: 0,
    decoupled: false,
  };
  rejects(
    calls,
    () => ops.applyUpdate(adam, p, grad, [t(be, [10]), t(be, [10])]),
    /step must be >= 1, got 0/,
  );
  rejects(
    calls,
    () => ops.applyUpdate({ kind: "rmsprop" } as unknown as UpdateRule, p, grad, []),
    /unknown rule 'rmsprop' \(expected sgd, momentum or adam\)/,
  );
  rejects(
    calls,
    () => ops.binary("pow" as BinaryOp, p, p),
    /binary: unknown op 'pow' \(expected one of add/,
  );
  rejects(calls, () => ops.unary("clip" as UnaryOp, p), /unary: unknown op 'clip'/);
  rejects(
    calls,
    () => ops.reduce("min" as ReduceOp, p, [0]),
    /reduce: unknown op 'min' \(expected one of sum, mean, max\)/,
  );
  rejects(
    calls,
    () => ops.activationBackward("exp" as ActivationOp, p, p, p),
    /activationBackward: unknown op 'exp'/,
  );
});
