/**
 * The visualisation page: a self-contained HTML file (PNG images as data URLs, Chart.js
 * inlined) with candidate means, image strips across iterations, gradient heat maps, target
 * activation curves and the adversarial flip table. A `visualize.json` summary is written
 * beside it for the results index.
 *
 * @module
 */
import { join } from "node:path";
import { chartJsBundle } from "../report/chartjs.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import {
  absMaxOf,
  type DisplayRange,
  grid,
  heatmapImage,
  heatmapValues,
  sampleImage,
  seismic,
  upscale,
  valueRange,
} from "./image.ts";
import { encodePng, pngDataUrl, type RasterImage } from "./png.ts";
import type { StudyOptions, StudyResult } from "./study.ts";
import type { InputNormalization } from "../io/safetensors.ts";

/** What the page says about the network and the settings. */
export interface PageContext {
  title: string;
  /** Lines describing the model (architecture, variant, dataset, file, parameters). */
  model: Record<string, string | number>;
  /** `Sequential.summary()` text. */
  summary: string;
  inputShape: number[];
  /** Display images in raw space (x * std + mean) when known. */
  normalization?: InputNormalization | null;
  classNames?: string[];
  options: StudyOptions;
  backend: string;
}

function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

async function png(img: RasterImage, scale: number): Promise<string> {
  return pngDataUrl(await encodePng(upscale(img, scale)));
}

/** A value as the legends print it: 3 significant digits, a true minus sign. */
function sci(v: number): string {
  return `${v < 0 ? "−" : ""}${Math.abs(v).toExponential(2)}`;
}

/** The colours of {@link seismic} from −1 to +1 at its five anchors, as a CSS gradient. */
const SCALE_GRADIENT = `linear-gradient(to right, ${
  [-1, -0.5, 0, 0.5, 1].map((t) => `rgb(${seismic(t, 1).join(",")})`).join(", ")
})`;

/**
 * The colour scale of a heat map drawn from −`absMax` to +`absMax`: the bar with the values at
 * its ends, and the smallest and largest value the maps show.
 */
function scaleLegend(absMax: number, ...maps: Float64Array[]): string {
  let min = Infinity;
  let max = -Infinity;
  for (const m of maps) for (const v of m) [min, max] = [Math.min(min, v), Math.max(max, v)];
  return `<span class="scale"><span>${sci(-absMax)}</span><i class="bar"></i><span>+${
    sci(absMax)
  }</span><span class="range">min ${sci(min)} · max ${sci(max)}</span></span>`;
}

