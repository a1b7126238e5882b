/**
 * HTML of the report pages: the experiment page (tables rendered here, charts drawn in the page
 * by {@link renderReportPage}) and the results index. Pure string building; no I/O.
 *
 * @module
 */

import {
  type Comparison,
  type ExperimentAnalysis,
  MIN_SEEDS_FOR_VERDICT,
  type VariantAnalysis,
} from "./analysis.ts";
import type { Summary } from "./stats.ts";
import type { RunConfig } from "../experiment/record.ts";
import { type Metric, type PageData, renderReportPage } from "./client.ts";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/**
 * JSON for a `<script type="application/json">` element: numbers rounded to 5 significant digits
 * (non-finite ones become `null`), and `<` escaped so the text cannot close the element.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v !== "number") return v;
    if (!Number.isFinite(v)) return null;
    return Number.isInteger(v) ? v : Number(v.toPrecision(5));
  }).replaceAll("<", "\\u003c");
}

const h = escapeHtml;

/** A fraction as a percentage with two decimals, or an em dash. */
export function pct(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : "—";
}

function num(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return "—";
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  return Math.abs(v) >= 1e4 ? v.toFixed(0) : String(Number(v.toPrecision(digits)));
}

function meanSd(s: Summary, f: (v: number) => string): string {
  if (s.n === 0) return "—";
  return s.n > 1 ? `${f(s.mean)} ± ${f(s.sd)}` : f(s.mean);
}

function seconds(v: number): string {
  if (!Number.isFinite(v)) return "—";
  if (v < 120) return `${v.toFixed(1)} s`;
  if (v < 7200) return `${(v / 60).toFixed(1)} min`;
  return `${(v / 3600).toFixed(2)} h`;
}

function signed(v: number, f: (v: number) => string): string {
  return v > 0 ? `+${f(v)}` : f(v);
}

const CSS = `
:root { --fg: #1b1b1b; --muted: #5d6670; --line: #d8dde3; --bg: #ffffff; --soft: #f4f6f8;
  --good: #14692f; --bad: #a3201b; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 64px; }
header.top { border-bottom: 2px solid var(--fg); margin-bottom: 18px; padding-bottom: 10px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 22px 0 8px; }
p.lede { color: var(--muted); margin: 0; }
nav.toc { font-size: 13px; margin-top: 8px; }
nav.toc a { margin-right: 14px; }
a { color: #0b5cad; }
.badge { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px;
  vertical-align: middle; margin-left: 6px; font-weight: 600; }
.badge.partial { background: #fff1cc; color: var(--warn); border: 1px solid #e8c766; }
.badge.complete { background: #e3f4e8; color: var(--good); border: 1px solid #9fd3ae; }
.badge.diverged { background: #fde2e1; color: var(--bad); border: 1px solid #eba3a0; }
.banner { background: #fff8e1; border: 1px solid #e8c766; padding: 10px 14px; border-radius: 6px;
  margin: 12px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: right;
  vertical-align: top; white-space: nowrap; }
th { background: var(--soft); font-weight: 600; white-space: normal; }
.scroll { overflow-x: auto; }
th:first-child, td:first-child, td.l, th.l { text-align: left; }
td.wrap { white-space: normal; text-align: left; }
tr.best td { background: #eef7f0; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px;
  vertical-align: baseline; }
.good { color: var(--good); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 6px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 36px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 14px 18px; }
.chart { position: relative; height: 310px; border: 1px solid var(--line); border-radius: 6px;
  padding: 6px; background: #fff; }
pre { background: var(--soft); padding: 10px; overflow-x: auto; font-size: 12px; }
.note { color: var(--muted); font-size: 13px; max-width: 980px; }
select { font-size: 14px; padding: 3px 6px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media (max-width: 900px) { .grid, .cols { grid-template-columns: 1fr; } }
`;

