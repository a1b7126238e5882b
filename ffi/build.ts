/**
 * `deno task build`: compiles the native libraries into `build/`.
 *
 * - cpu: `cc -O3 -march=native -fopenmp -shared -fPIC` over `cuda/cpu/*.c` into
 *   `build/libshiftlab_cpu.so`;
 * - cuda: when a CUDA device is present (`nvidia-smi -L`) or `--cuda` asks for it, `nvcc` for
 *   sm_80, sm_90 and PTX over `cuda/gpu/*.cu` into `build/libshiftlab_cuda.so` (only the CUDA
 *   runtime is linked). Without a device it is skipped with one line (a minute of nvcc for a
 *   library nothing here can use); CI builds it with `--cuda` to compile and load-test it.
 *
 * Both compile against the one public header `cuda/include/shiftlab.h`. A library is rebuilt
 * only when a file under `cuda/` that it depends on (every file there except the other
 * build's folder, see `buildSources`), the flags or the compiler changed: a SHA-256 stamp of
 * all of them is kept beside it. No compiler, or no nvcc, prints one line and exits 0 (the
 * `ts` backend still works); `--cuda` without nvcc is an error. Flags: `--quiet` prints only
 * what was built and problems; `--force` rebuilds regardless of the stamps; `--cuda` builds
 * the CUDA library without a device.
 *
 * @module
 */
import { cudaDeviceCount } from "../src/backends/devices.ts";
import { parseFlagsOrExit } from "../src/cli.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";
import {
  BUILD_DIR,
  BUILD_FOLDER,
  buildSources,
  libraryFileName,
  type LibraryKind,
  SOURCE_DIR,
} from "./library.ts";

/** Compiler flags of the host build. */
export const CPU_FLAGS = [
  "-O3",
  "-march=native",
  "-fopenmp",
  "-shared",
  "-fPIC",
  "-std=gnu11",
  // a call to an undeclared function is a build error, not a symbol missing at load time
  "-Werror=implicit-function-declaration",
  // never unmapped: dlclose at exit would unload libgomp under its idle worker threads
  "-Wl,-z,nodelete",
];

/** nvcc flags of the CUDA build. */
export const CUDA_FLAGS = [
  "-gencode",
  "arch=compute_80,code=sm_80",
  "-gencode",
  "arch=compute_90,code=sm_90",
  "-gencode",
  "arch=compute_90,code=compute_90",
  "-O3",
  "-shared",
  "-Xcompiler",
  "-fPIC",
];

interface RunResult {
  ok: boolean;
  out: string;
}

async function run(cmd: string, args: string[]): Promise<RunResult | null> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The include flag for the public header folder. */
const INCLUDE = `-I${SOURCE_DIR}include`;

/** A build's files under `cuda/` (relative) and the ones it compiles (`ext` in its folder). */
function sourcesOf(kind: LibraryKind, ext: string): { all: string[]; compiled: string[] } {
  const all = buildSources(kind);
  const dir = BUILD_FOLDER[kind] + "/";
  const compiled = all.filter((f) =>
    f.startsWith(dir) && f.endsWith(ext) && !f.includes("/", dir.length)
  );
  return { all, compiled };
}

async function stampOf(files: string[], extra: string[]): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(enc.encode(`\n--${f}--\n`));
    parts.push(await Deno.readFile(SOURCE_DIR + f));
  }
  parts.push(enc.encode(`\n--flags--\n${extra.join(" ")}`));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Touches an up-to-date library so the loader's staleness check (by mtime) agrees. */
async function markFresh(path: string): Promise<void> {
  const now = new Date();
  await Deno.utime(path, now, now).catch(() => {});
}

/** Outcome of building one library. */
export type BuildOutcome = "built" | "up-to-date" | "skipped" | "failed";

/** Builds the host library; see the module doc. */
export async function buildCpu(opts: { quiet?: boolean; force?: boolean } = {}): Promise<
  BuildOutcome
