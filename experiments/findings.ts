/**
 * `deno task findings`: the published results as data.
 *
 * - `collect DIR... --out FILE`: one CSV row per run of each experiment folder (preset, variant,
 *   rate, seed, final validation and test error, pace, time-to-target, wall time), the compact
 *   summary committed under `experiments/findings/`.
 * - `table FILE...`: the findings table (Markdown) rebuilt from summary files alone, with the same
 *   paired inference and Holm–Bonferroni family per experiment as the experiment's page.
 *
 * @module
 */
import { analyzeExperiment } from "../src/report/analysis.ts";
import { loadExperiment } from "../src/report/load.ts";
import {
  experimentSpan,
  findingsFromSummary,
  findingsMarkdown,
  parseSummaryCsv,
  SUMMARY_COLUMNS,
  summaryCsv,
  summaryRows,
} from "../src/report/summary_csv.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";
import { parseFlags, reportFailure, UsageError } from "../src/cli.ts";

/** The `--help` text. */
export const USAGE = `usage: deno task findings collect DIR... --out FILE
       deno task findings table FILE... [--out FILE]

  collect DIR...   read the run records of each experiment folder and write one CSV row per run
                   (the published summary, e.g. experiments/findings/fashion.csv)
  table FILE...    rebuild the findings table (Markdown) from summary CSV files alone
  --out FILE       where to write (collect: required; table: default standard output); a file is
                   only replaced when it is one this tool wrote (a summary CSV or a findings table)
  -h, --help       this text
`;

const TABLE_MARK = "<!-- findings table: deno task findings table -->";

async function ownedOrAbsent(path: string, isOurs: (text: string) => boolean): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!isOurs(text)) {
    throw new Error(`${path} exists and was not written by deno task findings; not replacing it`);
  }
}

/** Runs the command; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  try {
    const v = parseFlags({
      args,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (v.values.help) {
      console.log(USAGE);
      return 0;
    }
    const [cmd, ...paths] = v.positionals;
    if (cmd !== "collect" && cmd !== "table") {
      throw new UsageError(`expected 'collect' or 'table', got '${cmd ?? ""}'`);
    }
    if (paths.length === 0) {
      throw new UsageError(`${cmd} needs at least one ${cmd === "collect" ? "DIR" : "FILE"}`);
    }
    if (cmd === "collect") {
      const out = v.values.out;
      if (!out) throw new UsageError("collect needs --out FILE");
      const rows: string[] = [];
      for (const dir of paths) {
        const exp = await loadExperiment(dir);
        const a = analyzeExperiment(exp.manifest, exp.records, exp.files, { resamples: 1 });
        const trials = await loadTrials(dir);
        rows.push(...summaryRows(a, experimentSpan([...exp.records, ...trials])));
        console.error(`${dir}: ${exp.records.length} runs`);
      }
      await ownedOrAbsent(out, (t) => t.startsWith(SUMMARY_COLUMNS.join(",")));
      await writeFileAtomic(out, summaryCsv(rows), { mkdir: true });
      console.log(out);
      return 0;
    }
    const rows = [];
    for (const f of paths) rows.push(...parseSummaryCsv(await Deno.readTextFile(f), f));
    const md = `${TABLE_MARK}\n\n${findingsMarkdown(findingsFromSummary(rows))}`;
    if (v.values.out) {
      await ownedOrAbsent(v.values.out, (t) => t.startsWith(TABLE_MARK));
      await writeFileAtomic(v.values.out, md, { mkdir: true });
      console.log(v.values.out);
    } else {
      console.log(md);
    }
    return 0;
  } catch (e) {
    return reportFailure(e);
  }
}

/** The search trials of an experiment folder (they count towards its wall time). */
async function loadTrials(
  dir: string,
): Promise<{ provenance: { startedAt: string }; wallSeconds: number }[]> {
  const out = [];
  try {
    for await (const e of Deno.readDir(`${dir}/search`)) {
      if (!e.isFile || !e.name.endsWith(".json")) continue;
      try {
        const r = JSON.parse(await Deno.readTextFile(`${dir}/search/${e.name}`));
        if (typeof r?.provenance?.startedAt === "string" && typeof r.wallSeconds === "number") {
          out.push(r);
        }
      } catch { /* an unreadable trial adds no time */ }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
