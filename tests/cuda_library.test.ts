/**
 * The CUDA build of the native library (build/libshiftlab_cuda.so) beyond op parity (which
 * is the conformance suite's, tests/conformance.test.ts).
 *
 * Always: the library loads and either initialises a device or reports "no CUDA device"
 * cleanly, after which every other function fails with that message instead of crashing.
 * When a device answers: the C side's own buffer checks (every pointer must lie inside a live
 * allocation of the library) and a memory soak. Without a device those print one visible skip
 * line and pass.
 *
 * @module
 */
import assert from "node:assert/strict";
import { openLibrary, resolveLibrary } from "../ffi/library.ts";
import { NativeBackend } from "../src/backends/native.ts";
import type { Buf } from "../src/backend.ts";
import { Rng } from "../src/rng.ts";

const SL_ERR_DEVICE = 3;
const SL_ERR_ARG = 1;

type Probe =
  | { state: "nolib"; reason: string }
  | { state: "nodevice"; reason: string }
  | { state: "ok"; backend: NativeBackend };

function probe(): Probe {
  const r = resolveLibrary("cuda");
  if (!r.exists) {
    return {
      state: "nolib",
      reason: `${r.path} not built (no nvcc, or no device: deno task build --cuda)`,
    };
  }
  const lib = openLibrary("cuda");
  const st = lib.symbols.sl_init();
  if (st !== 0) return { state: "nodevice", reason: lib.lastError() };
  return { state: "ok", backend: new NativeBackend(lib, "cuda") };
}

const P = probe();

Deno.test("cuda library: loads; initialises a device or reports 'no CUDA device' cleanly", () => {
  if (P.state === "nolib") {
    console.log(`SKIP cuda library: ${P.reason}`);
    return;
  }
  const lib = openLibrary("cuda");
  const s = lib.symbols;
  assert.match(lib.buildInfo(), /^cuda: nvcc \d+\.\d+/);
  if (P.state === "ok") {
    assert.equal(s.sl_init(), 0);
    assert.ok(P.backend.device.length > 0, "sl_device_info names the GPU");
    return;
  }
  // no device: sl_init and every other function answer SL_ERR_DEVICE with the same message
  assert.equal(s.sl_init(), SL_ERR_DEVICE);
  assert.match(lib.lastError(), /^no CUDA device \(.+\)$/);
  const out = new BigUint64Array(1);
  assert.equal(s.sl_alloc(16n, out), SL_ERR_DEVICE);
  assert.match(lib.lastError(), /^no CUDA device/);
  assert.equal(s.sl_synchronize(), SL_ERR_DEVICE);
  assert.equal(s.sl_gemm(0, 0, 4n, 4n, 4n, 1, null, 0n, null, 0n, 0, null, 0n), SL_ERR_DEVICE);
  assert.match(lib.lastError(), /^no CUDA device/);
  assert.equal(s.sl_free(null), SL_ERR_DEVICE);
  const mem = new BigInt64Array(1);
  assert.equal(s.sl_memory_in_use(mem), SL_ERR_DEVICE);
  const info = new Uint8Array(256);
  assert.equal(s.sl_device_info(info, info.length), SL_ERR_DEVICE);
  const text = new TextDecoder().decode(info.subarray(0, info.indexOf(0)));
  assert.match(text, /^no CUDA device/);
  assert.throws(() => NativeBackend.open("cuda"), /no CUDA device/);
});

if (P.state !== "ok") {
  Deno.test("cuda library checks and soak", () => {
    console.log(`SKIP cuda library checks and soak: ${P.reason}`);
  });
} else {
  registerDeviceTests(P.backend);
}

function registerDeviceTests(cu: NativeBackend): void {
  const rng = new Rng(1234, 9);
  const rand = (n: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = 2 * rng.uniform() - 1;
    return a;
  };

  Deno.test("cuda: the C side checks buffers, op codes and sizes", () => {
    const lib = openLibrary("cuda");
    const s = lib.symbols;
    const b = cu.alloc(10, "float32") as unknown as { ptr: Deno.PointerObject };
    assert.equal(s.sl_fill(b.ptr, 11n, 1), SL_ERR_ARG);
    assert.match(lib.lastError(), /needs 11 elements, buffer has 10/);
    assert.equal(s.sl_unary(99, b.ptr, b.ptr, 10n, 0), SL_ERR_ARG);
    assert.match(lib.lastError(), /unknown op code 99/);
    assert.equal(s.sl_gemm(0, 0, -1n, 2n, 2n, 1, b.ptr, 0n, b.ptr, 0n, 0, b.ptr, 0n), SL_ERR_ARG);
    assert.match(lib.lastError(), /sizes must be >= 0/);
    const host = new Float32Array(4);
    assert.equal(s.sl_upload(Deno.UnsafePointer.create(16n), 0n, host, 4n), SL_ERR_ARG);
    assert.match(lib.lastError(), /not a live buffer/);
    cu.free(b as unknown as Buf);
    // out of memory names the request and what is free
    assert.throws(() => cu.alloc(2 ** 40, "float32"), /out of memory: asked for \d+ bytes.*free/);
  });

  Deno.test("cuda: memory soak, 5000 alloc/op/free cycles keep memory flat", () => {
    const w = cu.alloc(64 * 96, "float32");
    cu.upload(w, rand(64 * 96));
    const v = cu.alloc(64 * 96, "float32");
    let after100 = -1;
    for (let it = 0; it < 5000; it++) {
      const x = cu.alloc(32 * 96, "float32");
      cu.fill(x, 0.01 * (it % 7));
      const y = cu.alloc(32 * 64, "float32");
      cu.gemm(false, true, 32, 64, 96, 1, x, 0, w, 0, 0, y, 0);
      const z = cu.alloc(64, "float32");
      cu.reduce("sum", y, [32, 64], [0], z);
      const g = cu.alloc(64 * 96, "float32");
      cu.gemm(true, false, 64, 96, 32, 1, y, 0, x, 0, 0, g, 0);
      cu.update(
        { kind: "momentum", lr: 1e-4, momentum: 0.9, nesterov: false, weightDecay: 0 },
        w,
        g,
        [v],
      );
      for (const b of [x, y, z, g]) cu.free(b);
      if (it === 100) after100 = cu.memoryInUse();
    }
    cu.synchronize();
    const end = cu.memoryInUse();
    assert.ok(after100 > 0);
    assert.equal(end, after100, `memory in use grew from ${after100} to ${end} bytes`);
    const final = cu.download(w);
    assert.ok(final.every(Number.isFinite), "weights stay finite");
    cu.free(w);
    cu.free(v);
  });
}
