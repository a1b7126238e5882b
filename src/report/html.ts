/**
 * HTML of the report pages: the experiment page (tables rendered here, charts drawn in the page
 * by {@link renderReportPage}) and the results index. Pure string building; no I/O.
 *
 * @module
 */

import type {
  ComparisonTable,
  DescriptiveDifference,
  ExperimentAnalysis,
  GroupAnalysis,
} from "./analysis.ts";
import type { OrientedDifference } from "./inference.ts";
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
ul.checks { margin: 0; padding-left: 16px; }
ul.checks li { margin: 1px 0; }
table.findings td { white-space: normal; text-align: left; }
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

/** A p-value as the tables show it (HTML: the `<` of a tiny p is escaped). */
export function pValue(p: number | null): string {
  if (p === null || !Number.isFinite(p)) return "—";
  if (p < 0.0001) return "&lt;0.0001";
  return p < 0.001 ? p.toFixed(4) : p.toFixed(3);
}

/** Percentage points (the sign, where one is wanted, comes from {@link signed}). */
function pp(x: number): string {
  return `${(x * 100).toFixed(2)} pp`;
}

function validationLabel(a: ExperimentAnalysis): string {
  const v = a.validation;
  if (v.source === "test") {
    return "the <b>test set</b> (as the thesis did): every choice and verdict on this page is " +
      "made on the test set, so there is no separate test column";
  }
  return `a <b>held-out split of ${
    v.size ? v.size.toLocaleString("en-US") : "the"
  } training samples</b> (chosen by the base seed, the same for every variant); the test set ` +
    `is read once per run, after its last epoch, and never used to choose`;
}

function firstConfig(a: ExperimentAnalysis, key: keyof RunConfig): string {
  return a.firstConfig ? String(a.firstConfig[key]) : "—";
}

/** One sentence of what actually ran, from the stored config and the records. */
function asRun(a: ExperimentAnalysis): string {
  const m = a.manifest;
  const c = (m.config ?? {}) as Record<string, unknown>;
  const fc = a.firstConfig;
  const rates = Object.entries(m.learningRates).map(([v, r]) => `${v} ${r.join(", ")}`);
  const uniform = new Set(Object.values(m.learningRates).map((r) => r.join(","))).size === 1;
  const parts = [
    `${m.variants.length} variant${m.variants.length === 1 ? "" : "s"} × ${m.runs} seed${
      m.runs === 1 ? "" : "s"
    } (seeds ${m.baseSeed}–${m.baseSeed + m.runs - 1})`,
    `${h(m.architecture)} on ${h(m.dataset)}`,
    `${m.epochs} epoch${m.epochs === 1 ? "" : "s"} of batch ${m.batchSize}`,
    fc ? `${fc.trainSize.toLocaleString("en-US")} training samples` : null,
    a.validation.source === "holdout"
      ? `validation on ${a.validation.size?.toLocaleString("en-US") ?? "?"} held-out samples`
      : "validation on the test set",
    fc && fc.testSize ? `test set ${fc.testSize.toLocaleString("en-US")} samples` : null,
    `optimizer ${h(String(c.optimizer ?? fc?.optimizer ?? "?"))}, momentum ${
      h(String(c.momentum ?? fc?.momentum ?? "?"))
    }`,
    m.lrSearch
      ? `learning rates searched (${
        m.lrSearch.mode === "per-variant" ? "per variant" : "thesis protocol"
      })`
      : `learning rate${
        uniform
          ? ` ${h(Object.values(m.learningRates)[0]?.join(", ") ?? "")}`
          : `s ${h(rates.join("; "))}`
      }`,
  ].filter(Boolean);
  return parts.join(", ");
}