/** Writes `index.html` and `visualize.json` into `dir` (created if needed); returns the HTML path. */
export async function writeVisualizePage(
  dir: string,
  result: StudyResult,
  ctx: PageContext,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const shape = ctx.inputShape;
  const norm = ctx.normalization;
  const raw = (x: Float32Array): Float32Array => {
    if (!norm) return x;
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] * norm.std[i] + norm.mean[i];
    return out;
  };
  // One display range for every image, from the candidate means' starting images.
  const ref: number[] = [];
  for (const n of result.neurons) for (const v of raw(n.strip[0].image)) ref.push(v);
  for (const n of result.neurons) for (const v of raw(n.topMean)) ref.push(v);
  const range: DisplayRange = valueRange(ref);
  const scale = Math.max(1, Math.floor(84 / Math.max(shape[shape.length - 1] ?? 28, 1)));
  const img = (x: Float32Array) => sampleImage(raw(x), shape, range);
  const cls = (i: number) => ctx.classNames?.[i] ?? String(i);
  const parts: string[] = [];

  // ---- candidates ----
  const cards: string[] = [];
  for (const n of result.neurons) {
    cards.push(`<figure><img src="${await png(img(n.topMean), scale)}" alt="top mean ${n.neuron}">
<img src="${await png(img(n.bottomMean), scale)}" alt="bottom mean ${n.neuron}">
<figcaption>neuron ${n.neuron}<br><small>top ${n.topIndices.length}: max ${
      n.topActivations[0]?.toFixed(3)
    }</small></figcaption></figure>`);
  }
  parts.push(`<section><h2>Candidates</h2>
<p>For each neuron of layer <code>${esc(result.layerName)}</code>: the mean of the top ${
    esc(ctx.options.top)
  } samples by activation (left) and of the ${
    esc(ctx.options.top)
  } least activating samples (right).</p>
<div class="cards">${cards.join("\n")}</div></section>`);

  // ---- ascent strips ----
  const rows: string[] = [];
  for (const n of result.neurons) {
    const strip = grid(n.strip.map((f) => img(f.image)), n.strip.length, 1);
    // One colour scale per row: the largest magnitude of the two maps (channels summed).
    const first = heatmapValues(n.gradFirst, shape);
    const last = heatmapValues(n.gradLast, shape);
    const gmax = absMaxOf(first, last);
    const heat = grid(
      [heatmapImage(n.gradFirst, shape, gmax), heatmapImage(n.gradLast, shape, gmax)],
      2,
      1,
    );
    rows.push(
      `<tr><th>${n.neuron}</th><td><img src="${await png(
        strip,
        scale,
      )}" alt="strip ${n.neuron}"></td>
<td><img src="${await png(heat, scale)}" alt="gradient ${n.neuron}"><br>${
        scaleLegend(gmax, first, last)
      }</td>
<td class="num">${n.target[0].toFixed(3)} → ${n.target[n.target.length - 1].toFixed(3)}</td></tr>`,
    );
  }
  const iterLabels = result.neurons[0]?.strip.map((f) => f.iteration).join(", ") ?? "";
  parts.push(`<section><h2>Gradient ascent</h2>
<p>${esc(ctx.options.mode)} error injected at layer ${result.layer} (<code>${
    esc(result.layerName)
  }</code>, ${
    esc(result.layerKind)
  }), ${ctx.options.iters} iterations, η = ${ctx.options.rate}, start: ${
    esc(ctx.options.start)
  } (${result.startsPerNeuron} per neuron, images averaged), clip: ${
    result.clipRange
      ? `[${result.clipRange.map((v) => v.toFixed(2)).join(", ")}]${
        ctx.normalization ? " (raw units, per element through the normalisation)" : ""
      }`
      : "off"
  }, L2 λ = ${ctx.options.l2}. Frames at iterations ${
    esc(iterLabels)
  }. Heat maps: input gradient at the
first and last iteration (blue negative, white 0, red positive, one scale per row; the bar under
each row gives the values at its ends and the range the maps show).</p>
<table class="strips"><tr><th>neuron</th><th>image across iterations</th><th>∇x first / last</th><th>activation</th></tr>
${rows.join("\n")}</table>
<div class="chart"><canvas id="act"></canvas></div>
<div class="chart"><canvas id="others"></canvas></div></section>`);

  // ---- adversarial ----
  const adv = result.adversarial;
  if (adv) {
    const trs: string[] = [];
    for (const a of adv.attempts) {
      const diff = a.final.map((v, i) => v - a.start[i]);
      const shown = heatmapValues(diff, shape);
      const pics = grid([img(a.start), img(a.final)], 2, 1);
      trs.push(
        `<tr class="${a.flippedAt !== null ? "ok" : "no"}"><td>${
          esc(cls(a.target))
        }</td><td>#${a.sample} (${esc(cls(a.label))})</td><td>${
          esc(cls(a.initialPrediction))
        }</td><td>${a.flippedAt ?? "no flip"}</td><td>${
          esc(cls(a.finalPrediction))
        }</td><td><img src="${await png(
          pics,
          scale,
        )}" alt="start/final"></td><td><img src="${await png(
          heatmapImage(diff, shape),
          scale,
        )}" alt="perturbation"><br>${scaleLegend(absMaxOf(shown), shown)}</td></tr>`,
      );
    }
    const perClass = adv.perClass.map((p) =>
      `<tr><td>${
        esc(cls(p.target))
      }</td><td class="num">${p.flipped}/${p.attempts}</td><td class="num">${
        p.meanFlipIteration === null ? "–" : p.meanFlipIteration.toFixed(1)
      }</td></tr>`
    ).join("");
    parts.push(`<section><h2>Adversarial samples</h2>
<p>Start: the least activating sample(s) of another class for each class neuron of the last layer;
${esc(adv.mode)} ascent on that neuron for ${adv.iters} iterations (η = ${adv.rate}).
Success rate: <b>${(100 * adv.successRate).toFixed(1)}%</b> (${
      adv.attempts.filter((a) => a.flippedAt !== null).length
    }/${adv.attempts.length}).</p>
<table class="summary"><tr><th>target</th><th>flipped</th><th>mean flip iteration</th></tr>${perClass}</table>
<table class="adv"><tr><th>target</th><th>start sample (label)</th><th>initial prediction</th><th>flipped at iteration</th><th>final prediction</th><th>start / final</th><th>perturbation</th></tr>
${trs.join("\n")}</table></section>`);
  }

  const palette = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
  ];
  const datasets = (key: "target" | "others") =>
    result.neurons.map((n, i) => ({
      label: `neuron ${n.neuron}`,
      data: n[key],
      borderColor: palette[i % palette.length],
      backgroundColor: palette[i % palette.length],
      pointRadius: 0,
      borderWidth: 1.5,
    }));
  const chartData = {
    labels: Array.from({ length: ctx.options.iters + 1 }, (_, i) => i),
    target: datasets("target"),
    others: datasets("others"),
  };
  const modelRows = Object.entries(ctx.model).map(([k, v]) =>
    `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`
  ).join(
    "",
  );
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(ctx.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1400px}
h1{font-size:1.4rem}h2{font-size:1.15rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.2rem .5rem;border-bottom:1px solid #eee;text-align:left;vertical-align:middle}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}figure{margin:0;text-align:center;border:1px solid #ddd;padding:.3rem}
figure img{margin:1px}figcaption{font-size:.8rem}
img{image-rendering:pixelated}
.chart{width:48%;display:inline-block;height:320px}
tr.ok td:nth-child(4){color:#197319;font-weight:bold}tr.no td:nth-child(4){color:#a00}
pre{background:#f6f6f6;padding:.5rem;font-size:.8rem;overflow:auto}
.scale{display:inline-flex;flex-wrap:wrap;align-items:center;gap:0 .3rem;font-size:.72rem;max-width:14rem}
.scale .bar{display:inline-block;width:6rem;height:.7rem;border:1px solid #999;background:${SCALE_GRADIENT}}
.scale .range{flex-basis:100%;color:#555}
</style></head><body>
<h1>${esc(ctx.title)}</h1>
<table>${modelRows}<tr><th>backend</th><td>${esc(ctx.backend)}</td></tr>
<tr><th>accuracy on the scanned samples</th><td>${(100 * result.accuracy).toFixed(1)}%</td></tr>
<tr><th>study time</th><td>${result.seconds.toFixed(1)} s</td></tr></table>
<details><summary>network</summary><pre>${esc(ctx.summary)}</pre></details>
${parts.join("\n")}
<script>${await chartJsBundle()}</script>
<script>
const D = ${JSON.stringify(chartData)};
function line(id, title, sets) {
  new Chart(document.getElementById(id), {type: "line", data: {labels: D.labels, datasets: sets},
    options: {animation: false, maintainAspectRatio: false, plugins: {title: {display: true, text: title}},
      scales: {x: {title: {display: true, text: "iteration"}}, y: {title: {display: true, text: "activation"}}}}});
}
line("act", "target neuron activation (mean over starts)", D.target);
line("others", "mean activation of the other neurons of the layer", D.others);
</script>
</body></html>
`;
  const path = join(dir, "index.html");
  await writeFileAtomic(path, html);
  const summary = {
    kind: "visualize",
    title: ctx.title,
    model: ctx.model,
    layer: result.layer,
    layerName: result.layerName,
    neurons: result.neurons.map((n) => ({
      neuron: n.neuron,
      topIndices: n.topIndices,
      activationStart: n.target[0],
      activationEnd: n.target[n.target.length - 1],
    })),
    options: ctx.options,
    accuracy: result.accuracy,
    adversarial: adv
      ? {
        successRate: adv.successRate,
        perClass: adv.perClass,
        attempts: adv.attempts.map((a) => ({
          target: a.target,
          sample: a.sample,
          label: a.label,
          initialPrediction: a.initialPrediction,
          flippedAt: a.flippedAt,
          finalPrediction: a.finalPrediction,
        })),
      }
      : null,
    createdAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(dir, "visualize.json"), JSON.stringify(summary, null, 2));
  return path;
}
