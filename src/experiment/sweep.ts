/**
 * The sweep: load the data, settle the learning rates (fixed or searched), plan the runs, take
 * this process's share (`--shard`), skip finished runs, train the rest (or, in a worker of a
 * packed sweep, the runs its parent hands out) and write each record atomically the moment it
 * finishes.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { type Dataset, subset } from "../data/dataset.ts";
import { loadSplits } from "../data/mod.ts";
import type { Progress } from "../progress.ts";
import { architectureName } from "../architectures.ts";
import { buildNetwork } from "../variants.ts";
import { CONFIG_DEFAULTS, defaultHoldOut, type ExperimentConfig, ratesFor } from "./config.ts";
import { finishedRuns, readJsonIfExists, writeJsonAtomic } from "./files.ts";
import {
  cleanRate,
  type LrSearchResult,
  plannedTrials,
  searchLearningRates,
  searchTrials,
} from "./lrsearch.ts";
import { planRuns, type RunSpec, selectShard, type Shard } from "./plan.ts";
import {
  type ExperimentManifest,
  parseRunFileName,
  RECORD_VERSION,
  runFileName,
  type RunRecord,
} from "./record.ts";
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
  /**
   * A worker of a packed sweep: the parent has settled the plan and written the manifest; this
   * process trains the runs `take` hands out (by record file name) until it gives null.
   */
  take?: () => Promise<string | null>;
  /** Save each trained network as `models/<run>.safetensors`. */
  saveModels?: boolean;
  progress?: Progress;
  /** Polled between steps and runs; true stops after saving what finished. */
  shouldStop?: () => boolean;
  /** Test hook: stop after this many runs trained in this call. */
  stopAfterRuns?: number;
  /** Settle the learning rates and write the manifest, but train no runs (parent of workers). */
  prepareOnly?: boolean;
  /**
   * Allow adding variants, rates or runs to the plan of an existing experiment folder (the new
   * plan is the union, recorded in the manifest); without it a different plan is refused.
   */
  extend?: boolean;
  /** What ran differs from the preset or config file in these fields (recorded in the manifest). */
  overrides?: string[];
  /** Data already loaded (tests, workers); default: loaded from the config. */
  data?: SweepData;
  /**
   * Trains the learning-rate search's trials named (record files in `search/`) side by side
   * elsewhere (a packed sweep's workers); false when stopped. Given all trials at once when the
   * search's grids fix them in advance (see `searchTrials`), else each stage's new rates (the
   * anchors, the grid around the best, batch norm's multiples of plain's rate) as it comes.
   */
  runTrials?: (files: string[]) => Promise<boolean>;
  /**
   * A worker of a packed search: trains the search trials `takeTrials` hands out (by record file
   * name) until it gives null, then returns without planning or training any run.
   */
  takeTrials?: () => Promise<string | null>;
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
  /** The runs of the share still to train (before this call trained any). */
  todo: RunSpec[];
  /** True when stopped early (Ctrl-C or the test hook). */
  stopped: boolean;
  learningRates: Record<string, number[]>;
}

/** The data of a sweep: see {@link prepareData}. */
export interface SweepData {
  train: Dataset;
  /** Where every choice is made: the held-out split, or the test set (`validation: "test"`). */
  val: Dataset;
  /** The test set, read once per run after its last epoch; null when it is the validation set. */
  test: (() => Promise<Dataset>) | null;
}

/**
 * Loads the config's dataset. With `validation: "holdout"` (the default) a validation split of
 * `holdOut` samples (default {@link defaultHoldOut}: 10% of the training set, at most 10,000) is
 * held out of the training set, chosen by the base seed, and the test set is only a loader that
 * runs read once, after their last epoch. With `validation: "test"` the test set is the
 * validation set, as in the thesis. Inputs are normalised with the statistics of the remaining
 * training samples unless `normalize` is `none`; then the train/test subsets apply.
 */
