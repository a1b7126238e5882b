/**
 * Reading an experiment folder: `experiment.json` and `runs/*.json`, validated, with errors that
 * name the file and the field. JSON has no `NaN`, so `null` entries in the metric arrays (what
 * `JSON.stringify` writes for `NaN`) are read back as `NaN`.
 *
 * @module
 */

import { join } from "node:path";
import type { ExperimentManifest, RunRecord } from "../experiment/record.ts";
import { RECORD_VERSION } from "../experiment/record.ts";

/** An experiment folder as read from disk. */
export interface LoadedExperiment {
  /** The folder. */
  dir: string;
  manifest: ExperimentManifest;
  /** Every run record found, sorted by variant, learning rate and run index. */
  records: RunRecord[];
  /** The record files, parallel to `records` (relative to `dir`). */
  files: string[];
}

type Obj = Record<string, unknown>;

function fail(file: string, what: string): never {
  throw new Error(`${file}: ${what}`);
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function field(o: Obj, key: string, type: "string" | "number" | "boolean", file: string) {
  const v = o[key];
  const actual: string = typeof v;
  if (actual !== type) {
    fail(
      file,
      `field "${key}" must be a ${type}, got ${v === undefined ? "nothing" : JSON.stringify(v)}`,
    );
  }
}

function nullableField(o: Obj, key: string, type: "string" | "number", file: string) {
  const v = o[key];
  const actual: string = typeof v;
  if (v !== null && actual !== type) {
    fail(file, `field "${key}" must be a ${type} or null, got ${JSON.stringify(v)}`);
  }
}

function metricArray(o: Obj, key: string, file: string): number[] {
  const v = o[key];
  if (!Array.isArray(v)) fail(file, `field "${key}" must be an array of numbers`);
  return v.map((x, i) => {
    if (x === null) return NaN;
    if (typeof x !== "number") {
      fail(file, `${key}[${i}] must be a number or null, got ${JSON.stringify(x)}`);
    }
    return x;
  });
}

/** Record and manifest versions this reader understands (see {@link RECORD_VERSION}). */
const READABLE_VERSIONS = [1, RECORD_VERSION];

function checkVersion(value: Obj, file: string, what: string): void {
  if (!READABLE_VERSIONS.includes(value.version as number)) {
    fail(
      file,
      `${what} version ${JSON.stringify(value.version)} is not supported (expected one of ${
        READABLE_VERSIONS.join(", ")
      })`,
    );
  }
}

/**
 * Checks that `value` (parsed JSON from `file`) is a {@link RunRecord} and returns it with
 * `null` metric entries turned into `NaN`. A version 1 record (before the validation split)
 * reads as validated on the test set, with no separate test measurement. Throws an error naming
 * the file and the offending field otherwise.
 */
export function parseRunRecord(value: unknown, file: string): RunRecord {
  if (!isObj(value)) fail(file, "a run record must be a JSON object");
  checkVersion(value, file, "record");
  const legacy = value.version === 1;
  const config = value.config;
  if (!isObj(config)) fail(file, `field "config" must be an object`);
  for (const k of ["experiment", "dataset", "architecture", "variant", "optimizer"]) {
    field(config, k, "string", `${file} (config)`);
  }
  for (
    const k of [
      "lr",
      "momentum",
      "epochs",
      "batchSize",
      "run",
      "seed",
      "trainSize",
      "testSize",
      "weightDecay",
    ]
  ) field(config, k, "number", `${file} (config)`);
  field(config, "dropout", "boolean", `${file} (config)`);
  if (!legacy) {
    field(config, "valSize", "number", `${file} (config)`);
    if (config.validation !== "holdout" && config.validation !== "test") {
      fail(`${file} (config)`, `field "validation" must be "holdout" or "test"`);
    }
    nullableField(value, "testError", "number", file);
    nullableField(value, "testLoss", "number", file);
  }
  const prov = value.provenance;
  if (!isObj(prov)) fail(file, `field "provenance" must be an object`);
  for (const k of ["backend", "device", "deno", "startedAt", "hostname"]) {
    field(prov, k, "string", `${file} (provenance)`);
  }
  nullableField(prov, "library", "string", `${file} (provenance)`);
  nullableField(prov, "commit", "string", `${file} (provenance)`);
  field(value, "parameters", "number", file);
  field(value, "stepsPerEpoch", "number", file);
  field(value, "wallSeconds", "number", file);
  nullableField(value, "divergedAtStep", "number", file);
  const rec = {
    ...value,
    config: legacy ? { ...config, validation: "test", valSize: config.testSize } : config,
    testError: legacy ? null : value.testError,
    testLoss: legacy ? null : value.testLoss,
    trainLoss: metricArray(value, "trainLoss", file),
    trainError: metricArray(value, "trainError", file),
    valLoss: metricArray(value, "valLoss", file),
    valError: metricArray(value, "valError", file),
    epochSeconds: metricArray(value, "epochSeconds", file),
  } as unknown as RunRecord;
  if (rec.trainLoss.length !== rec.trainError.length) {
    fail(
      file,
      `trainLoss has ${rec.trainLoss.length} entries but trainError ${rec.trainError.length}`,
    );
  }
  if (rec.valLoss.length !== rec.valError.length) {
    fail(file, `valLoss has ${rec.valLoss.length} entries but valError ${rec.valError.length}`);
  }
  if (rec.trainError.length === 0) fail(file, "trainError is empty: the run recorded no step");
  return rec;
}

/**
 * Checks that `value` (parsed from `file`) is an {@link ExperimentManifest}; throws naming the
 * field otherwise. A version 1 manifest (one rate per variant, the search as a bare table, no
 * validation field) is read in the current shape.
 */
export function parseManifest(value: unknown, file: string): ExperimentManifest {
  if (!isObj(value)) fail(file, "the manifest must be a JSON object");
  checkVersion(value, file, "manifest");
  for (
    const k of [
      "id",
      "preset",
      "description",
      "dataset",
      "architecture",
      "architectureSummary",
      "createdAt",
    ]
  ) {
    field(value, k, "string", file);
  }
  for (const k of ["epochs", "runs", "batchSize", "baseSeed", "plannedRuns"]) {
    field(value, k, "number", file);
  }
  if (!Array.isArray(value.variants) || !value.variants.every((v) => typeof v === "string")) {
    fail(file, `field "variants" must be an array of variant names`);
  }
  if (!isObj(value.learningRates)) {
    fail(file, `field "learningRates" must be an object variant → rates`);
  }
  const rates: Record<string, number[]> = {};
  for (const [v, r] of Object.entries(value.learningRates)) {
    const list = Array.isArray(r) ? r : [r];
    if (!list.every((x) => typeof x === "number" && x > 0)) {
      fail(file, `learningRates.${v} must be a positive rate or a list of them`);
    }
    rates[v] = list as number[];
  }
  let lrSearch = value.lrSearch as ExperimentManifest["lrSearch"] | undefined;
  if (value.version === 1 && isObj(value.lrSearch)) {
    lrSearch = {
      mode: "thesis",
      trials: value.lrSearch as Record<string, Record<string, number>>,
      chosen: Object.fromEntries(Object.entries(rates).map(([v, r]) => [v, r[0]])),
    };
  }
  let validation = value.validation as ExperimentManifest["validation"] | undefined;
  if (validation === undefined) {
    const cfg = isObj(value.config) ? value.config : {};
    validation = { source: cfg.holdOut ? "holdout" : "test", size: Number(cfg.holdOut) || 0 };
  }
  return {
    ...value,
    learningRates: rates,
    ...(lrSearch ? { lrSearch } : {}),
    validation,
  } as unknown as ExperimentManifest;
}

async function readJson(path: string, label: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${label}: file not found (${path})`);
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${label}: not valid JSON (${(e as Error).message})`);
  }
}

