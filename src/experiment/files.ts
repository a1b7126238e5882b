/**
 * Atomic JSON files and reading the finished runs of an experiment folder.
 *
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";
import { parseRunRecord, type RunRecord } from "./record.ts";

/**
 * Writes `value` as JSON to `path` atomically ({@link writeFileAtomic}), creating the folder
 * when needed: readers see either the old file or the complete new one, never a partial one.
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value) + "\n", { mkdir: true });
}

/** Reads a JSON file, or null when it does not exist. Malformed JSON throws naming the file. */
export async function readJsonIfExists<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** A run record file that could not be read, and why. */
export interface UnreadableRecord {
  /** The file (its name in the folder read). */
  file: string;
  /** What is wrong with it: not valid JSON, or which field breaks the record format. */
  reason: string;
}

/**
 * Reads the `*.json` run records in `runsDir` (none when the folder is missing), by file name
 * in name order. A file that is not valid JSON or not a complete record of this format version
 * ({@link parseRunRecord}) is unreadable: returned with the reason instead of thrown. This is
 * the one rule for both users: a resume retrains such a run, a report leaves it out and lists
 * it. Temp files of records being written (`*.tmp`) are not looked at.
 */
export async function readRunRecords(
  runsDir: string,
): Promise<{ records: Map<string, RunRecord>; unreadable: UnreadableRecord[] }> {
  const records = new Map<string, RunRecord>();
  const unreadable: UnreadableRecord[] = [];
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(runsDir)))
      .filter((e) => e.isFile && e.name.endsWith(".json")).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { records, unreadable };
    throw e;
  }
  for (const name of names) {
    const unread = (reason: string) => unreadable.push({ file: name, reason });
    let text: string;
    try {
      text = await Deno.readTextFile(`${runsDir}/${name}`);
    } catch (e) {
      unread(`cannot read it (${(e as Error).message})`);
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      unread(`not valid JSON (${(e as Error).message})`);
      continue;
    }
    try {
      records.set(name, parseRunRecord(value, name));
    } catch (e) {
      unread((e as Error).message.replace(`${name}: `, ""));
    }
  }
  return { records, unreadable };
}

/**
 * The readable run records in `runsDir` by file name ({@link readRunRecords}). The unreadable
 * ones are reported through `warn` and left out, so their runs are redone.
 */
export async function finishedRuns(
  runsDir: string,
  warn: (msg: string) => void = () => {},
): Promise<Map<string, RunRecord>> {
  const { records, unreadable } = await readRunRecords(runsDir);
  for (const u of unreadable) warn(`${runsDir}/${u.file}: ignored, will be rerun (${u.reason})`);
  return records;
}