function swatch(color: string): string {
  return `<span class="swatch" style="background:${h(color)}"></span>`;
}

function chartGrid(view: string, names: string[]): string {
  const metrics: Metric[] = ["trainError", "valError", "trainLoss", "valLoss"];
  const list = h(names.join(","));
  return `<div class="grid">${
    metrics.map((m) =>
      `<div class="chart"><canvas data-view="${
        h(view)
      }" data-metric="${m}" data-variants="${list}"></canvas></div>`
    ).join("")
  }</div>`;
}

function whatWasRun(a: ExperimentAnalysis, generatedAt: string): string {
  const m = a.manifest;
  const first = a.variants.flatMap((v) => v.runs)[0];
  const seeds = [...new Set(a.variants.flatMap((v) => v.runs.map((r) => r.seed)))].sort((x, y) =>
    x - y
  );
  const plainRun = a.variants.find((v) => v.name === "plain")?.runs[0];
  const lrRows = a.variants.map((v) =>
    `<tr><td>${swatch(v.color)}${h(v.name)}</td><td>${v.lr === null ? "—" : num(v.lr)}</td>` +
    `<td>${v.runs[0] ? v.runs[0].parameters.toLocaleString("en-US") : "—"}</td></tr>`
  ).join("");
  let search = "";
  if (m.lrSearch && Object.keys(m.lrSearch).length) {
    const rows = Object.entries(m.lrSearch).map(([v, tried]) =>
      `<tr><td>${h(v)}</td><td class="wrap">${
        Object.entries(tried).sort((x, y) => Number(x[0]) - Number(y[0]))
          .map(([lr, err]) => `${h(lr)} → ${pct(err)}`).join(", ")
      }</td><td>${m.learningRates[v] === undefined ? "—" : num(m.learningRates[v])}</td></tr>`
    ).join("");
    search = `<h3>Learning-rate search</h3>
<table><tr><th>variant</th><th class="l">tried rate → final validation error</th><th>chosen</th></tr>${rows}</table>`;
  }
  const p = a.provenance;
  const list = (xs: string[]) => (xs.length ? xs.map(h).join(", ") : "—");
  const cfg = first
    ? `<dt>optimizer</dt><dd>${h(firstConfig(a, "optimizer"))}, momentum ${
      h(firstConfig(a, "momentum"))
    }, weight decay ${h(firstConfig(a, "weightDecay"))}</dd><dt>dropout</dt><dd>${
      h(firstConfig(a, "dropout"))
    }</dd>
<dt>training / test samples</dt><dd>${h(firstConfig(a, "trainSize"))} / ${
      h(firstConfig(a, "testSize"))
    }</dd><dt>input normalisation</dt><dd>${h(a.firstConfig?.normalize ?? "per-element")}</dd>`
    : "";
  return `<section id="run"><h2>What was run</h2>
<p>${h(m.description)}</p>
<div class="cols"><div><dl class="facts">
<dt>experiment</dt><dd>${h(m.id)}</dd>
<dt>preset</dt><dd>${h(m.preset)}</dd>
<dt>dataset</dt><dd>${h(m.dataset)}</dd>
<dt>architecture</dt><dd>${h(m.architecture)}${
    plainRun
      ? ` (${plainRun.parameters.toLocaleString("en-US")} parameters as plain; per variant below)`
      : ""
  }</dd>
${m.layers ? `<dt>resolved layers</dt><dd>${h(layerList(m.layers))}</dd>` : ""}
<dt>variants</dt><dd>${h(m.variants.join(", "))}</dd>
<dt>epochs</dt><dd>${m.epochs}</dd>
<dt>runs per variant</dt><dd>${m.runs} (run k of every variant shares its seed)</dd>
<dt>batch size</dt><dd>${m.batchSize}</dd>
<dt>base seed</dt><dd>${m.baseSeed}</dd>
<dt>seeds used</dt><dd>${seeds.length ? seeds.join(", ") : "—"}</dd>
${cfg}
<dt>runs finished</dt><dd>${a.finishedRuns} of ${a.plannedRuns} planned ${
    a.partial
      ? '<span class="badge partial">partial</span>'
      : '<span class="badge complete">complete</span>'
  }</dd>
