/**
 * CUDA benchmarks: our kernels against the vendor libraries, side by side.
 *
 * 1. SGEMM GFLOP/s at 1024, 2048, 4096, 8192 and at every GEMM All-CNN-C's convolutions make
 *    (forward, weight gradient, input gradient at batch 128), against cuBLAS float32
 *    (bench/cuda_ref/cublas_sgemm.cu, built on demand; PyTorch's matmul with TF32 off when
 *    cuBLAS headers are missing).
 * 2. Every All-CNN-C convolution, forward + backward at batch 128, against PyTorch/cuDNN.
 * 3. One All-CNN-C training step (plain, no dropout, SGD momentum 0.9) at batch 32 and 128,
 *    against PyTorch float32 with TF32 off, and the projected CIFAR-10 epoch at batch 32.
 *
 * Usage: deno run -A bench/cuda_bench.ts [--quick] [--out results.json] [--no-torch]
 * Without a CUDA device it prints one line and exits 0.
 *
 * @module
 */
import { parseFlagsOrExit } from "../src/cli.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";
import { NativeBackend } from "../src/backends/native.ts";
import { BUILD_DIR } from "../ffi/library.ts";
import { Conv2d } from "../src/layers/conv2d.ts";
import { Tensor, tidy } from "../src/tensor.ts";
import { Rng, Streams } from "../src/rng.ts";
import { architecture } from "../src/architectures.ts";
import { buildNetwork } from "../src/variants.ts";
import { Optimizer } from "../src/optim.ts";
import { SoftmaxCrossEntropy } from "../src/loss.ts";
import { trainStep } from "../src/train.ts";

/** One All-CNN-C convolution on 3x32x32: (cin, cout, kernel, stride, pad, input size). */
export const ALLCNNC_CONVS: readonly [number, number, number, number, number, number][] = [
  [3, 96, 3, 1, 1, 32],
  [96, 96, 3, 1, 1, 32],
  [96, 96, 3, 2, 1, 32],
  [96, 192, 3, 1, 1, 16],
  [192, 192, 3, 1, 1, 16],
  [192, 192, 3, 2, 1, 16],
  [192, 192, 3, 1, 0, 8],
  [192, 192, 1, 1, 0, 6],
  [192, 10, 1, 1, 0, 6],
];

/** A GEMM shape as `MxNxK:ops` (ops: transposes of A and B, `n` or `t`). */
export type GemmShape = {
  m: number;
  n: number;
  k: number;
  ta: boolean;
  tb: boolean;
  label: string;
  /** For a convolution's GEMM: the index into ALLCNNC_CONVS and which product it is. */
  conv?: { index: number; what: "fwd" | "dW" | "dX" };
};

