/**
 * The one way the tools write a file. Records, manifests, report pages, results indexes, the
 * visualisation page and its summary, model files, extracted datasets, build stamps and
 * benchmark output all go through {@link writeFileAtomic}, so a crash, a kill or a full disk
 * leaves either the old file or the complete new one, and no temp file.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Create the folder (and its parents) when it is missing; default false. */
  mkdir?: boolean;
}

/**
 * Writes `data` to `path` atomically: a new temp file in the same folder
 * (`.<name>.<pid>.<random>.tmp`, never a name a reader looks for), written in full and
 * fsynced, then renamed over `path`. On any error (a full disk, a write past a size limit, a
 * failed rename) the temp file is removed, `path` is left as it was, and the error is
 * rethrown with the path in its message.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let file: Deno.FsFile | undefined;
  try {
    if (opts.mkdir) await Deno.mkdir(dir, { recursive: true });
    file = await Deno.open(tmp, { write: true, createNew: true });
    for (let off = 0; off < bytes.length;) {
      const n = await file.write(bytes.subarray(off));
      if (n <= 0) throw new Error(`no progress writing ${tmp}`);
      off += n;
    }
    await file.sync();
    file.close();
    file = undefined;
    await Deno.rename(tmp, path);
  } catch (e) {
    try {
      file?.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
  await syncDir(dir);
}

/** Makes a rename in `dir` durable (best effort: not every system lets a folder be synced). */
async function syncDir(dir: string): Promise<void> {
  let d: Deno.FsFile | undefined;
  try {
    d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    /* best effort */
  } finally {
    d?.close();
  }
}