</dl></div><div><dl class="facts">
<dt>backend</dt><dd>${list(p.backends)}</dd>
<dt>device</dt><dd>${list(p.devices)}</dd>
<dt>native library</dt><dd>${list(p.libraries)}</dd>
<dt>Deno</dt><dd>${list(p.denos)}</dd>
<dt>commit</dt><dd>${list(p.commits)}${
    p.commits.length > 1 ? ' <span class="bad">(runs from several commits)</span>' : ""
  }</dd>
<dt>host</dt><dd>${list(p.hostnames)}</dd>
<dt>sweep created</dt><dd>${h(m.createdAt)}</dd>
<dt>runs started</dt><dd>${p.firstStart ? `${h(p.firstStart)} … ${h(p.lastStart ?? "")}` : "—"}</dd>
<dt>report generated</dt><dd>${h(generatedAt)}</dd>
</dl></div></div>
<h3>Learning rate per variant</h3>
<table style="width:auto"><tr><th>variant</th><th>learning rate</th><th>parameters</th></tr>${lrRows}</table>
${search}
<details><summary>Architecture summary (plain network)</summary><pre>${
    h(m.architectureSummary)
  }</pre></details>
</section>`;
}

/** `conv(filters=24, kernel=3) → act(op=relu) → …`: an inline or optioned architecture's layers. */
function layerList(layers: readonly object[]): string {
  return layers.map((l) => {
    const { type, ...fields } = l as Record<string, unknown>;
    const args = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(", ");
    return `${type}(${args})`;
  }).join(" → ");
}

function firstConfig(a: ExperimentAnalysis, key: keyof RunConfig): string {
  return a.firstConfig ? String(a.firstConfig[key]) : "—";
}

function divergedCell(v: VariantAnalysis): string {
  const d = v.runs.filter((r) => r.divergedAtStep !== null);
  if (d.length === 0) return "0";
  return `<span class="badge diverged">${d.length}</span> <span class="muted">${
    d.map((r) => `run ${r.run} @ step ${r.divergedAtStep}`).join(", ")
  }</span>`;
}

function summaryTable(a: ExperimentAnalysis): string {
  const rows = a.variants.map((v) => {
    const reached = v.runs.length - v.runs.filter((r) => r.divergedAtStep !== null).length;
    const steps = v.stepsToThreshold.n
      ? `${meanSd(v.stepsToThreshold, (x) => num(x, 4))}${
        v.reachedThreshold < reached
          ? ` <span class="muted">(${v.reachedThreshold}/${reached} reached)</span>`
          : ""
      }`
      : reached
      ? '<span class="muted">not reached</span>'
      : "—";
    const best = a.best?.variant === v.name;
    return `<tr${best ? ' class="best"' : ""}><td>${swatch(v.color)}${h(v.name)}${
      best ? ' <span class="muted">(best)</span>' : ""
    }</td>
<td>${v.lr === null ? "—" : num(v.lr)}</td>
<td>${v.finished}/${v.planned}${
      v.otherLrRuns ? ` <span class="muted">+${v.otherLrRuns} search</span>` : ""
    }</td>
<td class="wrap">${divergedCell(v)}</td>
<td>${meanSd(v.finalValError, pct)}</td>
<td>${meanSd(v.bestValError, pct)}</td>
<td>${v.bestEpochOfMean ?? "—"}</td>
<td>${meanSd(v.finalValLoss, (x) => num(x, 4))}</td>
<td>${meanSd(v.pace, (x) => num(x, 4))}</td>
<td>${steps}</td>
<td>${meanSd(v.wallSeconds, seconds)}</td></tr>`;
  }).join("\n");
  return `<section id="summary"><h2>Summary per variant</h2>
