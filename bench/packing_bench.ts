/**
 * The packing crossover (`deno task bench --only packing`): for networks from small to large,
 * the training throughput of one run with all cores' threads against one single-thread run per
 * core side by side, each run its own process as in a sweep (`OMP_NUM_THREADS` set before the
 * library loads). The two layouts alternate over rounds and each keeps its best throughput, so
 * neither gets only the machine's quiet or busy moments. The per-step cost is the packing
 * rule's own estimate ({@link stepMacs}); the rule's threshold
 * ({@link MIN_MACS_PER_THREAD}) comes from where the ratio crosses 1.
 *
 * Run as `deno run -A bench/packing_bench.ts --child NAME --threads T --seconds S` it is one
 * such run: it trains NAME at batch 32 on random data for S seconds and prints its steps per
 * second as JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MIN_MACS_PER_THREAD, stepMacs } from "../src/experiment/packing.ts";
import { architecture, type ArchSpec, resolveArchitecture } from "../src/architectures.ts";

const BATCH = 32;

/** All-CNN-C at `width` of its channels (the architectures' width option), on CIFAR's images. */
function allcnncWidth(width: number, data = { inputShape: [3, 32, 32], classes: 10 }): ArchSpec {
  const a = resolveArchitecture({ preset: "allcnnc", width }, data);
  const on = data.inputShape[0] === 1 ? " (28x28)" : "";
  return { ...a, name: `${width === 1 ? "allcnnc" : `allcnnc x${width}`}${on}` };
}

/** The networks measured, small to large. */
export function packingModels(): ArchSpec[] {
  const mnist = { inputShape: [1, 28, 28], classes: 10 };
  return [
    architecture("shiftlab-small", mnist),
    architecture("botos-mlp", mnist),
    allcnncWidth(0.125, mnist), // the modern preset's network
    allcnncWidth(0.25),
    { ...architecture("vonhacht-mnist", mnist), name: "vonhacht-mnist" },
    allcnncWidth(0.5),
    allcnncWidth(1),
  ];
}

/** One run's steps per second (the child process). */
async function child(name: string, threads: number, seconds: number): Promise<void> {
  Deno.env.set("OMP_NUM_THREADS", String(threads));
  const { tryNative } = await import("../src/backends/select.ts");
  const { buildNetwork } = await import("../src/variants.ts");
  const { Optimizer } = await import("../src/optim.ts");
  const { SoftmaxCrossEntropy } = await import("../src/loss.ts");
  const { trainStep } = await import("../src/train.ts");
  const { Tensor } = await import("../src/tensor.ts");
  const { Rng, Streams } = await import("../src/rng.ts");
  const be = tryNative("cpu");
  if (typeof be === "string") throw new Error(be);
  const arch = packingModels().find((a) => a.name === name);
  if (!arch) throw new Error(`unknown model '${name}'`);
  const model = buildNetwork(arch, "plain", { backend: be, seed: 1 });
  const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.01, momentum: 0.9 });
  const loss = new SoftmaxCrossEntropy();
  const per = arch.inputShape.reduce((a, b) => a * b, 1);
  const r = new Rng(5, Streams.noise);
  const x = Tensor.from(
    be,
    [BATCH, ...arch.inputShape],
    new Float32Array(BATCH * per).map(() => r.uniform() * 2 - 1),
  );
  const y = Tensor.from(be, [BATCH], new Float32Array(BATCH).map((_, i) => i % arch.classes));
  let step = 0;
  const one = () => trainStep(model, loss, opt, x, y, { training: true, seed: 1, step: step++ });
  for (let i = 0; i < 3; i++) one();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    one();
    n++;
  }
  console.log(
    JSON.stringify({ stepsPerSecond: n / ((performance.now() - t0) / 1000), device: be.device }),
  );
}

async function spawnRuns(name: string, runs: number, threads: number, seconds: number) {
  const script = new URL(import.meta.url).pathname;
  const children = Array.from({ length: runs }, () =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        script,
        "--child",
        name,
        "--threads",
        String(threads),
        "--seconds",
        String(seconds),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output());
  const outs = await Promise.all(children);
  let total = 0;
  for (const o of outs) {
    if (!o.success) throw new Error(`packing child for ${name} failed`);
    total += JSON.parse(new TextDecoder().decode(o.stdout)).stepsPerSecond;
  }
  return total;
}

/** One measured network: its cost and both layouts' best throughput. */
export interface PackingRow {
  name: string;
  stepMacs: number;
  /** Steps per second of one run with `cores` threads. */
  shared: number;
  /** Steps per second of `cores` single-thread runs together. */
  packed: number;
}

/** Measures every network of {@link packingModels}; `log` gets one line per network. */
export async function benchPacking(
  o: { cores: number; rounds: number; seconds: number; log: (s: string) => void },
): Promise<PackingRow[]> {
  const rows: PackingRow[] = [];
  o.log(
    `packing: ${o.cores} runs x 1 thread vs 1 run x ${o.cores} threads, ${o.rounds} alternating ` +
      `rounds of ${o.seconds}s, best of each; rule threshold ${
        MIN_MACS_PER_THREAD / 1e9
      }G MACs a thread`,
  );
  for (const arch of packingModels()) {
    const row: PackingRow = {
      name: arch.name,
      stepMacs: stepMacs(arch, BATCH),
      shared: 0,
      packed: 0,
    };
    for (let r = 0; r < o.rounds; r++) {
      row.shared = Math.max(row.shared, await spawnRuns(arch.name, 1, o.cores, o.seconds));
      row.packed = Math.max(row.packed, await spawnRuns(arch.name, o.cores, 1, o.seconds));
    }
    o.log(
      `${arch.name.padEnd(16)} ${(row.stepMacs / 1e6).toFixed(0).padStart(6)}M MACs/step  ` +
        `1x${o.cores}: ${row.shared.toFixed(2).padStart(7)} steps/s  ${o.cores}x1: ` +
        `${row.packed.toFixed(2).padStart(7)} steps/s  packed/shared ${
          (row.packed / row.shared).toFixed(2)
        }`,
    );
    rows.push(row);
  }
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      child: { type: "string" },
      threads: { type: "string", default: "1" },
      seconds: { type: "string", default: "3" },
      rounds: { type: "string", default: "3" },
    },
  });
  if (values.child) await child(values.child, Number(values.threads), Number(values.seconds));
  else {
    await benchPacking({
      cores: navigator.hardwareConcurrency,
      rounds: Number(values.rounds),
      seconds: Number(values.seconds),
      log: console.log,
    });
  }
}
