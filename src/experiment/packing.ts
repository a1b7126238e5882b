/**
 * Packing: how many runs of a sweep train at once, and with how many threads each. The rule is
 * one pure function, {@link packRuns}, of the core count, a per-step cost estimate
 * ({@link stepCost}: multiply-accumulates of one training step, from the network's layer
 * shapes) and the backend; `--workers` and `--threads` override its two answers.
 *
 * A run's thread count comes from the rule alone, never from how many runs happen to train
 * beside it, so a run trains the same way alone or packed: the native library's reductions
 * (GEMM, the convolution's per-thread weight-gradient sums added in thread order) give the same
 * bits for the same thread count, and its provenance records that count (`cpu: <model>, N
 * threads`).
 *
 * @module
 */
import { type ArchitectureRef, type ArchSpec, resolveArchitecture } from "../architectures.ts";
import { dryRunNetwork } from "../variants.ts";

/**
 * Multiply-accumulates of a training step each thread of a run must get: a run gets several
 * threads only when its step has at least this many per thread; below it, runs are packed one
 * thread each. Measured on the 2-core development machine (AMD EPYC, Zen 3, AVX2) with
 * `deno task bench --only packing`: steps per second of 2 single-thread runs side by side
 * (2x1) against 1 run with 2 threads (1x2), each run its own process, batch 32, 3 alternating
 * rounds of 4 s, best of each side, the machine shared with two other busy processes (load
 * average 3 to 4):
 *
 * | network                 | MACs a step | 1x2 steps/s | 2x1 steps/s | 2x1 / 1x2 |
 * | ----------------------- | ----------- | ----------- | ----------- | --------- |
 * | shiftlab-small          | 35 M        | 49.0        | 200.1       | 4.09      |
 * | botos-mlp               | 126 M       | 32.5        | 102.3       | 3.14      |
 * | All-CNN-C x0.125, 28x28 | 319 M       | 11.3        | 21.6        | 1.91      |
 * | von Hacht MNIST         | 1.3 G       | 4.25        | 9.70        | 2.28      |
 * | All-CNN-C x0.25         | 1.7 G       | 2.74        | 6.13        | 2.24      |
 * | All-CNN-C x0.5          | 6.6 G       | 1.72        | 2.09        | 1.21      |
 * | All-CNN-C               | 26 G        | 0.97        | 0.71        | 0.73      |
 *
 * The ratio crosses 1 at about 11 G a step (log-interpolated between the last two rows), so 2
 * threads need at least 2 x 5 G. On a quiet machine two threads of one run lose less to each
 * other and the crossover moves down; the rule keeps the measured one. That machine's two vCPUs
 * are the two hardware threads of one core (README, "What two cores are here"): two runs side by
 * side share its FMA units, so the rule counts logical CPUs and what packing buys there is the
 * work one run leaves idle (the quick default: 1.70x over one run at a time).
 */
export const MIN_MACS_PER_THREAD = 5e9;

/** What {@link packRuns} decides. */
export interface Packing {
  /** Runs trained at once (worker processes; 1: in the process itself). */
  runs: number;
  /** Threads of every run (the native library's OpenMP threads). */
  threads: number;
  /** Why, in a few words (for the backend line). */
  reason: string;
}

/** The backends the rule knows. */
export type PackingBackend = "ts" | "cpu" | "cuda";

/**
 * The packing rule.
 *
 * - `cpu`: each thread of a run gets at least {@link MIN_MACS_PER_THREAD} multiply-accumulates
 *   of a step: the threads per run are the largest divisor of `cores` not above
 *   `stepMacs / MIN_MACS_PER_THREAD` (at least 1), and `cores / threads` runs train at once. A
 *   small network gets one thread per run and every core a run; a big one (All-CNN-C) all
 *   cores for one run.
 * - `ts`: the TypeScript backend computes on one thread: one run per core.
 * - `cuda`: one run per GPU (the worker-per-GPU rule), the cores shared among them (the CUDA
 *   build computes on the device; its host threads do not change results).
 */
export function packRuns(
  o: { cores: number; stepMacs: number; backend: PackingBackend; gpus?: number },
): Packing {
  const cores = Math.max(1, Math.floor(o.cores));
  if (o.backend === "ts") {
    return { runs: cores, threads: 1, reason: "the ts backend uses one core a run" };
  }
  if (o.backend === "cuda") {
    const gpus = Math.max(1, Math.floor(o.gpus ?? 1));
    return {
      runs: gpus,
      threads: Math.max(1, Math.floor(cores / gpus)),
      reason: gpus > 1 ? "one run per GPU" : "one GPU",
    };
  }
  const want = Math.floor(o.stepMacs / MIN_MACS_PER_THREAD);
  let threads = 1;
  for (let t = 1; t <= cores; t++) if (cores % t === 0 && t <= want) threads = t;
  const runs = Math.floor(cores / threads);
  return {
    runs,
    threads,
    reason: threads === 1
      ? `a step of ${fmtMacs(o.stepMacs)} MACs is too small to share: one thread a run`
      : `a step of ${fmtMacs(o.stepMacs)} MACs shares well: ${threads} threads a run`,
  };
}

function fmtMacs(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  return `${Math.round(n / 1e3)}k`;
}

/** Per-sample input shape and class count of each dataset (without loading it). */
export const DATASET_SHAPES: Readonly<Record<string, { inputShape: number[]; classes: number }>> = {
  "mnist": { inputShape: [1, 28, 28], classes: 10 },
  "fashion-mnist": { inputShape: [1, 28, 28], classes: 10 },
  "cifar10": { inputShape: [3, 32, 32], classes: 10 },
  "cifar100": { inputShape: [3, 32, 32], classes: 100 },
};

/**
 * Multiply-accumulates of one training step of the architecture `arch` (a preset, a preset at a
 * width, or a layer list; its `plain` form, without dropout) for `data`'s shape on a batch of
 * `batch`: see {@link stepMacs}.
 */
export function stepCost(
  arch: ArchitectureRef,
  data: { inputShape: number[]; classes: number },
  batch: number,
): number {
  return stepMacs(resolveArchitecture(arch, { ...data, dropout: false }), batch);
}

/**
 * Multiply-accumulates of one training step of `spec` (as `plain`) on a batch of `batch`: three
 * times the forward pass (forward, dL/dx, dL/dw) of every conv and dense layer (weight size
 * times output pixels), plus two per element of every layer's output (its value and its
 * gradient) for the elementwise work. From the layer shapes alone (a dry-run build), so the
 * estimate depends neither on the variant nor on the machine or its load.
 */
export function stepMacs(spec: ArchSpec, batch: number): number {
  const model = dryRunNetwork(spec, "plain");
  try {
    const shapes = model.layerOutputShapes;
    let macs = 0;
    let elements = 0;
    model.layers.forEach((layer, i) => {
      const out = shapes[i];
      const pixels = out.length === 3 ? out[1] * out[2] : 1;
      for (const p of layer.params()) if (p.kind === "weight") macs += p.value.size * pixels;
      elements += out.reduce((a, b) => a * b, 1);
    });
    return batch * (3 * macs + 2 * elements);
  } finally {
    model.dispose();
  }
}