<div class="scroll"><table><tr><th>variant</th><th>lr</th><th>runs</th><th class="l">diverged</th>
<th>final val. error</th><th>best val. error</th><th>epoch of best</th><th>final val. CE</th>
<th>pace: EMA-error area</th><th>steps to ${
    a.threshold === null ? "threshold" : pct(a.threshold)
  }</th>
<th>wall time / run</th></tr>
${rows}</table></div>
<p class="note">Mean ± sample standard deviation over the runs that did not diverge (diverged runs
are counted, not averaged). <b>Epoch of best</b>: epoch of the lowest mean validation error.
<b>Learning pace</b>: the area under the run's training-error curve smoothed by an exponential moving
average (coefficient 0.99), by the trapezoidal rule over steps (error × steps; smaller is faster),
computed on every step; and the number of steps until that curve first reaches
${a.threshold === null ? "the threshold" : `<b>${pct(a.threshold)}</b>`} (${
    h(a.thresholdSource)
  }).</p>
</section>`;
}

function ciCell(ci: Comparison["pace"], f: (v: number) => string): string {
  if (!ci) return "—";
  if (ci.n < 2) return `${signed(ci.mean, f)} <span class="muted">(1 seed: no interval)</span>`;
  return `${signed(ci.mean, f)} <span class="muted">[${signed(ci.lo, f)}, ${
    signed(ci.hi, f)
  }]</span>`;
}

function verdictCell(v: string): string {
  const cls = v === "faster" || v === "better"
    ? "good"
    : v === "slower" || v === "worse"
    ? "bad"
    : "muted";
  return `<span class="${cls}">${h(v)}</span>`;
}

function comparisonTable(a: ExperimentAnalysis): string {
  if (a.comparisons === null) {
    return `<section id="paired"><h2>Paired comparison with plain</h2>
<p class="note">No finished run of <b>plain</b>, so there is nothing to pair with.</p></section>`;
  }
  const color = new Map(a.variants.map((v) => [v.name, v.color]));
  const pp = (x: number) => `${(x * 100).toFixed(2)} pp`;
  const rows = a.comparisons.map((c) =>
    `<tr><td>${swatch(color.get(c.variant) ?? "#000")}${h(c.variant)}</td>
<td>${c.seeds.length}${
      c.droppedSeeds.length ? ` <span class="muted">(${c.droppedSeeds.length} dropped)</span>` : ""
    }</td>
<td>${ciCell(c.pace, (x) => num(x, 3))}</td><td class="l">${verdictCell(c.paceVerdict)}</td>
<td>${ciCell(c.stepsToThreshold, (x) => num(x, 3))}</td>
<td>${ciCell(c.finalValError, pp)}</td><td class="l">${verdictCell(c.valVerdict)}</td></tr>`
  ).join("\n");
  return `<section id="paired"><h2>Paired comparison with plain</h2>
<div class="scroll"><table><tr><th>variant</th><th>seeds paired</th><th>Δ pace (EMA-error area)</th><th class="l">pace</th>
<th>Δ steps to threshold</th><th>Δ final val. error</th><th class="l">validation</th></tr>
${rows}</table></div>
<p class="note">Run k of every variant shares its seed with run k of plain (same initial weights
where shapes allow, same data order). For each seed where both runs finished without diverging,
the difference <i>variant − plain</i> is taken; shown is the mean difference over seeds and, in
brackets, a percentile bootstrap 95% confidence interval of that mean (10,000 resamples of the
seeds). A variant is called <span class="good">faster</span> or <span class="good">better</span>
only when the whole interval lies below zero (and <span class="bad">slower</span> or
<span class="bad">worse</span> only when it lies above); with fewer than ${MIN_SEEDS_FOR_VERDICT} paired seeds no verdict is
given (with two, the interval is only the range of the two differences). With few seeds the
bootstrap interval is too narrow; treat verdicts from 3-4 seeds as indicative. Dropped seeds: plain or the variant is missing or diverged on that seed.</p>
${a.notes.length ? `<p class="note">${a.notes.map(h).join("<br>")}</p>` : ""}
</section>`;
}

function curvesSection(a: ExperimentAnalysis): string {
  const drawable = a.variants.filter((v) => v.curves !== null);
  if (drawable.length === 0) {
    return `<section id="curves"><h2>Curves</h2><p class="note">No run has finished without
