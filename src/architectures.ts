/**
 * Architectures as plain, JSON-serialisable layer lists: the named presets (SPEC §2), presets
 * with options (`width`), and a researcher's own inline layer list. The variant builder
 * (`variants.ts`) turns an {@link ArchSpec} plus a variant name into a network.
 *
 * A layer is a {@link LayerSpec}: any type of the layer registry (`layers/registry.ts`). The
 * presets list only the base network (conv/dense layers, their activations, pooling, dropout);
 * batch norm and shift/scale layers are placed by the variant builder. An inline list may name
 * any registered layer; the variant builder places its layers around them the same way.
 *
 * An experiment config names its architecture with an {@link ArchitectureRef}:
 * `"allcnnc"`, `{ "preset": "allcnnc", "width": 0.25 }`, or a list such as
 * `[{ "type": "flatten" }, { "type": "dense", "units": 64 }, { "type": "act", "op": "relu" },
 * { "type": "dense", "units": 10 }]`.
 *
 * @module
 */
import type { ActivationOp } from "./backend.ts";
import type { WeightInit } from "./layers/dense.ts";
import { hashName } from "./layers/dropout.ts";
import { layerListFields, type LayerSpec, parseLayerSpecs, widthField } from "./layers/registry.ts";

export type { LayerSpec };

/** A base architecture: per-sample input shape, class count and layer list. */
export type ArchSpec = {
  /** Preset name (with `+dropout` when built with dropout). */
  name: string;
  /** Per-sample input shape, `[C, H, W]` or `[F]`. */
  inputShape: number[];
  /** Number of classes (units of the final layer). */
  classes: number;
  /** The layers, input to logits (no softmax: the loss applies it). */
  layers: LayerSpec[];
};

/** Options of {@link architecture}. */
export type ArchitectureOptions = {
  /** Per-sample input shape, e.g. `[3, 32, 32]` or `[1, 28, 28]`. */
  inputShape: number[];
  /** Number of classes. */
  classes: number;
  /**
   * Include the architecture's dropout layers (default: true for the von Hacht models, whose
   * published form has them; false for All-CNN-C and the deep MLP, which the thesis runs both
   * ways). Architectures without dropout ignore it.
   */
  dropout?: boolean;
  /**
   * Scales every layer's output width (conv channels, dense units) by this factor, rounded, at
   * least 1; the last such layer, which gives one logit per class, keeps its width. Default 1.
   */
  width?: number;
};

/** A preset with options, as an experiment config gives it. */
export interface PresetRef {
  /** The preset's name (one of {@link ARCHITECTURES}). */
  preset: string;
  /** Width factor (see {@link ArchitectureOptions.width}). */
  width?: number;
}

/**
 * How an experiment config names its architecture: a preset's name, a preset with options, or
 * an inline layer list (registry specs).
 */
export type ArchitectureRef = string | PresetRef | LayerSpec[];

const relu: LayerSpec = { type: "act", op: "relu" };

function convSpec(filters: number, kernel: number, stride = 1, pad = 0): LayerSpec {
  return { type: "conv", filters, kernel, stride, pad, init: "he" };
}

function conv(filters: number, kernel: number, stride = 1, pad = 0): LayerSpec[] {
  return [convSpec(filters, kernel, stride, pad), relu];
}

function dense(
  units: number,
  act: ActivationOp | null = "relu",
  init: WeightInit = "he",
): LayerSpec[] {
  const d: LayerSpec = { type: "dense", units, init };
  return act ? [d, { type: "act", op: act }] : [d];
}

function repeat<T>(n: number, f: () => T[]): T[] {
  return Array.from({ length: n }, f).flat();
}

function image(name: string, inputShape: readonly number[]): [number, number, number] {
  if (inputShape.length !== 3) {
    throw new Error(
      `architecture '${name}': needs an image input [C, H, W], got [${inputShape.join(", ")}]`,
    );
  }
  return inputShape as [number, number, number];
}

