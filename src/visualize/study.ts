/**
 * A whole visualisation study on one trained network: candidate search for the chosen
 * neurons of a layer, gradient ascent from the chosen start, and (optionally) the adversarial
 * study at the class layer. Produces plain data for the page writer.
 *
 * @module
 */
import { type AdversarialReport, adversarialStudy } from "./adversarial.ts";
import { type AscentModel, type ClipBounds, gradientAscent, resolveLayer } from "./ascent.ts";
import { gather, meanImage, rankCandidates, scanActivations } from "./candidates.ts";
import type { AscentMode, SpatialReadout } from "./neuron.ts";
import { Rng, Streams } from "../rng.ts";

/** Where ascent starts: top-T candidates, least-activating samples, their mean, or noise. */
export type AscentStart = "top" | "bottom" | "mean" | "noise";

/** Images to search and start from (normalised as the network expects). */
export interface StudyData {
  /** `[count, ...inputShape]`. */
  images: Float32Array;
  /** Label of every image. */
  labels: ArrayLike<number>;
  /** Number of images. */
  count: number;
  /**
   * The per-element normalisation the images went through. With it, `clip` bounds each
   * element to the raw data range mapped through the normalisation; without it, to the global
   * range of the normalised images.
   */
  normalization?: { mean: ArrayLike<number>; std: ArrayLike<number> } | null;
}

/** Settings of {@link runStudy}. */
export interface StudyOptions {
  /** Layer index or name; default the last layer. */
  layer?: number | string;
  /** Neurons to show; default all (at most `maxNeurons`). */
  neurons?: readonly number[];
  /** Cap when `neurons` is not given; default 16. */
  maxNeurons?: number;
  /** How a conv channel is read as one neuron (default its spatial mean). */
  spatial?: SpatialReadout;
  /** Error injected at the layer. */
  mode: AscentMode;
  /** Ascent iterations. */
  iters: number;
  /** Ascent step size. */
  rate: number;
  /** Where each ascent starts. */
  start: AscentStart;
  /** Candidates per neuron (T). */
  top: number;
  /** Clip inputs to the range of the data. */
  clip: boolean;
  /** L2 penalty of the ascent. */
  l2: number;
  /** Frames kept per strip (besides the first and last). */
  frames?: number;
  /** Run the adversarial study on the last layer. */
  adversarial: boolean;
  /** Start samples per target class in the adversarial study. */
  adversarialPerClass?: number;
  /** Seed of the noise starts (default 0). */
  seed?: number;
}

/** What the study found for one neuron. */
export interface NeuronStudy {
  /** The neuron's index in its layer. */
  neuron: number;
  /** Top-T sample indices. */
  topIndices: number[];
  /** Their activations. */
  topActivations: number[];
  /** Mean image of the top-T candidates. */
  topMean: Float32Array;
  /** Mean image of the T least activating samples. */
  bottomMean: Float32Array;
  /** Mean image over the starts at each recorded iteration. */
  strip: { iteration: number; image: Float32Array }[];
  /** Mean input gradient over the starts at the first iteration. */
  gradFirst: Float32Array;
  /** Mean input gradient over the starts at the last iteration. */
  gradLast: Float32Array;
  /** Mean target activation, per iteration `0..I`. */
  target: number[];
  /** Mean activation of the layer's other neurons, per iteration `0..I`. */
  others: number[];
}

/** The study's results. */
export interface StudyResult {
  /** Index of the studied layer. */
  layer: number;
  /** Its name, e.g. `7_dense`. */
  layerName: string;
  /** Its kind, e.g. `Dense`. */
  layerKind: string;
  /** Neurons of the layer. */
  units: number;
  /** Starts per neuron. */
  startsPerNeuron: number;
  /** The clip range: in raw units when normalisation was given, else normalised. */
  clipRange: [number, number] | null;
  /** One entry per studied neuron. */
  neurons: NeuronStudy[];
  /** The adversarial study, when it ran. */
  adversarial: AdversarialReport | null;
  /** Accuracy of the network on the scanned samples. */
  accuracy: number;
  /** Seconds the study took. */
  seconds: number;
}

function dataRange(images: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of images) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** `x * std + mean` per element (samples of `std.length` values). */
function denormalize(x: Float32Array, norm: { mean: ArrayLike<number>; std: ArrayLike<number> }) {
  const d = norm.mean.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * norm.std[i % d] + norm.mean[i % d];
  return out;
}

/** Mean of `count` consecutive samples of `src` starting at sample `from`. */
function meanOf(src: Float32Array, size: number, from: number, count: number): Float32Array {
  const out = new Float32Array(size);
  for (let k = 0; k < count; k++) {
    for (let j = 0; j < size; j++) out[j] += src[(from + k) * size + j] / count;
  }
  return out;
}