diverging yet, so there is no curve to draw.</p></section>`;
  }
  const groups = a.groups.filter((g) => g.variants.some((n) => drawable.some((v) => v.name === n)))
    .filter((g) => g.variants.length < a.variants.length || a.groups.length > 1);
  return `<section id="curves"><h2>Curves: all variants</h2>
<p class="note">(a) the exponential moving average (coefficient 0.99) of the training batch
error and cross-entropy after each step; (b) the validation error and cross-entropy after each
epoch. Lines are the mean over the runs that did not diverge, bands span the minimum to the maximum
over those runs. Click a legend entry to hide a variant. Curves are drawn from at most 1,500 points
per line; statistics use every step.</p>
<p><label><input type="checkbox" id="log-scale"> logarithmic y axes (all charts)</label></p>
${chartGrid("all", drawable.map((v) => v.name))}
</section>
<section id="groups"><h2>Grouped views</h2>
<p class="note">As the thesis's figures 7.2-7.4: the baselines (plain, bn) against each family of
shifting/scaling variants.</p>
${
    groups.map((g) => `<h3 id="group-${h(g.id)}">${h(g.title)}</h3>${chartGrid(g.id, g.variants)}`)
      .join("\n")
  }
</section>`;
}

function drillSection(a: ExperimentAnalysis): string {
  const withRuns = a.variants.filter((v) => v.runs.length > 0);
  if (withRuns.length === 0) return "";
  const options = withRuns.map((v) =>
    `<option value="${h(v.name)}">${h(v.name)} (${v.runs.length} runs)</option>`
  )
    .join("");
  const tables = withRuns.map((v) =>
    `<div class="scroll" data-drill-table="${
      h(v.name)
    }"><table><tr><th>run</th><th>seed</th><th>lr</th><th>steps</th><th>epochs</th>
<th>final val. error</th><th>best val. error (epoch)</th><th>final val. CE</th><th>pace</th><th>steps to threshold</th>
<th>wall time</th><th class="l">diverged</th><th class="l">record</th></tr>${
      v.runs.map((r) =>
        `<tr><td>${r.run}</td><td>${r.seed}</td><td>${
          num(r.lr)
        }</td><td>${r.steps}</td><td>${r.epochs}</td>
<td>${pct(r.finalValError)}</td><td>${pct(r.bestValError)} (${
          r.bestEpoch > 0 ? r.bestEpoch : "—"
        })</td>
<td>${num(r.finalValLoss)}</td><td>${num(r.pace)}</td><td>${r.stepsToThreshold ?? "—"}</td>
<td>${seconds(r.wallSeconds)}</td><td class="l">${
          r.divergedAtStep === null ? "no" : `<span class="bad">at step ${r.divergedAtStep}</span>`
        }</td><td class="l muted">${h(r.file)}</td></tr>`
      ).join("")
    }</table></div>`
  ).join("\n");
  const metrics: Metric[] = ["trainError", "valError", "trainLoss", "valLoss"];
  return `<section id="runs"><h2>Runs (drill-down)</h2>
<p>Variant: <select id="drill-select">${options}</select></p>
${tables}
<div class="grid">${
    metrics.map((m) => `<div class="chart"><canvas data-drill="${m}"></canvas></div>`).join("")
  }</div>
