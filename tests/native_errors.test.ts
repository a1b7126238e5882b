/**
 * Errors and memory of the native cpu backend: shape mismatches throw in TypeScript naming
 * both shapes; failures inside C surface as exceptions with the C message, not a crash; many
 * alloc/free cycles keep the library's byte counter flat.
 */
import assert from "node:assert/strict";
import type { UnaryOp } from "../src/backend.ts";
import { NativeError } from "../src/backends/native.ts";
import { Tensor } from "../src/tensor.ts";
import * as ops from "../src/ops.ts";
import { tsBackend } from "../src/backends/ts.ts";
import { cpu, privateCpu, rand } from "./native_helpers.ts";

Deno.test("native errors: a broadcasting mismatch throws in ops naming both shapes, else in C", () => {
  const a = cpu.alloc(6, "float32"), b = cpu.alloc(6, "float32"), o = cpu.alloc(6, "float32");
  // called directly, the backend leaves the check to C
  assert.throws(
    () => cpu.binary("add", a, [2, 3], b, [3, 2], o, [2, 3]),
    /sl_binary: axis 0: sizes 3 and 2 do not broadcast to 2|do not broadcast/,
  );
  // the tensor ops check first, naming both shapes
  const x = Tensor.zeros(cpu, [2, 3]), y = Tensor.zeros(cpu, [4]);
  assert.throws(() => ops.add(x, y), /\[2, 3\].*\[4\]/);
  x.dispose();
  y.dispose();
  for (const buf of [a, b, o]) cpu.free(buf);
});

Deno.test("native errors: buffer lengths and ownership are guarded before any call", () => {
  const small = cpu.alloc(5, "float32"), big = cpu.alloc(100, "float32");
  assert.throws(
    () => cpu.gemm(false, false, 4, 4, 4, 1, small, 0, big, 0, 0, big, 0),
    /gemm A \(4x4\) needs 16 elements, buffer has 5/,
  );
  assert.throws(() => cpu.gemm(false, false, 2, 2, 2, 1, big, 97, big, 0, 0, big, 0), /needs 101/);
  assert.throws(() => cpu.upload(small, new Float32Array(4), 2), /needs 6 elements, buffer has 5/);
  assert.throws(() => cpu.download(small, 3, 3), /needs 6 elements/);
  assert.throws(() => cpu.copy(big, 0, small, 1, 5), /copy destination needs 6/);
  assert.throws(() => cpu.alloc(-1, "float32"), /sl_alloc: negative size -1/);
  assert.throws(() => cpu.alloc(3, "float64"), /only float32/);
  // the rest of an argument's validity is checked in ops.ts, or by C as here
  assert.throws(
    () =>
      cpu.im2col(big, { n: 1, c: 1, h: 2, w: 2, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 }, big),
    /sl_im2col: invalid window: input \[1, 1, 2, 2\], kernel 3x3/,
  );
  assert.throws(() => cpu.reduce("sum", big, [10, 10], [2], big), /axes mask 0x4 names an axis/);
  assert.throws(() => cpu.dropoutMask(big, 1, 1, 10, 1, false, 1, 1, 0), /\[0, 1\), got 1/);
  const foreign = tsBackend.alloc(5, "float32");
  assert.throws(() => cpu.fill(foreign, 1), /belongs to another backend/);
  cpu.free(small);
  assert.throws(() => cpu.fill(small, 1), /used after free/);
  cpu.free(big);
});

