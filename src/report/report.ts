/**
 * Writing the reports: an experiment folder's `index.html` from its run records, and the results
 * folder's `index.html` listing every experiment. Pages are self-contained (Chart.js and the data
 * inlined) and written atomically.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.ts";
import { type AnalysisOptions, analyzeExperiment } from "./analysis.ts";
import { chartJsBundle } from "./chartjs.ts";
import { epochCsv } from "./csv.ts";
import { experimentPage, indexPage, type IndexRow, type VisualizationRow } from "./html.ts";
import { isExperimentDir, loadExperiment } from "./load.ts";

/** Options of {@link writeExperimentReport}. */
export interface ReportOptions extends AnalysisOptions {
  /** Link from the page to the results index (relative); default `../index.html`; null: none. */
  indexHref?: string | null;
  /** Generation time stamp shown on the page; default now. */
  generatedAt?: string;
}

/**
 * Reads `dir/experiment.json` and `dir/runs/*.json`, writes `dir/index.html` and returns its
 * path. Works on partial sweeps (the page says so) and on sweeps with diverged runs.
 */
export async function writeExperimentReport(
  dir: string,
  opts: ReportOptions = {},
): Promise<string> {
  const exp = await loadExperiment(dir);
  const analysis = analyzeExperiment(exp.manifest, exp.records, exp.files, opts);
  const html = experimentPage(analysis, {
    chartJs: await chartJsBundle(),
    csv: epochCsv(exp.records),
    generatedAt: opts.generatedAt ?? new Date().toISOString(),
    files: exp.files,
    indexHref: opts.indexHref === undefined ? "../index.html" : opts.indexHref,
  });
  const out = join(dir, "index.html");
  await writeFileAtomic(out, html);
  return out;
}

/**
 * Writes `resultsDir/index.html` listing every sub-folder that holds an `experiment.json`
 * (newest first: date, preset, dataset, runs, best variant, link) and returns its path. A folder
 * whose records cannot be read is listed with the error instead of aborting the index.
 */
export async function writeResultsIndex(resultsDir: string): Promise<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(resultsDir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`results folder ${resultsDir} does not exist`);
    }
    throw e;
  }
  const rows: IndexRow[] = [];
  const visualizations: VisualizationRow[] = [];
  for (
    const e of entries.filter((e) => e.isDirectory).sort((a, b) => a.name.localeCompare(b.name))
  ) {
    const dir = join(resultsDir, e.name);
    const href = `${encodeURIComponent(e.name)}/index.html`;
    const vis = await readVisualization(dir, href);
    if (vis) visualizations.push(vis);
    if (!(await isExperimentDir(dir))) continue;
    try {
      const exp = await loadExperiment(dir);
      const a = analyzeExperiment(exp.manifest, exp.records, exp.files, { resamples: 1 });
      let hasPage = false;
      try {
        hasPage = (await Deno.stat(join(dir, "index.html"))).isFile;
      } catch {
        hasPage = false;
      }
      rows.push({
        id: exp.manifest.id,
        href,
        hasPage,
        createdAt: exp.manifest.createdAt,
        preset: exp.manifest.preset,
        dataset: exp.manifest.dataset,
        architecture: exp.manifest.architecture,
        description: exp.manifest.description,
        finishedRuns: a.finishedRuns,
        plannedRuns: a.plannedRuns,
        partial: a.partial,
        diverged: a.variants.reduce(
          (s, v) => s + v.runs.filter((r) => r.divergedAtStep !== null).length,
          0,
        ),
        best: a.best,
      });
    } catch (err) {
      rows.push({
        id: e.name,
        href,
        hasPage: false,
        createdAt: "",
        preset: "",
        dataset: "",
        architecture: "",
        description: "",
        finishedRuns: 0,
        plannedRuns: 0,
        partial: true,
        diverged: 0,
        best: null,
        error: (err as Error).message,
      });
    }
  }
  rows.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  const out = join(resultsDir, "index.html");
  visualizations.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  await writeFileAtomic(out, indexPage(rows, new Date().toISOString(), visualizations));
  return out;
}

/** Reads the `visualize.json` summary that `deno task visualize` writes, if the folder has one. */
async function readVisualization(dir: string, href: string): Promise<VisualizationRow | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, "visualize.json"));
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text);
    if (v?.kind !== "visualize") return null;
    return {
      href,
      title: String(v.title ?? dir),
      createdAt: String(v.createdAt ?? ""),
      layerName: String(v.layerName ?? ""),
      accuracy: typeof v.accuracy === "number" ? v.accuracy : null,
      adversarialSuccess: typeof v.adversarial?.successRate === "number"
        ? v.adversarial.successRate
        : null,
    };
  } catch (err) {
    return {
      href,
      title: `${dir}: unreadable visualize.json (${(err as Error).message})`,
      createdAt: "",
      layerName: "",
      accuracy: null,
      adversarialSuccess: null,
    };
  }
}