/** All-CNN-C (Springenberg et al.; thesis table 6.2): every conv followed by ReLU, GAP. */
function allCnnC(o: ArchitectureOptions): LayerSpec[] {
  image("allcnnc", o.inputShape);
  const drop: LayerSpec[] = o.dropout ? [{ type: "spatial_dropout", p: 0.5 }] : [];
  return [
    ...conv(96, 3, 1, 1),
    ...conv(96, 3, 1, 1),
    ...conv(96, 3, 2, 1),
    ...drop,
    ...conv(192, 3, 1, 1),
    ...conv(192, 3, 1, 1),
    ...conv(192, 3, 2, 1),
    ...drop,
    ...conv(192, 3, 1, 0),
    ...conv(192, 1),
    ...conv(o.classes, 1),
    { type: "gap" },
  ];
}

/** The 24-layer MLP (thesis table 6.3): He init, Xavier on the last layer. */
function mlp24(o: ArchitectureOptions): LayerSpec[] {
  const drop: LayerSpec[] = o.dropout ? [{ type: "dropout", p: 0.5 }] : [];
  return [
    { type: "flatten" },
    ...dense(3000),
    ...drop,
    ...dense(1000),
    ...repeat(10, () => dense(1000)),
    ...drop,
    ...dense(300),
    ...repeat(10, () => dense(300)),
    ...dense(o.classes, null, "xavier"),
  ];
}

/** von Hacht (seed 003): 5x5 convs p2, ReLU, 2x2 max pools, dense head with dropout 0.5. */
function vonHacht(
  name: string,
  blocks: number[][],
  hidden: number[],
  o: ArchitectureOptions,
): LayerSpec[] {
  image(name, o.inputShape);
  const drop: LayerSpec[] = (o.dropout ?? true) ? [{ type: "dropout", p: 0.5 }] : [];
  const out: LayerSpec[] = [];
  for (const block of blocks) {
    for (const f of block) out.push(...conv(f, 5, 1, 2));
    out.push({ type: "maxpool", kernel: 2, stride: 2 });
  }
  out.push({ type: "flatten" });
  for (const h of hidden) out.push(...dense(h), ...drop);
  out.push(...dense(o.classes, null));
  return out;
}

/** Botos (seed 000): 784 → 784 ReLU → 784 ReLU → 100 tanh → classes. */
function botosMlp(o: ArchitectureOptions): LayerSpec[] {
  return [
    { type: "flatten" },
    ...dense(784),
    ...dense(784),
    ...dense(100, "tanh", "xavier"),
    ...dense(o.classes, null, "xavier"),
  ];
}

/** Ours: two strided 3x3 convs and a small dense head; trains on MNIST in seconds. */
function shiftlabSmall(o: ArchitectureOptions): LayerSpec[] {
  image("shiftlab-small", o.inputShape);
  return [
    ...conv(16, 3, 2, 1),
    ...conv(32, 3, 2, 1),
    { type: "flatten" },
    ...dense(64),
    ...dense(o.classes, null, "xavier"),
  ];
}

/**
 * ResNet-20 (He et al. 2016, the CIFAR ResNet with n = 3): conv3x3 16, three stages of three
 * basic blocks (conv3x3-ReLU-conv3x3, then ReLU after the sum) with 16, 32 and 64 channels,
 * stride 2 in the first block of stages 2 and 3, whose shortcut is a 1x1 projection (He et
 * al.'s option B; the other shortcuts are identities), global average pool, dense classifier.
 */
function resnet20(o: ArchitectureOptions): LayerSpec[] {
  image("resnet20", o.inputShape);
  const out: LayerSpec[] = conv(16, 3, 1, 1);
  let channels = 16;
  for (const [stage, filters] of [16, 32, 64].entries()) {
    for (let b = 0; b < 3; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const project = stride !== 1 || channels !== filters;
      out.push({
        type: "residual",
        branch: [convSpec(filters, 3, stride, 1), relu, convSpec(filters, 3, 1, 1)],
        shortcut: project ? [convSpec(filters, 1, stride, 0)] : [],
      }, relu);
      channels = filters;
    }
  }
  return [...out, { type: "gap" }, ...dense(o.classes, null, "xavier")];
}

type Builder = (o: ArchitectureOptions) => LayerSpec[];