export async function prepareData(config: ExperimentConfig): Promise<SweepData> {
  const splits = await loadSplits(config.dataset, {
    dataDir: config.dataDir,
    normalize: config.normalize !== "none",
    holdOut: config.validation === "holdout"
      ? { size: config.holdOut ?? defaultHoldOut, seed: config.baseSeed }
      : null,
    trainSubset: config.trainSubset
      ? { size: config.trainSubset, what: "trainSubset (--train-subset)" }
      : undefined,
  });
  const train = splits.train;
  const testSubset = (ds: Dataset) =>
    config.testSubset ? subset(ds, config.testSubset, "testSubset (--test-subset)") : ds;
  if (splits.val) {
    // A test subset larger than the test set is refused now, not after the first run trained.
    const test = config.testSubset ? testSubset(await splits.test()) : null;
    let cached: Dataset | null = test;
    return {
      train,
      val: splits.val,
      test: async () => cached ??= testSubset(await splits.test()),
    };
  }
  return { train, val: testSubset(await splits.test()), test: null };
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
  "agc",
  "trainSubset",
  "testSubset",
  "validation",
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
  // A field a manifest lacks (written before the field existed) counts as its default; before
  // `validation` existed, a sweep validated on the test set unless it set `holdOut`.
  const legacy = (c: Partial<ExperimentConfig>, k: keyof ExperimentConfig) =>
    k === "validation" && c.validation === undefined ? (c.holdOut ? "holdout" : "test") : c[k];
  const val = (c: Partial<ExperimentConfig>, k: keyof ExperimentConfig) =>
    JSON.stringify(legacy(c, k) ?? CONFIG_DEFAULTS[k] ?? null);
  const diff = FINGERPRINT.filter((k) => val(old, k) !== val(config, k));
  if (diff.length > 0) {
    throw new Error(
      `${outDir} holds an experiment with different settings (${
        diff.map((k) => `${k}: ${val(old, k)} there, ${val(config, k)} now`).join("; ")
      }); choose another --out or delete that folder`,
    );
  }
}

/** A plan: the learning rates of each variant, and the runs per (variant, rate). */
export interface Plan {
  rates: Record<string, number[]>;
  runs: number;
}

/**
 * What `next` adds to and leaves out of `prev`, in words (e.g. `variant sh2`, `sh at lr 0.02`,
 * `runs 3 → 5`).
 */
export function planDifferences(prev: Plan, next: Plan): { added: string[]; missing: string[] } {
  const added: string[] = [];
  const missing: string[] = [];
  const has = (list: number[], r: number) => list.some((x) => cleanRate(x) === cleanRate(r));
  for (const [v, rs] of Object.entries(next.rates)) {
    const old = prev.rates[v];
    if (!old) added.push(`variant ${v} (lr ${rs.join(", ")})`);
    else for (const r of rs) if (!has(old, r)) added.push(`${v} at lr ${r}`);
  }
  for (const [v, rs] of Object.entries(prev.rates)) {
    const now = next.rates[v];
    if (!now) missing.push(`variant ${v}`);
    else for (const r of rs) if (!has(now, r)) missing.push(`${v} at lr ${r}`);
  }
  if (next.runs > prev.runs) added.push(`runs ${prev.runs} → ${next.runs}`);
  if (next.runs < prev.runs) missing.push(`runs ${prev.runs} there, ${next.runs} now`);
  return { added, missing };
}

/** The rates of a manifest (older manifests: one number per variant). */
function manifestRates(m: ExperimentManifest): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(m.learningRates ?? {}).map(([v, r]) => [v, Array.isArray(r) ? r : [r]]),
  );
}

/**
 * Checks `next` against the plan of the experiment already in `outDir` and returns the plan to
 * run: the same plan, or with `extend` the union of both. A different plan without `extend` is
 * refused with a message naming what differs and both ways on.
 */
