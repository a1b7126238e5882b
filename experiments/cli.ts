/**
 * `deno task experiment`: runs an experiment sweep (a preset, or a JSON config file, with
 * command-line overrides), writes one JSON record per finished run and, at the end, the HTML
 * report. Mistakes in the arguments exit with code 2: `error: <what was wrong>` and a hint to
 * `--help` (src/cli.ts).
 *
 * @module
 */
import { dirname } from "node:path";
import type { Backend } from "../src/backend.ts";
import { type BackendName, selectBackend } from "../src/backends/select.ts";
import { parseFlags, reportFailure, UsageError } from "../src/cli.ts";
import { DATASETS } from "../src/data/mod.ts";
import { type ExperimentConfig, readConfigFile, validateConfig } from "../src/experiment/config.ts";
import { readJsonIfExists } from "../src/experiment/files.ts";
import { parseShard, type Shard } from "../src/experiment/plan.ts";
import { DATASET_SHAPES, type Packing, packRuns, stepCost } from "../src/experiment/packing.ts";
import { type Pool, startPool, workerChannel } from "../src/experiment/pool.ts";
import type { ExperimentManifest } from "../src/experiment/record.ts";
import { prepareData, runSweep, type SweepResult } from "../src/experiment/sweep.ts";
import { readSweepData, writeSweepData } from "../src/experiment/datacache.ts";
import { cudaDeviceCount } from "../src/backends/devices.ts";
import { parseArchitectureRef } from "../src/architectures.ts";
import { createOutputFolder, type OutputFolder, updateIndexOf } from "../src/report/root.ts";
import { createProgress, type Progress } from "../src/progress.ts";
import { canonicalVariant, checkVariant, VARIANT_GRAMMAR } from "../src/variants.ts";
import { DEFAULT_PRESET, presetConfig, presetList } from "./presets.ts";

/** The usage text. */
export const USAGE = `usage: deno task experiment [options]

Runs a sweep of variants x learning rates x runs, one JSON record per finished run, then
writes the HTML report and prints its path. A rerun into the same --out folder skips
finished runs. Default: --preset ${DEFAULT_PRESET}.

  --preset NAME          a named experiment (see the list below)
  --config FILE          a JSON experiment file (same fields as experiments/presets/*.json)
  --variants a,b,...     variants to train: the thesis's (plain bn sh sc sh_sc csh csc
                         csh_csc lsh lsc lsh_lsc, sh2.. csh2.. biased2.. psc cpsc lpsc) or
                         compositions such as bn+lsh+lsc, csh+csc+ddi, gn, ws, fixup
                         (see "variants" below)
  --runs N               runs per variant (run k of every variant uses seed base+k)
  --epochs N             epochs per run
  --lr x,y,...           learning rates for every variant (turns the lr search off)
  --lr-search            run the preset's learning-rate search (default where it has one)
  --no-lr-search         use the preset's fixed rates instead of its search
  --batch N              batch size
  --seed N               base seed
  --dataset NAME         ${DATASETS.join(" | ")}
  --data-dir DIR         folder with the dataset's files
  --train-subset N       train on the first N training samples
  --agc LAMBDA           adaptive gradient clipping (conv/dense weights but the classifier's)
  --test-subset N        evaluate on the first N test samples
  --backend NAME         auto | ts | cpu | cuda (default auto: cuda, else cpu, else ts)
  --out DIR              experiment folder (default results/<preset name>)
  --workers N            train N runs at once, each in its own process (default: the packing
                         rule, from the network's size and the cores; one per GPU)
  --threads N            threads of every run (default: the packing rule)
  --shard i/n            run only part i of n of the sweep (Slurm job arrays; no report)
  --resume               continue the experiment in --out (its stored config is used when
                         no --preset/--config is given)
  --extend               add this command's variants, rates or runs to the plan of the
                         experiment already in --out (without it, a different plan is refused)
  --save-models          save every trained network as models/<run>.safetensors
  --prepare              only settle the learning rates (run the lr search) and write
                         experiment.json; train nothing (before a --shard job array)
  --no-report            do not write the HTML report at the end
  --progress MODE        auto | live | plain (default auto: live on a terminal)
  --verbose              also say why CUDA is not used (the CUDA library's message)
  --list                 list the presets and exit
  -h, --help             this text

variants: ${VARIANT_GRAMMAR.replace(/(.{1,88})(?: |$)/g, "$1\n  ").trimEnd()}

presets:
${presetList()}`;

function posInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1) {
    throw new UsageError(`${flag} must be a positive integer, got '${v}'`);
  }
  return n;
}

function rates(v: string): number[] {
  const out = v.split(",").map((s) => s.trim());
  return out.map((s) => {
    const n = Number(s);
    if (s === "" || !Number.isFinite(n) || n <= 0) {
      throw new UsageError(`--lr must be a comma-separated list of positive numbers, got '${v}'`);
    }
    return n;
  });
}

const OPTIONS = {
  preset: { type: "string" },
  config: { type: "string" },
  variants: { type: "string" },
  runs: { type: "string" },
  epochs: { type: "string" },
  lr: { type: "string" },
  "lr-search": { type: "boolean" },
  "no-lr-search": { type: "boolean" },
  batch: { type: "string" },
  seed: { type: "string" },
  dataset: { type: "string" },
  "data-dir": { type: "string" },
  "train-subset": { type: "string" },
  "test-subset": { type: "string" },
  agc: { type: "string" },
  backend: { type: "string" },
  out: { type: "string" },
  workers: { type: "string" },
  threads: { type: "string" },
  shard: { type: "string" },
  worker: { type: "string" },
  "data-cache": { type: "string" },
  "search-trials": { type: "boolean" },
  resume: { type: "boolean" },
  extend: { type: "boolean" },
  "save-models": { type: "boolean" },
  prepare: { type: "boolean" },
  "no-report": { type: "boolean" },
  progress: { type: "string" },
  verbose: { type: "boolean" },
  list: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Parsed command line. */
export interface CliArgs {
  config: ExperimentConfig;
  source: string;
  /** Fields where the command line changed the preset or config file (`field: old → new`). */
  overrides: string[];
  outDir: string;
  backend: BackendName;
  /** Runs at once (`--workers`); default: the packing rule. */
  workers?: number;
  /** Threads of every run (`--threads`); default: the packing rule. */
  threads?: number;
  shard?: Shard;
  /** This process is worker `index` of `count` of a packed sweep (internal). */
  worker?: Shard;
  /** The parent's prepared data (a worker's, internal). */
  dataCache?: string;
  /** This worker trains learning-rate search trials, not runs (internal). */
  searchTrials?: boolean;
  resume: boolean;
  extend: boolean;
  saveModels: boolean;
  prepare: boolean;
  report: boolean;
  progress: "auto" | "live" | "plain";
  verbose: boolean;
}

const checks = {
  variant: checkVariant,
  architecture: (a: unknown) => void parseArchitectureRef(a),
};

/**
 * Parses and validates the arguments into a complete config. Throws `UsageError`-style errors
 * (message only) for mistakes; returns null for `--help`/`--list` (already printed).
 */
export async function parseCli(args: string[]): Promise<CliArgs | null> {
  const v = parseFlags({ args, options: OPTIONS, allowPositionals: false, strict: true }).values;
  if (v.help) {
    console.log(USAGE);
    return null;
  }
  if (v.list) {
    console.log(presetList());
    return null;
  }
  if (v.preset && v.config) throw new UsageError("give --preset or --config, not both");
  if (v.lr && v["lr-search"]) throw new UsageError("--lr and --lr-search exclude each other");
  const backend = v.backend ?? "auto";
  if (!["auto", "ts", "cpu", "cuda"].includes(backend)) {
    throw new UsageError(`--backend must be auto, ts, cpu or cuda, got '${backend}'`);
  }
  const progress = v.progress ?? "auto";
  if (!["auto", "live", "plain"].includes(progress)) {
    throw new UsageError(`--progress must be auto, live or plain, got '${progress}'`);
  }
  if (v.dataset && !(DATASETS as readonly string[]).includes(v.dataset)) {
    throw new UsageError(`--dataset must be one of ${DATASETS.join(", ")}, got '${v.dataset}'`);
  }
  let shard: Shard | undefined;
  let worker: Shard | undefined;
  try {
    if (v.shard) shard = parseShard(v.shard, "--shard");
    if (v.worker) worker = parseShard(v.worker, "--worker");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const workers = posInt("--workers", v.workers);
  const threads = posInt("--threads", v.threads);

  let raw: Record<string, unknown>;
  let source: string;
  let resumed = false;
  if (v.config) {
    source = v.config;
    raw = { ...(await readConfigFile(v.config, checks)) } as unknown as Record<string, unknown>;
  } else if (v.resume && !v.preset) {
    if (!v.out) throw new UsageError("--resume needs --out DIR (or a --preset/--config)");
    const m = await readJsonIfExists<ExperimentManifest>(`${v.out}/experiment.json`);
    if (!m?.config) {
      throw new UsageError(`--resume: ${v.out}/experiment.json not found; nothing to resume`);
    }
    source = m.source ?? m.preset;
    raw = { ...m.config } as unknown as Record<string, unknown>;
    resumed = true;
  } else {
    source = v.preset ?? DEFAULT_PRESET;
    try {
      raw = presetConfig(source) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const before = structuredClone(raw);
  if (v.variants !== undefined) {
    // Canonical spellings (a misspelled one stays as given, for validation to name).
    raw.variants = v.variants.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
      try {
        return canonicalVariant(s);
      } catch {
        return s;
      }
    });
    // keep per-variant rates only for variants still in the sweep
    if (raw.lr && typeof raw.lr === "object" && !Array.isArray(raw.lr)) {
      const lr = raw.lr as Record<string, unknown>;
      raw.lr = Object.fromEntries(
        Object.entries(lr).filter(([k]) =>
          k === "default" || (raw.variants as string[]).includes(k)
        ),
      );
    }
    if (raw.dropoutOverrides) {
      raw.dropoutOverrides = Object.fromEntries(
        Object.entries(raw.dropoutOverrides as Record<string, boolean>)
          .filter(([k]) => (raw.variants as string[]).includes(k)),
      );
    }
  }
  if (v.runs) raw.runs = posInt("--runs", v.runs);
  if (v.epochs) raw.epochs = posInt("--epochs", v.epochs);
  if (v.batch) raw.batchSize = posInt("--batch", v.batch);
  if (v.seed !== undefined) {
    if (!/^\d+$/.test(v.seed)) {
      throw new UsageError(`--seed must be a non-negative integer, got '${v.seed}'`);
    }
    raw.baseSeed = Number(v.seed);
  }
  if (v.dataset) raw.dataset = v.dataset;
  if (v["data-dir"]) raw.dataDir = v["data-dir"];
  if (v["train-subset"]) raw.trainSubset = posInt("--train-subset", v["train-subset"]);
  if (v["test-subset"]) raw.testSubset = posInt("--test-subset", v["test-subset"]);
  if (v.agc !== undefined) {
    const lambda = Number(v.agc);
    if (v.agc.trim() === "" || !Number.isFinite(lambda) || lambda <= 0) {
      throw new UsageError(`--agc must be a positive number (the clipping λ), got '${v.agc}'`);
    }
    raw.agc = lambda;
  }
  if (v.lr) {
    raw.lr = rates(v.lr);
    delete raw.lrSearch;
  }
  if (v["no-lr-search"]) delete raw.lrSearch;
  if (v["lr-search"] && !raw.lrSearch) raw.lrSearch = {};
  let config: ExperimentConfig;
  try {
    config = validateConfig(raw, v.config ?? `preset '${source}'`, checks);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    config,
    source,
    overrides: resumed ? [] : configOverrides(before, config),
    outDir: (v.out ?? `results/${config.name}`).replace(/\/+$/, ""),
    backend: backend as CliArgs["backend"],
    workers,
    threads,
    shard,
    worker,
    dataCache: v["data-cache"],
    searchTrials: !!v["search-trials"],
    resume: !!v.resume,
    extend: !!v.extend,
    saveModels: !!v["save-models"],
    prepare: !!v.prepare,
    report: !v["no-report"] && !shard && !worker && !v.prepare,
    progress: progress as CliArgs["progress"],
    verbose: !!v.verbose,
  };
}

/**
 * The fields in which `config` differs from the preset or file it came from (`before`, not yet
 * validated: missing fields count as their defaults), as `field: old → new`.
 */
export function configOverrides(
  before: Record<string, unknown>,
  config: ExperimentConfig,
): string[] {
  const base = validateConfig(before, "the preset", checks) as unknown as Record<string, unknown>;
  const now = config as unknown as Record<string, unknown>;
  const show = (x: unknown) => (x === undefined ? "none" : JSON.stringify(x));
  return [...new Set([...Object.keys(base), ...Object.keys(now)])]
    .filter((k) => JSON.stringify(base[k]) !== JSON.stringify(now[k]))
    .map((k) => `${k}: ${show(base[k])} → ${show(now[k])}`);
}

/**
 * Arguments for worker `j` of `n`: the parent's, minus the flags only the parent acts on, plus
 * `--worker`, the folder and the backend the parent chose.
 */
export function workerArgs(
  args: string[],
  j: number,
  n: number,
  outDir: string,
  backend: string,
): string[] {
  const parentOnly = ["--workers", "--threads", "--out", "--progress", "--backend"];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (parentOnly.includes(a)) {
      i++;
      continue;
    }
    if (parentOnly.some((f) => a.startsWith(`${f}=`)) || a === "--verbose") continue;
    out.push(a);
  }
  return [...out, "--worker", `${j}/${n}`, "--out", outDir, "--no-report", "--backend", backend];
}

/** The packing of this sweep on `backend`: the rule's, with `--workers` / `--threads` over it. */
function sweepPacking(cli: CliArgs, backend: string, cost: number, gpus: number): Packing {
  const rule = packRuns({
    cores: navigator.hardwareConcurrency,
    stepMacs: cost,
    backend: backend === "cuda" || backend === "ts" ? backend : "cpu",
    gpus,
  });
  return {
    runs: cli.workers ?? rule.runs,
    threads: cli.threads ?? rule.threads,
    reason: cli.workers !== undefined && cli.threads !== undefined
      ? "--workers and --threads"
      : cli.workers !== undefined
      ? `--workers; threads: ${rule.reason}`
      : cli.threads !== undefined
      ? `--threads; runs: ${rule.reason}`
      : rule.reason,
  };
}

/** `packing: 2 runs at once, 1 thread each (why)`. */
function packingLine(p: Packing, backend: string): string {
  const runs = p.runs === 1 ? "1 run at a time" : `${p.runs} runs at once`;
  const threads = backend === "cpu"
    ? `, ${p.threads} thread${p.threads === 1 ? "" : "s"} each`
    : "";
  return `packing: ${runs}${threads} (${p.reason})`;
}

/** A worker process of a packed sweep: trains the runs its parent hands out; see pool.ts. */
async function workerMain(cli: CliArgs): Promise<number> {
  const channel = workerChannel();
  let stop = false;
  try {
    Deno.addSignalListener("SIGINT", () => {}); // the parent owns Ctrl-C and tells us (SIGTERM)
    Deno.addSignalListener("SIGTERM", () => void (stop = true));
  } catch { /* signals unsupported here */ }
  try {
    const { backend } = selectBackend(cli.backend);
    const r = await runSweep({
      ...sweepOpts(cli, backend, channel.progress, () => stop || channel.parentGone()),
      data: cli.dataCache ? await readSweepData(cli.dataCache) : undefined,
      ...(cli.searchTrials ? { takeTrials: () => channel.take() } : { take: () => channel.take() }),
    });
    channel.finish(r.ran, r.diverged);
    return r.stopped ? 130 : 0;
  } catch (e) {
    return reportFailure(e);
  }
}

/** The CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let cli: CliArgs | null;
  try {
    cli = await parseCli(args);
  } catch (e) {
    return reportFailure(e instanceof UsageError ? e : new UsageError((e as Error).message));
  }
  if (!cli) return 0;
  if (cli.worker) return await workerMain(cli);

  let stopRequested = false;
  let pool: Pool | null = null;
  const progress = createProgress({
    tty: cli.progress === "auto" ? undefined : cli.progress === "live",
  });
  const onSigint = () => {
    if (stopRequested) {
      pool?.kill();
      Deno.exit(130);
    }
    stopRequested = true;
    pool?.stop();
    progress.error(
      "stopping: finished runs are saved; runs in flight are dropped (Ctrl-C again to quit now)",
    );
  };
  try {
    Deno.addSignalListener("SIGINT", onSigint);
  } catch { /* signals unsupported here */ }
  const stop = () => stopRequested;
  let folder: OutputFolder | null = null;
  let dataCache: string | null = null;
  // The report's module, loaded while the workers train: its statistics pull in some 1,000 npm
  // modules (about 0.5 s), which nothing needs before the report.
  let reportModule: Promise<typeof import("../src/report/report.ts")> | null = null;
  const loadReport = () => {
    if (!reportModule) {
      reportModule = import("../src/report/report.ts");
      reportModule.catch(() => {}); // a failure surfaces where the report awaits it
    }
    return reportModule;
  };

  try {
    const config = cli.config;
    const cost = stepCost(config.architecture, DATASET_SHAPES[config.dataset], config.batchSize);
    // Before the native library loads: libgomp reads OMP_NUM_THREADS once, when it is loaded,
    // and every run of this process and its workers trains with that many threads.
    const cpuPacking = sweepPacking(cli, "cpu", cost, 0);
    Deno.env.set("OMP_NUM_THREADS", String(cpuPacking.threads));
    const { backend, reason, detail } = selectBackend(cli.backend);
    const gpus = backend.name === "cuda" ? cudaDeviceCount() : 0;
    const packing = sweepPacking(cli, backend.name, cost, gpus);
    console.log(`backend: ${backend.name} (${backend.device}) - ${reason}`);
    if (cli.verbose && detail) console.log(`  ${detail}`);
    console.log(packingLine(packing, backend.name));
    console.log(`experiment: ${cli.source} -> ${cli.outDir}`);
    folder = await createOutputFolder(cli.outDir);
    const t0 = performance.now();
    const opts = sweepOpts(cli, backend, progress, stop);
    // Packed: the data is prepared here once and read by the workers from a file.
    const data = packing.runs > 1 ? await prepareData(cli.config) : undefined;
    const runPool = async (files: string[], extra: string[]) => {
      if (!dataCache) {
        dataCache = await Deno.makeTempFile({ prefix: "shiftlab-sweep-data-" });
        await writeSweepData(dataCache, data!);
      }
      const cache = dataCache;
      const workers = Math.min(packing.runs, files.length);
      progress.message(
        `started ${workers} worker processes${gpus > 1 ? ` over ${gpus} GPUs` : ""}`,
      );
      pool = startPool({
        workers,
        runs: files,
        progress,
        onStarted: cli!.report ? () => void loadReport() : undefined,
        spawn: (j) =>
          new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              // the project's import map, wherever the command was started from
              "--config",
              decodeURIComponent(new URL("../deno.json", import.meta.url).pathname),
              decodeURIComponent(new URL(import.meta.url).pathname),
              ...workerArgs(args, j, workers, cli!.outDir, backend.name),
              "--data-cache",
              cache,
              ...extra,
            ],
            env: {
              OMP_NUM_THREADS: String(packing.threads),
              SHIFTLAB_WORKER: String(j),
              ...(gpus > 1 ? { CUDA_VISIBLE_DEVICES: String(j % gpus) } : {}),
            },
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
          }).spawn(),
      });
      const done = await pool.done;
      pool = null;
      if (done.failed.length > 0 && !stop()) {
        throw new Error(
          `${done.failed.length} worker(s) failed (exit codes ${
            done.failed.map((f) => f.code).join(", ")
          })`,
        );
      }
      return done;
    };
    // A search whose grids fix its trials trains them side by side too.
    const runTrials = data
      ? async (files: string[]) => (await runPool(files, ["--search-trials"]), !stop())
      : undefined;
    let result: SweepResult;
    if (cli.prepare) {
      result = await runSweep({ ...opts, data, runTrials, prepareOnly: true });
      console.log(
        `prepared ${cli.outDir}/experiment.json: ${result.planned} runs planned, learning rates ${
          JSON.stringify(
            Object.fromEntries(
              Object.entries(result.learningRates).map(([k, v]) => [k, v.join(",")]),
            ),
          )
        }`,
      );
    } else {
      // Packed: the plan and the manifest first, here; then the workers take the runs.
      const prepared = data
        ? await runSweep({ ...opts, data, runTrials, prepareOnly: true })
        : null;
      if (prepared && prepared.todo.length > 1 && !stop()) {
        progress.sweepStart(prepared.selected, prepared.skipped);
        const done = await runPool(prepared.todo.map((s) => s.file), []);
        progress.end();
        result = { ...prepared, ran: done.ran, diverged: done.diverged, stopped: stop() };
      } else {
        result = prepared && stop() ? prepared : await runSweep({ ...opts, data });
      }
      if (result.planned === 0 && result.stopped) {
        console.log("interrupted during the learning-rate search; its finished trials are kept");
      } else {
        console.log(
          `${result.ran} run(s) trained${
            result.diverged ? ` (${result.diverged} diverged)` : ""
          }, ` +
            `${result.skipped} already finished, ${result.selected} in this share of ${result.planned}, ` +
            `${((performance.now() - t0) / 1000).toFixed(1)}s`,
        );
      }
    }
    if (cli.shard) {
      console.log(
        `shard ${cli.shard.index}/${cli.shard.count} done; merge with: deno task report ${cli.outDir}`,
      );
    }
    if (cli.report && !stop()) {
      const { writeExperimentReport } = await loadReport();
      const page = await writeExperimentReport(cli.outDir, { warn: console.error });
      await updateIndexOf(dirname(cli.outDir));
      console.log(`report: ${page}`);
    }
    if (stop()) {
      console.log(`interrupted; resume with: deno task experiment --resume --out ${cli.outDir}`);
      return 130;
    }
    return 0;
  } catch (e) {
    await folder?.discard();
    return reportFailure(e);
  } finally {
    if (dataCache) await Deno.remove(dataCache).catch(() => {});
    try {
      Deno.removeSignalListener("SIGINT", onSigint);
    } catch { /* ignore */ }
  }
}

function sweepOpts(
  cli: CliArgs,
  backend: Backend,
  progress: Progress,
  stop: () => boolean,
) {
  return {
    config: cli.config,
    source: cli.source,
    overrides: cli.overrides,
    outDir: cli.outDir,
    backend,
    shard: cli.shard,
    saveModels: cli.saveModels,
    extend: cli.extend,
    progress,
    shouldStop: stop,
  };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