const PRESET_BUILDERS: Record<string, { description: string; build: Builder }> = {
  "allcnnc": {
    description: "All-CNN-C (thesis table 6.2): 9 convs with ReLU, GAP; spatial dropout optional",
    build: allCnnC,
  },
  "mlp24": {
    description:
      "24-layer MLP (thesis table 6.3): 3000, 11x1000, 11x300, classes; dropout optional",
    build: mlp24,
  },
  "vonhacht-mnist": {
    description: "von Hacht MNIST model: conv5 32, pool, conv5 64, pool, dense 1024, dropout",
    build: (o) => vonHacht("vonhacht-mnist", [[32], [64]], [1024], o),
  },
  "vonhacht-a": {
    description: "von Hacht model A (CIFAR-10): the MNIST model on RGB input",
    build: (o) => vonHacht("vonhacht-a", [[32], [64]], [1024], o),
  },
  "vonhacht-b": {
    description: "von Hacht model B: conv5 96, pool, conv5 192, pool, dense 2048, 2048, dropout",
    build: (o) => vonHacht("vonhacht-b", [[96], [192]], [2048, 2048], o),
  },
  "vonhacht-c": {
    description: "von Hacht model C: model B with a second conv before each pool",
    build: (o) => vonHacht("vonhacht-c", [[96, 96], [192, 192]], [2048, 2048], o),
  },
  "botos-mlp": {
    description: "Botos MLP (seed 000): 784 ReLU, 784 ReLU, 100 tanh, classes",
    build: botosMlp,
  },
  "resnet20": {
    description: "ResNet-20 (He et al. 2016): conv 16, 3x3 basic blocks of 16/32/64, GAP, dense",
    build: resnet20,
  },
  "shiftlab-small": {
    description:
      "ours, for quick runs: conv3x3 16 s2, conv3x3 32 s2, dense 64, classes (MNIST in seconds)",
    build: shiftlabSmall,
  },
};

/** Names and one-line descriptions of every preset. */
export const ARCHITECTURES: readonly { name: string; description: string }[] = Object.entries(
  PRESET_BUILDERS,
).map(([name, p]) => ({ name, description: p.description }));

function presetBuilder(name: string): { description: string; build: Builder } {
  const preset = PRESET_BUILDERS[name];
  if (!preset) {
    throw new Error(
      `unknown architecture '${name}', expected one of ${Object.keys(PRESET_BUILDERS).join(", ")}`,
    );
  }
  return preset;
}

function checkWidth(where: string, width: unknown): void {
  if (typeof width !== "number" || !Number.isFinite(width) || width <= 0) {
    throw new Error(`${where}: 'width' must be a number > 0, got ${JSON.stringify(width)}`);
  }
}

/** `inputShape` and `classes` of `opts`, checked. */
function checkTarget(name: string, opts: ArchitectureOptions): number[] {
  const shape = opts?.inputShape;
  if (
    !Array.isArray(shape) || shape.length === 0 ||
    !shape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new Error(
      `architecture '${name}': inputShape must be a non-empty list of positive integers, ` +
        `got ${JSON.stringify(shape)}`,
    );
  }
  if (!Number.isInteger(opts.classes) || opts.classes < 2) {
    throw new Error(
      `architecture '${name}': classes must be an integer >= 2, got ${opts.classes}`,
    );
  }
  return [...shape];
}

/**
 * `layers` with every output width (the fields the registry marks as widths) times `factor`,
 * rounded, at least 1, except the last layer that has one: it gives the logits. The layers
 * inside containers (residual blocks) are scaled too.
 */
export function scaleWidths(layers: readonly LayerSpec[], factor: number): LayerSpec[] {
  checkWidth("scaleWidths", factor);
  return scaleList(layers, factor, layers.findLastIndex((s) => widthField(s.type) !== undefined));
}

function scaleList(layers: readonly LayerSpec[], factor: number, keep: number): LayerSpec[] {
  return layers.map((s, i) => {
    const o = s as unknown as Record<string, unknown>;
    const nested = layerListFields(s.type).filter((k) => Array.isArray(o[k]));
    if (nested.length > 0) {
      const inner = nested.map((k) => [k, scaleList(o[k] as LayerSpec[], factor, -1)]);
      return { ...s, ...Object.fromEntries(inner) };
    }
    const f = widthField(s.type);
    if (f === undefined || i === keep) return s;
    return { ...s, [f]: Math.max(1, Math.round((o[f] as number) * factor)) };
  });
}

/**
 * The named base architecture for an input shape and class count (and `width`, when given).
 * Throws on an unknown name (listing the valid ones), a bad input shape, class count or width.
 */
