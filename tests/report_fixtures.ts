/**
 * Test fixtures for the report tests: experiment folders with run records of realistic shape
 * (per-step noisy training curves that decay at a variant-specific pace, per-epoch validation
 * curves, shared seeds across variants, optional diverged and missing runs). Synthetic, for
 * testing the report only.
 *
 * @module
 */

import { join } from "node:path";
import {
  type ExperimentManifest,
  RECORD_VERSION,
  runFileName,
  type RunRecord,
} from "../src/experiment/record.ts";
import { Rng } from "../src/rng.ts";

/** Shape of a generated experiment. */
export interface FixtureOptions {
  id?: string;
  variants?: string[];
  runs?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Steps until the training error has fallen by 1/e, per variant (default 300). */
  tau?: Record<string, number>;
  /** Runs (as `variant/run`) not written, making the sweep partial. */
  missing?: string[];
  /** Runs (as `variant/run`) that diverge, at the given step. */
  diverge?: Record<string, number>;
  /** Write a per-step curve identical to plain's for these variants. */
  copyOfPlain?: string[];
}

/** Builds one record with deterministic noise from `(seed, variant)`. */
export function makeRecord(
  id: string,
  variant: string,
  run: number,
  seed: number,
  epochs: number,
  stepsPerEpoch: number,
  tau: number,
  divergeAt: number | null,
): RunRecord {
  const rng = new Rng(
    seed,
    variant === "plain" ? 7 : [...variant].reduce((s, c) => s * 31 + c.charCodeAt(0), 7),
  );
  const shared = new Rng(seed, 99).normal() * 0.01; // per-seed offset shared by every variant
  const steps = epochs * stepsPerEpoch;
  const floor = 0.04 + shared;
  const trainError: number[] = [];
  const trainLoss: number[] = [];
  const n = divergeAt === null ? steps : divergeAt + 1;
  for (let t = 0; t < n; t++) {
    const p = floor + (0.9 - floor) * Math.exp(-t / tau);
    let wrong = 0;
    for (let i = 0; i < 32; i++) if (rng.uniform() < p) wrong++;
    trainError.push(wrong / 32);
    trainLoss.push(-Math.log(1 - p * 0.9) * (1 + 0.1 * rng.normal()) + 0.02);
  }
  if (divergeAt !== null) trainLoss[divergeAt] = NaN;
  const valError: number[] = [];
  const valLoss: number[] = [];
  const done = divergeAt === null ? epochs : Math.floor(divergeAt / stepsPerEpoch);
  for (let e = 1; e <= done; e++) {
    const p = floor + 0.02 + (0.9 - floor) * Math.exp(-(e * stepsPerEpoch) / tau) +
      0.005 * rng.normal();
    valError.push(Math.max(0, p));
    valLoss.push(-Math.log(1 - Math.max(0, p) * 0.9) + 0.03);
  }
  return {
    version: RECORD_VERSION,
    config: {
      experiment: id,
      dataset: "mnist",
      architecture: "shiftlab-small",
      variant,
      lr: variant === "bn" ? 0.04 : 0.01,
      momentum: 0.9,
      epochs,
      batchSize: 32,
      run,
      seed,
      dropout: false,
      trainSize: 32 * stepsPerEpoch,
      validation: "holdout",
      valSize: 1000,
      testSize: 1000,
      weightDecay: 0,
      optimizer: "momentum",
    },
    provenance: {
      backend: "cpu",
      device: "host C (2 threads)",
      library: "shiftlab-host 0.1.0",
      deno: "2.9.6",
      commit: "0123456789abcdef0123456789abcdef01234567",
      startedAt: new Date(Date.UTC(2026, 10, 22, 12, 0, run * 60 + variant.length)).toISOString(),
      hostname: "testhost",
    },
    parameters: 21840 + (variant === "bn" ? 256 : 0),
    trainLoss,
    trainError,
    valLoss,
    valError,
    testLoss: divergeAt === null ? (valLoss.at(-1) ?? 0) + 0.01 : null,
    testError: divergeAt === null ? (valError.at(-1) ?? 0) + 0.002 * rng.normal() : null,
    stepsPerEpoch,
    wallSeconds: 12.5 + run,
    epochSeconds: valError.map(() => (12.5 + run) / epochs),
    divergedAtStep: divergeAt,
  };
}

/** Writes an experiment folder under `root` and returns its path. */
export async function writeFixture(root: string, opts: FixtureOptions = {}): Promise<string> {
  const id = opts.id ?? "quick-mnist";
  const variants = opts.variants ?? ["plain", "bn", "sh", "csh", "lsh", "lsh_lsc"];
  const runs = opts.runs ?? 4;
  const epochs = opts.epochs ?? 4;
  const spe = opts.stepsPerEpoch ?? 250;
  const dir = join(root, id);
  await Deno.mkdir(join(dir, "runs"), { recursive: true });
  const lrs: Record<string, number[]> = {};
  for (const v of variants) lrs[v] = [v === "bn" ? 0.04 : 0.01];
  const manifest: ExperimentManifest = {
    version: RECORD_VERSION,
    id,
    preset: "quick",
    description: "Quick default: shifting/scaling variants against plain and batch norm on MNIST.",
    dataset: "mnist",
    architecture: "shiftlab-small",
    architectureSummary:
      "0_conv2d    [16, 28, 28]  160\n1_relu      [16, 28, 28]  0\n2_dense     [10]          ...",
    variants,
    learningRates: lrs,
    epochs,
    runs,
    batchSize: 32,
    baseSeed: 1000,
    plannedRuns: variants.length * runs,
    validation: { source: "holdout", size: 1000 },
    createdAt: "2026-11-22T12:00:00.000Z",
  };
  await Deno.writeTextFile(join(dir, "experiment.json"), JSON.stringify(manifest, null, 1));
  const defaultTau: Record<string, number> = {
    plain: 300,
    bn: 150,
    sh: 260,
    csh: 220,
    lsh: 180,
    lsh_lsc: 170,
  };
  const plainRecords = new Map<number, RunRecord>();
  for (const v of ["plain", ...variants.filter((x) => x !== "plain")]) {
    if (!variants.includes(v)) continue;
    for (let k = 0; k < runs; k++) {
      if (opts.missing?.includes(`${v}/${k}`)) continue;
      const seed = 1000 + k;
      let rec = makeRecord(
        id,
        v,
        k,
        seed,
        epochs,
        spe,
        opts.tau?.[v] ?? defaultTau[v] ?? 280,
        opts.diverge?.[`${v}/${k}`] ?? null,
      );
      if (v === "plain") plainRecords.set(seed, rec);
      if (opts.copyOfPlain?.includes(v) && plainRecords.has(seed)) {
        const p = plainRecords.get(seed)!;
        rec = { ...p, config: { ...p.config, variant: v } };
      }
      await Deno.writeTextFile(
        join(dir, "runs", runFileName(v, rec.config.lr, k)),
        JSON.stringify(rec),
      );
    }
  }
  return dir;
}