/** The three GEMMs of each All-CNN-C convolution at `batch` (see src/layers/conv2d.ts). */
export function convGemmShapes(batch: number): GemmShape[] {
  const out: GemmShape[] = [];
  const seen = new Set<string>();
  ALLCNNC_CONVS.forEach(([cin, cout, k, s, p, size], i) => {
    const o = Math.floor((size + 2 * p - k) / s) + 1;
    const np = batch * o * o;
    const ckk = cin * k * k;
    const add = (
      m: number,
      n: number,
      kk: number,
      ta: boolean,
      tb: boolean,
      what: "fwd" | "dW" | "dX",
    ) => {
      const key = `${m}x${n}x${kk}:${ta ? "t" : "n"}${tb ? "t" : "n"}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push({ m, n, k: kk, ta, tb, label: `conv${i + 1} ${what}`, conv: { index: i, what } });
    };
    add(cout, np, ckk, false, false, "fwd");
    add(cout, ckk, np, false, true, "dW");
    add(ckk, np, cout, true, false, "dX");
  });
  return out;
}

function key(s: GemmShape): string {
  return `${s.m}x${s.n}x${s.k}:${s.ta ? "t" : "n"}${s.tb ? "t" : "n"}`;
}

/** Mean milliseconds per call of `fn` on `be`, after warm-up (synchronised timing). */
function timeIt(be: NativeBackend, fn: () => void, minMs = 300, maxIters = 1000): number {
  for (let i = 0; i < 3; i++) fn();
  be.synchronize();
  let t0 = performance.now();
  fn();
  be.synchronize();
  const one = Math.max(performance.now() - t0, 1e-3);
  const iters = Math.min(maxIters, Math.max(3, Math.floor(minMs / one)));
  t0 = performance.now();
  for (let i = 0; i < iters; i++) fn();
  be.synchronize();
  return (performance.now() - t0) / iters;
}

async function runJsonLines(
  cmd: string,
  args: string[],
): Promise<Record<string, unknown>[] | string> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(r.stdout);
    if (!r.success) {
      return `${cmd} ${args[0] ?? ""} failed (exit ${r.code}): ${
        new TextDecoder().decode(r.stderr).trim().split("\n").slice(-3).join(" | ")
      }`;
    }
    return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  } catch (e) {
    return `${cmd} could not run: ${(e as Error).message}`;
  }
}

/** Builds build/cublas_sgemm from bench/cuda_ref/cublas_sgemm.cu when nvcc and cuBLAS exist. */
async function cublasBinary(): Promise<string | null> {
  const out = BUILD_DIR + "cublas_sgemm";
  const src = decodeURIComponent(new URL("./cuda_ref/cublas_sgemm.cu", import.meta.url).pathname);
  try {
    const [b, s] = [Deno.statSync(out), Deno.statSync(src)];
    if ((b.mtime?.getTime() ?? 0) >= (s.mtime?.getTime() ?? 0)) return out;
  } catch { /* not built yet */ }
  try {
    const r = await new Deno.Command("nvcc", {
      args: [
        "-O3",
        "-gencode",
        "arch=compute_90,code=sm_90",
        "-gencode",
        "arch=compute_80,code=sm_80",
        "-o",
        out,
        src,
        "-lcublas",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.success) return out;
    console.log(
      `cuBLAS reference not built: ${new TextDecoder().decode(r.stderr).trim().split("\n")[0]}`,
    );
  } catch (e) {
    console.log(`cuBLAS reference not built: ${(e as Error).message}`);
  }
  return null;
}

const fmt = (
  v: number | undefined,
  d = 1,
) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(d));
const pad = (s: string, n: number) => s.padEnd(n);

async function main(): Promise<void> {
  const { values } = parseFlagsOrExit({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      out: { type: "string" },
      "no-torch": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log("usage: deno run -A bench/cuda_bench.ts [--quick] [--out FILE.json] [--no-torch]");
    return;
  }
  let be: NativeBackend;
  try {
    be = NativeBackend.open("cuda");
  } catch (e) {
    console.log(`cuda bench skipped: ${(e as Error).message}`);
    return;
  }
  const torchPy = decodeURIComponent(new URL("./cuda_ref/torch_ref.py", import.meta.url).pathname);
  const useTorch = !values["no-torch"];
  const report: Record<string, unknown> = { device: be.device, build: be.buildInfo };
  console.log(`device: ${be.device}\nbuild: ${be.buildInfo}`);

  // ---------------------------------------------------------------- SGEMM
  const squares = values.quick ? [1024, 2048, 4096] : [1024, 2048, 4096, 8192];
  const shapes: GemmShape[] = [
    ...squares.map((s) => ({ m: s, n: s, k: s, ta: false, tb: false, label: `square ${s}` })),
    ...convGemmShapes(128),
  ];
  const ours = new Map<string, number>();
  let maxA = 0, maxB = 0, maxC = 0;
  for (const s of shapes) {
    maxA = Math.max(maxA, s.m * s.k);
    maxB = Math.max(maxB, s.k * s.n);
    maxC = Math.max(maxC, s.m * s.n);
  }
  const rng = new Rng(5, Streams.noise);
  const randBuf = (n: number) => {
    const b = be.alloc(n, "float32");
    const chunk = new Float32Array(Math.min(n, 1 << 22));
    for (let off = 0; off < n; off += chunk.length) {
      const len = Math.min(chunk.length, n - off);
      for (let i = 0; i < len; i++) chunk[i] = rng.uniform() - 0.5;
      be.upload(b, chunk.subarray(0, len), off);
    }
    return b;
  };
  const A = randBuf(maxA), B = randBuf(maxB), C = be.alloc(maxC, "float32");
  for (const s of shapes) {
    const ms = timeIt(be, () => be.gemm(s.ta, s.tb, s.m, s.n, s.k, 1, A, 0, B, 0, 0, C, 0));
    ours.set(key(s), (2 * s.m * s.n * s.k) / (ms * 1e6));
  }
  be.free(A);
  be.free(B);
  be.free(C);
  let refName = "cuBLAS";
  let ref: Record<string, unknown>[] | string = "no reference";
  const bin = await cublasBinary();
  if (bin) ref = await runJsonLines(bin, shapes.map(key));
  if ((!bin || typeof ref === "string") && useTorch) {
    refName = "torch.matmul (cuBLAS, TF32 off)";
    ref = await runJsonLines("python3", [torchPy, "gemm", ...shapes.map(key)]);
  }
  const refG = new Map<string, number>();
  if (typeof ref === "string") console.log(`SGEMM reference unavailable: ${ref}`);
  else for (const r of ref) refG.set(String(r.shape), Number(r.gflops));
  console.log(`\nSGEMM GFLOP/s (ours vs ${refName})`);
  console.log(`${pad("shape", 28)}${pad("label", 14)}${pad("ours", 10)}${pad("ref", 10)}ratio`);
  const gemmRows = shapes.map((s) => {
    const o = ours.get(key(s))!;
    const r = refG.get(key(s));
    console.log(
      `${pad(key(s), 28)}${pad(s.label, 14)}${pad(fmt(o), 10)}${pad(fmt(r), 10)}${
        r ? fmt(o / r, 3) : "-"
      }`,
    );
    return { shape: key(s), label: s.label, ours: o, ref: r ?? null };
  });
  report.sgemm = { reference: refName, rows: gemmRows };
  const g4096 = gemmRows.find((r) => r.shape === "4096x4096x4096:nn");
  if (g4096?.ref) {
    const ratio = g4096.ours / g4096.ref;
    console.log(
      `target: SGEMM 4096 >= 0.85 of cuBLAS: ${fmt(ratio, 3)} ${ratio >= 0.85 ? "MET" : "NOT MET"}`,
    );
  }

  // ---------------------------------------------------------------- conv layers
  const batch = 128;
  console.log(`\nAll-CNN-C convolutions, forward + backward, batch ${batch} (ms)`);
  const convOurs: number[] = [];
  const ctx = { training: true, seed: 1, step: 0 };
  for (const [cin, cout, k, s, p, size] of ALLCNNC_CONVS) {
    const conv = new Conv2d(cout, k, { stride: s, pad: p });
    const outShape = conv.build([cin, size, size], {
      backend: be,
      dtype: "float32",
      rng: new Rng(1, Streams.init),
    });
    const x = Tensor.from(
      be,
      [batch, cin, size, size],
      new Float32Array(batch * cin * size * size).fill(0.5),
    );
    const dy = Tensor.from(
      be,
      [batch, ...outShape],
      new Float32Array(batch * outShape.reduce((a, b) => a * b, 1)).fill(0.1),
    );
    convOurs.push(timeIt(be, () =>
      tidy(() => {
        conv.forward(x, ctx);
        conv.backward(dy);
      })));
    x.dispose();
    dy.dispose();
    conv.dispose();
  }
  let convRef: Record<string, unknown>[] | string = "PyTorch disabled (--no-torch)";
  if (useTorch) convRef = await runJsonLines("python3", [torchPy, "conv", String(batch)]);
  if (typeof convRef === "string") console.log(`PyTorch conv reference unavailable: ${convRef}`);
  console.log(`${pad("layer", 34)}${pad("ours", 10)}${pad("cuDNN", 10)}ratio (cuDNN/ours)`);
  const convRows = ALLCNNC_CONVS.map(([cin, cout, k, s, p, size], i) => {
    const r = typeof convRef === "string" ? undefined : Number(convRef[i]?.ms);
    const name = `conv${i + 1} ${cin}->${cout} k${k} s${s} p${p} @${size}`;
    console.log(
      `${pad(name, 34)}${pad(fmt(convOurs[i], 3), 10)}${pad(fmt(r, 3), 10)}${
        r ? fmt(r / convOurs[i], 3) : "-"
      }`,
    );
    return { layer: name, oursMs: convOurs[i], refMs: r ?? null };
  });
  report.conv = convRows;

  // ---------------------------------------------------------------- training step
  console.log("\nAll-CNN-C training step (plain, SGD momentum 0.9), with the batch upload");
  const stepRows: Record<string, unknown>[] = [];
  const batches = [32, 128];
  const stepOurs = new Map<number, number>();
  for (const bsz of batches) {
    const arch = architecture("allcnnc", { inputShape: [3, 32, 32], classes: 10, dropout: false });
    const model = buildNetwork(arch, "plain", { backend: be, seed: 1 });
    const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.01, momentum: 0.9 });
    const loss = new SoftmaxCrossEntropy();
    const hostX = new Float32Array(bsz * 3 * 32 * 32);
    for (let i = 0; i < hostX.length; i++) hostX[i] = rng.normal();
    const hostY = new Float32Array(bsz);
    for (let i = 0; i < bsz; i++) hostY[i] = rng.int(10);
    const x = Tensor.from(be, [bsz, 3, 32, 32], hostX);
    const y = Tensor.from(be, [bsz], hostY);
    let step = 0;
    const ms = timeIt(
      be,
      () => {
        be.upload(x.buf, hostX);
        be.upload(y.buf, hostY);
        trainStep(model, loss, opt, x, y, { training: true, seed: 1, step: step++ });
      },
      values.quick ? 500 : 2000,
      2000,
    );
    stepOurs.set(bsz, ms);
    x.dispose();
    y.dispose();
    loss.dispose();
    opt.dispose();
    model.dispose();
  }
  let stepRef: Record<string, unknown>[] | string = "PyTorch disabled (--no-torch)";
  if (useTorch) {
    stepRef = await runJsonLines("python3", [torchPy, "allcnnc", ...batches.map(String)]);
  }
  if (typeof stepRef === "string") {
    console.log(`PyTorch training reference unavailable: ${stepRef}`);
  }
  console.log(
    `${pad("batch", 8)}${pad("ours ms", 10)}${pad("ours img/s", 12)}${pad("torch ms", 10)}${
      pad("torch img/s", 13)
    }throughput ratio`,
  );
  for (const bsz of batches) {
    const o = stepOurs.get(bsz)!;
    const r = typeof stepRef === "string"
      ? undefined
      : stepRef.find((e) => Number(e.batch) === bsz);
    const rms = r ? Number(r.ms_with_sync) : undefined;
    const ratio = rms ? rms / o : undefined;
    console.log(
      `${pad(String(bsz), 8)}${pad(fmt(o, 2), 10)}${pad(fmt((bsz * 1000) / o, 0), 12)}${
        pad(fmt(rms, 2), 10)
      }${pad(rms ? fmt((bsz * 1000) / rms, 0) : "-", 13)}${fmt(ratio, 3)}`,
    );
    stepRows.push({
      batch: bsz,
      oursMs: o,
      torchMs: rms ?? null,
      torchMsNoSync: r ? Number(r.ms) : null,
    });
    if (bsz === 128 && ratio !== undefined) {
      console.log(
        `target: All-CNN-C batch 128 >= 0.8x PyTorch: ${fmt(ratio, 3)} ${
          ratio >= 0.8 ? "MET" : "NOT MET"
        }`,
      );
    }
  }
  const epoch = (50000 / 32) * stepOurs.get(32)! / 1000;
  console.log(
    `projected CIFAR-10 epoch at batch 32: ${fmt(epoch, 1)} s (target < 30 s: ${
      epoch < 30 ? "MET" : "NOT MET"
    })`,
  );
  report.training = { rows: stepRows, projectedEpochSeconds: epoch };
  if (values.out) {
    await writeFileAtomic(values.out, JSON.stringify(report, null, 2) + "\n");
    console.log(`wrote ${values.out}`);
  }
}

if (import.meta.main) await main();