export function settlePlan(
  existing: ExperimentManifest | null,
  next: Plan,
  outDir: string,
  extend: boolean,
): { plan: Plan; added: string[]; changed: boolean } {
  if (!existing || existing.searching || !(existing.plannedRuns > 0)) {
    return { plan: next, added: [], changed: false };
  }
  const prev: Plan = { rates: manifestRates(existing), runs: existing.runs };
  const { added, missing } = planDifferences(prev, next);
  if (added.length === 0 && missing.length === 0) return { plan: next, added: [], changed: false };
  if (!extend) {
    const what = [
      ...added.map((a) => `adds ${a}`),
      ...missing.map((m) => `leaves out ${m}`),
    ].join("; ");
    throw new Error(
      `${outDir} holds an experiment with another plan (this command ${what}): add --extend to ` +
        `extend that experiment's plan (the union of both is run and recorded), or choose ` +
        `another --out`,
    );
  }
  const rates: Record<string, number[]> = {};
  for (const [v, rs] of Object.entries(prev.rates)) rates[v] = [...rs];
  for (const [v, rs] of Object.entries(next.rates)) {
    const list = (rates[v] ??= []);
    for (const r of rs) if (!list.some((x) => cleanRate(x) === cleanRate(r))) list.push(r);
  }
  return { plan: { rates, runs: Math.max(prev.runs, next.runs) }, added, changed: true };
}

/** Runs (this process's share of) a sweep. */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const { backend, outDir } = o;
  let config = o.config;
  const manifestPath = `${outDir}/experiment.json`;
  const existing = await readJsonIfExists<ExperimentManifest>(manifestPath);
  if (existing) checkCompatible(existing, config, outDir);
  const data = o.data ?? await prepareData(config);
  const experiment = outDir.split("/").filter(Boolean).pop() ?? config.name;
  const stop = () => o.shouldStop?.() ?? false;
  const log = (s: string) => o.progress?.message(s);
  if (o.takeTrials) return await trainHandedTrials(o, data, experiment);

  // ---- learning rates ----
  let rates: Record<string, number[]>;
  let search: LrSearchResult | null = null;
  if (config.lrSearch) {
    if (!existing && !o.take) {
      // Written before the search so that an interrupted search can be resumed (--resume).
      await writeJsonAtomic(
        manifestPath,
        {
          ...baseManifest(o, experiment),
          architectureSummary: "",
          learningRates: {},
          validation: { source: config.validation, size: data.val.size },
          plannedRuns: 0,
          createdAt: new Date().toISOString(),
          searching: true,
        } satisfies ExperimentManifest,
      );
    }
    search = await runLrSearch(o, data, experiment);
    if (!search) return emptyResult(outDir, true);
    const chosen = search.chosen;
    rates = Object.fromEntries(config.variants.map((v) => [v, [chosen[v]]]));
    // A worker settles the same rates from the trial records: the parent has said them.
    if (!o.take) {
      log(
        `learning-rate search (${search.mode}): ${
          [...new Set(Object.values(chosen))].length === 1
            ? `every variant ${chosen[config.variants[0]]}`
            : Object.entries(chosen).map(([v, r]) => `${v} ${r}`).join(", ")
        }`,
      );
    }
  } else {
    rates = Object.fromEntries(config.variants.map((v) => [v, ratesFor(config, v).map(cleanRate)]));
  }

  // ---- the plan is part of the folder's identity ----
  const settled = settlePlan(existing, { rates, runs: config.runs }, outDir, !!o.extend);
  const extensions = [...(existing?.extensions ?? [])];
  if (settled.changed) {
    rates = settled.plan.rates;
    const variants = Object.keys(rates);
    config = {
      ...config,
      variants,
      runs: settled.plan.runs,
      // Without a search the rates are the plan: store them per variant, so --resume runs it.
      lr: config.lrSearch ? config.lr : rates,
      dropoutOverrides: {
        ...((existing?.config as Partial<ExperimentConfig> | undefined)?.dropoutOverrides ?? {}),
        ...(config.dropoutOverrides ?? {}),
      },
    };
    if (settled.added.length && !o.take) {
      extensions.push({ at: new Date().toISOString(), added: settled.added });
      log(`plan extended: ${settled.added.join("; ")}`);
    }
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
  const mine: RunSpec[] = o.shard ? selectShard(plan, o.shard) : plan;

  const arch = archFor(config, data.train, config.dropout);
  const plain = buildNetwork(arch, "plain", { backend, seed: config.baseSeed });
  const manifest: ExperimentManifest = {
    ...baseManifest({ ...o, config }, experiment),
    ...resolvedLayers(config, arch),
    architectureSummary: plain.summary(),
    learningRates: rates,
    ...(search
      ? {
        lrSearch: {
          mode: search.mode,
          // An extended plan keeps the trials and choices of the searches before it.
          trials: { ...existing?.lrSearch?.trials, ...search.table },
          chosen: { ...existing?.lrSearch?.chosen, ...search.chosen },
        },
      }
      : {}),
    validation: { source: config.validation, size: data.val.size },
    // A resumed sweep keeps the overrides its first start recorded.
    ...(o.overrides?.length
      ? { overrides: o.overrides }
      : existing?.overrides
      ? { overrides: existing.overrides }
      : {}),
    plannedRuns: plan.length,
    createdAt: existing?.createdAt ?? new Date().toISOString(),
    ...(extensions.length ? { extensions } : {}),
  };
  plain.dispose();
  if (!o.take) await writeJsonAtomic(manifestPath, manifest);

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
    todo,
    learningRates: rates,
  };
  if (!o.prepareOnly && !o.take) o.progress?.sweepStart(mine.length, result.skipped);
  const env: RunEnv = {
    config,
    backend,
    train: data.train,
    val: data.val,
    test: data.test ?? undefined,
    experiment,
    progress: o.progress,
    shouldStop: stop,
    onModel: o.saveModels ? (m, r) => saveRunModel(outDir, m, r, config, data.train) : undefined,
  };
  let i = 0;
  const next = async (): Promise<RunSpec | null> => {
    if (!o.take) return todo[i++] ?? null;
    const file = await o.take();
    if (file === null) return null;
    const spec = mine.find((s) => s.file === file);
    if (!spec) throw new Error(`run ${file} is not in the plan of ${outDir}`);
    return spec;
  };
  while (!o.prepareOnly) {
    if (stop() || (o.stopAfterRuns !== undefined && result.ran >= o.stopAfterRuns)) {
      result.stopped = true;
      break;
    }
    const spec = await next();
    if (!spec) break;
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

/** The manifest fields that come straight from the config. */
function baseManifest(o: SweepOptions, experiment: string) {
  const c = o.config;
  return {
    version: RECORD_VERSION,
    id: experiment,
    preset: o.source,
    description: c.description,
    dataset: c.dataset,
    architecture: architectureName(c.architecture),
    variants: c.variants,
    epochs: c.epochs,
    runs: c.runs,
    batchSize: c.batchSize,
    baseSeed: c.baseSeed,
    config: c as unknown as Record<string, unknown>,
    source: o.source,
  };
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
    todo: [],
    learningRates: {},
  };
}

