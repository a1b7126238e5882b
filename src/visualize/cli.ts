/**
 * `deno task visualize`: gradient-ascent visualisation and adversarial samples for a trained
 * network (seed 000 §2.3-2.7). Without `--model` it first trains a small MNIST network.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { parseFlags, reportFailure, UsageError } from "../cli.ts";
import { selectBackend } from "../backends/select.ts";
import { loadDataset } from "../data/mod.ts";
import { createOutputFolder, type OutputFolder, updateIndexOf } from "../report/root.ts";
import type { Dataset } from "../data/dataset.ts";
import { loadModel, type ModelMeta, saveModel } from "../io/safetensors.ts";
import type { Sequential } from "../model.ts";
import type { AscentMode, SpatialReadout } from "./neuron.ts";
import { writeVisualizePage } from "./page.ts";
import { trainQuickModel } from "./quick.ts";
import { buildNetwork } from "../variants.ts";
import { type AscentStart, runStudy, type StudyOptions } from "./study.ts";

const USAGE = `usage: deno task visualize [options]

Shows what trained neurons respond to by gradient ascent on the input, and turns the least
typical samples into adversarial ones. Writes results/visualize-<timestamp>/index.html.

  --model FILE          a model saved by the experiment engine (--save-models) or by this tool;
                        without it, a small MNIST network is trained first (quick default)
  --layer L             layer index (negative counts from the end) or name; default -1 (logits)
  --neurons LIST        neurons to show, e.g. 0,3,7 or 0-9; default the first 10 (up to 16)
  --position Y,X        on conv layers, read a neuron at one position instead of the
                        channel's spatial mean
  --mode M              unbiased (e_i) or biased (b_i); default unbiased
  --iters N             gradient ascent iterations I; default 60
  --rate R              step size eta; default 0.5
  --start S             top | bottom | mean | noise; default top
  --top T               candidates per neuron; default 8
  --clip                clip the input to the data range after every step
  --l2 LAMBDA           L2 penalty on the input; default 0
  --no-adversarial      skip the adversarial study
  --adversarial-per-class K   start samples per target class; default 2
  --samples N           held-out samples scanned for candidates; default 2000
  --dataset NAME        dataset (default: the model's, or mnist)
  --data-dir DIR        dataset folder
  --backend B           auto | ts | cpu | cuda; default auto
  --out DIR             output folder; default results/visualize-<timestamp>
  --seed S              seed for the quick model and noise starts; default 1
  --quick-samples N     training samples for the quick model; default 4000
  --quick-epochs N      epochs for the quick model; default 1
  -h, --help            this text`;

function fail(msg: string): never {
  throw new UsageError(msg);
}

function parseNumber(
  name: string,
  v: string | undefined,
  dflt: number,
  ok: (n: number) => boolean,
  what: string,
) {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || !ok(n)) {
    fail(`--${name} must be ${what}, got '${v}'`);
  }
  return n;
}

/** Parses `0,3,7` / `0-9` / `1,4-6` into a list of neuron indices. */
export function parseNeuronList(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`--neurons: '${part}' is not an index or a range like 0-9`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`--neurons: range '${part}' runs backwards`);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-").replace(/-\d\d\dZ$/, "Z");
}

