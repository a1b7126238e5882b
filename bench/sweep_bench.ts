/**
 * The sweep benchmark (`deno task bench --only sweep`): a small sweep end to end, 3 variants
 * (`plain`, `bn`, `lsh_lsc`) x 4 seeds of `shiftlab-small`, one epoch of batch 32 on the first
 * 10,000 MNIST training images and the 10,000 test images evaluated after it, run by
 * `deno task experiment` (one command; it packs the runs itself) and by
 * `bench/torch_sweep.py` the way a PyTorch user would run it (one process per run, as many at
 * once and with `torch.set_num_threads` as many threads as ShiftLab's packing rule gives),
 * in the same bench run. Each side's wall time runs from its first process's start to its last
 * one's end, start-up and data loading included. The two alternate over rounds (PyTorch,
 * ShiftLab, PyTorch, ShiftLab) and each keeps its best, the machine being shared.
 *
 * @module
 */
import { mnistDataDir } from "../src/data/mnist.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";
import { DATASET_SHAPES, packRuns, stepCost } from "../src/experiment/packing.ts";

/** The sweep both sides run. */
export const SWEEP = {
  variants: ["plain", "bn", "lsh_lsc"],
  seeds: 4,
  lr: { default: 0.01, bn: 0.04 } as Record<string, number>,
  epochs: 1,
  batch: 32,
  train: 10_000,
  test: 10_000,
};

const CLI = decodeURIComponent(new URL("../experiments/cli.ts", import.meta.url).pathname);
const CONFIG = decodeURIComponent(new URL("../deno.json", import.meta.url).pathname);
const TORCH = decodeURIComponent(new URL("./torch_sweep.py", import.meta.url).pathname);

/** Both sides' best throughput. */
export interface SweepBench {
  runs: number;
  /** Runs per minute. */
  ours: number;
  /** Runs per minute; null without PyTorch. */
  torch: number | null;
  /** Runs at once and threads a run, as the packing rule gives them. */
  packing: { runs: number; threads: number };
}

async function ours(dir: string): Promise<number> {
  const config = {
    name: "sweep-bench",
    description: "deno task bench --only sweep",
    dataset: "mnist",
    architecture: "shiftlab-small",
    variants: SWEEP.variants,
    lr: SWEEP.lr,
    epochs: SWEEP.epochs,
    batchSize: SWEEP.batch,
    runs: SWEEP.seeds,
    optimizer: "momentum",
    momentum: 0.9,
    trainSubset: SWEEP.train,
    testSubset: SWEEP.test,
    validation: "test",
  };
  await writeFileAtomic(`${dir}/sweep.json`, JSON.stringify(config));
  const t0 = performance.now();
  const p = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      CONFIG,
      CLI,
      "--config",
      `${dir}/sweep.json`,
      "--out",
      `${dir}/ours`,
      "--no-report",
      "--progress",
      "plain",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  if (!p.success) {
    throw new Error(`the ShiftLab sweep failed: ${new TextDecoder().decode(p.stderr).trim()}`);
  }
  await Deno.remove(`${dir}/ours`, { recursive: true });
  return seconds;
}

async function torch(
  py: string,
  dir: string,
  data: string,
  packing: { runs: number; threads: number },
): Promise<number> {
  const queue = SWEEP.variants.flatMap((v) =>
    Array.from({ length: SWEEP.seeds }, (_, k) => ({ variant: v, seed: 1 + k }))
  );
  const t0 = performance.now();
  const lane = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const p = await new Deno.Command(py, {
        args: [
          TORCH,
          "--data",
          data,
          "--variant",
          job.variant,
          "--seed",
          String(job.seed),
          "--threads",
          String(packing.threads),
          "--lr",
          String(SWEEP.lr[job.variant] ?? SWEEP.lr.default),
          "--epochs",
          String(SWEEP.epochs),
          "--train",
          String(SWEEP.train),
          "--test",
          String(SWEEP.test),
          "--batch",
          String(SWEEP.batch),
          "--out",
          `${dir}/torch-${job.variant}-${job.seed}.json`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!p.success) {
        throw new Error(`the PyTorch run failed: ${new TextDecoder().decode(p.stderr).trim()}`);
      }
    }
  };
  await Promise.all(Array.from({ length: packing.runs }, lane));
  return (performance.now() - t0) / 1000;
}

/**
 * Runs the benchmark: `rounds` alternating rounds (PyTorch first, when `python` is given),
 * each side's best wall time turned into runs per minute.
 */
export async function benchSweep(
  o: { python: string | null; rounds: number; log: (s: string) => void },
): Promise<SweepBench> {
  const runs = SWEEP.variants.length * SWEEP.seeds;
  const rule = packRuns({
    cores: navigator.hardwareConcurrency,
    stepMacs: stepCost("shiftlab-small", DATASET_SHAPES.mnist, SWEEP.batch),
    backend: "cpu",
  });
  const packing = { runs: rule.runs, threads: rule.threads };
  o.log(
    `sweep: ${
      SWEEP.variants.join(", ")
    } x ${SWEEP.seeds} seeds of shiftlab-small, ${SWEEP.epochs} ` +
      `epoch on ${SWEEP.train} MNIST images; ${packing.runs} runs at once, ${packing.threads} ` +
      `thread(s) each, on both sides; ${o.rounds} alternating round(s), best of each`,
  );
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-sweep-bench-" });
  const data = await mnistDataDir();
  let best = Infinity;
  let bestTorch = Infinity;
  try {
    for (let r = 0; r < o.rounds; r++) {
      if (o.python) {
        const t = await torch(o.python, dir, data, packing);
        bestTorch = Math.min(bestTorch, t);
        o.log(`  round ${r + 1}: PyTorch ${t.toFixed(1)} s`);
      }
      const t = await ours(dir);
      best = Math.min(best, t);
      o.log(`  round ${r + 1}: ShiftLab ${t.toFixed(1)} s`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return {
    runs,
    ours: (runs * 60) / best,
    torch: Number.isFinite(bestTorch) ? (runs * 60) / bestTorch : null,
    packing,
  };
}
