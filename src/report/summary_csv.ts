/**
 * Published results as data: one CSV row per run of an experiment (the compact summary committed
 * under `experiments/findings/`), and the findings table rebuilt from those rows alone, with the
 * same inference as the experiment's page ({@link pageInference}: paired by seed, one
 * Holm–Bonferroni family per experiment).
 *
 * @module
 */

import { type ExperimentAnalysis, pageInference } from "./analysis.ts";
import type { Finding } from "./findings.ts";
import type { SeedValues } from "./inference.ts";

/** Columns of the per-run summary, in order. */
export const SUMMARY_COLUMNS = [
  "experiment",
  "preset",
  "lr_search",
  "validation",
  "variant",
  "lr",
  "chosen",
  "run",
  "seed",
  "steps",
  "final_val_error",
  "test_error",
  "pace",
  "target",
  "steps_to_target",
  "seconds_to_target",
  "wall_seconds",
  "diverged_at_step",
  "experiment_wall_seconds",
] as const;

/** One row of the summary. */
export type SummaryRow = Record<typeof SUMMARY_COLUMNS[number], string>;

function cell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "NaN";
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/**
 * Wall time of a whole experiment from its records: the time during which at least one of its
 * runs or search trials was training (the union of the intervals `startedAt` to `startedAt +
 * wallSeconds`). Runs that trained side by side overlap, so this is elapsed time, not the sum;
 * a pause between an interruption and `--resume`, when nothing trained, does not count (runs
 * dropped at the interruption left no record and are not in it either).
 */
export function experimentSpan(
  records: readonly { provenance: { startedAt: string }; wallSeconds: number }[],
): number | null {
  const spans = records
    .map((r) => [Date.parse(r.provenance.startedAt), r.wallSeconds * 1000] as const)
    .filter(([t, d]) => Number.isFinite(t) && Number.isFinite(d))
    .map(([t, d]) => [t, t + d] as const)
    .sort((a, b) => a[0] - b[0]);
  if (spans.length === 0) return null;
  let total = 0;
  let [from, to] = spans[0];
  for (const [s, e] of spans.slice(1)) {
    if (s > to) {
      total += to - from;
      [from, to] = [s, e];
    } else to = Math.max(to, e);
  }
  return (total + to - from) / 1000;
}

/**
 * The summary rows of one analysed experiment: every run of every group, with the group's
 * `chosen` flag (the rate its comparisons use). `span` is the experiment's wall time.
 */
export function summaryRows(a: ExperimentAnalysis, span: number | null): string[] {
  const m = a.manifest;
  const rows: string[] = [];
  for (const g of a.groups) {
    for (const r of g.runs) {
      rows.push(
        [
          m.id,
          m.preset,
          m.lrSearch?.mode ?? "none",
          a.validation.source,
          g.variant,
          g.lr,
          g.chosen ? 1 : 0,
          r.run,
          r.seed,
          r.steps,
          r.finalValError,
          r.testError,
          r.pace,
          a.target,
          r.timeToTarget?.steps ?? null,
          r.timeToTarget ? Number(r.timeToTarget.seconds.toFixed(3)) : null,
          Number(r.wallSeconds.toFixed(3)),
          r.divergedAtStep,
          span === null ? null : Number(span.toFixed(1)),
        ].map(cell).join(","),
      );
    }
  }
  return rows;
}

/** The CSV text (header and rows, `\n` line ends). */
export function summaryCsv(rows: readonly string[]): string {
  return [SUMMARY_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

/** Parses summary CSV text; throws naming the line and the column on a malformed row. */
export function parseSummaryCsv(text: string, file = "summary.csv"): SummaryRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l !== "");
  if (lines.length === 0) throw new Error(`${file}: empty`);
  const header = splitCsvLine(lines[0]);
  const missing = SUMMARY_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) throw new Error(`${file}: missing columns ${missing.join(", ")}`);
  return lines.slice(1).map((line, i) => {
    const cells = splitCsvLine(line);
    if (cells.length !== header.length) {
      throw new Error(
        `${file}:${i + 2}: ${cells.length} cells, expected ${header.length} (one per column)`,
      );
    }
    return Object.fromEntries(header.map((h, k) => [h, cells[k]])) as SummaryRow;
  });
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** What one experiment of the summary says: its findings and wall time. */
export interface ExperimentFindings {
  experiment: string;
  preset: string;
  lrSearch: string;
  validation: string;
  seeds: number;
  wallSeconds: number | null;
  findings: Finding[];
}