/** What every trial of a search shares: how it trains, where its record goes, its spec. */
function trialSetup(o: SweepOptions, data: SweepData, experiment: string, progress?: Progress) {
  const s = o.config.lrSearch!;
  // A trial never trains on more samples than the runs do.
  const trialSize = s.trainSubset ? Math.min(s.trainSubset, data.train.size) : data.train.size;
  const env: RunEnv = {
    config: { ...o.config, epochs: s.epochs ?? o.config.epochs },
    backend: o.backend,
    train: subset(data.train, trialSize, "lrSearch.trainSubset"),
    val: data.val,
    experiment: `${experiment}/search`,
    progress,
    shouldStop: () => o.shouldStop?.() ?? false,
  };
  const dir = `${o.outDir}/search`;
  const spec = (variant: string, lr: number, run: number): RunSpec => ({
    variant,
    lr,
    run,
    seed: o.config.baseSeed + run,
    dropout: o.config.dropoutOverrides?.[variant] ?? o.config.dropout,
    file: `${dir}/${runFileName(variant, lr, run)}`,
  });
  return { s, env, dir, runs: s.runs ?? 1, spec };
}

/** Runs the search with trials recorded in `search/`; null when interrupted. */
async function runLrSearch(
  o: SweepOptions,
  data: SweepData,
  experiment: string,
): Promise<LrSearchResult | null> {
  // A worker only reads the finished trials to settle the same rates, so it says nothing.
  const progress = o.take ? undefined : o.progress;
  const { s, env, dir, runs, spec } = trialSetup(o, data, experiment, progress);
  if (s.trainSubset && s.trainSubset > data.train.size) {
    progress?.message(
      `learning-rate search: trials use the ${data.train.size} training samples the runs use ` +
        `(lrSearch.trainSubset asks for ${s.trainSubset})`,
    );
  }
  // The trials are counted like a sweep's runs when the grids fix their number.
  const planned = plannedTrials(s, o.config.variants);
  if (planned !== null) {
    const done = await countJsonFiles(dir);
    progress?.sweepStart(planned * runs, Math.min(done, planned * runs), "learning-rate search");
  } else {
    progress?.message(`learning-rate search (${runs} run${runs > 1 ? "s" : ""} per rate)`);
  }
  // Packed, trials train side by side: all of them first when the grids fix them in advance,
  // else each stage's new rates as the search reaches it; the search then reads their records.
  let interrupted = false;
  const trainMissing = async (trials: { variant: string; lr: number }[]) => {
    const missing: string[] = [];
    for (const t of trials) {
      for (let run = 0; run < runs; run++) {
        const file = runFileName(t.variant, t.lr, run);
        if (!(await readJsonIfExists<RunRecord>(`${dir}/${file}`))) missing.push(file);
      }
    }
    // one missing trial trains here, in this process, as an unpacked search would
    if (missing.length > 1 && !interrupted && !(await o.runTrials!(missing))) interrupted = true;
  };
  const fixed = o.runTrials ? searchTrials(s, o.config.variants) : null;
  if (fixed) await trainMissing(fixed);
  if (interrupted) return null;
  const result = await searchLearningRates(s, o.config.variants, async (variant, lr) => {
    if (interrupted) return 1;
    let sum = 0;
    for (let run = 0; run < runs; run++) {
      const trial = spec(variant, lr, run);
      let rec = await readJsonIfExists<RunRecord>(trial.file);
      if (!rec) {
        rec = await executeRun(trial, env);
        if (!rec) {
          interrupted = true;
          return 1;
        }
        await writeJsonAtomic(trial.file, rec);
      }
      sum += rec.divergedAtStep !== null ? 1 : (rec.valError.at(-1) ?? 1);
    }
    return sum / runs;
  }, o.runTrials ? trainMissing : undefined);
  return interrupted ? null : result;
}