function whatWasRun(a: ExperimentAnalysis, generatedAt: string): string {
  const m = a.manifest;
  const seeds = [...new Set(a.groups.flatMap((g) => g.runs.map((r) => r.seed)))].sort((x, y) =>
    x - y
  );
  const plainRun = a.groups.find((g) => g.variant === "plain")?.runs[0];
  const lrRows = a.groups.map((g) =>
    `<tr><td>${swatch(g.color)}${h(g.name)}</td><td>${num(g.lr)}${
      g.chosen && a.groups.filter((x) => x.variant === g.variant).length > 1
        ? ' <span class="good">(best on validation)</span>'
        : ""
    }</td>` +
    `<td>${g.runs[0] ? g.runs[0].parameters.toLocaleString("en-US") : "—"}</td></tr>`
  ).join("");
  let search = "";
  if (m.lrSearch && Object.keys(m.lrSearch.trials).length) {
    const rows = Object.entries(m.lrSearch.trials).map(([v, tried]) =>
      `<tr><td>${h(v)}</td><td class="wrap">${
        Object.entries(tried).sort((x, y) => Number(x[0]) - Number(y[0]))
          .map(([lr, err]) => `${h(lr)} → ${pct(err)}`).join(", ")
      }</td><td>${m.lrSearch!.chosen[v] === undefined ? "—" : num(m.lrSearch!.chosen[v])}</td></tr>`
    ).join("");
    search = `<h3>Learning-rate search (${
      m.lrSearch.mode === "per-variant"
        ? "per variant: every variant on the same grid with the same budget"
        : "thesis protocol: plain's rate for every shift/scale variant, bn on its own grid"
    })</h3>
<table><tr><th>variant</th><th class="l">tried rate → final validation error of the trial(s)</th><th>chosen</th></tr>${rows}</table>
<p class="note">Search trials are scored on the validation split and kept in <code>search/</code>;
they are not sweep runs and never read the test set.</p>`;
  }
  const p = a.provenance;
  const list = (xs: string[]) => (xs.length ? xs.map(h).join(", ") : "—");
  const cfg = a.firstConfig
    ? `<dt>optimizer</dt><dd>${h(firstConfig(a, "optimizer"))}, momentum ${
      h(firstConfig(a, "momentum"))
    }, weight decay ${h(firstConfig(a, "weightDecay"))}</dd><dt>dropout</dt><dd>${
      h(firstConfig(a, "dropout"))
    }</dd>
<dt>training / validation / test samples</dt><dd>${h(firstConfig(a, "trainSize"))} / ${
      a.validation.size ?? "—"
    } / ${a.firstConfig.testSize || "—"}</dd><dt>input normalisation</dt><dd>${
      h(a.firstConfig?.normalize ?? "per-element")
    }</dd>`
    : "";
  const allDiverged = a.finishedRuns > 0 &&
    a.groups.every((g) => g.runs.every((r) => r.divergedAtStep !== null));
  const badge = a.partial
    ? '<span class="badge partial">partial</span>'
    : allDiverged
    ? '<span class="badge diverged">every run diverged</span>'
    : '<span class="badge complete">complete</span>';
  return `<section id="run"><h2>What was run</h2>
<p>${h(m.description)}</p>
<p><b>As run:</b> ${asRun(a)}.${
    m.overrides?.length
      ? ` <span class="muted">Changed from the preset on the command line: ${
        m.overrides.map(h).join("; ")
      }.</span>`
      : ""
  }</p>
${
    (m.extensions ?? []).map((e) =>
      `<p><b>Plan extended</b> ${h(e.at)}: ${e.added.map(h).join("; ")}.</p>`
    ).join("")
  }
<p><b>Validation</b> is ${validationLabel(a)}.</p>
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
<dt>runs per variant and rate</dt><dd>${m.runs} (run k of every variant shares its seed)</dd>
<dt>batch size</dt><dd>${m.batchSize}</dd>
<dt>base seed</dt><dd>${m.baseSeed}</dd>
<dt>seeds used</dt><dd>${seeds.length ? seeds.join(", ") : "—"}</dd>
${cfg}
<dt>runs finished</dt><dd>${a.finishedRuns} of ${a.plannedRuns} planned ${badge}</dd>
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

function divergedCell(g: GroupAnalysis): string {
  const d = g.runs.filter((r) => r.divergedAtStep !== null);
  if (d.length === 0) return "0";
  return `<span class="badge diverged">${d.length}</span> <span class="muted">${
    d.map((r) => `run ${r.run} @ step ${r.divergedAtStep}`).join(", ")
  }</span>`;
}

function summaryTable(a: ExperimentAnalysis): string {
  const anyIqm = a.groups.some((g) => g.iqm !== null);
  const rows = a.groups.map((g) => {
    const ok = g.runs.length - g.runs.filter((r) => r.divergedAtStep !== null).length;
    const ttt = g.timeToTargetSteps.n
      ? `${meanSd(g.timeToTargetSteps, (x) => num(x, 4))} <span class="muted">(${
        meanSd(g.timeToTargetSeconds, seconds)
      }${g.reachedTarget < ok ? `; ${g.reachedTarget}/${ok} reached` : ""})</span>`
      : ok
      ? '<span class="muted">not reached</span>'
      : "—";
    const best = a.best?.variant === g.name;
    const iqm = g.iqm
      ? `${pct(g.iqm.estimate)} <span class="muted">[${pct(g.iqm.lo)}, ${pct(g.iqm.hi)}]</span>`
      : "—";
    return `<tr${best ? ' class="best"' : ""}><td>${swatch(g.color)}${h(g.name)}${
      best ? ' <span class="muted">(best)</span>' : ""
    }${!g.chosen ? ' <span class="muted">(not its best rate)</span>' : ""}</td>
<td>${num(g.lr)}</td>
<td>${g.finished}/${g.planned}</td>
<td class="wrap">${divergedCell(g)}</td>
<td>${meanSd(g.finalValError, pct)}</td>
<td>${meanSd(g.bestValError, pct)}</td>
<td>${g.bestEpochOfMean ?? "—"}</td>
${anyIqm ? `<td>${iqm}</td>` : ""}
<td>${meanSd(g.finalValLoss, (x) => num(x, 4))}</td>
${a.hasTest ? `<td>${meanSd(g.testError, pct)}</td>` : ""}
<td>${meanSd(g.pace, (x) => num(x, 4))}</td>
<td>${ttt}</td>
<td>${meanSd(g.wallSeconds, seconds)}</td></tr>`;
  }).join("\n");
  const valWord = a.validation.source === "test" ? "val. (= test set)" : "val.";
  return `<section id="summary"><h2>Summary per variant</h2>
<div class="scroll"><table><tr><th>variant</th><th>lr</th><th>runs</th><th class="l">diverged</th>
<th>final ${valWord} error</th><th>best ${valWord} error</th><th>epoch of best</th>${
    anyIqm ? "<th>IQM final val. error [95% bootstrap]</th>" : ""
  }<th>final ${valWord} CE</th>${a.hasTest ? "<th>test error (read once, at the end)</th>" : ""}
<th>pace: EMA-error area</th><th>steps (seconds) to ${
    a.target === null ? "target" : pct(a.target)
  } val. error</th>
<th>wall time / run</th></tr>
${rows}</table></div>
<p class="note">Mean ± sample standard deviation over the runs that did not diverge (diverged runs
are counted, not averaged). <b>Epoch of best</b>: epoch of the lowest mean validation error.
<b>Learning pace</b>: the area under the run's training-error curve smoothed by the bias-corrected
exponential moving average <i>e<sub>t</sub> = Σ<sub>j≤t</sub> 0.99<sup>t−j</sup> x<sub>j</sub> /
Σ<sub>j≤t</sub> 0.99<sup>t−j</sup></i>, by the trapezoidal rule over steps (error × steps; smaller
is faster). <b>Time-to-target</b>: training steps (and seconds, training plus evaluation) until the
validation error first reaches ${a.target === null ? "the target" : `<b>${pct(a.target)}</b>`} (${
    h(a.targetSource)
  }), resolved to epochs.${
    anyIqm
      ? " <b>IQM</b>: interquartile mean over runs (the middle 50%) with a 95% percentile bootstrap interval over runs, as rliable computes it (n ≥ 10)."
      : ""
  }${
    a.hasTest
      ? " <b>Test error</b> is measured once per run, after the last epoch; nothing on this page is chosen by it."
      : ""
  }</p>
</section>`;
}

function diffCell(d: OrientedDifference | DescriptiveDifference | null, f: (v: number) => string) {
  if (!d) return "—";
  if (d.lo === null || d.hi === null) {
    return `${signed(d.mean, f)} <span class="muted">(1 seed: no interval)</span>`;
  }
  return `${signed(d.mean, f)} <span class="muted">[${signed(d.lo, f)}, ${signed(d.hi, f)}]</span>`;
}

function verdictCell(v: string): string {
  const cls = v === "faster" || v === "better"
    ? "good"
    : v === "slower" || v === "worse"
    ? "bad"
    : "muted";
  return `<span class="${cls}">${h(v)}</span>`;
}

function pCells(d: OrientedDifference | null): string {
  if (!d) return "<td>—</td><td>—</td><td>—</td>";
  return `<td>${pValue(d.p)}</td><td>${pValue(d.signFlipP)}</td><td>${
    d.pHolm === null ? '<span class="muted">—</span>' : pValue(d.pHolm)
  }</td>`;
}

function comparisonTable(a: ExperimentAnalysis, t: ComparisonTable): string {
  const color = new Map(a.groups.map((g) => [g.name, g.color]));
  const rows = t.rows.map((c) => {
    const n = Math.max(c.pace?.n ?? 0, c.finalValError?.n ?? 0);
    return `<tr><td>${swatch(color.get(c.group) ?? "#000")}${h(c.group)}</td>
<td>${n}${
      c.droppedSeeds.length
        ? ` <span class="muted">(${c.droppedSeeds.length} dropped: ${
          c.droppedSeeds.join(", ")
        })</span>`
        : ""
    }</td>
<td>${diffCell(c.pace, (x) => num(x, 3))}</td>${pCells(c.pace)}<td class="l">${
      c.pace ? verdictCell(c.pace.verdict) : "—"
    }</td>
<td>${diffCell(c.finalValError, pp)}</td>${pCells(c.finalValError)}<td class="l">${
      c.finalValError ? verdictCell(c.finalValError.verdict) : "—"
    }</td>
<td>${
      c.finalValError?.probabilityOfImprovement == null
        ? "—"
        : pct(c.finalValError.probabilityOfImprovement).replace(/\.00%$/, "%")
    }</td>
${a.hasTest ? `<td>${diffCell(c.testError, pp)}</td>` : ""}
<td>${diffCell(c.timeToTargetSteps, (x) => num(x, 3))}</td></tr>`;
  }).join("\n");
  return `<h3 id="paired-${h(t.reference)}">Against ${h(t.reference)}</h3>
<div class="scroll"><table><tr><th>variant</th><th>seeds paired</th>
<th>Δ pace [95% t-interval]</th><th>p (t)</th><th>p (sign-flip)</th><th>p (Holm)</th><th class="l">pace</th>
<th>Δ final val. error [95% t-interval]</th><th>p (t)</th><th>p (sign-flip)</th><th>p (Holm)</th><th class="l">validation</th>
<th>P(improvement)</th>${
    a.hasTest ? "<th>Δ test error (no verdict)</th>" : ""
  }<th>Δ steps to target</th></tr>
${rows}</table></div>`;
}

function pairedSection(a: ExperimentAnalysis): string {
  if (a.comparisons.length === 0) {
    return `<section id="paired"><h2>Paired comparisons</h2>
<p class="note">No finished run of <b>plain</b> or <b>bn</b>, so there is nothing to pair with.</p></section>`;
  }
  const maxN = Math.max(
    0,
    ...a.comparisons.flatMap((t) =>
      t.rows.map((r) => Math.max(r.pace?.n ?? 0, r.finalValError?.n ?? 0))
    ),
  );
  const few = maxN < a.family.minSeeds
    ? `<div class="banner"><b>No verdicts on this page:</b> at most ${maxN} paired seed${
      maxN === 1 ? "" : "s"
    } per comparison, and a verdict needs at least ${a.family.minSeeds}. With so few seeds a paired
t-interval is very wide and the exact sign-flip test cannot reach 5% (its smallest p-value is
2/2<sup>n</sup>); the numbers are shown, the verdicts are not. Run more seeds (<code>--runs ${a.family.minSeeds}</code>
or more).</div>`
    : "";
  return `<section id="paired"><h2>Paired comparisons</h2>
${few}
<p class="note"><b>Verdicts come from the paired Student t-test (two-sided, df = n − 1) on the
per-seed differences, Holm–Bonferroni-corrected across all ${a.family.size} tests on this page
(comparisons and findings), at family-wise ${
    a.family.alpha * 100
  }%;</b> no verdict below ${a.family.minSeeds}
paired seeds. Run k of every variant shares its seed with run k of the reference (same initial
weights where shapes allow, same data order); each difference is <i>variant − reference</i> on one
seed where both runs finished without diverging. Shown: the mean difference with its 95% paired
t-interval, the t-test p, the exact sign-flip permutation p (all 2<sup>n</sup> sign patterns, n ≤ 12)
for reference, and the Holm-adjusted p that decides. <b>P(improvement)</b>: share of paired seeds on
which the variant's final validation error is lower (ties count one half). Verdicts use the
validation split only${
    a.hasTest ? "; the test-error differences are shown with intervals and no verdict" : ""
  }. Δ steps to target is over the seeds on which both runs reached the target.</p>
${a.comparisons.map((t) => comparisonTable(a, t)).join("\n")}
${a.notes.length ? `<p class="note">${a.notes.map(h).join("<br>")}</p>` : ""}
</section>`;
}

function findingsSection(a: ExperimentAnalysis): string {
  const cls: Record<string, string> = {
    supported: "good",
    contradicted: "bad",
    inconclusive: "muted",
    "too few seeds": "muted",
    "not tested": "muted",
  };
  const rows = a.findings.map((f) => {
    const checks = f.checks.map((c) => {
      const d = c.difference;
      const f2 = d.metric === "finalValError" ? pp : (x: number) => num(x, 3);
      const margin = c.margin === null
        ? ""
        : ` margin ±${d.metric === "finalValError" ? pp(c.margin) : num(c.margin, 3)}, ${
          c.kind === "equivalent" ? "TOST" : "one-sided"
        } p ${pValue(c.marginP)} (Holm ${pValue(c.marginPHolm)});`;
      return `<li>${h(c.label)}: ${diffCell(d, f2)}, n = ${d.n}, p ${pValue(d.p)} (Holm ${
        pValue(d.pHolm)
      });${margin} <span class="${
        c.outcome === "holds" ? "good" : c.outcome === "opposite" ? "bad" : "muted"
      }">${h(c.outcome)}</span></li>`;
    }).join("");
    return `<tr><td class="wrap"><b>${h(f.claim)}</b><br><span class="muted">${
      h(f.test)
    }</span></td>
<td class="l"><span class="${cls[f.verdict]}">${h(f.verdict)}</span><br><span class="muted">${
      h(f.reason)
    }</span></td>
<td class="wrap">${checks ? `<ul class="checks">${checks}</ul>` : "—"}</td></tr>`;
  }).join("\n");
  return `<section id="findings"><h2>Findings: the thesis's claims</h2>
<p class="note">Each claim of the thesis (Bui 2018) that this run's variants allow testing, on the
validation split${
    a.validation.source === "test" ? " (here: the test set, as the thesis did)" : ""
  }. Every check is a paired t-test over seeds in the same Holm–Bonferroni family as the comparison
tables (${a.family.size} tests, family-wise ${a.family.alpha * 100}%). <b>Supported</b>: every
check holds (for "at least one" claims: one holds); <b>contradicted</b>: a check shows the opposite
(a significant difference the other way, or beyond the margin); <b>inconclusive</b>: neither;
<b>too few seeds</b>: fewer than ${a.family.minSeeds} paired seeds; <b>not tested</b>: a needed
variant was not run. Equivalence and "does not help" use a margin of ±10% of the reference's
mean, fixed before any data was seen.</p>
<div class="scroll"><table class="findings"><tr><th class="l">claim and how it is tested</th><th class="l">verdict</th><th class="l">checks: mean difference [95% t-interval], paired seeds, p</th></tr>
${rows}</table></div>
</section>`;
}