export function architecture(name: string, opts: ArchitectureOptions): ArchSpec {
  const preset = presetBuilder(name);
  const shape = checkTarget(name, opts);
  const scaled = opts.width !== undefined;
  if (scaled) checkWidth(`architecture '${name}'`, opts.width);
  const built = preset.build(opts);
  const layers = scaled ? scaleWidths(built, opts.width!) : built;
  const hasDropout = layers.some((l) => l.type === "dropout" || l.type === "spatial_dropout");
  const dropoutByDefault = name.startsWith("vonhacht");
  const suffix = hasDropout && !dropoutByDefault ? "+dropout" : "";
  const noDrop = !hasDropout && dropoutByDefault ? "-nodropout" : "";
  return {
    name: `${name}${scaled ? `(width=${opts.width})` : ""}${suffix}${noDrop}`,
    inputShape: shape,
    classes: opts.classes,
    layers,
  };
}

const PRESET_REF_FIELDS = ["preset", "width"];

/**
 * Validates how a config names its architecture, without building it: a known preset, known
 * options with valid values, or an inline list whose every layer the registry accepts (errors
 * name the layer's index and field). Returns the reference.
 */
export function parseArchitectureRef(raw: unknown): ArchitectureRef {
  if (typeof raw === "string") {
    presetBuilder(raw);
  } else if (Array.isArray(raw)) {
    parseLayerSpecs(raw, "architecture");
  } else if (raw && typeof raw === "object") {
    const o = raw as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!PRESET_REF_FIELDS.includes(k)) {
        throw new Error(
          `architecture: unknown field '${k}' (expected: ${PRESET_REF_FIELDS.join(", ")})`,
        );
      }
    }
    if (typeof o.preset !== "string") {
      throw new Error(
        `architecture: 'preset' must name a preset, got ${JSON.stringify(o.preset)} (expected ` +
          `one of ${Object.keys(PRESET_BUILDERS).join(", ")})`,
      );
    }
    presetBuilder(o.preset);
    if (o.width !== undefined) checkWidth("architecture", o.width);
  } else {
    throw new Error(
      `architecture: expected a preset name, {"preset": NAME, "width": W} or a list of layers, ` +
        `got ${JSON.stringify(raw)}`,
    );
  }
  return raw as ArchitectureRef;
}

/**
 * Whether the architecture a reference names has residual blocks (where the residual gates
 * apply). A preset's layer types do not depend on the input shape, so none is needed.
 */
export function hasResidualBlocks(ref: ArchitectureRef): boolean {
  parseArchitectureRef(ref);
  const layers = Array.isArray(ref)
    ? ref
    : presetBuilder(typeof ref === "string" ? ref : ref.preset).build({
      inputShape: [3, 32, 32],
      classes: 10,
    });
  return layers.some((s) => s.type === "residual");
}

/**
 * The canonical name of an architecture reference: the preset's name; the preset with its
 * options, e.g. `allcnnc(width=0.25)`; or `inline-` and a hash of the layer list.
 */
export function architectureName(ref: ArchitectureRef): string {
  if (typeof ref === "string") return ref;
  if (Array.isArray(ref)) {
    const canonical = ref.map((s) =>
      Object.fromEntries(Object.entries(s).sort(([a], [b]) => (a < b ? -1 : 1)))
    );
    return `inline-${hashName(JSON.stringify(canonical)).toString(16).padStart(8, "0")}`;
  }
  return ref.width === undefined ? ref.preset : `${ref.preset}(width=${ref.width})`;
}

/**
 * The base architecture an {@link ArchitectureRef} names, for an input shape and class count
 * (validated first). An inline list takes no `dropout`: it says where its dropout layers go.
 */
export function resolveArchitecture(ref: ArchitectureRef, opts: ArchitectureOptions): ArchSpec {
  parseArchitectureRef(ref);
  if (typeof ref === "string") return architecture(ref, opts);
  if (!Array.isArray(ref)) return architecture(ref.preset, { ...opts, width: ref.width });
  const name = architectureName(ref);
  if (opts.dropout || opts.width !== undefined) {
    throw new Error(
      `architecture '${name}': an inline layer list takes no ${
        opts.dropout ? "'dropout'" : "'width'"
      } option; write its layers as they should be`,
    );
  }
  const inputShape = checkTarget(name, opts);
  const layers = parseLayerSpecs(ref, "architecture");
  return { name, inputShape, classes: opts.classes, layers };
}
