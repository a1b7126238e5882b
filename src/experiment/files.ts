/**
 * Atomic JSON files and reading the finished runs of an experiment folder.
 *
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";
import { RECORD_VERSION, type RunRecord } from "./record.ts";

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

/**
 * The run records in `runsDir` by file name. Files that are not complete records of this
 * format version are ignored (and reported through `warn`), so the run is redone.
 */
export async function finishedRuns(
  runsDir: string,
  warn: (msg: string) => void = () => {},
): Promise<Map<string, RunRecord>> {
  const out = new Map<string, RunRecord>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(runsDir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    try {
      const r = JSON.parse(await Deno.readTextFile(`${runsDir}/${e.name}`)) as RunRecord;
      if (r?.version !== RECORD_VERSION || !r.config || !Array.isArray(r.trainLoss)) {
        throw new Error(`not a version ${RECORD_VERSION} run record`);
      }
      out.set(e.name, r);
    } catch (err) {
      warn(`${runsDir}/${e.name}: ignored, will be rerun (${(err as Error).message})`);
    }
  }
  return out;
}
