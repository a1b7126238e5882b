/**
 * Opens generated reports in a real headless Chromium from `file://` and fails on any console
 * error, exception, failed or outgoing request, and on any blank chart canvas. Skipped with one
 * visible line when Chromium is absent (`.ci/run` installs it; a failed install warns there).
 * Set `REPORT_SCREENSHOTS=<dir>` to keep full-page PNGs of the pages.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { writeExperimentReport, writeResultsIndex } from "../src/report/report.ts";
import { Browser, findChromium } from "./report_browser.ts";
import { writeFixture } from "./report_fixtures.ts";

const chromium = findChromium();

if (!chromium) {
  console.log("SKIP report browser tests: no chromium on PATH (apt-get install chromium)");
}

/** What the page says about each canvas. */
interface CanvasInfo {
  id: string;
  metric: string;
  width: number;
  height: number;
  painted: number;
  colors: number;
  points: number;
  hasChart: boolean;
  /** Set by the page when it has legitimately nothing to plot (says why). */
  empty: string | null;
}

/** Evaluated in the page: pixel and data statistics of every canvas. */
const INSPECT_CANVASES = `(() => [...document.querySelectorAll("canvas")].map((c) => {
  const d = c.width && c.height ? c.getContext("2d").getImageData(0, 0, c.width, c.height).data : [];
  let painted = 0;
  const colors = new Set();
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 0) {
      painted++;
      if (colors.size < 64) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
  }
  const chart = globalThis.Chart ? Chart.getChart(c) : undefined;
  const points = chart
    ? chart.data.datasets.reduce((s, ds) => s + ds.data.filter((p) => p && Number.isFinite(p.y)).length, 0)
    : 0;
  return { id: c.dataset.view ?? c.dataset.drill ?? c.id, metric: c.dataset.metric ?? c.dataset.drill ?? "",
    width: c.width, height: c.height, painted, colors: colors.size, points, hasChart: !!chart,
    empty: c.dataset.empty ?? null };
}))()`;

/**
 * Names of blank canvases: nothing drawn, no chart, or no plotted data point. A canvas the page
 * marks empty on purpose (`data-empty`) still needs a drawn chart (axes and the reason).
 */
function blankCanvases(infos: CanvasInfo[]): string[] {
  return infos.filter((c) =>
    c.empty !== null
      ? !c.hasChart || c.painted < 0.005 * c.width * c.height
      : !c.hasChart || c.points === 0 || c.width === 0 || c.height === 0 ||
        c.painted < 0.01 * c.width * c.height || c.colors < 4
  ).map((c) =>
    `${c.id}/${c.metric} (painted ${c.painted}, colours ${c.colors}, points ${c.points})`
  );
}

async function waitForCharts(b: Browser): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const n = await b.eval<string | null>("document.body.dataset.chartsRendered ?? null");
    if (n !== null) return Number(n);
    const p = b.problems;
    if (p.consoleErrors.length || p.exceptions.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return -1;
}

function assertNoProblems(b: Browser, what: string) {
  assert.deepEqual(b.problems, {
    consoleErrors: [],
    exceptions: [],
    failedRequests: [],
    outgoingRequests: [],
    logErrors: [],
  }, `${what}: the page reported problems`);
}

async function screenshot(b: Browser, name: string) {
  const dir = Deno.env.get("REPORT_SCREENSHOTS");
  if (!dir) return;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(join(dir, name), await b.screenshot());
}

async function checkExperimentPage(b: Browser, page: string, shot: string): Promise<CanvasInfo[]> {
  await b.open(pathToFileURL(page).href);
  const n = await waitForCharts(b);
  assertNoProblems(b, page);
  assert.ok(n > 0, `${page}: charts were not drawn (data-charts-rendered missing)`);
  const infos = await b.eval<CanvasInfo[]>(INSPECT_CANVASES);
  assert.equal(infos.length, n, "every canvas on the page is a drawn chart");
  assert.deepEqual(blankCanvases(infos), [], `${page}: blank chart canvases`);
  assert.deepEqual(
    infos.filter((c) => c.empty !== null).map((c) => c.id),
    [],
    "no chart without data",
  );
  await screenshot(b, shot);
  return infos;
}