/** Runs candidate search, gradient ascent and the adversarial study. */
export function runStudy(model: AscentModel, data: StudyData, opts: StudyOptions): StudyResult {
  const t0 = performance.now();
  const layer = resolveLayer(model, opts.layer ?? -1);
  const last = model.layers.length - 1;
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const spatial = opts.spatial ?? "mean";
  const table = scanActivations(model, data.images, data.count, { layer, spatial });
  let correct = 0;
  for (let i = 0; i < data.count; i++) if (table.predictions[i] === data.labels[i]) correct++;
  const neurons = opts.neurons
    ? [...opts.neurons]
    : Array.from({ length: Math.min(table.units, opts.maxNeurons ?? 16) }, (_, i) => i);
  for (const u of neurons) {
    if (!Number.isInteger(u) || u < 0 || u >= table.units) {
      throw new Error(
        `neuron ${u} does not exist: layer ${layer} (${
          model.layers[layer].name
        }) has ${table.units} neurons (0..${table.units - 1})`,
      );
    }
  }
  const top = rankCandidates(table, opts.top, "top");
  const bottom = rankCandidates(table, opts.top, "bottom");
  const scanned = data.images.subarray(0, data.count * size);
  const norm = data.normalization ?? null;
  let clipRange: [number, number] | null = null;
  let clip: ClipBounds | [number, number] | null = null;
  if (opts.clip && norm) {
    clipRange = dataRange(denormalize(scanned, norm));
    const lo = new Float64Array(size);
    const hi = new Float64Array(size);
    for (let j = 0; j < size; j++) {
      lo[j] = (clipRange[0] - norm.mean[j]) / norm.std[j];
      hi[j] = (clipRange[1] - norm.mean[j]) / norm.std[j];
    }
    clip = { lo, hi };
  } else if (opts.clip) {
    clipRange = dataRange(scanned);
    clip = clipRange;
  }
  // Starts: per neuron a block of `per` images.
  const per = opts.start === "mean" ? 1 : opts.top;
  const starts = new Float32Array(neurons.length * per * size);
  const rng = new Rng(opts.seed ?? 0, Streams.noise);
  neurons.forEach((u, k) => {
    const at = k * per * size;
    if (opts.start === "top") starts.set(gather(data.images, size, top[u]), at);
    else if (opts.start === "bottom") starts.set(gather(data.images, size, bottom[u]), at);
    else if (opts.start === "mean") starts.set(meanImage(data.images, size, top[u]), at);
    else for (let j = 0; j < per * size; j++) starts[at + j] = 0.1 * rng.normal();
  });
  const targets = neurons.flatMap((u) => new Array(per).fill(u));
  const frames = opts.frames ?? 8;
  const every = Math.max(1, Math.ceil(opts.iters / frames));
  const res = gradientAscent(model, starts, {
    layer,
    spatial,
    targets,
    mode: opts.mode,
    iters: opts.iters,
    rate: opts.rate,
    clip,
    l2: opts.l2,
    recordEvery: every,
  });
  const studies: NeuronStudy[] = neurons.map((u, k) => {
    const from = k * per;
    const curve = (rows: Float64Array[]) =>
      Array.from({ length: opts.iters + 1 }, (_, it) => {
        let acc = 0;
        for (let s = 0; s < per; s++) acc += rows[from + s][it];
        return acc / per;
      });
    return {
      neuron: u,
      topIndices: top[u],
      topActivations: top[u].map((s) => table.values[s * table.units + u]),
      topMean: meanImage(data.images, size, top[u]),
      bottomMean: meanImage(data.images, size, bottom[u]),
      strip: res.recorded.map((iteration, r) => ({
        iteration,
        image: meanOf(res.images[r], size, from, per),
      })),
      gradFirst: meanOf(res.gradients[0], size, from, per),
      gradLast: meanOf(res.gradients[res.gradients.length - 1], size, from, per),
      target: curve(res.target),
      others: curve(res.others),
    };
  });
  let adversarial: AdversarialReport | null = null;
  if (opts.adversarial) {
    const lastTable = layer === last && spatial === "mean"
      ? table
      : scanActivations(model, data.images, data.count, { layer: last });
    adversarial = adversarialStudy(model, {
      table: lastTable,
      images: data.images,
      labels: data.labels,
      perClass: opts.adversarialPerClass ?? 1,
      iters: opts.iters,
      rate: opts.rate,
      mode: opts.mode,
      clip,
      l2: opts.l2,
    });
  }
  return {
    layer,
    layerName: model.layers[layer].name,
    layerKind: model.layers[layer].kind,
    units: table.units,
    startsPerNeuron: per,
    clipRange,
    neurons: studies,
    adversarial,
    accuracy: correct / data.count,
    seconds: (performance.now() - t0) / 1000,
  };
}
