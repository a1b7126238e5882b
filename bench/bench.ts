/**
 * `deno task bench`: throughput of the native backends against reference implementations,
 * measured in the same run.
 *
 * - `sgemm`: our GEMM at 128..2048 (square) and at the GEMM shapes All-CNN-C's convolutions
 *   produce at batch 32 (forward, weight gradient, input gradient), against OpenBLAS's
 *   `cblas_sgemm` on the same buffers when `libopenblas` is installed (opened here only);
 * - `conv`: one conv layer forward + backward at every All-CNN-C size, batch 32;
 * - `train`: one training step (forward, backward, momentum update) at batch 32 for the MLP
 *   784-1000-1000-10, the von Hacht MNIST model and All-CNN-C, per backend;
 * - conv and train are compared with PyTorch on the CPU (`bench/torch_bench.py`, same batch,
 *   same thread count) when `python3 -c "import torch"` works: two alternating rounds (PyTorch,
 *   ours, PyTorch, ours), best time of each side;
 * - `sweep`: a small sweep end to end (3 variants x 4 seeds of shiftlab-small, one epoch on
 *   10,000 MNIST images), `deno task experiment` against one PyTorch process per run
 *   (`bench/sweep_bench.ts`, `bench/torch_sweep.py`), in runs per minute;
 * - `packing` (only when asked for): the crossover behind the packing rule, one run on all
 *   cores against one single-thread run per core, for networks from small to large
 *   (`bench/packing_bench.ts`).
 *
 * Output: a table, or with `--json` one JSON record per line: `name`, `backend`, `size`, then
 * `gflops` or `ms_per_step` and `images_per_s`, and `reference` (`{ backend, gflops }` or
 * `{ backend, ms_per_step }`; `runs_per_min` for the sweep, `steps_per_s` for packing) with
 * `ratio` (our speed / the reference's; > 1 means faster)
 * where a reference was measured. Times are the best of the repetitions after warm-up (the
 * machine may be shared; every backend and reference is timed the same way).
 *
 * Flags: `--json`, `--only sgemm,conv,train,sweep[,packing]`, `--backends cpu,cuda,ts` (default: cpu, plus
 * cuda when a device answers), `--threads N` (default: all cores), `--quick`, `--no-torch`.
 *
 * @module
 */
import type { Backend } from "../src/backend.ts";
import type { NativeBackend, NativeBuf } from "../src/backends/native.ts";
import { tryNative } from "../src/backends/select.ts";
import { parseFlags, reportFailure, UsageError } from "../src/cli.ts";
import { tsBackend } from "../src/backends/ts.ts";
import { Tensor, tidy } from "../src/tensor.ts";
import { Rng, Streams } from "../src/rng.ts";
import { Conv2d } from "../src/layers/mod.ts";
import { architecture, type ArchSpec } from "../src/architectures.ts";
import { buildNetwork } from "../src/variants.ts";
import { Optimizer } from "../src/optim.ts";
import { SoftmaxCrossEntropy } from "../src/loss.ts";
import { trainStep } from "../src/train.ts";
import { type OpenBlas, openBlas } from "./openblas.ts";
import { ALLCNNC_CONVS, convGemmShapes } from "./cuda_bench.ts";

/** One benchmark record. */
export interface BenchRecord {
  name: string;
  backend: string;
  size: string;
  gflops?: number;
  ms_per_step?: number;
  images_per_s?: number;
  runs_per_min?: number;
  steps_per_s?: number;
  reference?: {
    backend: string;
    gflops?: number;
    ms_per_step?: number;
    runs_per_min?: number;
    steps_per_s?: number;
  };
  ratio?: number;
}

const PARTS = ["sgemm", "conv", "train", "sweep", "packing"];

const USAGE =
  "usage: deno task bench [--json] [--only sgemm,conv,train,sweep,packing] [--backends cpu,cuda,ts]\n" +
  "                       [--threads N] [--quick] [--no-torch]";

