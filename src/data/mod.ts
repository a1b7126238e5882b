/**
 * Dataset loading by name: `mnist` (embedded), `fashion-mnist`, `cifar10`, `cifar100`, each
 * normalised per element with its training set's statistics (SPEC §3).
 *
 * @module
 */
import { loadCifar } from "./cifar.ts";
import {
  checkSubset,
  computeNormStats,
  type Dataset,
  holdOutIndices,
  normalize,
  type NormStats,
  take,
} from "./dataset.ts";
import { loadFashionMnist, loadMnist, type Split } from "./mnist.ts";

export * from "./dataset.ts";
export type { Split } from "./mnist.ts";

/** Names accepted by {@link loadDataset}. */
export const DATASETS = ["mnist", "fashion-mnist", "cifar10", "cifar100"] as const;
/** One of {@link DATASETS}. */
export type DatasetName = typeof DATASETS[number];

/** Throws unless `name` is a known dataset, listing the valid ones. */
export function parseDatasetName(name: string): DatasetName {
  if ((DATASETS as readonly string[]).includes(name)) return name as DatasetName;
  throw new Error(`unknown dataset '${name}' (expected one of: ${DATASETS.join(", ")})`);
}

/**
 * Default folder for downloaded datasets: `$SHIFTLAB_DATA`, else `~/.cache/shiftlab/<name>`.
 */
export function defaultDataDir(name: DatasetName): string {
  const env = Deno.env.get("SHIFTLAB_DATA");
  if (env) return `${env}/${name}`;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  return `${home}/.cache/shiftlab/${name}`;
}

/** Options of {@link loadDataset}. */
export interface LoadOptions {
  /** Folder with the files; defaults: embedded (MNIST), system (Fashion), {@link defaultDataDir}. */
  dataDir?: string;
  /** Which split: `train` or `test`. */
  split: Split;
  /** Normalise with the training set's per-element statistics (default true). */
  normalize?: boolean;
}

/** Loads one split unnormalised, pixels in [0, 1]. */
export async function loadRaw(name: DatasetName, split: Split, dataDir?: string): Promise<Dataset> {
  switch (name) {
    case "mnist":
      return await loadMnist(split, dataDir);
    case "fashion-mnist":
      return await loadFashionMnist(split, dataDir);
    case "cifar10":
    case "cifar100":
      return await loadCifar(name, split, dataDir ?? defaultDataDir(name));
  }
}

const statsCache = new Map<string, NormStats>();

/** Per-element statistics of the training split (cached per dataset and folder). */
export async function trainingStats(name: DatasetName, dataDir?: string): Promise<NormStats> {
  const key = `${name}\0${dataDir ?? ""}`;
  let s = statsCache.get(key);
  if (!s) {
    s = computeNormStats(await loadRaw(name, "train", dataDir));
    statsCache.set(key, s);
  }
  return s;
}

/** Loads one split of a dataset by name, normalised with training statistics by default. */
export async function loadDataset(name: string, opts: LoadOptions): Promise<Dataset> {
  const n = parseDatasetName(name);
  if (opts.split !== "train" && opts.split !== "test") {
    throw new Error(`loadDataset: split must be 'train' or 'test', got '${opts.split}'`);
  }
  const raw = await loadRaw(n, opts.split, opts.dataDir);
  if (opts.normalize === false) return raw;
  const stats = opts.split === "train"
    ? computeNormStats(raw)
    : await trainingStats(n, opts.dataDir);
  if (opts.split === "train") statsCache.set(`${n}\0${opts.dataDir ?? ""}`, stats);
  return normalize(raw, stats);
}

/** Both splits, normalised with the training statistics (one pass over the training set). */
export async function loadTrainTest(
  name: string,
  dataDir?: string,
  normalize = true,
): Promise<{ train: Dataset; test: Dataset }> {
  const train = await loadDataset(name, { split: "train", dataDir, normalize });
  const test = await loadDataset(name, { split: "test", dataDir, normalize });
  return { train, test };
}

/** The three sets of an experiment; see {@link loadSplits}. */
export interface Splits {
  /** Training samples (without the validation split). */
  train: Dataset;
  /** The held-out validation split, or null when none was asked for. */
  val: Dataset | null;
  /** The test split, loaded (once) on the first call. */
  test: () => Promise<Dataset>;
}

/**
 * Loads a dataset for an experiment: the training split, minus a validation split of
 * `holdOut.size` samples chosen by a permutation from `holdOut.seed` (the same for every variant
 * of a sweep), and a loader for the test split. With `normalize`, all three are standardised per
 * element with the statistics of the remaining training samples only, so neither validation nor
 * test samples influence training. `trainSubset` keeps the first samples of the remaining
 * training split (the statistics are still those of all of it); only what is kept is copied
 * and normalised. The test split is read from disk only when `test()` is first called.
 */
export async function loadSplits(
  name: string,
  opts: {
    dataDir?: string;
    normalize?: boolean;
    /** The validation split: a size, or a function of the training split's size. */
    holdOut?: { size: number | ((trainSize: number) => number); seed: number } | null;
    /** Keep only the first `size` remaining training samples (`what` names it in errors). */
    trainSubset?: { size: number; what: string };
  },
): Promise<Splits> {
  const n = parseDatasetName(name);
  const raw = await loadRaw(n, "train", opts.dataDir);
  let rest: number[] | null = null;
  let val: Dataset | null = null;
  if (opts.holdOut) {
    const size = opts.holdOut.size;
    const s = holdOutIndices(
      raw,
      typeof size === "number" ? size : size(raw.size),
      opts.holdOut.seed,
    );
    rest = s.rest;
    val = take(raw, s.held, `${raw.name}/held-out`);
  }
  const stats = opts.normalize === false ? null : computeNormStats(raw, rest ?? undefined);
  const all = { name: rest ? `${raw.name}/train` : raw.name, size: rest ? rest.length : raw.size };
  const keep = opts.trainSubset?.size ?? all.size;
  if (opts.trainSubset) checkSubset(all, keep, opts.trainSubset.what);
  let train = !rest && keep === raw.size ? raw : take(
    raw,
    rest ? rest.slice(0, keep) : Array.from({ length: keep }, (_, i) => i),
    keep === all.size ? all.name : `${all.name}[:${keep}]`,
  );
  if (stats) {
    train = normalize(train, stats);
    if (val) val = normalize(val, stats);
  }
  let test: Promise<Dataset> | null = null;
  return {
    train,
    val,
    test: () =>
      test ??= loadRaw(n, "test", opts.dataDir).then((raw) => stats ? normalize(raw, stats) : raw),
  };
}