async function main(): Promise<void> {
  const args = parseFlags({
    args: Deno.args,
    options: {
      model: { type: "string" },
      layer: { type: "string" },
      neurons: { type: "string" },
      position: { type: "string" },
      mode: { type: "string" },
      iters: { type: "string" },
      rate: { type: "string" },
      start: { type: "string" },
      top: { type: "string" },
      clip: { type: "boolean" },
      l2: { type: "string" },
      "no-adversarial": { type: "boolean" },
      "adversarial-per-class": { type: "string" },
      samples: { type: "string" },
      dataset: { type: "string" },
      "data-dir": { type: "string" },
      backend: { type: "string" },
      out: { type: "string" },
      seed: { type: "string" },
      "quick-samples": { type: "string" },
      "quick-epochs": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  }).values;
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const mode = (args.mode ?? "unbiased") as AscentMode;
  if (mode !== "unbiased" && mode !== "biased") {
    fail(`--mode must be unbiased or biased, got '${args.mode}'`);
  }
  const start = (args.start ?? "top") as AscentStart;
  if (!["top", "bottom", "mean", "noise"].includes(start)) {
    fail(`--start must be top, bottom, mean or noise, got '${args.start}'`);
  }
  const backendName = args.backend ?? "auto";
  if (!["auto", "ts", "cpu", "cuda"].includes(backendName)) {
    fail(`--backend must be auto, ts, cpu or cuda, got '${backendName}'`);
  }
  const iters = parseNumber(
    "iters",
    args.iters,
    60,
    (n) => Number.isInteger(n) && n >= 1,
    "an integer >= 1",
  );
  const rate = parseNumber("rate", args.rate, 0.5, (n) => n > 0, "a positive number");
  const top = parseNumber(
    "top",
    args.top,
    8,
    (n) => Number.isInteger(n) && n >= 1,
    "an integer >= 1",
  );
  const l2 = parseNumber("l2", args.l2, 0, (n) => n >= 0, "a number >= 0");
  const samples = parseNumber(
    "samples",
    args.samples,
    2000,
    (n) => Number.isInteger(n) && n >= 10,
    "an integer >= 10",
  );
  const perClass = parseNumber(
    "adversarial-per-class",
    args["adversarial-per-class"],
    2,
    (n) => Number.isInteger(n) && n >= 1,
    "an integer >= 1",
  );
  const seed = parseNumber(
    "seed",
    args.seed,
    1,
    (n) => Number.isInteger(n) && n >= 0,
    "an integer >= 0",
  );
  let neurons: number[] | undefined;
  try {
    neurons = args.neurons ? parseNeuronList(args.neurons) : undefined;
  } catch (e) {
    fail((e as Error).message);
  }
  let spatial: SpatialReadout = "mean";
  if (args.position) {
    const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(args.position);
    if (!m) fail(`--position must be Y,X (two non-negative integers), got '${args.position}'`);
    spatial = [Number(m[1]), Number(m[2])];
  }

  // The quick model's flags are checked with the others, before anything runs.
  const quickSamples = parseNumber(
    "quick-samples",
    args["quick-samples"],
    4000,
    (n) => Number.isInteger(n) && n >= 100,
    "an integer >= 100",
  );
  const quickEpochs = parseNumber(
    "quick-epochs",
    args["quick-epochs"],
    1,
    (n) => Number.isInteger(n) && n >= 1,
    "an integer >= 1",
  );

  const { backend, reason } = selectBackend(backendName as "auto" | "ts" | "cpu" | "cuda");
  console.log(`backend: ${backend.name} (${reason})`);
  const out = args.out ?? join("results", `visualize-${timestamp()}`);

  let model: Sequential;
  let meta: ModelMeta;
  let modelFile: string;
  let test: Dataset;
  let folder: OutputFolder;
  const t0 = performance.now();
  if (args.model) {
    ({ model, meta } = await loadModel(args.model, {
      backend,
      // Format-1 files store the architecture and variant, not the layer list.
      rebuild: (m, dtype) =>
        buildNetwork(m.architecture, m.variant, { backend, dtype, seed: m.seed ?? 0 }),
    }));
    modelFile = args.model;
    const dsName = args.dataset ?? meta.dataset ?? "mnist";
    test = await loadDataset(dsName, {
      split: "test",
      dataDir: args["data-dir"],
      normalize: !meta.normalization,
    });
    checkFits(model, meta, test, args.model);
    if (meta.normalization) test = normalizeWith(test, meta.normalization);
    console.log(
      `loaded ${args.model}: ${meta.architecture.name}, variant ${meta.variant}, dataset ${dsName}`,
    );
    // The output folder is made only now that the model and the data are known to be usable.
    folder = await createOutputFolder(out);
  } else {
    const dsName = args.dataset ?? "mnist";
    console.log(`no --model: training a small ${dsName} network first (quick default)`);
    const train = await loadDataset(dsName, { split: "train", dataDir: args["data-dir"] });
    test = await loadDataset(dsName, { split: "test", dataDir: args["data-dir"] });
    const quick = await trainQuickModel({
      backend,
      train,
      test,
      seed,
      trainSamples: quickSamples,
      epochs: quickEpochs,
      log: (l) => console.log(l),
    });
    model = quick.model;
    meta = quick.meta;
    modelFile = join(out, "model.safetensors");
    folder = await createOutputFolder(out);
    await discardOnError(folder, () => saveModel(modelFile, model, meta));
    console.log(
      `trained ${meta.architecture.name} in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s, held-out error ${(100 * quick.testError).toFixed(1)}%; saved ${modelFile}`,
    );
  }
  const count = Math.min(samples, test.size);
  const normalization = meta.normalization ?? test.norm ?? null;
  const options: StudyOptions = {
    layer: args.layer ?? -1,
    neurons,
    maxNeurons: 10,
    spatial,
    mode,
    iters,
    rate,
    start,
    top,
    clip: args.clip ?? false,
    l2,
    adversarial: !args["no-adversarial"],
    adversarialPerClass: perClass,
    seed,
  };
  const result = runStudy(model, {
    images: test.images,
    labels: test.labels,
    count,
    normalization,
  }, options);
  const page = await discardOnError(folder, () =>
    writeVisualizePage(out, result, {
      title:
        `Gradient ascent: ${meta.architecture.name} (${meta.variant}), layer ${result.layerName}`,
      model: {
        architecture: meta.architecture.name,
        variant: meta.variant,
        dataset: meta.dataset ?? test.name,
        "model file": modelFile,
        parameters: model.parameterCount().toLocaleString("en-US"),
        "scanned samples": `${count} (held-out split)`,
      },
      summary: model.summary(),
      inputShape: model.inputShape,
      normalization,
      options,
      backend: `${backend.name}: ${backend.device}`,
    }));
  if (result.adversarial) {
    console.log(
      `adversarial: ${
        (100 * result.adversarial.successRate).toFixed(0)
      }% of ${result.adversarial.attempts.length} starts flipped within ${iters} iterations`,
    );
  }
  console.log(`wrote ${page} (${((performance.now() - t0) / 1000).toFixed(1)} s in all)`);
  const { written } = await updateIndexOf(dirname(out));
  if (written) console.log(`updated ${written}`);
  model.dispose();
}

/**
 * Throws a clear error when the dataset's samples or classes do not fit the model (a model
 * loaded with another dataset than it was trained on).
 */
function checkFits(model: Sequential, meta: ModelMeta, data: Dataset, file: string): void {
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  if (
    size(model.inputShape) !== size(data.inputShape) || meta.architecture.classes !== data.classes
  ) {
    throw new Error(
      `${file} takes inputs [${model.inputShape.join(", ")}] in ${meta.architecture.classes} ` +
        `classes (trained on ${meta.dataset ?? "an unnamed dataset"}), but dataset ${data.name} ` +
        `has [${data.inputShape.join(", ")}] in ${data.classes} classes; pass --dataset ` +
        `${meta.dataset ?? "NAME"} or another model`,
    );
  }
}

/** Runs `write`; when it fails, takes back the output folder if nothing was written into it. */
async function discardOnError<T>(folder: OutputFolder, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    await folder.discard();
    throw e;
  }
}

/** Applies stored per-element normalisation to a raw split. */
function normalizeWith(
  ds: Dataset,
  norm: { mean: ArrayLike<number>; std: ArrayLike<number> },
): Dataset {
  const d = norm.mean.length;
  if (ds.images.length !== ds.size * d) {
    throw new Error(
      `dataset '${ds.name}' has ${
        ds.images.length / ds.size
      } values per sample, the model's normalisation ${d}`,
    );
  }
  const images = new Float32Array(ds.images.length);
  for (let i = 0; i < images.length; i++) {
    const j = i % d;
    images[i] = (ds.images[i] - norm.mean[j]) / norm.std[j];
  }
  return {
    ...ds,
    images,
    norm: { mean: Float32Array.from(norm.mean), std: Float32Array.from(norm.std) },
  };
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    Deno.exit(reportFailure(e));
  }
}