/**
 * Rebuilds every experiment's findings from summary rows alone: the chosen group of each variant,
 * its non-diverged runs' pace and final validation error by seed, then {@link pageInference}.
 */
export function findingsFromSummary(rows: readonly SummaryRow[]): ExperimentFindings[] {
  const byExp = new Map<string, SummaryRow[]>();
  for (const r of rows) {
    const list = byExp.get(r.experiment) ?? [];
    list.push(r);
    byExp.set(r.experiment, list);
  }
  const out: ExperimentFindings[] = [];
  for (const [experiment, rs] of byExp) {
    const values = new Map<string, SeedValues[]>();
    for (const r of rs) {
      if (r.chosen !== "1") continue;
      const list = values.get(r.variant) ?? [];
      values.set(r.variant, list);
      if (r.diverged_at_step !== "") continue;
      list.push({
        seed: Number(r.seed),
        steps: Number(r.steps),
        pace: Number(r.pace),
        finalValError: Number(r.final_val_error),
      });
    }
    const wall = rs.find((r) => r.experiment_wall_seconds !== "")?.experiment_wall_seconds;
    out.push({
      experiment,
      preset: rs[0].preset,
      lrSearch: rs[0].lr_search,
      validation: rs[0].validation,
      seeds: new Set(rs.map((r) => r.seed)).size,
      wallSeconds: wall === undefined ? null : Number(wall),
      findings: pageInference(values).findings,
    });
  }
  return out;
}

function fmtP(p: number | null): string {
  if (p === null || !Number.isFinite(p)) return "—";
  return p < 0.0001 ? "<0.0001" : p < 0.001 ? p.toFixed(4) : p.toFixed(3);
}

function fmtDiff(metric: string, x: number | null): string {
  if (x === null || !Number.isFinite(x)) return "—";
  return metric === "finalValError"
    ? `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)} pp`
    : `${x >= 0 ? "+" : ""}${Number(x.toPrecision(3))}`;
}

function fmtWall(s: number | null): string {
  if (s === null) return "—";
  return s < 120 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(1)} min`;
}

/**
 * The findings table in Markdown: one row per claim and experiment that tests it (claims an
 * experiment cannot test are left out), with the verdict and, per check, the mean paired
 * difference, its 95% t-interval and the Holm-adjusted p-value.
 */
export function findingsMarkdown(exps: readonly ExperimentFindings[]): string {
  const lines = [
    "| claim | experiment | verdict | checks: mean difference [95% t-interval], Holm p | wall time |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const e of exps) {
    const name = `${e.experiment} (${e.seeds} seeds, lr search ${e.lrSearch}` +
      `${e.validation === "test" ? ", validated on the test set" : ""})`;
    for (const f of e.findings) {
      if (f.verdict === "not tested") continue;
      const checks = f.checks.map((c) => {
        const d = c.difference;
        const margin = c.margin === null ? "" : `, margin test Holm p ${fmtP(c.marginPHolm)}`;
        return `${c.label}: ${fmtDiff(d.metric, d.mean)} [${fmtDiff(d.metric, d.lo)}, ${
          fmtDiff(d.metric, d.hi)
        }], Holm p ${fmtP(d.pHolm)}${margin} (${c.outcome})`;
      }).join("<br>");
      lines.push(
        `| ${f.claim} | ${name} | **${f.verdict}** (${f.reason}) | ${checks} | ${
          fmtWall(e.wallSeconds)
        } |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}
