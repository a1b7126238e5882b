/// <reference lib="dom" />
/**
 * The code that runs in the report page: draws every chart with Chart.js (inlined as a global by
 * the page) from the JSON embedded in the page, and drives the per-run drill-down.
 *
 * {@link renderReportPage} is type-checked here and inlined into the page with
 * `Function.prototype.toString`, so it must not reference anything outside its own body (only
 * types are imported).
 *
 * @module
 */

import type { Chart as ChartClass, ChartConfiguration, ChartDataset } from "chart.js";
import type { Band, SensitivityCurve, Series } from "./analysis.ts";

/** Metric keys of a chart. */
export type Metric = "trainError" | "trainLoss" | "valError" | "valLoss";

/** What the page embeds per variant. */
export interface PageVariant {
  name: string;
  color: string;
  curves: Record<Metric, Band> | null;
  runs: {
    run: number;
    seed: number;
    diverged: boolean;
    trainError: Series;
    trainLoss: Series;
    valError: Series;
    valLoss: Series;
  }[];
}

/** The JSON embedded in a report page (element `#report-data`). */
export interface PageData {
  variants: PageVariant[];
  /** Time-to-target validation-error target, drawn on validation-error charts, or null. */
  target: number | null;
  /** Validation error against learning rate per variant. */
  sensitivity: SensitivityCurve[];
}

/**
 * Renders every `canvas[data-view][data-metric]` of the page and wires the drill-down selector
 * (`#drill-select`). Sets `data-charts-rendered` on `<body>` to the number of charts drawn; any
 * failure is reported with `console.error`.
 */
