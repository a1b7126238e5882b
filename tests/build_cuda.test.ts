/**
 * `deno task build` builds the CUDA library only when a CUDA device is present or `--cuda`
 * asks for it. Run on a copy of the build script and the sources, with stand-ins for `cc`,
 * `nvcc` and `nvidia-smi` first on PATH (each logs its arguments and writes the file it is asked
 * for), so the test neither compiles for a minute nor depends on this machine's GPU.
 */
import assert from "node:assert/strict";
import { ROOT } from "./cli_helpers.ts";

const TOOL = `#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/calls.log"
if [ "$1" = "--version" ]; then echo "stand-in 1.0"; echo "Cuda compilation tools, release 12.0"; exit 0; fi
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
[ -n "$out" ] && echo "library" > "$out"
exit 0
`;

async function project(
  gpus: number,
): Promise<
  { dir: string; build: (...a: string[]) => Promise<{ code: number; out: string; calls: string }> }
> {
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-build-" });
  for (const d of ["ffi", "src", "cuda"]) {
    const p = await new Deno.Command("cp", { args: ["-r", `${ROOT}${d}`, `${dir}/${d}`] }).output();
    assert.ok(p.success, `copy ${d}`);
  }
  await Deno.mkdir(`${dir}/bin`);
  for (const t of ["cc", "nvcc"]) {
    await Deno.writeTextFile(`${dir}/bin/${t}`, TOOL);
    await Deno.chmod(`${dir}/bin/${t}`, 0o755);
  }
  const smi = gpus > 0
    ? `#!/bin/sh\necho "GPU 0: NVIDIA Stand-in (UUID: GPU-0)"\n`
    : `#!/bin/sh\necho "No devices were found"\nexit 6\n`;
  await Deno.writeTextFile(`${dir}/bin/nvidia-smi`, smi);
  await Deno.chmod(`${dir}/bin/nvidia-smi`, 0o755);
  const build = async (...a: string[]) => {
    await Deno.writeTextFile(`${dir}/bin/calls.log`, "");
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${dir}/ffi/build.ts`, ...a],
      cwd: dir,
      env: { PATH: `${dir}/bin:${Deno.env.get("PATH")}`, CC: "cc", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return {
      code: p.code,
      out: dec.decode(p.stdout) + dec.decode(p.stderr),
      calls: await Deno.readTextFile(`${dir}/bin/calls.log`),
    };
  };
  return { dir, build };
}

const compiled = (calls: string) => calls.split("\n").filter((l) => /^nvcc .* -o /.test(l));

Deno.test("build: without a CUDA device the CUDA library is skipped with one line; --cuda builds it", async () => {
  const { dir, build } = await project(0);
  try {
    let r = await build();
    assert.equal(r.code, 0, r.out);
    const lines = r.out.trim().split("\n").filter((l) => /cuda/i.test(l));
    assert.deepEqual(lines, [
      "no CUDA device: skipped the CUDA library (deno task build --cuda builds it)",
    ]);
    assert.deepEqual(compiled(r.calls), [], "nvcc compiled nothing");
    await assert.rejects(() => Deno.stat(`${dir}/build/libshiftlab_cuda.so`));
    // --quiet (the tasks' build before a run): not a word about it
    r = await build("--quiet");
    assert.doesNotMatch(r.out, /cuda/i);
    // asked for: built, for the GPU generations in use
    r = await build("--cuda");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /built .*build\/libshiftlab_cuda\.so/);
    assert.equal(compiled(r.calls).length, 1, r.calls);
    assert.match(compiled(r.calls)[0], /arch=compute_80,code=sm_80 .*arch=compute_90,code=sm_90/);
    assert.ok((await Deno.stat(`${dir}/build/libshiftlab_cuda.so`)).isFile);
    // --cuda without nvcc is an error, not a skip (a stand-in that is not there either)
    await Deno.writeTextFile(`${dir}/bin/nvcc`, "#!/bin/sh\nexit 127\n");
    r = await build("--cuda", "--force");
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /error: nvcc not found: cannot build the CUDA library/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build: with a CUDA device the CUDA library is built without being asked", async () => {
  const { dir, build } = await project(1);
  try {
    const r = await build();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /compiling the CUDA library with nvcc/);
    assert.equal(compiled(r.calls).length, 1, r.calls);
    assert.ok((await Deno.stat(`${dir}/build/libshiftlab_cuda.so`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