</section>`;
}

/** What {@link experimentPage} needs besides the analysis. */
export interface PageInputs {
  /** Chart.js's UMD bundle text (already safe inside `<script>`). */
  chartJs: string;
  /** The per-epoch CSV. */
  csv: string;
  /** ISO date of generation. */
  generatedAt: string;
  /** Record files, relative to the experiment folder. */
  files: string[];
  /** Link to the results index, relative to the page, or null for none. */
  indexHref: string | null;
}

/** The data the page's script needs (curves only; tables are static HTML). */
export function pageData(a: ExperimentAnalysis): PageData {
  return {
    threshold: a.threshold,
    variants: a.variants.map((v) => ({
      name: v.name,
      color: v.color,
      curves: v.curves,
      runs: v.runCurves,
    })),
  };
}

/** The self-contained HTML page of one experiment. */
export function experimentPage(a: ExperimentAnalysis, inp: PageInputs): string {
  const m = a.manifest;
  const csvHref = "data:text/csv;charset=utf-8," + encodeURIComponent(inp.csv);
  const missing = a.variants.filter((v) => v.finished < v.planned);
  const banner = a.partial
    ? `<div class="banner"><b>Partial sweep.</b> ${a.finishedRuns} of ${a.plannedRuns} planned runs have
finished${
      missing.length
        ? `; unfinished: ${
          missing.map((v) => `${h(v.name)} (${v.finished}/${v.planned})`).join(", ")
        }`
        : ""
    }. Statistics cover the finished runs only; regenerate with <code>deno task report</code> as runs finish.</div>`
    : "";
  const diverged = a.variants.reduce(
    (s, v) => s + v.runs.filter((r) => r.divergedAtStep !== null).length,
    0,
  );
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>${h(m.id)} · ShiftLab report</title>
<style>${CSS}</style></head>
<body><main>
<header class="top">
<h1>${h(m.id)} ${a.partial ? '<span class="badge partial">partial</span>' : ""}${
    diverged ? `<span class="badge diverged">${diverged} diverged</span>` : ""
  }</h1>
<p class="lede">ShiftLab experiment report · preset <b>${h(m.preset)}</b> · ${h(m.dataset)} · ${
    h(m.architecture)
  }${
    a.best
      ? ` · lowest final validation error: <b>${h(a.best.variant)}</b> (${
        pct(a.best.finalValError)
      })`
      : ""
  }</p>
<nav class="toc">${inp.indexHref ? `<a href="${h(inp.indexHref)}">← all experiments</a>` : ""}
<a href="#run">What was run</a><a href="#summary">Summary</a><a href="#paired">Paired comparison</a>
<a href="#curves">Curves</a><a href="#groups">Grouped views</a><a href="#runs">Runs</a><a href="#data">Data</a></nav>
</header>
${banner}
${whatWasRun(a, inp.generatedAt)}
${summaryTable(a)}
${comparisonTable(a)}
${curvesSection(a)}
${drillSection(a)}
<section id="data"><h2>Data</h2>
<p><a download="${h(m.id)}_epochs.csv" href="${csvHref}">Download the per-epoch metrics (CSV)</a>
<span class="muted">— one row per run and epoch: variant, lr, run, seed, epoch, step, validation
cross-entropy and error, epoch seconds, diverged step.</span></p>
<details><summary>${inp.files.length} run record files</summary><pre>${
    h(inp.files.join("\n"))
  }</pre></details>
</section>
<footer>Generated by ShiftLab <code>deno task report</code> at ${
    h(inp.generatedAt)
  } from the run records in this
folder. Self-contained: Chart.js and all data are embedded; the page makes no network request.</footer>
</main>
<script type="application/json" id="report-data">${embedJson(pageData(a))}</script>
<script>${inp.chartJs}</script>
<script>(${renderReportPage.toString()})();</script>
</body></html>
`;
}