/** The flags, checked; misuse throws a UsageError (exit 2 with one line and a hint). */
function parseBenchArgs(argv: string[]) {
  const { values } = parseFlags({
    args: argv,
    options: {
      json: { type: "boolean", default: false },
      only: { type: "string", default: "sgemm,conv,train,sweep" },
      backends: { type: "string" },
      threads: { type: "string" },
      quick: { type: "boolean", default: false },
      "no-torch": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const threads = values.threads ? Number(values.threads) : navigator.hardwareConcurrency;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new UsageError(`--threads must be a positive integer, got '${values.threads}'`);
  }
  const only = new Set(values.only.split(","));
  for (const o of only) {
    if (!PARTS.includes(o)) {
      throw new UsageError(`--only: unknown part '${o}' (expected ${PARTS.join(", ")})`);
    }
  }
  const backends = values.backends ? values.backends.split(",") : ["cpu", "cuda?"];
  for (const name of backends) {
    if (!["cpu", "cuda", "ts", "cuda?"].includes(name)) {
      throw new UsageError(`--backends: unknown backend '${name}' (expected cpu, cuda, ts)`);
    }
  }
  return { args: values, threads, only, backends };
}

let parsed: ReturnType<typeof parseBenchArgs>;
try {
  parsed = parseBenchArgs(Deno.args);
} catch (e) {
  Deno.exit(reportFailure(e));
}
const { args, threads, only } = parsed;
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
// Before any library loads: both OpenMP (ours) and OpenBLAS read these at load time.
Deno.env.set("OMP_NUM_THREADS", String(threads));
Deno.env.set("OPENBLAS_NUM_THREADS", String(threads));

const minTime = args.quick ? 0.3 : 1.5;
const BATCH = 32;

function log(msg: string): void {
  if (!args.json) console.log(msg);
  else console.error(msg);
}

function emit(r: BenchRecord): void {
  if (args.json) {
    console.log(JSON.stringify(r));
    return;
  }
  const val = r.gflops !== undefined
    ? `${r.gflops.toFixed(1).padStart(8)} GFLOP/s`
    : r.runs_per_min !== undefined
    ? `${r.runs_per_min.toFixed(1).padStart(8)} runs/min`
    : r.steps_per_s !== undefined
    ? `${r.steps_per_s.toFixed(1).padStart(8)} steps/s`
    : `${r.ms_per_step!.toFixed(2).padStart(9)} ms  ${
      r.images_per_s!.toFixed(0).padStart(7)
    } img/s`;
  let ref = "";
  if (r.reference) {
    const rv = r.reference.gflops !== undefined
      ? `${r.reference.gflops.toFixed(1)} GFLOP/s`
      : r.reference.runs_per_min !== undefined
      ? `${r.reference.runs_per_min.toFixed(1)} runs/min`
      : r.reference.steps_per_s !== undefined
      ? `${r.reference.steps_per_s.toFixed(1)} steps/s`
      : `${r.reference.ms_per_step!.toFixed(2)} ms`;
    ref = `   ${r.reference.backend} ${rv}  ratio ${r.ratio!.toFixed(2)}`;
  }
  console.log(`${r.name.padEnd(14)} ${r.backend.padEnd(5)} ${r.size.padEnd(34)} ${val}${ref}`);
}

/** Best seconds per call of `fn` after `warmup` calls, over at least `minTime` seconds. */
function timeIt(
  fn: () => void,
  opts: { warmup?: number; minReps?: number; maxReps?: number } = {},
) {
  const { warmup = 2, minReps = 3, maxReps = 1000 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (
    times.length < maxReps &&
    (times.length < minReps || performance.now() - start < minTime * 1000)
  ) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  // The best repetition: on a machine shared with other work the median measures the other
  // work as much as this one; ours and every reference are timed the same way.
  return Math.min(...times);
}

/** Sleeps `ms` milliseconds (lets idle worker threads of a thread pool go to sleep). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function randomFill(be: Backend, n: number, seed: number): Tensor {
  const r = new Rng(seed, Streams.noise);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform() * 2 - 1;
  return Tensor.from(be, [n], a);
}

// ------------------------------------------------------------------ backends

const backends: NativeBackend[] = [];
let useTs = false;
{
  for (const name of parsed.backends) {
    if (name === "ts") {
      useTs = true;
      continue;
    }
    const optional = name.endsWith("?");
    const kind = name === "cpu" ? "cpu" : "cuda";
    const b = tryNative(kind);
    if (typeof b === "string") {
      if (!optional) {
        Deno.exit(reportFailure(new UsageError(`backend '${kind}' is unavailable: ${b}`)));
      }
      log(`(${kind} backend not benchmarked: ${b})`);
    } else backends.push(b);
  }
}
for (const b of backends) log(`${b.name}: ${b.device}; ${b.buildInfo}`);
log(`threads: ${threads}; batch ${BATCH}; ${args.quick ? "quick" : "full"} timing`);

// ------------------------------------------------------------------ sgemm

function convName([cin, cout, k, s, p, h]: readonly number[]): string {
  return `${cin}x${h}x${h}->${cout} k${k} s${s} p${p}`;
}

async function benchSgemm(blas: OpenBlas | null): Promise<void> {
  const cpu = backends.find((b) => b.name === "cpu");
  if (!cpu) {
    log("(sgemm: no cpu backend)");
    return;
  }
  const cases: { size: string; ta: boolean; tb: boolean; m: number; n: number; k: number }[] = [];
  for (const s of [128, 256, 512, 1024, 2048]) {
    cases.push({ size: `${s}x${s}x${s}`, ta: false, tb: false, m: s, n: s, k: s });
  }
  for (const g of convGemmShapes(BATCH)) {
    const { index, what } = g.conv!;
    const t = `${g.ta ? " Aᵀ" : ""}${g.tb ? " Bᵀ" : ""}`;
    cases.push({
      size: `${g.m}x${g.n}x${g.k}${t} (${what} ${convName(ALLCNNC_CONVS[index])})`,
      ta: g.ta,
      tb: g.tb,
      m: g.m,
      n: g.n,
      k: g.k,
    });
  }
  for (const c of cases) {
    const a = randomFill(cpu, c.m * c.k, 1), b = randomFill(cpu, c.k * c.n, 2);
    const out = Tensor.zeros(cpu, [c.m * c.n]);
    const flops = 2 * c.m * c.n * c.k;
    const ours = () => cpu.gemm(c.ta, c.tb, c.m, c.n, c.k, 1, a.buf, 0, b.buf, 0, 0, out.buf, 0);
    const pa = (a.buf as NativeBuf).ptr, pb = (b.buf as NativeBuf).ptr;
    const pc = (out.buf as NativeBuf).ptr;
    const ref = blas ? () => blas.sgemm(c.ta, c.tb, c.m, c.n, c.k, 1, pa, pb, 0, pc) : null;
    // Alternate ours and the reference so both see the same machine load, with a pause
    // before each: OpenBLAS's idle threads busy-wait for a while after a call (as OpenMP's
    // do), and would otherwise take the cores from whichever runs next.
    let tOurs = Infinity, tRef = Infinity;
    for (let round = 0; round < 2; round++) {
      await pause(300);
      tOurs = Math.min(tOurs, timeIt(ours, { maxReps: 200 }));
      if (ref) {
        await pause(300);
        tRef = Math.min(tRef, timeIt(ref, { maxReps: 200 }));
      }
    }
    const g = flops / tOurs / 1e9;
    const rec: BenchRecord = { name: "sgemm", backend: "cpu", size: c.size, gflops: g };
    if (ref) {
      const gr = flops / tRef / 1e9;
      rec.reference = { backend: "openblas", gflops: gr };
      rec.ratio = g / gr;
    }
    emit(rec);
    a.dispose();
    b.dispose();
    out.dispose();
  }
}

// ------------------------------------------------------------------ torch

interface TorchRecord {
  name: string;
  size: string;
  ms_per_step: number;
}

async function findPython(): Promise<string | null> {
  for (const py of ["python3", "/usr/bin/python3"]) {
    try {
      const r = await new Deno.Command(py, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (r.success) return py;
    } catch {
      // not installed
    }
  }
  return null;
}

async function torchTimings(parts: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (args["no-torch"] || parts.length === 0) return out;
  const py = await findPython();
  if (!py) {
    log('(PyTorch not available: `python3 -c "import torch"` fails; no PyTorch comparison)');
    return out;
  }
  const script = decodeURIComponent(new URL("./torch_bench.py", import.meta.url).pathname);
  log(`running the PyTorch reference (${py}, ${threads} threads)...`);
  const r = await new Deno.Command(py, {
    args: [
      script,
      "--threads",
      String(threads),
      "--batch",
      String(BATCH),
      "--only",
      parts.join(","),
      ...(args.quick ? ["--quick"] : []),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    log(
      `(PyTorch reference failed: ${new TextDecoder().decode(r.stderr).trim().split("\n").pop()})`,
    );
    return out;
  }
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    if (!line.trim()) continue;
    const t = JSON.parse(line) as TorchRecord;
    out.set(`${t.name}|${t.size}`, t.ms_per_step);
  }
  return out;
}

function withRef(rec: BenchRecord, torch: Map<string, number>): BenchRecord {
  const ref = torch.get(`${rec.name}|${rec.size}`);
  // The PyTorch timings are CPU timings: they are a reference for the cpu backend only.
  if (ref !== undefined && rec.ms_per_step !== undefined && rec.backend === "cpu") {
    rec.reference = { backend: "torch", ms_per_step: ref };
    rec.ratio = ref / rec.ms_per_step;
  }
  return rec;
}

// ------------------------------------------------------------------ conv

function benchConv(be: Backend): BenchRecord[] {
  const recs: BenchRecord[] = [];
  for (const c of ALLCNNC_CONVS) {
    const [cin, cout, k, s, p, h] = c;
    const layer = new Conv2d(cout, k, { stride: s, pad: p });
    layer.name = "conv";
    const outShape = layer.build([cin, h, h], {
      backend: be,
      dtype: "float32",
      rng: new Rng(1, Streams.init),
    });
    const x = randomFill(be, BATCH * cin * h * h, 3).reshape([BATCH, cin, h, h]);
    const dy = randomFill(be, BATCH * outShape.reduce((a, b) => a * b, 1), 4)
      .reshape([BATCH, ...outShape]);
    const ctx = { training: true, seed: 1, step: 0 };
    const step = () =>
      tidy(() => {
        layer.forward(x, ctx);
        layer.backward(dy);
        be.synchronize();
      });
    const t = timeIt(step, { maxReps: 200 });
    recs.push({
      name: "conv fwd+bwd",
      backend: be.name,
      size: convName(c),
      ms_per_step: t * 1000,
      images_per_s: BATCH / t,
    });
    layer.dispose();
    tidy(() => {
      x.dispose();
      dy.dispose();
    });
  }
  return recs;
}

// ------------------------------------------------------------------ training steps

function models(): ArchSpec[] {
  return [
    {
      name: "mlp-784-1000-1000-10",
      inputShape: [784],
      classes: 10,
      layers: [
        { type: "dense", units: 1000 },
        { type: "act", op: "relu" },
        { type: "dense", units: 1000 },
        { type: "act", op: "relu" },
        { type: "dense", units: 10 },
      ],
    },
    {
      ...architecture("vonhacht-mnist", { inputShape: [1, 28, 28], classes: 10 }),
      name: "vonhacht-mnist",
    },
    { ...architecture("allcnnc", { inputShape: [3, 32, 32], classes: 10 }), name: "allcnnc" },
  ];
}

function benchTrain(be: Backend): BenchRecord[] {
  const recs: BenchRecord[] = [];
  for (const arch of models()) {
    if (be.name === "ts" && arch.name === "allcnnc") continue; // minutes per step
    const model = buildNetwork(arch, "plain", { backend: be, seed: 1 });
    const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.01, momentum: 0.9 });
    const loss = new SoftmaxCrossEntropy();
    const per = arch.inputShape.reduce((a, b) => a * b, 1);
    const rx = new Rng(5, Streams.noise);
    const xs = new Float32Array(BATCH * per).map(() => rx.uniform() * 2 - 1);
    const ys = new Float32Array(BATCH).map((_, i) => i % arch.classes);
    const x = Tensor.from(be, [BATCH, ...arch.inputShape], xs);
    const y = Tensor.from(be, [BATCH], ys);
    let stepNo = 0;
    const step = () => {
      trainStep(model, loss, opt, x, y, { training: true, seed: 1, step: stepNo++ });
      be.synchronize();
    };
    const t = timeIt(step, { warmup: 2, minReps: be.name === "ts" ? 2 : 3, maxReps: 500 });
    recs.push({
      name: "train step",
      backend: be.name,
      size: arch.name,
      ms_per_step: t * 1000,
      images_per_s: BATCH / t,
    });
    x.dispose();
    y.dispose();
    loss.dispose();
    opt.dispose();
    model.dispose();
  }
  return recs;
}

// ------------------------------------------------------------------ main

if (only.has("sgemm")) {
  const blas = openBlas();
  if (typeof blas === "string") log(`(OpenBLAS not found: ${blas}; no SGEMM reference)`);
  await benchSgemm(typeof blas === "string" ? null : blas);
  await pause(300);
}
// The cuda backend is measured by cuda_bench.ts, against cuBLAS and cuDNN on the same device.
const host: Backend[] = [
  ...backends.filter((b) => b.name !== "cuda"),
  ...(useTs ? [tsBackend] : []),
];
await benchHost();

/**
 * conv and train on the host backends against PyTorch. The machine's load drifts over a run,
 * so with PyTorch present the two alternate over two rounds (PyTorch, ours, PyTorch, ours) and
 * each keeps its best time: neither side gets only the quiet or only the busy minutes.
 */
async function benchHost(): Promise<void> {
  const torchParts = ["conv", "train"].filter((p) => only.has(p));
  if (torchParts.length === 0) return;
  const torch = new Map<string, number>();
  const ours = new Map<string, BenchRecord>();
  for (let round = 0; round < 2; round++) {
    const t = await torchTimings(torchParts);
    for (const [k, v] of t) torch.set(k, Math.min(v, torch.get(k) ?? Infinity));
    await pause(300);
    const recs = [
      ...(only.has("conv") ? host.filter((b) => b.name !== "ts").flatMap(benchConv) : []),
      ...(only.has("train") ? host.flatMap(benchTrain) : []),
    ];
    for (const r of recs) {
      const key = `${r.backend}|${r.name}|${r.size}`;
      const best = ours.get(key);
      if (!best || r.ms_per_step! < best.ms_per_step!) ours.set(key, r);
    }
    if (t.size === 0) break; // no PyTorch: one round of ours is enough
  }
  for (const [k, ms] of torch) {
    const [name, size] = k.split("|");
    emit({ name, backend: "torch", size, ms_per_step: ms, images_per_s: (BATCH * 1000) / ms });
  }
  for (const r of ours.values()) emit(withRef(r, torch));
}
if (backends.some((b) => b.name === "cuda")) await benchCuda();
if (only.has("sweep")) await benchSweepPart();
if (only.has("packing")) await benchPackingPart();

/** The sweep benchmark (bench/sweep_bench.ts) against PyTorch, as one record. */
async function benchSweepPart(): Promise<void> {
  const { benchSweep, SWEEP } = await import("./sweep_bench.ts");
  const py = args["no-torch"] ? null : await findPython();
  if (!py && !args["no-torch"]) log("(PyTorch not available: no PyTorch sweep)");
  const r = await benchSweep({ python: py, rounds: args.quick ? 1 : 2, log });
  const rec: BenchRecord = {
    name: "sweep",
    backend: "cpu",
    size:
      `${SWEEP.variants.length}x${SWEEP.seeds} shiftlab-small, ${r.packing.runs}x${r.packing.threads}t`,
    runs_per_min: r.ours,
  };
  if (r.torch !== null) {
    rec.reference = { backend: "torch", runs_per_min: r.torch };
    rec.ratio = r.ours / r.torch;
  }
  emit(rec);
}

/** The packing crossover (bench/packing_bench.ts), one record per network. */
async function benchPackingPart(): Promise<void> {
  const { benchPacking } = await import("./packing_bench.ts");
  const cores = navigator.hardwareConcurrency;
  const rows = await benchPacking({ cores, rounds: args.quick ? 1 : 3, seconds: 3, log });
  for (const r of rows) {
    emit({
      name: "packing",
      backend: "cpu",
      size: `${r.name} ${(r.stepMacs / 1e6).toFixed(0)}M MACs ${cores}x1 vs 1x${cores}`,
      steps_per_s: r.packed,
      reference: { backend: `1x${cores}`, steps_per_s: r.shared },
      ratio: r.packed / r.shared,
    });
  }
}

// ------------------------------------------------------------------ cuda

interface CudaReport {
  sgemm?: {
    reference: string;
    rows: { shape: string; label: string; ours: number; ref: number | null }[];
  };
  conv?: { layer: string; oursMs: number; refMs: number | null }[];
  training?: { rows: { batch: number; oursMs: number; torchMs: number | null }[] };
}

/**
 * Runs bench/cuda_bench.ts (its tables go to the terminal, or to stderr with `--json`) and,
 * with `--json`, turns its report into records of the common format.
 */
async function benchCuda(): Promise<void> {
  const out = await Deno.makeTempFile({ prefix: "shiftlab-cuda-bench-", suffix: ".json" });
  const script = new URL("./cuda_bench.ts", import.meta.url).pathname;
  const flags = ["run", "-A", script, "--out", out];
  if (args.quick) flags.push("--quick");
  if (args["no-torch"]) flags.push("--no-torch");
  const child = new Deno.Command(Deno.execPath(), {
    args: flags,
    stdout: args.json ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  if (args.json) await child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true });
  const status = await child.status;
  if (!status.success) {
    log(`(cuda benchmark failed with exit code ${status.code})`);
    await Deno.remove(out).catch(() => {});
    return;
  }
  const text = await Deno.readTextFile(out).catch(() => "");
  await Deno.remove(out).catch(() => {});
  if (!args.json || text === "") return;
  const rep = JSON.parse(text) as CudaReport;
  const ref = (
    r: BenchRecord,
    backend: string,
    v: number | null,
    key: "gflops" | "ms_per_step",
  ) => {
    if (v === null || !(v > 0)) return r;
    r.reference = { backend, [key]: v };
    r.ratio = key === "gflops" ? r.gflops! / v : v / r.ms_per_step!;
    return r;
  };
  for (const g of rep.sgemm?.rows ?? []) {
    const r: BenchRecord = {
      name: "sgemm",
      backend: "cuda",
      size: `${g.shape} (${g.label})`,
      gflops: g.ours,
    };
    emit(ref(r, rep.sgemm!.reference, g.ref, "gflops"));
  }
  for (const c of rep.conv ?? []) {
    const r: BenchRecord = {
      name: "conv fwd+bwd",
      backend: "cuda",
      size: `${c.layer} batch 128`,
      ms_per_step: c.oursMs,
      images_per_s: (128 * 1000) / c.oursMs,
    };
    emit(ref(r, "cudnn", c.refMs, "ms_per_step"));
  }
  for (const t of rep.training?.rows ?? []) {
    const r: BenchRecord = {
      name: "train step",
      backend: "cuda",
      size: `allcnnc batch ${t.batch}`,
      ms_per_step: t.oursMs,
      images_per_s: (t.batch * 1000) / t.oursMs,
    };
    emit(ref(r, "torch-cuda", t.torchMs, "ms_per_step"));
  }
}
