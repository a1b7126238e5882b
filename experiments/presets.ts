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
import hypothesis1 from "./presets/hypothesis1.json" with { type: "json" };
import hypothesis2 from "./presets/hypothesis2.json" with { type: "json" };
import initial from "./presets/initial.json" with { type: "json" };
import mlp from "./presets/mlp.json" with { type: "json" };
import mlpDropout from "./presets/mlp-dropout.json" with { type: "json" };
import quick from "./presets/quick.json" with { type: "json" };
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
  return Object.entries(EXPERIMENT_PRESETS)
    .map(([k, v]) => `  ${k.padEnd(18)}${(v as { description: string }).description}`)
    .join("\n");
}