Deno.test("native errors: a C-side failure surfaces as an Error with the C message", () => {
  assert.throws(
    () => cpu.alloc(-5, "float32"),
    (e: Error) =>
      e instanceof NativeError && e.code === 1 &&
      e.message.includes("sl_alloc: negative size -5"),
  );
  const x = cpu.alloc(4, "float32"), o = cpu.alloc(4, "float32");
  assert.throws(() => cpu.unary("nope" as UnaryOp, x, o, 0), /sl_unary: unknown op code -1/);
  // labels are validated by the library
  const logits = cpu.alloc(6, "float32"), labels = cpu.alloc(2, "float32");
  cpu.upload(labels, [1, 7]);
  const probs = cpu.alloc(6, "float32"), losses = cpu.alloc(2, "float32");
  assert.throws(
    () => cpu.softmaxCrossEntropy(logits, labels, 2, 3, probs, losses),
    /SL_ERR_ARG\): label 7 of sample 1 outside \[0, 3\)/,
  );
  // an argmax index outside the plane is caught in C, not written out of bounds
  const g = { n: 1, c: 1, h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 };
  const am = cpu.alloc(1, "float32");
  cpu.upload(am, [1234]);
  assert.throws(() => cpu.maxPoolBackward(x, am, g, o), /argmax index 1234 outside the 2x2 plane/);
  // a column cache for a convolution that builds no columns (Winograd) is refused in C
  const wg = { n: 1, c: 2, h: 4, w: 4, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 };
  Deno.env.set("SHIFTLAB_CONV_ALGO", "winograd");
  try {
    assert.equal(cpu.conv2dColumns(wg, 2), 0);
    const cx = cpu.alloc(32, "float32"), cw = cpu.alloc(36, "float32");
    const cy = cpu.alloc(32, "float32"), cc = cpu.alloc(288, "float32");
    assert.throws(
      () => cpu.conv2dForward(cx, cw, null, wg, 2, cy, cc),
      /sl_conv2d_forward: a column cache was given for a convolution that does not use one/,
    );
    for (const b of [cx, cw, cy, cc]) cpu.free(b);
  } finally {
    Deno.env.delete("SHIFTLAB_CONV_ALGO");
  }
  // a scaling backward whose w does not broadcast is refused in C (ops.ts checks it first)
  const w3 = cpu.alloc(3, "float32"), dw3 = cpu.alloc(3, "float32");
  assert.throws(
    () => cpu.scaleBackward(x, o, [2, 2], w3, [1, 3], null, dw3),
    /sl_scale_backward: w's axis 1 has 3 entries \(expected 1 or 2\)/,
  );
  cpu.free(w3);
  cpu.free(dw3);
  // the library still works after the failures
  cpu.upload(x, [1, -2, 3, -4]);
  cpu.unary("relu", x, o, 0);
  assert.deepEqual([...cpu.download(o)], [1, 0, 3, 0]);
  for (const b of [x, o, logits, labels, probs, losses, am]) cpu.free(b);
});

Deno.test("native memory: freed blocks are cached, reused zero-filled, and counted", () => {
  const cpu = privateCpu();
  const n = 1_234_567; // a size class no other test uses
  const before = cpu.memoryInUse();
  const a = cpu.alloc(n, "float32");
  const held = cpu.memoryInUse() - before;
  assert.ok(held >= 4 * n && held <= 4 * n * 1.125 + 64, `held ${held} bytes for ${4 * n}`);
  cpu.fill(a, 7);
  cpu.free(a);
  assert.equal(cpu.memoryInUse() - before, held, "a freed block stays cached (live + cached)");
  const b = cpu.alloc(n, "float32");
  assert.equal(cpu.memoryInUse() - before, held, "the cached block is reused");
  const got = cpu.download(b);
  assert.ok(got.every((v) => v === 0), "a reused block is zero-filled again");
  cpu.free(b);
});

Deno.test("native memory: alloc/free cycles keep memoryInUse flat", () => {
  const cpu = privateCpu();
  const data = rand(4096, 5);
  const cycle = (i: number) => {
    const n = 1 + ((i * 7919) % 4096);
    const b = cpu.alloc(n, "float32");
    cpu.upload(b, data.subarray(0, n));
    const t = Tensor.from(cpu, [n], data.subarray(0, n));
    const u = ops.scale(t, 2);
    u.dispose();
    t.dispose();
    cpu.free(b);
  };
  for (let i = 0; i < 5000; i++) cycle(i); // warm-up: every size class seen once
  const before = cpu.memoryInUse();
  for (let i = 0; i < 5000; i++) cycle(i);
  assert.equal(cpu.memoryInUse(), before);
});