> {
  const cc = Deno.env.get("CC") || "cc";
  const version = await run(cc, ["--version"]);
  if (version === null || !version.ok) {
    console.log(
      `no C compiler found (${cc}): skipping the native cpu library; the ts backend still works`,
    );
    return "skipped";
  }
  const { all, compiled: sources } = sourcesOf("cpu", ".c");
  if (sources.length === 0) {
    console.log(`no cuda/cpu/*.c sources found: skipping the native cpu library`);
    return "skipped";
  }
  const out = BUILD_DIR + libraryFileName("cpu");
  const stampPath = out + ".stamp";
  const firstLine = version.out.split("\n")[0];
  const stamp = await stampOf(all, [cc, firstLine, ...CPU_FLAGS]);
  if (!opts.force && (await exists(out)) && (await readText(stampPath)) === stamp) {
    await markFresh(out);
    if (!opts.quiet) console.log(`${out} is up to date`);
    return "up-to-date";
  }
  await Deno.mkdir(BUILD_DIR, { recursive: true });
  const tmp = `${out}.${Deno.pid}.tmp`;
  const defs = [
    INCLUDE,
    `-DSL_SOURCE_HASH="${stamp.slice(0, 16)}"`,
    `-DSL_BUILD_FLAGS="${CPU_FLAGS.join(" ")}"`,
  ];
  const srcPaths = sources.map((s) => SOURCE_DIR + s);
  let flags = CPU_FLAGS;
  let r = await run(cc, [...flags, ...defs, ...srcPaths, "-o", tmp, "-lm"]);
  if (r && !r.ok && /fopenmp|omp\.h/.test(r.out)) {
    console.log(`${cc} has no OpenMP: building the cpu library single-threaded`);
    flags = flags.filter((f) => f !== "-fopenmp");
    r = await run(cc, [...flags, ...defs, ...srcPaths, "-o", tmp, "-lm"]);
  }
  if (!r || !r.ok) {
    console.error(`building the native cpu library failed:\n${r?.out ?? ""}`);
    await Deno.remove(tmp).catch(() => {});
    return "failed";
  }
  await Deno.rename(tmp, out);
  await writeFileAtomic(stampPath, stamp);
  console.log(`built ${out}`);
  return "built";
}

/**
 * Builds the CUDA library when a CUDA device is present or `cuda` asks for it, and nvcc and
 * CUDA sources exist; see the module doc.
 */
export async function buildCuda(
  opts: { quiet?: boolean; force?: boolean; cuda?: boolean } = {},
): Promise<BuildOutcome> {
  if (!opts.cuda && cudaDeviceCount() === 0) {
    if (!opts.quiet) {
      console.log("no CUDA device: skipped the CUDA library (deno task build --cuda builds it)");
    }
    return "skipped";
  }
  const version = await run("nvcc", ["--version"]);
  if (version === null || !version.ok) {
    if (opts.cuda) {
      console.error("error: nvcc not found: cannot build the CUDA library (--cuda)");
      return "failed";
    }
    console.log("nvcc not found: skipping the CUDA library");
    return "skipped";
  }
  const { all, compiled: sources } = sourcesOf("cuda", ".cu");
  if (sources.length === 0) {
    if (!opts.quiet) console.log("no cuda/gpu/*.cu sources found: skipping the CUDA library");
    return "skipped";
  }
  const out = BUILD_DIR + libraryFileName("cuda");
  const stampPath = out + ".stamp";
  const vline = version.out.trim().split("\n").pop() ?? "";
  const stamp = await stampOf(all, ["nvcc", vline, ...CUDA_FLAGS]);
  if (!opts.force && (await exists(out)) && (await readText(stampPath)) === stamp) {
    await markFresh(out);
    if (!opts.quiet) console.log(`${out} is up to date`);
    return "up-to-date";
  }
  await Deno.mkdir(BUILD_DIR, { recursive: true });
  const tmp = `${out}.${Deno.pid}.tmp.so`;
  console.log(`compiling the CUDA library with nvcc (${sources.length} files; this takes a while)`);
  const r = await run("nvcc", [
    ...CUDA_FLAGS,
    INCLUDE,
    `-DSL_SOURCE_HASH="${stamp.slice(0, 16)}"`,
    ...sources.map((s) => SOURCE_DIR + s),
    "-o",
    tmp,
  ]);
  if (!r || !r.ok) {
    console.error(`building the CUDA library failed:\n${r?.out ?? ""}`);
    await Deno.remove(tmp).catch(() => {});
    return "failed";
  }
  await Deno.rename(tmp, out);
  await writeFileAtomic(stampPath, stamp);
  console.log(`built ${out}`);
  return "built";
}

if (import.meta.main) {
  const { values } = parseFlagsOrExit({
    args: Deno.args,
    options: {
      quiet: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      cuda: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task build [--quiet] [--force] [--cuda]\n" +
        "  builds build/libshiftlab_cpu.so (cc), and build/libshiftlab_cuda.so (nvcc) when a\n" +
        "  CUDA device is present or --cuda asks for it",
    );
    Deno.exit(0);
  }
  const cpu = await buildCpu(values);
  const cuda = await buildCuda(values);
  Deno.exit(cpu === "failed" || cuda === "failed" ? 1 : 0);
}
