/**
 * Results roots: the folders whose `index.html` (the list of experiments and visualisations)
 * ShiftLab keeps current. A tool writes that index only into a results root it owns, the
 * project's own `results/` or a folder it created itself and marked with {@link RESULTS_MARKER},
 * and never over an `index.html` it did not write.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../io/atomic.ts";

/** The file that marks a folder as a results root ShiftLab created. */
export const RESULTS_MARKER = ".shiftlab-results";

const MARKER_TEXT = "This folder was created by ShiftLab as a results root: its index.html " +
  "lists the experiments and visualisations in it and is rewritten by the tools.\n";

/** The project's own results folder (`results/` of this checkout). */
const PROJECT_RESULTS = fileURLToPath(new URL("../../results", import.meta.url));

async function realPath(path: string): Promise<string | null> {
  try {
    return await Deno.realPath(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** True when `dir` is the project's `results/` or holds {@link RESULTS_MARKER}. */
export async function ownsResultsRoot(dir: string): Promise<boolean> {
  const real = await realPath(dir);
  if (real === null) return false;
  if (real === await realPath(PROJECT_RESULTS)) return true;
  return await isFile(join(dir, RESULTS_MARKER));
}

/** An output folder made by {@link createOutputFolder}. */
export interface OutputFolder {
  /** True when the folder did not exist before. */
  created: boolean;
  /**
   * Takes back what was created, as long as nothing else was written into it: the folder when
   * empty, and a parent made with it when it holds only the marker. For a run that failed
   * before writing anything; best effort, never throws.
   */
  discard(): Promise<void>;
}

/**
 * Creates the output folder `out` of an experiment or visualisation. When its parent does not
 * exist either, the parent is created too and marked as a results root of ShiftLab's own (so
 * its index is kept current); an existing parent is left as it is.
 */
export async function createOutputFolder(out: string): Promise<OutputFolder> {
  const parent = dirname(resolve(out));
  const parentExisted = (await realPath(parent)) !== null;
  const existed = (await realPath(out)) !== null;
  await Deno.mkdir(out, { recursive: true });
  if (!parentExisted) await writeFileAtomic(join(parent, RESULTS_MARKER), MARKER_TEXT);
  return {
    created: !existed,
    async discard() {
      if (existed) return;
      await Deno.remove(out).catch(() => {}); // refused unless empty: then it is kept
      if (parentExisted) return;
      const left = await Array.fromAsync(Deno.readDir(parent)).catch(() => []);
      if (left.length === 1 && left[0].name === RESULTS_MARKER) {
        await Deno.remove(join(parent, RESULTS_MARKER)).catch(() => {});
        await Deno.remove(parent).catch(() => {});
      }
    },
  };
}

/** What {@link updateResultsIndex} did: the page it wrote, or why it left a file alone. */
export interface IndexUpdate {
  /** The index written. */
  written?: string;
  /** One line to print: an `index.html` that ShiftLab did not write was left alone. */
  warning?: string;
}

/**
 * Rewrites `root/index.html` when `root` is a results root ShiftLab owns, or when `explicit`
 * (the user named `root` as a results folder, as `deno task report DIR` does). Never replaces an
 * `index.html` ShiftLab did not write: that file is left alone and a warning returned.
 */
export async function updateResultsIndex(root: string, explicit = false): Promise<IndexUpdate> {
  // loaded here, not at start-up: the report's statistics pull in some 1,000 npm modules (about
  // 0.5 s), which a sweep's parent does not need until its report and its workers never do
  const { isOwnIndex, writeResultsIndex } = await import("./report.ts");
  const path = join(root, "index.html");
  if (!(await isOwnIndex(path))) {
    return {
      warning: `warning: left ${path} alone: ShiftLab did not write it (the results index is ` +
        `written only into a results folder ShiftLab owns, never over another file)`,
    };
  }
  if (!explicit && !(await ownsResultsRoot(root))) return {};
  return { written: await writeResultsIndex(root) };
}

/**
 * {@link updateResultsIndex} for a tool that has just written a page under `root`: prints the
 * warning, if any, and turns a failure into a warning line (the page itself is written).
 */
export async function updateIndexOf(
  root: string,
  explicit = false,
  print: (line: string) => void = console.error,
): Promise<IndexUpdate> {
  try {
    const u = await updateResultsIndex(root, explicit);
    if (u.warning) print(u.warning);
    return u;
  } catch (e) {
    const warning = `warning: results index in ${root} not updated (${
      (e as Error).message.split("\n")[0]
    })`;
    print(warning);
    return { warning };
  }
}
