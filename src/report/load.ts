/**
 * Reading an experiment folder: `experiment.json` and `runs/*.json`, validated, with errors that
 * name the file and the field. JSON has no `NaN`, so `null` entries in the metric arrays (what
 * `JSON.stringify` writes for `NaN`) are read back as `NaN`.
 *
 * @module
 */

import { join } from "node:path";
import { readRunRecords, type UnreadableRecord } from "../experiment/files.ts";
import { type ExperimentManifest, parseManifest, type RunRecord } from "../experiment/record.ts";

export { parseManifest, parseRunRecord } from "../experiment/record.ts";

/** An experiment folder as read from disk. */
export interface LoadedExperiment {
  /** The folder. */
  dir: string;
  manifest: ExperimentManifest;
  /** Every run record found, sorted by variant, learning rate and run index. */
  records: RunRecord[];
  /** The record files, parallel to `records` (relative to `dir`). */
  files: string[];
  /**
   * Record files that could not be read (relative to `dir`), left out of `records`: the same
   * files a resume ignores and retrains.
   */
  unreadable: UnreadableRecord[];
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
 * runs being written are ignored); a record that cannot be read is left out and listed in
 * `unreadable`, by the rule resuming uses ({@link readRunRecords}).
 */
export async function loadExperiment(dir: string): Promise<LoadedExperiment> {
  const manifestPath = join(dir, "experiment.json");
  if (!(await isExperimentDir(dir))) {
    throw new Error(
      `${dir} is not an experiment folder: expected ${manifestPath} (written when a sweep starts)`,
    );
  }
  const manifest = parseManifest(await readJson(manifestPath, manifestPath), manifestPath);
  const runs = await readRunRecords(join(dir, "runs"));
  const loaded = [...runs.records].map(([name, rec]) => ({ rec, file: join("runs", name) }));
  loaded.sort((a, b) =>
    a.rec.config.variant.localeCompare(b.rec.config.variant) || a.rec.config.lr - b.rec.config.lr ||
    a.rec.config.run - b.rec.config.run
  );
  return {
    dir,
    manifest,
    records: loaded.map((l) => l.rec),
    files: loaded.map((l) => l.file),
    unreadable: runs.unreadable.map((u) => ({ ...u, file: join("runs", u.file) })),
  };
}
