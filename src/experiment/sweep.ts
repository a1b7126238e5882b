/**
 * The sweep: load the data, settle the learning rates (fixed or searched), plan the runs, take
 * this process's share (`--shard`, worker), skip finished runs, train the rest and write each
 * record atomically the moment it finishes.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { type Dataset, holdOut, subset } from "../data/dataset.ts";
import { loadTrainTest } from "../data/mod.ts";
import type { Progress } from "../progress.ts";
import { architectureName } from "../architectures.ts";
import { buildNetwork } from "../variants.ts";
import { CONFIG_DEFAULTS, type ExperimentConfig, ratesFor } from "./config.ts";
import { finishedRuns, readJsonIfExists, writeJsonAtomic } from "./files.ts";
import {
  cleanRate,
  type LrSearchResult,
  ratesFromSearch,
  searchLearningRates,
} from "./lrsearch.ts";
import { planRuns, type RunSpec, selectShard, type Shard } from "./plan.ts";
import { type ExperimentManifest, RECORD_VERSION, runFileName, type RunRecord } from "./record.ts";
import { archFor, executeRun, resolvedLayers, type RunEnv } from "./runner.ts";

/** Options of {@link runSweep}. */
export interface SweepOptions {
  config: ExperimentConfig;
  /** Preset name or config file the config came from. */
  source: string;
  /** The experiment folder (`experiment.json`, `runs/`, `search/`, `models/`). */
  outDir: string;
  backend: Backend;
  /** Part of the sweep this process runs (`--shard i/n`). */
  shard?: Shard;
  /** Worker part within the shard (set by `--workers` on its child processes). */
  worker?: Shard;
  /** Save each trained network as `models/<run>.safetensors`. */
  saveModels?: boolean;
  progress?: Progress;
  /** Polled between steps and runs; true stops after saving what finished. */
  shouldStop?: () => boolean;
  /** Test hook: stop after this many runs trained in this call. */
  stopAfterRuns?: number;
  /** Settle the learning rates and write the manifest, but train no runs (parent of workers). */
  prepareOnly?: boolean;
  /** Data already loaded (tests, workers); default: loaded from the config. */
  data?: { train: Dataset; test: Dataset };
}

/** What a sweep did. */
export interface SweepResult {
  outDir: string;
  /** Runs in the whole sweep. */
  planned: number;
  /** Runs in this process's share. */
  selected: number;
  /** Runs of the share that were already finished. */
  skipped: number;
  /** Runs trained and recorded now. */
  ran: number;
  /** Of those, how many diverged. */
  diverged: number;
  /** True when stopped early (Ctrl-C or the test hook). */
  stopped: boolean;
  learningRates: Record<string, number[]>;
}

/**
 * Loads the config's dataset, normalised with training statistics unless `normalize` is
 * `none`, then applies `holdOut` (validation on samples held out of the training set, chosen by
 * the base seed) and the train/test subsets.
 */
export async function prepareData(
  config: ExperimentConfig,
): Promise<{ train: Dataset; test: Dataset }> {
  let { train, test } = await loadTrainTest(
    config.dataset,
    config.dataDir,
    config.normalize !== "none",
  );
  if (config.holdOut) {
    const s = holdOut(train, config.holdOut, config.baseSeed);
    train = s.train;
    test = s.heldOut;
  }
  if (config.trainSubset) train = subset(train, config.trainSubset);
  if (config.testSubset) test = subset(test, config.testSubset);
  return { train, test };
}

const FINGERPRINT: (keyof ExperimentConfig)[] = [
  "dataset",
  "architecture",
  "dropout",
  "epochs",
  "batchSize",
  "baseSeed",
  "optimizer",
  "momentum",
  "weightDecay",
  "trainSubset",
  "testSubset",
  "holdOut",
  "normalize",
];

/** Throws when `outDir` already holds an experiment trained with different settings. */
export function checkCompatible(
  existing: ExperimentManifest,
  config: ExperimentConfig,
  outDir: string,
): void {
  const old = existing.config as Partial<ExperimentConfig> | undefined;
  if (!old) return;
  // A field a manifest lacks (written before the field existed) counts as its default.
  const val = (c: Partial<ExperimentConfig>, k: keyof ExperimentConfig) =>
    JSON.stringify(c[k] ?? CONFIG_DEFAULTS[k] ?? null);
  const diff = FINGERPRINT.filter((k) => val(old, k) !== val(config, k));
  if (diff.length > 0) {
    throw new Error(
      `${outDir} holds an experiment with different settings (${
        diff.map((k) => `${k}: ${val(old, k)} there, ${val(config, k)} now`).join("; ")
      }); choose another --out or delete that folder`,
    );
  }
}

