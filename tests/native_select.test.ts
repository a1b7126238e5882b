/**
 * Backend selection and the library resolver: `auto` says what it chose and why, explicit
 * names give that backend or a clear error, and a missing library names the build command.
 */
import assert from "node:assert/strict";
import { BACKEND_NAMES, selectBackend } from "../src/backends/select.ts";
import { tsBackend } from "../src/backends/ts.ts";
import { NativeBackend } from "../src/backends/native.ts";
import {
  BUILD_COMMAND,
  LibraryUnavailableError,
  NativeLibrary,
  openLibrary,
  resolveLibrary,
} from "../ffi/library.ts";
import "./native_helpers.ts"; // builds the cpu library when stale

Deno.test("select: explicit names", () => {
  assert.equal(selectBackend("ts").backend, tsBackend);
  const cpu = selectBackend("cpu");
  assert.ok(cpu.backend instanceof NativeBackend);
  assert.equal(cpu.backend.name, "cpu");
  assert.match(cpu.backend.device, /^cpu: .*\d+ threads?$/);
  assert.equal(selectBackend("cpu").backend, cpu.backend, "one shared instance");
  assert.throws(
    () => selectBackend("gpu"),
    (e: Error) => BACKEND_NAMES.every((n) => e.message.includes(n)) && e.message.includes("gpu"),
  );
});

Deno.test("select: auto chooses a working backend and says why", () => {
  const { backend, reason, detail } = selectBackend("auto");
  assert.match(reason, /^auto: (cuda|cpu|ts)/);
  assert.ok(reason.startsWith(`auto: ${backend.name}`));
  if (backend.name !== "cuda") {
    // one short sentence; the CUDA library's own message is kept apart (for --verbose)
    assert.match(
      reason,
      /^auto: (cpu|ts), (no CUDA device( answered)?|the CUDA library (is not built|did not load))/,
    );
    assert.doesNotMatch(reason, /cuda unavailable/);
    assert.match(detail ?? "", /^cuda unavailable: .+/);
  }
  const b = backend.alloc(3, "float32");
  backend.upload(b, [1, 2, 3]);
  assert.deepEqual([...backend.download(b)], [1, 2, 3]);
  backend.free(b);
});

Deno.test("resolver: environment override, then build/; a missing library names the command", () => {
  const old = Deno.env.get("SHIFTLAB_LIB_CPU");
  try {
    Deno.env.set("SHIFTLAB_LIB_CPU", "/nonexistent/libshiftlab_cpu.so");
    const r = resolveLibrary("cpu");
    assert.deepEqual(r, {
      kind: "cpu",
      path: "/nonexistent/libshiftlab_cpu.so",
      source: "env",
      exists: false,
    });
    assert.throws(
      () => openLibrary("cpu"),
      (e: Error) =>
        e instanceof LibraryUnavailableError && e.message.includes("/nonexistent/") &&
        e.message.includes("SHIFTLAB_LIB_CPU") && e.message.includes(BUILD_COMMAND),
    );
    // a file that is not a library fails to open with a clear error, not a crash
    const junk = Deno.makeTempFileSync({ suffix: ".so" });
    Deno.writeTextFileSync(junk, "not a library");
    assert.throws(() => new NativeLibrary("cpu", junk), /cannot open the native cpu library/);
    Deno.removeSync(junk);
  } finally {
    if (old === undefined) Deno.env.delete("SHIFTLAB_LIB_CPU");
    else Deno.env.set("SHIFTLAB_LIB_CPU", old);
  }
  const r = resolveLibrary("cpu");
  if (old === undefined) {
    assert.equal(r.source, "build");
    assert.match(r.path, /build\/libshiftlab_cpu\.so$/);
    assert.equal(r.exists, true);
  }
});

Deno.test("library: build info names the source hash and the flags", () => {
  const lib = openLibrary("cpu");
  assert.match(lib.buildInfo(), /-O3 -march=native -fopenmp.*source [0-9a-f]{16}/);
});

Deno.test("library: a process that ran threaded ops exits cleanly (no crash at unload)", async () => {
  const code = `
    import { NativeBackend } from ${
    JSON.stringify(new URL("../src/backends/native.ts", import.meta.url).href)
  };
    const cpu = NativeBackend.open("cpu");
    const a = cpu.alloc(1 << 20, "float32");
    cpu.fill(a, -1);
    cpu.unary("relu", a, a, 0);
    const c = cpu.alloc(256 * 256, "float32");
    cpu.gemm(false, false, 256, 256, 256, 1, a, 0, a, 0, 0, c, 0);
    console.log("ok");
  `;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = r.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  const out = await r.output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "ok");
  assert.equal(out.code, 0, `exit code ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
});