export function renderReportPage(): void {
  const Chart = (globalThis as unknown as { Chart: typeof ChartClass }).Chart;
  const TITLES: Record<string, { title: string; x: string; y: string }> = {
    trainError: {
      title: "(a) Training error, bias-corrected EMA 0.99, after each step",
      x: "step",
      y: "classification error",
    },
    trainLoss: {
      title: "(a) Training cross-entropy, bias-corrected EMA 0.99, after each step",
      x: "step",
      y: "cross-entropy",
    },
    valError: {
      title: "(b) Validation error after each epoch",
      x: "epoch",
      y: "classification error",
    },
    valLoss: {
      title: "(b) Validation cross-entropy after each epoch",
      x: "epoch",
      y: "cross-entropy",
    },
  };
  const RUN_COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#111111",
  ];
  type Point = { x: number; y: number | null };

  const el = document.getElementById("report-data");
  if (!el || !el.textContent) {
    console.error("report: the embedded data (#report-data) is missing");
    return;
  }
  const data = JSON.parse(el.textContent) as PageData;
  const byName = new Map(data.variants.map((v) => [v.name, v]));
  let rendered = 0;
  let logScale = false;

  const pts = (x: number[], y: (number | null)[]): Point[] =>
    x.map((xi, i) => ({ x: xi, y: y[i] }));
  const alpha = (hex: string, a: string) => (/^#[0-9a-f]{6}$/i.test(hex) ? hex + a : hex);
  // Tick labels with as many digits as the axis step needs, so neighbouring ticks never read
  // the same (Chart.js's default prints 2E29 for every tick of a narrow axis at 2e29).
  const tickLabel = (value: number | string, _i: number, ticks: { value: number }[]) => {
    const v = Number(value);
    if (v === 0) return "0";
    let step = Infinity;
    for (let i = 1; i < ticks.length; i++) {
      step = Math.min(step, Math.abs(ticks[i].value - ticks[i - 1].value));
    }
    const mag = Math.abs(v);
    const digits = Number.isFinite(step) && step > 0
      ? Math.min(15, Math.max(1, Math.ceil(Math.log10(mag / step)) + 1))
      : 3;
    return mag >= 1e5 || mag < 1e-4
      ? v.toExponential(Math.max(0, digits - 1))
      : String(Number(v.toPrecision(digits)));
  };

  function baseOptions(
    metric: string,
    subtitle: string,
  ): ChartConfiguration<"line", Point[]>["options"] {
    const t = TITLES[metric];
    const isError = metric.endsWith("Error");
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { line: { tension: 0 } },
      scales: {
        x: {
          type: "linear",
          title: { display: true, text: t.x },
          ticks: t.x === "epoch"
            ? { stepSize: 1, precision: 0 }
            : { maxTicksLimit: 8, precision: 0 },
        },
        y: logScale
          ? { type: "logarithmic", title: { display: true, text: `${t.y} (log scale)` } }
          : {
            type: "linear",
            title: { display: true, text: t.y },
            min: isError ? 0 : undefined,
            beginAtZero: isError,
            ticks: { callback: tickLabel },
          },
      },
      plugins: {
        title: { display: true, text: t.title, font: { size: 13 } },
        subtitle: { display: subtitle !== "", text: subtitle, font: { size: 11 } },
        legend: {
          labels: {
            boxWidth: 14,
            filter: (item) => !String(item.text).includes("\u0000"),
          },
          onClick: (_e, item, legend) => {
            const chart = legend.chart;
            const name = String(item.text);
            chart.data.datasets.forEach((ds, i) => {
              const label = String(ds.label ?? "");
              if (label === name || label.startsWith(name + "\u0000")) {
                chart.setDatasetVisibility(i, !chart.isDatasetVisible(i));
              }
            });
            chart.update();
          },
        },
        tooltip: {
          filter: (item) => !String(item.dataset.label ?? "").includes("\u0000"),
          callbacks: {
            label: (item) => `${item.dataset.label}: ${Number(item.parsed.y).toPrecision(4)}`,
          },
        },
      },
    };
  }

  function targetDataset(maxX: number): ChartDataset<"line", Point[]> {
    return {
      label: `target ${(Number(data.target) * 100).toFixed(2)}%`,
      data: [{ x: 1, y: data.target }, { x: maxX, y: data.target }],
      borderColor: "#999999",
      borderDash: [4, 4],
      borderWidth: 1,
      pointRadius: 0,
      fill: false,
    };
  }

  function draw(
    canvas: HTMLCanvasElement,
    config: ChartConfiguration<"line", Point[]>,
    empty: string,
  ) {
    const old = Chart.getChart(canvas);
    if (old) old.destroy();
    const finite = config.data.datasets.reduce(
      (n, ds) => n + ds.data.filter((p) => p.y !== null && Number.isFinite(p.y)).length,
      0,
    );
    if (finite === 0) {
      // Legitimately nothing to plot (e.g. every run diverged before its first epoch): say so.
      canvas.dataset.empty = empty;
      const sub = config.options?.plugins?.subtitle;
      if (sub) {
        sub.display = true;
        sub.text = empty;
        sub.color = "#a3201b";
      }
    } else {
      delete canvas.dataset.empty;
    }
    new Chart(canvas, config);
    rendered++;
  }

  function aggregateChart(canvas: HTMLCanvasElement, names: string[], metric: Metric) {
    const datasets: ChartDataset<"line", Point[]>[] = [];
    let maxX = 1;
    let maxRuns = 0;
    for (const name of names) {
      const v = byName.get(name);
      if (!v || !v.curves) continue;
      const b = v.curves[metric];
      maxX = Math.max(maxX, b.x[b.x.length - 1] ?? 1);
      maxRuns = Math.max(maxRuns, b.runs);
      const few = b.x.length <= 60;
      datasets.push({
        label: `${name}\u0000min`,
        data: pts(b.x, b.min),
        borderWidth: 0,
        pointRadius: 0,
        fill: false,
        borderColor: "transparent",
        backgroundColor: alpha(v.color, "26"),
      });
      datasets.push({
        label: `${name}\u0000max`,
        data: pts(b.x, b.max),
        borderWidth: 0,
        pointRadius: 0,
        fill: "-1",
        borderColor: "transparent",
        backgroundColor: alpha(v.color, "26"),
      });
      datasets.push({
        label: name,
        data: pts(b.x, b.mean),
        borderColor: v.color,
        backgroundColor: v.color,
        borderWidth: 1.6,
        pointRadius: few ? 2.5 : 0,
        fill: false,
      });
    }
    if (metric === "valError" && data.target !== null && datasets.length) {
      datasets.push(targetDataset(maxX));
    }
    const sub = maxRuns > 1
      ? "line: mean over runs; band: min to max over runs"
      : "line: the single finished run";
    draw(
      canvas,
      { type: "line", data: { datasets }, options: baseOptions(metric, sub) },
      "no data to draw",
    );
  }

  function runChart(canvas: HTMLCanvasElement, name: string, metric: Metric) {
    const v = byName.get(name);
    if (!v) throw new Error(`drill-down: unknown variant ${name}`);
    const datasets: ChartDataset<"line", Point[]>[] = v.runs.map((r, i) => ({
      label: `run ${r.run} (seed ${r.seed})${r.diverged ? " diverged" : ""}`,
      data: pts(r[metric].x, r[metric].y),
      borderColor: RUN_COLORS[i % RUN_COLORS.length],
      backgroundColor: RUN_COLORS[i % RUN_COLORS.length],
      borderDash: r.diverged ? [5, 3] : [],
      borderWidth: 1.4,
      pointRadius: r[metric].x.length <= 60 ? 2 : 0,
      fill: false,
    }));
    const sub = `${name}: one line per run (each run's own curve)`;
    const empty = `${name}: no data to draw (every run diverged before this was recorded)`;
    draw(canvas, { type: "line", data: { datasets }, options: baseOptions(metric, sub) }, empty);
  }

  function sensitivityChart(canvas: HTMLCanvasElement, names: string[]) {
    const datasets: ChartDataset<"line", Point[]>[] = [];
    for (const c of data.sensitivity.filter((s) => names.includes(s.variant))) {
      // One line through the mean per rate (search and sweep points of a rate averaged by runs).
      const byRate = new Map<number, { sum: number; runs: number }>();
      for (const p of c.points) {
        const e = byRate.get(p.lr) ?? { sum: 0, runs: 0 };
        e.sum += p.valError * p.runs;
        e.runs += p.runs;
        byRate.set(p.lr, e);
      }
      const rates = [...byRate.keys()].sort((a, b) => a - b);
      datasets.push({
        label: c.variant,
        data: rates.map((r) => ({ x: r, y: byRate.get(r)!.sum / byRate.get(r)!.runs })),
        borderColor: c.color,
        backgroundColor: c.color,
        borderWidth: 1.4,
        pointRadius: rates.map((
          r,
        ) => (c.chosenLr !== null && Math.abs(r - c.chosenLr) <= 1e-12 * r ? 7 : 3)),
        pointStyle: rates.map((
          r,
        ) => (c.chosenLr !== null && Math.abs(r - c.chosenLr) <= 1e-12 * r ? "rectRot" : "circle")),
        pointBackgroundColor: rates.map((r) =>
          c.points.some((p) => p.lr === r && p.source === "sweep") ? c.color : "#ffffff"
        ),
        fill: false,
      });
    }
    const options = baseOptions("valError", "ringed: the chosen rate; hollow: search trials only");
    options!.scales!.x = {
      type: "logarithmic",
      title: { display: true, text: "learning rate (log scale)" },
    };
    options!.plugins!.title = {
      display: true,
      text: "Final validation error against learning rate",
      font: { size: 13 },
    };
    draw(canvas, { type: "line", data: { datasets }, options }, "no data to draw");
  }

  const select = document.getElementById("drill-select") as HTMLSelectElement | null;
  const showRuns = () => {
    if (!select) return;
    const name = select.value;
    document.querySelectorAll<HTMLCanvasElement>("canvas[data-drill]").forEach((c) => {
      runChart(c, name, c.dataset.drill as Metric);
    });
    document.querySelectorAll<HTMLElement>("[data-drill-table]").forEach((t) => {
      t.hidden = t.dataset.drillTable !== name;
    });
  };
  const renderAll = () => {
    rendered = 0;
    document.querySelectorAll<HTMLCanvasElement>("canvas[data-view]").forEach((c) => {
      const names = (c.dataset.variants ?? "").split(",").filter((s) => s !== "");
      aggregateChart(c, names, c.dataset.metric as Metric);
    });
    document.querySelectorAll<HTMLCanvasElement>("canvas[data-sensitivity]").forEach((c) => {
      sensitivityChart(c, (c.dataset.sensitivity ?? "").split(",").filter((s) => s !== ""));
    });
    showRuns();
    document.body.dataset.chartsRendered = String(rendered);
  };
  const guarded = (f: () => void) => () => {
    try {
      f();
    } catch (e) {
      console.error("report: drawing the charts failed:", e);
    }
  };
  select?.addEventListener("change", guarded(showRuns));
  const logBox = document.getElementById("log-scale") as HTMLInputElement | null;
  logBox?.addEventListener(
    "change",
    guarded(() => {
      logScale = logBox.checked;
      renderAll();
    }),
  );
  try {
    renderAll();
  } catch (e) {
    console.error("report: drawing the charts failed:", e);
  }
}