function sensitivitySection(a: ExperimentAnalysis): string {
  const curves = a.sensitivity.filter((c) => new Set(c.points.map((p) => p.lr)).size >= 2);
  if (curves.length === 0) return "";
  return `<section id="sensitivity"><h2>Learning-rate sensitivity</h2>
<p class="note">Final validation error against learning rate (log axis) for every variant tried at
more than one rate: search trials (hollow) and sweep groups (filled, mean over seeds). The ringed
point is the rate the variant was trained or analysed at.</p>
<div class="chart"><canvas data-sensitivity="${
    h(curves.map((c) => c.variant).join(","))
  }"></canvas></div>
</section>`;
}

function curvesSection(a: ExperimentAnalysis): string {
  const drawable = a.groups.filter((g) => g.curves !== null);
  if (drawable.length === 0) {
    return `<section id="curves"><h2>Curves</h2><p class="note">No run has finished without
diverging yet, so there is no curve to draw.</p></section>`;
  }
  const views = a.views.filter((v) => v.variants.some((n) => drawable.some((g) => g.name === n)))
    .filter((v) => v.variants.length < drawable.length || a.views.length > 1);
  const grouped = views.length === 0 ? "" : `
<section id="groups"><h2>Grouped views</h2>
<p class="note">As the thesis's figures 7.2-7.4: the baselines (plain, bn) against each family of
variants: the shift/scale sharing levels, and the later methods (normalisation, data-dependent
initialisation, frozen: only the affine parameters train, residual gates).</p>
${
    views.map((v) => `<h3 id="group-${h(v.id)}">${h(v.title)}</h3>${chartGrid(v.id, v.variants)}`)
      .join("\n")
  }
</section>`;
  return `<section id="curves"><h2>Curves: all variants</h2>
<p class="note">(a) the bias-corrected exponential moving average (coefficient 0.99) of the training
batch error and cross-entropy after each step; (b) the validation error and cross-entropy after each
epoch${
    a.target === null ? "" : ` (dashed: the time-to-target target ${pct(a.target)})`
  }. Lines are the mean over the runs that did not diverge, bands span the minimum to the maximum
over those runs. Click a legend entry to hide a variant. Curves are drawn from at most 1,500 points
per line; statistics use every step.</p>
<p><label><input type="checkbox" id="log-scale"> logarithmic y axes (all charts)</label></p>
${chartGrid("all", drawable.map((g) => g.name))}
</section>${grouped}`;
}