/** Runs (this process's share of) a sweep. */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const { config, backend, outDir } = o;
  const manifestPath = `${outDir}/experiment.json`;
  const existing = await readJsonIfExists<ExperimentManifest>(manifestPath);
  if (existing) checkCompatible(existing, config, outDir);
  const data = o.data ?? await prepareData(config);
  const experiment = outDir.split("/").filter(Boolean).pop() ?? config.name;
  const stop = () => o.shouldStop?.() ?? false;
  const log = (s: string) => o.progress?.message(s);

  // ---- learning rates ----
  let rates: Record<string, number[]>;
  let search: LrSearchResult | null = null;
  if (config.lrSearch) {
    search = await runLrSearch(o, data, experiment);
    if (!search) return emptyResult(outDir, true);
    rates = ratesFromSearch(config.variants, search);
    log(
      `learning-rate search: plain ${search.plain}${search.bn !== null ? `, bn ${search.bn}` : ""}`,
    );
  } else {
    rates = Object.fromEntries(config.variants.map((v) => [v, ratesFor(config, v).map(cleanRate)]));
  }

  // ---- plan and manifest ----
  const dropoutOf = (v: string) => config.dropoutOverrides?.[v] ?? config.dropout;
  const plan = planRuns({
    variants: config.variants,
    rates,
    runs: config.runs,
    baseSeed: config.baseSeed,
    dropout: dropoutOf,
  });
  let mine: RunSpec[] = o.shard ? selectShard(plan, o.shard) : plan;
  if (o.worker) mine = selectShard(mine, o.worker);

  const arch = archFor(config, data.train, config.dropout);
  const plain = buildNetwork(arch, "plain", { backend, seed: config.baseSeed });
  const manifest: ExperimentManifest = {
    version: RECORD_VERSION,
    id: experiment,
    preset: o.source,
    description: config.description,
    dataset: config.dataset,
    architecture: architectureName(config.architecture),
    ...resolvedLayers(config, arch),
    architectureSummary: plain.summary(),
    variants: config.variants,
    learningRates: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, v[0]])),
    ...(search ? { lrSearch: search.table } : {}),
    epochs: config.epochs,
    runs: config.runs,
    batchSize: config.batchSize,
    baseSeed: config.baseSeed,
    plannedRuns: plan.length,
    createdAt: existing?.createdAt ?? new Date().toISOString(),
    config: config as unknown as Record<string, unknown>,
    source: o.source,
  };
  plain.dispose();
  await writeJsonAtomic(manifestPath, manifest);

  // ---- runs ----
  const done = await finishedRuns(`${outDir}/runs`, log);
  const todo = mine.filter((s) => !done.has(s.file));
  const result: SweepResult = {
    outDir,
    planned: plan.length,
    selected: mine.length,
    skipped: mine.length - todo.length,
    ran: 0,
    diverged: 0,
    stopped: false,
    learningRates: rates,
  };
  if (!o.prepareOnly) o.progress?.sweepStart(mine.length, result.skipped);
  const env: RunEnv = {
    config,
    backend,
    train: data.train,
    test: data.test,
    experiment,
    progress: o.progress,
    shouldStop: stop,
    onModel: o.saveModels ? (m, r) => saveRunModel(outDir, m, r, config, data.train) : undefined,
  };
  for (const spec of o.prepareOnly ? [] : todo) {
    if (stop() || (o.stopAfterRuns !== undefined && result.ran >= o.stopAfterRuns)) {
      result.stopped = true;
      break;
    }
    const record = await executeRun(spec, env);
    if (!record) {
      result.stopped = true;
      break;
    }
    await writeJsonAtomic(`${outDir}/runs/${spec.file}`, record);
    result.ran++;
    if (record.divergedAtStep !== null) result.diverged++;
  }
  o.progress?.end();
  return result;
}

function emptyResult(outDir: string, stopped: boolean): SweepResult {
  return {
    outDir,
    planned: 0,
    selected: 0,
    skipped: 0,
    ran: 0,
    diverged: 0,
    stopped,
    learningRates: {},
  };
}

/** Runs the search with trials recorded in `search/`; null when interrupted. */
async function runLrSearch(
  o: SweepOptions,
  data: { train: Dataset; test: Dataset },
  experiment: string,
): Promise<LrSearchResult | null> {
  const s = o.config.lrSearch!;
  const trialConfig: ExperimentConfig = { ...o.config, epochs: s.epochs ?? o.config.epochs };
  const train = s.trainSubset ? subset(data.train, s.trainSubset) : data.train;
  const runs = s.runs ?? 1;
  const dir = `${o.outDir}/search`;
  let interrupted = false;
  const env: RunEnv = {
    config: trialConfig,
    backend: o.backend,
    train,
    test: data.test,
    experiment: `${experiment}/search`,
    progress: o.progress,
    shouldStop: () => o.shouldStop?.() ?? false,
  };
  o.progress?.message(`learning-rate search (${runs} run${runs > 1 ? "s" : ""} per rate)`);
  const result = await searchLearningRates(s, o.config.variants, async (variant, lr) => {
    if (interrupted) return 1;
    let sum = 0;
    for (let run = 0; run < runs; run++) {
      const file = `${dir}/${runFileName(variant, lr, run)}`;
      let rec = await readJsonIfExists<RunRecord>(file);
      if (!rec) {
        rec = await executeRun({
          variant,
          lr,
          run,
          seed: o.config.baseSeed + run,
          dropout: o.config.dropoutOverrides?.[variant] ?? o.config.dropout,
          file,
        }, env);
        if (!rec) {
          interrupted = true;
          return 1;
        }
        await writeJsonAtomic(file, rec);
      }
      sum += rec.divergedAtStep !== null ? 1 : (rec.valError.at(-1) ?? 1);
    }
    return sum / runs;
  });
  return interrupted ? null : result;
}

async function saveRunModel(
  outDir: string,
  model: import("../model.ts").Sequential,
  record: RunRecord,
  config: ExperimentConfig,
  train: Dataset,
): Promise<void> {
  const { saveModel } = await import("../io/safetensors.ts");
  const name = runFileName(record.config.variant, record.config.lr, record.config.run)
    .replace(/\.json$/, ".safetensors");
  await Deno.mkdir(`${outDir}/models`, { recursive: true });
  const path = `${outDir}/models/${name}`;
  await saveModel(path, model, {
    architecture: archFor(config, train, record.config.dropout),
    variant: record.config.variant,
    dataset: config.dataset,
    seed: record.config.seed,
    normalization: train.norm ? { mean: train.norm.mean, std: train.norm.std } : null,
    training: record.config as unknown as Record<string, unknown>,
  });
  record.modelFile = `models/${name}`;
}
