/**
 * The named experiment presets: the JSON files in `experiments/presets/`, embedded at build
 * time (static JSON imports), so presets work from any working directory.
 *
 * @module
 */
import botosMlp from "./presets/botos-mlp.json" with { type: "json" };
import cifar100 from "./presets/cifar100.json" with { type: "json" };
import cifar100Dropout from "./presets/cifar100-dropout.json" with { type: "json" };
import dropout from "./presets/dropout.json" with { type: "json" };
import fashionDropout from "./presets/fashion-dropout.json" with { type: "json" };
import fashionHypotheses from "./presets/fashion-hypotheses.json" with { type: "json" };
import fashionInitial from "./presets/fashion-initial.json" with { type: "json" };
import fashionInitialTuned from "./presets/fashion-initial-tuned.json" with { type: "json" };
import fashionMlp from "./presets/fashion-mlp.json" with { type: "json" };
import hypothesis1 from "./presets/hypothesis1.json" with { type: "json" };
import hypothesis2 from "./presets/hypothesis2.json" with { type: "json" };
import initial from "./presets/initial.json" with { type: "json" };
import mlp from "./presets/mlp.json" with { type: "json" };
import mlpDropout from "./presets/mlp-dropout.json" with { type: "json" };
import modern from "./presets/modern.json" with { type: "json" };
import quick from "./presets/quick.json" with { type: "json" };
import residual from "./presets/residual.json" with { type: "json" };
import vonhachtMnist from "./presets/vonhacht-mnist.json" with { type: "json" };

/** Raw preset configs by name (validate with `validateConfig` before use). */
export const EXPERIMENT_PRESETS: Record<string, unknown> = {
  quick,
  initial,
  hypothesis1,
  hypothesis2,
  dropout,
  mlp,
  "mlp-dropout": mlpDropout,
  cifar100,
  "cifar100-dropout": cifar100Dropout,
  "fashion-initial": fashionInitial,
  "fashion-initial-tuned": fashionInitialTuned,
  "fashion-hypotheses": fashionHypotheses,
  "fashion-dropout": fashionDropout,
  "fashion-mlp": fashionMlp,
  modern,
  residual,
  "botos-mlp": botosMlp,
  "vonhacht-mnist": vonhachtMnist,
};

/** The default preset of `deno task experiment`. */
export const DEFAULT_PRESET = "quick";

/** A preset's raw config; unknown names throw listing the valid ones. */
export function presetConfig(name: string): unknown {
  const p = EXPERIMENT_PRESETS[name];
  if (!p) {
    throw new Error(
      `unknown preset '${name}' (expected one of: ${Object.keys(EXPERIMENT_PRESETS).join(", ")})`,
    );
  }
  return structuredClone(p);
}

/** One line per preset: name and description. */
export function presetList(): string {
  const width = Math.max(...Object.keys(EXPERIMENT_PRESETS).map((k) => k.length)) + 2;
  return Object.entries(EXPERIMENT_PRESETS)
    .map(([k, v]) => `  ${k.padEnd(width)}${(v as { description: string }).description}`)
    .join("\n");
}
