/**
 * `deno task report [DIR]`: regenerates report pages from run records.
 *
 * - DIR is an experiment folder (holds `experiment.json`): writes its `index.html`, then the
 *   results index of the folder above it when that is a results root ShiftLab owns
 *   (src/report/root.ts).
 * - DIR is a results folder: writes every experiment's page, then `DIR/index.html`, unless an
 *   `index.html` that ShiftLab did not write is there (left alone, with a warning).
 *
 * Exit status 0 on success, 1 when a report could not be written, 2 on a usage mistake
 * (`error: ...` and a hint to `--help`, src/cli.ts).
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { parseFlags, reportFailure, UsageError } from "../cli.ts";
import { isExperimentDir } from "./load.ts";
import { writeExperimentReport } from "./report.ts";
import { updateIndexOf } from "./root.ts";

/** The `--help` text. */
export const USAGE = `usage: deno task report [options] [DIR]

Regenerates the static HTML reports from the run records (partial sweeps included).

  DIR                  an experiment folder (with experiment.json): writes DIR/index.html and the
                       index of the folder above it when ShiftLab owns that folder; or a results
                       folder: writes the page of every experiment in it and DIR/index.html
                       (never over an index.html ShiftLab did not write). Default: results
  --target X           validation-error target of time-to-target, a number in (0, 1)
                       (default: plain's mean final validation error)
  --max-points N       most points per plotted mean curve (default 1500, at least 2)
  -h, --help           show this help
`;

/** Parsed command line. */
export interface CliOptions {
  dir: string;
  target?: number;
  maxPoints?: number;
}

/** Parses arguments; throws a UsageError whose message says what was wrong and what is expected. */
export function parseCli(args: string[]): CliOptions | "help" {
  const { values, positionals } = parseFlags({
    args,
    options: {
      target: { type: "string" },
      "max-points": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return "help";
  if (positionals.length > 1) {
    throw new UsageError(
      `expected at most one DIR, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  const out: CliOptions = { dir: positionals[0] ?? "results" };
  if (values.target !== undefined) {
    const t = Number(values.target);
    if (!(values.target.trim() !== "" && t > 0 && t < 1)) {
      throw new UsageError(`--target must be a number between 0 and 1, got "${values.target}"`);
    }
    out.target = t;
  }
  if (values["max-points"] !== undefined) {
    const n = Number(values["max-points"]);
    if (!(Number.isInteger(n) && n >= 2)) {
      throw new UsageError(`--max-points must be an integer >= 2, got "${values["max-points"]}"`);
    }
    out.maxPoints = n;
  }
  return out;
}

/** Runs the command; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let opts: CliOptions | "help";
  try {
    opts = parseCli(args);
  } catch (e) {
    return reportFailure(e);
  }
  if (opts === "help") {
    console.log(USAGE);
    return 0;
  }
  const dir = resolve(opts.dir);
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch {
    return reportFailure(
      new UsageError(`${opts.dir} does not exist (expected an experiment or results folder)`),
    );
  }
  if (!stat.isDirectory) {
    return reportFailure(
      new UsageError(`${opts.dir} is not a folder (expected an experiment or results folder)`),
    );
  }
  const ropts = { target: opts.target, maxPoints: opts.maxPoints, warn: console.error };
  let failed = 0;
  try {
    if (await isExperimentDir(dir)) {
      console.log(await writeExperimentReport(dir, ropts));
      const { written } = await updateIndexOf(dirname(dir));
      if (written) console.log(written);
    } else {
      for await (const e of Deno.readDir(dir)) {
        const sub = resolve(dir, e.name);
        if (!e.isDirectory || !(await isExperimentDir(sub))) continue;
        try {
          console.log(await writeExperimentReport(sub, ropts));
        } catch (err) {
          failed++;
          console.error(`error: ${sub}: ${(err as Error).message}`);
        }
      }
      const { written, warning } = await updateIndexOf(dir, true);
      if (written) console.log(written);
      if (warning) failed++;
    }
  } catch (err) {
    return reportFailure(err);
  }
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