/** One row of the results index. */
export interface IndexRow {
  id: string;
  /** Link to the experiment page, relative to the index. */
  href: string;
  /** Whether the page exists. */
  hasPage: boolean;
  createdAt: string;
  preset: string;
  dataset: string;
  architecture: string;
  description: string;
  finishedRuns: number;
  plannedRuns: number;
  partial: boolean;
  diverged: number;
  best: { variant: string; finalValError: number } | null;
  /** Set when the folder could not be read. */
  error?: string;
}

/** One gradient-ascent visualisation listed in the results index. */
export interface VisualizationRow {
  href: string;
  title: string;
  createdAt: string;
  layerName: string;
  /** Test accuracy of the visualised network, when known. */
  accuracy: number | null;
  /** Share of adversarial attempts whose prediction flipped, when the study ran them. */
  adversarialSuccess: number | null;
}

function visualizationTable(vis: VisualizationRow[]): string {
  if (vis.length === 0) return "";
  const rows = vis.map((v) =>
    `<tr><td>${h(v.createdAt.replace("T", " ").slice(0, 16))}</td><td class="l"><a href="${
      h(v.href)
    }">${h(v.title)}</a></td><td class="l">${h(v.layerName)}</td><td>${
      v.accuracy === null ? "—" : pct(v.accuracy)
    }</td><td>${v.adversarialSuccess === null ? "—" : pct(v.adversarialSuccess)}</td></tr>`
  ).join("\n");
  return `<h2>Gradient-ascent visualisations</h2>
<table><tr><th>date</th><th class="l">visualisation</th><th class="l">layer</th><th>test accuracy</th>
<th>adversarial flips</th></tr>
${rows}</table>`;
}

/** The results index page. */
export function indexPage(
  rows: IndexRow[],
  generatedAt: string,
  visualizations: VisualizationRow[] = [],
): string {
  const body = rows.map((r) => {
    if (r.error) {
      return `<tr><td>—</td><td>${h(r.id)}</td><td class="wrap bad" colspan="6">${
        h(r.error)
      }</td></tr>`;
    }
    const link = r.hasPage
      ? `<a href="${h(r.href)}">${h(r.id)}</a>`
      : `${h(r.id)} <span class="muted">(no page yet: run deno task report)</span>`;
    return `<tr><td>${h(r.createdAt.replace("T", " ").slice(0, 16))}</td><td class="l">${link}</td>
<td class="l">${h(r.preset)}</td><td class="l">${h(r.dataset)}</td><td class="l">${
      h(r.architecture)
    }</td>
<td>${r.finishedRuns}/${r.plannedRuns}${
      r.partial ? ' <span class="badge partial">partial</span>' : ""
    }${r.diverged ? ` <span class="badge diverged">${r.diverged} diverged</span>` : ""}</td>
<td>${r.best ? `<b>${h(r.best.variant)}</b> (${pct(r.best.finalValError)})` : "—"}</td>
<td class="wrap">${h(r.description)}</td></tr>`;
  }).join("\n");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>ShiftLab results</title><style>${CSS}</style></head>
<body><main>
<header class="top"><h1>ShiftLab results</h1>
<p class="lede">${rows.length} experiment${rows.length === 1 ? "" : "s"} · newest first</p></header>
${
    rows.length
      ? `<table><tr><th>date</th><th class="l">experiment</th><th class="l">preset</th><th class="l">dataset</th>
<th class="l">architecture</th><th>runs</th><th>best variant (final val. error)</th><th class="l">description</th></tr>
${body}</table>`
      : `<p class="note">No experiment folder (with an experiment.json) here yet. Run <code>deno task experiment</code>.</p>`
  }
${visualizationTable(visualizations)}
<footer>Generated by ShiftLab <code>deno task report</code> at ${
    h(generatedAt)
  }. Best variant: lowest mean
final validation error over its finished, non-diverged runs.</footer>
</main></body></html>
`;
}