/** A worker of a packed search: trains the trials handed out (see {@link SweepOptions}). */
async function trainHandedTrials(
  o: SweepOptions,
  data: SweepData,
  experiment: string,
): Promise<SweepResult> {
  const { s, env, runs, spec } = trialSetup(o, data, experiment, o.progress);
  // The variants a search tries: plain and bn in the thesis's mode, every variant per-variant.
  const searched = new Set(
    s.mode === "per-variant" ? o.config.variants : ["plain", "bn", ...o.config.variants],
  );
  const trialOf = (file: string): RunSpec | null => {
    const t = parseRunFileName(file);
    return t && searched.has(t.variant) && t.run < runs ? spec(t.variant, t.lr, t.run) : null;
  };
  const result = emptyResult(o.outDir, false);
  while (!(o.shouldStop?.() ?? false)) {
    const file = await o.takeTrials!();
    if (file === null) {
      o.progress?.end();
      return result;
    }
    const trial = trialOf(file);
    if (!trial) throw new Error(`trial ${file} is not in the learning-rate search of ${o.outDir}`);
    const rec = await executeRun(trial, env);
    if (!rec) break;
    await writeJsonAtomic(trial.file, rec);
    result.ran++;
    if (rec.divergedAtStep !== null) result.diverged++;
  }
  o.progress?.end();
  return { ...result, stopped: true };
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

/** Trial records already in `dir` (none when it does not exist). */
async function countJsonFiles(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(".json")) n++;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return n;
}