Deno.test({
  name: "report pages render in headless Chromium without errors, requests or blank charts",
  ignore: !chromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "shiftlab-report-browser-" });
    const b = await Browser.launch(chromium!);
    try {
      const full = await writeFixture(root, { id: "complete", runs: 3, epochs: 5 });
      // The thesis's search for plain and bn: the page gets a learning-rate sensitivity chart.
      const mPath = join(full, "experiment.json");
      const m = JSON.parse(await Deno.readTextFile(mPath));
      m.lrSearch = {
        mode: "thesis",
        trials: {
          plain: { "0.005": 0.09, "0.01": 0.07, "0.02": 0.08 },
          bn: { "0.02": 0.05, "0.04": 0.04, "0.08": 0.06 },
        },
        chosen: { plain: 0.01, bn: 0.04 },
      };
      await Deno.writeTextFile(mPath, JSON.stringify(m));
      // A diverging run whose cross-entropy sits near 2e29 before it blows up: its axis labels
      // must still differ from one tick to the next.
      const huge = await writeFixture(root, {
        id: "huge-loss",
        variants: ["plain"],
        runs: 1,
        epochs: 2,
        stepsPerEpoch: 50,
      });
      const hugeFile = join(huge, "runs", "plain__lr0.01__run0.json");
      const rec = JSON.parse(await Deno.readTextFile(hugeFile));
      rec.trainLoss = rec.trainLoss.map((_: number, i: number) => 2e29 * (1 + 1e-3 * i));
      await Deno.writeTextFile(hugeFile, JSON.stringify(rec));
      const hugePage = await writeExperimentReport(huge);
      const partial = await writeFixture(root, {
        id: "partial-diverged",
        variants: ["plain", "bn", "sh", "sc", "csh", "csc", "lsh", "lsc", "lsh_lsc", "biased2"],
        runs: 3,
        epochs: 3,
        missing: ["lsc/1", "lsc/2", "bn/2", "csc/0", "csc/1", "csc/2"],
        diverge: { "sh/1": 400, "lsh/0": 10, "biased2/0": 20, "biased2/1": 30, "biased2/2": 40 },
      });
      const fullPage = await writeExperimentReport(full);
      const partialPage = await writeExperimentReport(partial);
      const index = await writeResultsIndex(root);

      await t.step("complete sweep", async () => {
        const infos = await checkExperimentPage(b, fullPage, "complete.png");
        // sensitivity (1) + overview (4) + three families (4 each) + drill-down (4)
        assert.equal(infos.length, 1 + 4 + 3 * 4 + 4);
        const sens = await b.eval<string[]>(
          `Chart.getChart(document.querySelector("canvas[data-sensitivity]")).data.datasets.map((d) => d.label + ":" + d.data.length)`,
        );
        assert.deepEqual(sens, ["plain:3", "bn:3"]);
        const csv = await b.eval<string>(
          `decodeURIComponent(document.querySelector("a[download]").href.split(",").slice(1).join(","))`,
        );
        assert.match(
          csv,
          /^variant,lr,run,seed,epoch,step,val_loss,val_error,test_loss,test_error,epoch_seconds,diverged_at_step\n/,
        );
        assert.equal(csv.trim().split("\n").length, 1 + 6 * 3 * 5);
      });

      await t.step("drill-down switches variant without errors", async () => {
        await b.eval(`(() => { const s = document.getElementById("drill-select");
          s.value = "lsh_lsc"; s.dispatchEvent(new Event("change")); })()`);
        const visible = await b.eval<string[]>(
          `[...document.querySelectorAll("[data-drill-table]")].filter((e) => !e.hidden).map((e) => e.dataset.drillTable)`,
        );
        assert.deepEqual(visible, ["lsh_lsc"]);
        const labels = await b.eval<string[]>(
          `Chart.getChart(document.querySelector("canvas[data-drill=trainError]")).data.datasets.map((d) => d.label)`,
        );
        assert.deepEqual(labels, ["run 0 (seed 1000)", "run 1 (seed 1001)", "run 2 (seed 1002)"]);
        const infos = await b.eval<CanvasInfo[]>(INSPECT_CANVASES);
        assert.deepEqual(blankCanvases(infos), []);
        assertNoProblems(b, "drill-down");
      });

      await t.step("logarithmic y axes redraw every chart without errors", async () => {
        await b.eval(`(() => { const c = document.getElementById("log-scale");
          c.checked = true; c.dispatchEvent(new Event("change")); })()`);
        const types = await b.eval<string[]>(
          `[...document.querySelectorAll("canvas")].map((c) => Chart.getChart(c).scales.y.type)`,
        );
        assert.equal(types.length, 21);
        assert.ok(types.every((x) => x === "logarithmic"), types.join());
        assert.deepEqual(blankCanvases(await b.eval<CanvasInfo[]>(INSPECT_CANVASES)), []);
        assertNoProblems(b, "log scale");
      });

      await t.step("partial sweep with diverged runs", async () => {
        await checkExperimentPage(b, partialPage, "partial.png");
        const text = await b.eval<string>("document.body.innerText");
        assert.match(text, /Partial sweep\./);
        assert.match(text, /run 1 @ step 400/);
        assert.match(text, /run 0 @ step 10\b/);
      });

      await t.step("drill-down of a variant whose every run diverged before an epoch", async () => {
        await b.eval(`(() => { const s = document.getElementById("drill-select");
          s.value = "biased2"; s.dispatchEvent(new Event("change")); })()`);
        const infos = await b.eval<CanvasInfo[]>(INSPECT_CANVASES);
        const drill = infos.filter((c) => c.id === c.metric);
        assert.deepEqual(drill.filter((c) => c.empty !== null).map((c) => c.metric).sort(), [
          "valError",
          "valLoss",
        ]);
        assert.deepEqual(blankCanvases(infos), []);
        assertNoProblems(b, "all-diverged drill-down");
        await screenshot(b, "partial-drill-diverged.png");
      });

      await t.step("axis labels of a cross-entropy near 2e29 are all different", async () => {
        await checkExperimentPage(b, hugePage, "huge-loss.png");
        const labels = await b.eval<string[]>(
          `Chart.getChart(document.querySelector("canvas[data-view=all][data-metric=trainLoss]")).scales.y.ticks.map((t) => String(t.label))`,
        );
        assert.ok(labels.length >= 3, labels.join(" | "));
        assert.equal(new Set(labels).size, labels.length, `repeated labels: ${labels.join(" | ")}`);
      });

      await t.step("results index", async () => {
        await b.open(pathToFileURL(index).href);
        assertNoProblems(b, index);
        const links = await b.eval<string[]>(
          `[...document.querySelectorAll("a")].map((a) => a.getAttribute("href"))`,
        );
        assert.deepEqual(links.sort(), [
          "complete/index.html",
          "huge-loss/index.html",
          "partial-diverged/index.html",
        ]);
        await screenshot(b, "index.html.png");
      });

      await t.step("the checks catch a blank canvas and a console error", async () => {
        await b.eval(
          `(() => { const c = document.createElement("canvas"); c.width = 300; c.height = 150;
          c.id = "empty"; document.body.append(c); console.error("injected failure"); })()`,
        );
        const blank = blankCanvases(await b.eval<CanvasInfo[]>(INSPECT_CANVASES));
        assert.equal(blank.length, 1);
        assert.match(blank[0], /^empty\//);
        assert.deepEqual(b.problems.consoleErrors, ["injected failure"]);
        assert.throws(() => assertNoProblems(b, "injected"));
      });
    } finally {
      await b.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