/** True when `dir` holds an `experiment.json`. */
export async function isExperimentDir(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(dir, "experiment.json"))).isFile;
  } catch {
    return false;
  }
}

/**
 * Reads an experiment folder. `experiment.json` is required; `runs/` may be missing or empty (a
 * sweep that has not finished a run yet). Only `runs/*.json` files are read (temporary files of
 * runs being written are ignored).
 */
export async function loadExperiment(dir: string): Promise<LoadedExperiment> {
  const manifestPath = join(dir, "experiment.json");
  if (!(await isExperimentDir(dir))) {
    throw new Error(
      `${dir} is not an experiment folder: expected ${manifestPath} (written when a sweep starts)`,
    );
  }
  const manifest = parseManifest(await readJson(manifestPath, manifestPath), manifestPath);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(dir, "runs"))) {
      if (e.isFile && e.name.endsWith(".json")) names.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const loaded: { rec: RunRecord; file: string }[] = [];
  for (const name of names) {
    const rel = join("runs", name);
    const path = join(dir, rel);
    loaded.push({ rec: parseRunRecord(await readJson(path, path), path), file: rel });
  }
  loaded.sort((a, b) =>
    a.rec.config.variant.localeCompare(b.rec.config.variant) || a.rec.config.lr - b.rec.config.lr ||
    a.rec.config.run - b.rec.config.run
  );
  return { dir, manifest, records: loaded.map((l) => l.rec), files: loaded.map((l) => l.file) };
}
