/**
 * Named architecture presets (SPEC §2) as plain, JSON-serialisable layer lists. The variant
 * builder (`variants.ts`) turns an {@link ArchSpec} plus a variant name into a network.
 *
 * A spec lists only the base network: conv/dense layers, their activations, pooling, dropout.
 * Batch norm and shift/scale layers are placed by the variant builder, never here. A layer is
 * a {@link LayerSpec}: any type of the layer registry (`layers/registry.ts`).
 *
 * @module
 */
import type { ActivationOp } from "./backend.ts";
import type { WeightInit } from "./layers/dense.ts";
import type { LayerSpec } from "./layers/registry.ts";

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
};

const relu: LayerSpec = { type: "act", op: "relu" };

function conv(filters: number, kernel: number, stride = 1, pad = 0): LayerSpec[] {
  return [{ type: "conv", filters, kernel, stride, pad, init: "he" }, relu];
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

/**
 * The named base architecture for an input shape and class count. Throws on an unknown name
 * (listing the valid ones), a bad input shape or class count.
 */
export function architecture(name: string, opts: ArchitectureOptions): ArchSpec {
  const preset = PRESET_BUILDERS[name];
  if (!preset) {
    throw new Error(
      `unknown architecture '${name}', expected one of ${Object.keys(PRESET_BUILDERS).join(", ")}`,
    );
  }
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
  const layers = preset.build(opts);
  const hasDropout = layers.some((l) => l.type === "dropout" || l.type === "spatial_dropout");
  const dropoutByDefault = name.startsWith("vonhacht");
  const suffix = hasDropout && !dropoutByDefault ? "+dropout" : "";
  const noDrop = !hasDropout && dropoutByDefault ? "-nodropout" : "";
  return {
    name: `${name}${suffix}${noDrop}`,
    inputShape: [...shape],
    classes: opts.classes,
    layers,
  };
}