function drillSection(a: ExperimentAnalysis): string {
  const withRuns = a.groups.filter((g) => g.runs.length > 0);
  if (withRuns.length === 0) return "";
  const options = withRuns.map((g) =>
    `<option value="${h(g.name)}">${h(g.name)} (${g.runs.length} runs)</option>`
  ).join("");
  const tables = withRuns.map((g) =>
    `<div class="scroll" data-drill-table="${
      h(g.name)
    }"><table><tr><th>run</th><th>seed</th><th>lr</th><th>steps</th><th>epochs</th>
<th>final val. error</th><th>best val. error (epoch)</th><th>final val. CE</th>${
      a.hasTest ? "<th>test error</th>" : ""
    }<th>pace</th><th>steps to target</th>
<th>wall time</th><th class="l">diverged</th><th class="l">record</th></tr>${
      g.runs.map((r) =>
        `<tr><td>${r.run}</td><td>${r.seed}</td><td>${
          num(r.lr)
        }</td><td>${r.steps}</td><td>${r.epochs}</td>
<td>${pct(r.finalValError)}</td><td>${pct(r.bestValError)} (${
          r.bestEpoch > 0 ? r.bestEpoch : "—"
        })</td>
<td>${num(r.finalValLoss)}</td>${a.hasTest ? `<td>${pct(r.testError ?? NaN)}</td>` : ""}<td>${
          num(r.pace)
        }</td><td>${r.timeToTarget?.steps ?? "—"}</td>
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
  /** Record files that could not be read and are left out (relative to the folder). */
  unreadable?: { file: string; reason: string }[];
}

/** The notice listing unreadable record files, or "" when there are none. */
function unreadableNotice(list: { file: string; reason: string }[]): string {
  if (list.length === 0) return "";
  return `<div class="banner" id="unreadable"><b>${list.length} unreadable run record${
    list.length === 1 ? "" : "s"
  }</b> left out of this report (a resume retrains their runs):<ul>${
    list.map((u) => `<li><code>${h(u.file)}</code>: ${h(u.reason)}</li>`).join("")
  }</ul></div>`;
}

/** The data the page's script needs (curves only; tables are static HTML). */
export function pageData(a: ExperimentAnalysis): PageData {
  return {
    target: a.target,
    variants: a.groups.map((g) => ({
      name: g.name,
      color: g.color,
      curves: g.curves,
      runs: g.runCurves,
    })),
    sensitivity: a.sensitivity,
  };
}

/** The self-contained HTML page of one experiment. */
export function experimentPage(a: ExperimentAnalysis, inp: PageInputs): string {
  const m = a.manifest;
  const csvHref = "data:text/csv;charset=utf-8," + encodeURIComponent(inp.csv);
  const missing = a.groups.filter((g) => g.finished < g.planned);
  const banner = a.partial
    ? `<div class="banner"><b>Partial sweep.</b> ${a.finishedRuns} of ${a.plannedRuns} planned runs have
finished${
      missing.length
        ? `; unfinished: ${
          missing.map((g) => `${h(g.name)} (${g.finished}/${g.planned})`).join(", ")
        }`
        : ""
    }. Statistics cover the finished runs only; regenerate with <code>deno task report</code> as runs finish.</div>`
    : "";
  const curves = curvesSection(a);
  const diverged = a.groups.reduce(
    (s, g) => s + g.runs.filter((r) => r.divergedAtStep !== null).length,
    0,
  );
  const onTest = a.validation.source === "test"
    ? ' <span class="badge partial" title="every choice on this page is made on the test set">validated on the test set</span>'
    : "";
  const sens = sensitivitySection(a);
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
  }${onTest}</h1>
<p class="lede">ShiftLab experiment report · preset <b>${h(m.preset)}</b> · ${h(m.dataset)} · ${
    h(m.architecture)
  }${
    a.best
      ? ` · lowest mean final validation error: <b>${h(a.best.variant)}</b> (${
        pct(a.best.finalValError)
      })`
      : ""
  }</p>
<nav class="toc">${inp.indexHref ? `<a href="${h(inp.indexHref)}">← all experiments</a>` : ""}
<a href="#findings">Findings</a><a href="#run">What was run</a><a href="#summary">Summary</a><a href="#paired">Paired comparisons</a>
${sens ? '<a href="#sensitivity">Learning rates</a>' : ""}<a href="#curves">Curves</a>${
    curves.includes('<section id="groups">') ? '<a href="#groups">Grouped views</a>' : ""
  }<a href="#runs">Runs</a><a href="#data">Data</a></nav>
</header>
${banner}
${unreadableNotice(inp.unreadable ?? [])}
${findingsSection(a)}
${whatWasRun(a, inp.generatedAt)}
${summaryTable(a)}
${pairedSection(a)}
${sens}
${curves}
${drillSection(a)}
<section id="data"><h2>Data</h2>
<p><a download="${h(m.id)}_epochs.csv" href="${csvHref}">Download the per-epoch metrics (CSV)</a>
<span class="muted">— one row per run and epoch: variant, lr, run, seed, epoch, step, validation
cross-entropy and error, test cross-entropy and error (last epoch only), epoch seconds, diverged step.</span></p>
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

/** The mark of a results index page ShiftLab wrote (its `<meta name="generator">`). */
export const INDEX_GENERATOR = "ShiftLab results index";

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
<meta name="generator" content="${INDEX_GENERATOR}">
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
