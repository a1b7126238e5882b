import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { type ExperimentConfig, validateConfig } from "../src/experiment/config.ts";
import { planRuns, selectShard } from "../src/experiment/plan.ts";
import type { ExperimentManifest, RunRecord } from "../src/experiment/record.ts";
import { checkCompatible, prepareData, runSweep, type SweepData } from "../src/experiment/sweep.ts";
import { readSweepData, writeSweepData } from "../src/experiment/datacache.ts";

const BASE = {
  name: "tiny",
  description: "test sweep",
  dataset: "mnist",
  architecture: "shiftlab-small",
  variants: ["plain", "lsh_lsc"],
  lr: 0.01,
  epochs: 1,
  batchSize: 16,
  runs: 2,
  trainSubset: 48,
  testSubset: 32,
  holdOut: 40,
};

function cfg(over: Record<string, unknown> = {}): ExperimentConfig {
  return validateConfig({ ...BASE, ...over }, "test");
}

let cached: SweepData | null = null;
async function data() {
  cached ??= await prepareData(cfg());
  return cached;
}

/** runSweep into `dir` on the ts backend with the shared data and `cfg(over)`. */
async function sweep(
  dir: string,
  over: Record<string, unknown> = {},
  extra: Partial<Parameters<typeof runSweep>[0]> = {},
) {
  return await runSweep({
    config: cfg(over),
    source: "test",
    outDir: dir,
    backend: tsBackend,
    data: await data(),
    ...extra,
  });
}

async function readRuns(dir: string): Promise<Map<string, RunRecord>> {
  const out = new Map<string, RunRecord>();
  for await (const e of Deno.readDir(`${dir}/runs`)) {
    out.set(e.name, JSON.parse(await Deno.readTextFile(`${dir}/runs/${e.name}`)));
  }
  return out;
}

const FILES = [
  "plain__lr0.01__run0.json",
  "lsh_lsc__lr0.01__run0.json",
  "plain__lr0.01__run1.json",
  "lsh_lsc__lr0.01__run1.json",
];

/** A record without the fields that legitimately differ between two identical runs. */
function comparable(r: RunRecord) {
  return { ...r, wallSeconds: 0, epochSeconds: [], provenance: { ...r.provenance, startedAt: "" } };
}

Deno.test("experiment: a tiny sweep (2 variants x 2 runs) writes the expected records and manifest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const res = await sweep(dir);
    assert.equal(res.planned, 4);
    assert.equal(res.ran, 4);
    const runs = await readRuns(dir);
    assert.deepEqual([...runs.keys()].sort(), [...FILES].sort());
    for (const [f, r] of runs) {
      assert.equal(r.version, 2);
      assert.equal(r.stepsPerEpoch, 3);
      assert.equal(r.trainLoss.length, 3, f);
      assert.equal(r.trainError.length, 3);
      assert.equal(r.valLoss.length, 1);
      assert.equal(r.valError.length, 1);
      assert.ok(r.valError[0] >= 0 && r.valError[0] <= 1);
      assert.ok(r.trainLoss.every(Number.isFinite));
      assert.equal(r.divergedAtStep, null);
      assert.equal(r.config.seed, 1 + r.config.run, "run k uses seed baseSeed + k");
      assert.equal(r.config.trainSize, 48);
      assert.equal(r.config.validation, "holdout");
      assert.equal(r.config.valSize, 40);
      assert.equal(r.config.testSize, 32);
      assert.ok(r.testError !== null && r.testError >= 0 && r.testError <= 1, "test read once");
      assert.ok(Number.isFinite(r.testLoss));
      assert.equal(r.provenance.backend, "ts");
      assert.equal(r.provenance.deno, Deno.version.deno);
      assert.ok(r.parameters > 0);
      assert.ok(r.wallSeconds > 0);
    }
    // lsh_lsc has extra shift/scale parameters; run 0 of both variants shares the seed
    assert.ok(runs.get(FILES[1])!.parameters > runs.get(FILES[0])!.parameters);
    const m: ExperimentManifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    assert.equal(m.plannedRuns, 4);
    assert.deepEqual(m.variants, ["plain", "lsh_lsc"]);
    assert.deepEqual(m.learningRates, { plain: [0.01], lsh_lsc: [0.01] });
    assert.deepEqual(m.validation, { source: "holdout", size: 40 });
    assert.ok(m.architectureSummary.length > 0);
    // no temp files left behind
    for await (const e of Deno.readDir(`${dir}/runs`)) assert.ok(!e.name.endsWith(".tmp"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: a stopped sweep resumes without redoing finished runs; same seed gives identical records", async () => {
  const dir = await Deno.makeTempDir();
  const dir2 = await Deno.makeTempDir();
  try {
    const r1 = await sweep(dir, {}, { stopAfterRuns: 1 });
    assert.equal(r1.ran, 1);
    assert.ok(r1.stopped);
    const first = await Deno.readTextFile(`${dir}/runs/${FILES[0]}`);
    const r2 = await sweep(dir);
    assert.equal(r2.skipped, 1);
    assert.equal(r2.ran, 3);
    assert.equal(
      await Deno.readTextFile(`${dir}/runs/${FILES[0]}`),
      first,
      "finished run untouched",
    );
    // a third pass has nothing to do
    const r3 = await sweep(dir);
    assert.equal(r3.ran, 0);
    assert.equal(r3.skipped, 4);
    // determinism: an independent sweep gives identical records (timings aside)
    await sweep(dir2);
    const a = await readRuns(dir);
    const b = await readRuns(dir2);
    for (const f of FILES) {
      assert.deepEqual(
        { ...comparable(a.get(f)!), config: { ...a.get(f)!.config, experiment: "" } },
        { ...comparable(b.get(f)!), config: { ...b.get(f)!.config, experiment: "" } },
        f,
      );
    }
    // a different seed gives different numbers
    const dir3 = await Deno.makeTempDir();
    try {
      await sweep(dir3, { baseSeed: 5, variants: ["plain"], runs: 1 });
      const c = (await readRuns(dir3)).get(FILES[0])!;
      assert.notDeepEqual(c.trainLoss, a.get(FILES[0])!.trainLoss);
    } finally {
      await Deno.remove(dir3, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(dir2, { recursive: true });
  }
});

Deno.test("experiment: --shard 0/2 and 1/2 together cover the sweep exactly once", async () => {
  const plan = planRuns({
    variants: ["a", "b", "c"],
    rates: { a: [1], b: [1, 2], c: [3] },
    runs: 3,
    baseSeed: 0,
    dropout: () => false,
  });
  assert.equal(plan.length, 12);
  for (const n of [2, 3, 5]) {
    const parts = Array.from({ length: n }, (_, i) => selectShard(plan, { index: i, count: n }));
    const all = parts.flat().map((s) => s.file).sort();
    assert.deepEqual(all, plan.map((s) => s.file).sort(), `n=${n}`);
  }
  const dir = await Deno.makeTempDir();
  try {
    const a = await sweep(dir, {}, { shard: { index: 0, count: 2 } });
    const b = await sweep(dir, {}, { shard: { index: 1, count: 2 } });
    assert.equal(a.ran, 2);
    assert.equal(b.ran, 2);
    assert.equal(b.skipped, 0, "shard 1 found none of its runs done by shard 0");
    assert.deepEqual([...(await readRuns(dir)).keys()].sort(), [...FILES].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: a run forced to diverge is recorded as diverged and the sweep completes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const res = await sweep(dir, { lr: { default: 0.01, lsh_lsc: 1e20 }, runs: 1, epochs: 2 });
    assert.equal(res.ran, 2);
    assert.equal(res.diverged, 1);
    const runs = await readRuns(dir);
    const bad = runs.get(`lsh_lsc__lr${1e20}__run0.json`)!;
    assert.notEqual(bad.divergedAtStep, null);
    assert.equal(bad.trainLoss.length, bad.divergedAtStep! + 1);
    assert.equal(bad.trainLoss.at(-1), null, "the non-finite loss is stored as null");
    const good = runs.get("plain__lr0.01__run0.json")!;
    assert.equal(good.divergedAtStep, null);
    assert.equal(good.valError.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: a corrupt record file is ignored and its run redone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = cfg({ variants: ["plain"], runs: 1 });
    await Deno.mkdir(`${dir}/runs`, { recursive: true });
    await Deno.writeTextFile(`${dir}/runs/${FILES[0]}`, '{"version": 2, "config": {');
    const warnings: string[] = [];
    const progress = {
      sweepStart() {},
      runStart() {},
      step() {},
      epoch() {},
      runEnd() {},
      message: (s: string) => void warnings.push(s),
      end() {},
    };
    const res = await runSweep({
      config,
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
      progress,
    });
    assert.equal(res.ran, 1);
    assert.ok(
      warnings.some((w) => w.includes(FILES[0]) && w.includes("ignored, will be rerun")),
      warnings.join("\n"),
    );
    const r: RunRecord = JSON.parse(await Deno.readTextFile(`${dir}/runs/${FILES[0]}`));
    assert.equal(r.trainLoss.length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: an output folder with different settings is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await sweep(dir, { variants: ["plain"], runs: 1 });
    await assert.rejects(
      sweep(dir, { variants: ["plain"], runs: 1, epochs: 3 }),
      /holds an experiment with different settings \(epochs: 1 there, 3 now\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: normalize 'none' keeps pixels in [0, 1], is recorded and is part of the settings", async () => {
  const raw = await prepareData(cfg({ normalize: "none" }));
  const std = await data();
  assert.equal(raw.train.norm, undefined);
  assert.ok(std.train.norm, "per-element normalisation is the default");
  let lo = Infinity, hi = -Infinity;
  for (const v of raw.train.images) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  assert.equal(lo, 0);
  assert.equal(hi, 1);
  assert.ok(std.train.images.some((v) => v < 0), "standardised pixels go below 0");
  const dir = await Deno.makeTempDir();
  try {
    const config = cfg({ variants: ["plain"], runs: 1, normalize: "none" });
    await runSweep({ config, source: "test", outDir: dir, backend: tsBackend, data: raw });
    const rec = [...(await readRuns(dir)).values()][0];
    assert.equal(rec.config.normalize, "none");
    await assert.rejects(
      runSweep({
        config: cfg({ variants: ["plain"], runs: 1 }),
        source: "test",
        outDir: dir,
        backend: tsBackend,
        data: std,
      }),
      /different settings \(normalize: "none" there, "per-element" now\)/,
    );
    // a manifest written before `normalize` existed counts as the default, per-element
    const { normalize: _, ...before } = cfg({ variants: ["plain"], runs: 1 });
    const manifest = { config: before } as unknown as ExperimentManifest;
    checkCompatible(manifest, cfg({ variants: ["plain"], runs: 1 }), dir);
    assert.throws(
      () => checkCompatible(manifest, config, dir),
      /normalize: "per-element" there, "none" now/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const native = await (async () => {
  try {
    const { selectBackend } = await import("../src/backends/select.ts");
    return selectBackend("cpu").backend;
  } catch {
    return null;
  }
})();

Deno.test({
  name: "experiment: the native cpu backend also gives identical records for the same seed",
  ignore: native === null,
  fn: async () => {
    const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    try {
      for (const outDir of dirs) {
        await runSweep({
          config: cfg({ variants: ["bn", "lsh_lsc"], runs: 1 }),
          source: "test",
          outDir,
          backend: native!,
          data: await data(),
        });
      }
      const [a, b] = [await readRuns(dirs[0]), await readRuns(dirs[1])];
      assert.equal(a.size, 2);
      for (const [f, r] of a) {
        assert.equal(r.provenance.backend, "cpu");
        assert.ok(r.provenance.library, "the native build string is recorded");
        assert.deepEqual(r.trainLoss, b.get(f)!.trainLoss, f);
        assert.deepEqual(r.valError, b.get(f)!.valError, f);
      }
    } finally {
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});

/** A progress sink that only watches run starts and epoch ends. */
function epochWatcher(epochs: number) {
  const state = { lastEpochDone: false };
  return {
    state,
    progress: {
      sweepStart() {},
      runStart() {
        state.lastEpochDone = false;
      },
      step() {},
      epoch(e: number) {
        state.lastEpochDone = e === epochs - 1;
      },
      runEnd() {},
      message() {},
      end() {},
    },
  };
}

Deno.test("experiment: the test set is never read before a run's last epoch, nor by search trials", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = cfg({
      variants: ["plain", "sh"],
      runs: 1,
      epochs: 2,
      lrSearch: { plainGrid: [0.01, 0.02], epochs: 1 },
    });
    const w = epochWatcher(2);
    const d = await data();
    let reads = 0;
    const guarded: SweepData = {
      ...d,
      test: () => {
        if (!w.state.lastEpochDone) {
          return Promise.reject(new Error("the test set was read before a run's last epoch"));
        }
        reads++;
        return d.test!();
      },
    };
    const res = await runSweep({
      config,
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: guarded,
      progress: w.progress,
    });
    assert.equal(res.ran, 2);
    assert.equal(reads, 2, "once per sweep run, never for the two search trials");
    const trials = (await Array.fromAsync(Deno.readDir(`${dir}/search`))).length;
    assert.equal(trials, 2);
    for (const r of (await readRuns(dir)).values()) assert.ok(r.testError !== null);
    for await (const e of Deno.readDir(`${dir}/search`)) {
      const t: RunRecord = JSON.parse(await Deno.readTextFile(`${dir}/search/${e.name}`));
      assert.equal(t.testError, null, "a search trial has no test measurement");
      assert.equal(t.config.testSize, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: the validation split is held out by the base seed, disjoint, and shapes normalisation", async () => {
  const { loadRaw } = await import("../src/data/mod.ts");
  const { computeNormStats, holdOut } = await import("../src/data/dataset.ts");
  const raw = await prepareData(cfg({ normalize: "none" }));
  const again = await prepareData(cfg({ normalize: "none" }));
  const other = await prepareData(cfg({ normalize: "none", baseSeed: 2 }));
  assert.equal(raw.val.size, 40);
  assert.deepEqual(raw.val.images, again.val.images, "the same split for every variant and run");
  assert.notDeepEqual(raw.val.images, other.val.images, "another base seed, another split");
  // Disjoint from the training part: no validation image appears among the training images.
  const d = 784;
  const key = (x: Float32Array, i: number) => {
    let h = 0;
    for (let j = i * d; j < (i + 1) * d; j++) h = (Math.imul(h, 31) + Math.round(x[j] * 255)) | 0;
    return h;
  };
  const full = await loadRaw("mnist", "train");
  const split = holdOut(full, 40, 1);
  const trainKeys = new Set(
    Array.from({ length: split.train.size }, (_, i) => key(split.train.images, i)),
  );
  for (let i = 0; i < raw.val.size; i++) assert.ok(!trainKeys.has(key(raw.val.images, i)));
  // Per-element statistics come from the training part only (not the validation samples).
  const std = await data();
  assert.deepEqual(std.train.norm!.mean, computeNormStats(split.train).mean);
  assert.deepEqual(std.val.norm!.mean, std.train.norm!.mean);
  // With validation on the test set there is no separate test loader.
  const onTest = await prepareData(cfg({ validation: "test", holdOut: null }));
  assert.equal(onTest.test, null);
  assert.equal(onTest.val.size, 32, "the (subset of the) test set validates");
  assert.equal(onTest.train.size, 48);
});

Deno.test("experiment: several learning rates in one sweep are recorded and analysed as groups", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await sweep(dir, { variants: ["plain", "sh"], lr: [0.01, 0.02], runs: 1 });
    const m: ExperimentManifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    assert.deepEqual(m.learningRates, { plain: [0.01, 0.02], sh: [0.01, 0.02] });
    assert.equal(m.plannedRuns, 4);
    const { analyzeExperiment } = await import("../src/report/analysis.ts");
    const { loadExperiment } = await import("../src/report/load.ts");
    const exp = await loadExperiment(dir);
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files);
    assert.deepEqual(a.groups.map((g) => g.name), [
      "plain @ 0.01",
      "plain @ 0.02",
      "sh @ 0.01",
      "sh @ 0.02",
    ]);
    assert.equal(a.groups.filter((g) => g.chosen).length, 2, "one best rate per variant");
    assert.equal(a.partial, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: a folder validated on the test set (before the split existed) is not mixed", () => {
  // A manifest written before `validation` existed, without holdOut, validated on the test set.
  const { validation: _, holdOut: __, ...before } = cfg({ variants: ["plain"] });
  const manifest = { config: before } as unknown as ExperimentManifest;
  assert.throws(
    () => checkCompatible(manifest, cfg({ variants: ["plain"] }), "old"),
    /validation: "test" there, "holdout" now/,
  );
  checkCompatible(manifest, cfg({ variants: ["plain"], validation: "test", holdOut: null }), "old");
});

Deno.test("experiment: a rerun with other variants or rates is refused, naming what differs and both ways on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const base = { variants: ["plain"], runs: 1 };
    await sweep(dir, base);
    const refused = async (over: Record<string, unknown>, what: RegExp) => {
      await assert.rejects(
        sweep(dir, { ...base, ...over }),
        (e: Error) => {
          assert.match(e.message, /holds an experiment with another plan/);
          assert.match(e.message, what);
          assert.match(e.message, /add --extend to extend that experiment's plan/);
          assert.match(e.message, /or choose another --out/);
          return true;
        },
      );
    };
    await refused({ variants: ["plain", "sh"] }, /adds variant sh \(lr 0\.01\)/);
    await refused({ lr: [0.01, 0.02] }, /adds plain at lr 0\.02/);
    await refused({ lr: 0.02 }, /adds plain at lr 0\.02; leaves out plain at lr 0\.01/);
    await refused({ runs: 2 }, /adds runs 1 → 2/);
    // Nothing was trained by the refused commands.
    assert.deepEqual([...(await readRuns(dir)).keys()], ["plain__lr0.01__run0.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: --extend adds variants and rates, records the extension, and resumes as the union", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await sweep(dir, { variants: ["plain"], runs: 1 });
    const r = await sweep(dir, { variants: ["sh"], lr: [0.01, 0.02], runs: 1 }, { extend: true });
    assert.equal(r.planned, 3);
    assert.equal(r.skipped, 1);
    assert.equal(r.ran, 2);
    const m: ExperimentManifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    assert.deepEqual(m.variants, ["plain", "sh"]);
    assert.deepEqual(m.learningRates, { plain: [0.01], sh: [0.01, 0.02] });
    assert.equal(m.plannedRuns, 3);
    assert.equal(m.extensions!.length, 1);
    assert.deepEqual(m.extensions![0].added, ["variant sh (lr 0.01, 0.02)"]);
    // The stored config is the union: resuming from it plans the same three runs.
    const again = await runSweep({
      config: validateConfig(m.config, "manifest"),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
    assert.equal(again.planned, 3);
    assert.equal(again.ran, 0);
    const { writeExperimentReport } = await import("../src/report/report.ts");
    const html = await Deno.readTextFile(await writeExperimentReport(dir));
    assert.match(html, /Plan extended<\/b> [\d-]+T[\d:.]+Z: variant sh \(lr 0\.01, 0\.02\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: a sweep stopped during its learning-rate search can be resumed from its folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = cfg({
      variants: ["plain", "sh"],
      runs: 1,
      lrSearch: { plainGrid: [0.01, 0.02] },
    });
    let ended = 0;
    const progress = { ...epochWatcher(1).progress, runEnd: () => void ended++ };
    const r = await runSweep({
      config,
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
      progress,
      shouldStop: () => ended >= 1, // Ctrl-C after the first trial
    });
    assert.ok(r.stopped);
    assert.equal(r.ran, 0);
    const m: ExperimentManifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    assert.equal(m.searching, true, "the manifest exists while the search runs");
    assert.deepEqual(m.config, config as unknown as Record<string, unknown>);
    // What --resume --out DIR does: the stored config, the finished trial reused.
    const { parseCli } = await import("../experiments/cli.ts");
    const cli = (await parseCli(["--resume", "--out", dir]))!;
    assert.deepEqual(cli.config, config);
    const done = await runSweep({
      config: cli.config,
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
    assert.equal(done.ran, 2);
    const after: ExperimentManifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    assert.equal(after.searching, undefined);
    assert.equal(Object.keys(after.lrSearch!.trials.plain).length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: ddi variants are initialised from the first batch; agc reaches the record", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = cfg({
      variants: ["plain", "csh_csc", "csh+csc+ddi", "bn+frozen"],
      runs: 1,
      agc: 0.05,
    });
    const res = await runSweep({
      config,
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
    assert.equal(res.ran, 4);
    const runs = await readRuns(dir);
    const first = (v: string) => runs.get(`${v}__lr0.01__run0.json`)!.trainLoss[0];
    // Shift/scale start as the identity, so csh_csc's first loss is plain's; ddi sets them
    // from the first batch before that step, so its first loss differs.
    assert.equal(first("csh_csc"), first("plain"));
    assert.notEqual(first("csh+csc+ddi"), first("plain"));
    for (const r of runs.values()) assert.equal(r.config.agc, 0.05);
    const m: ExperimentManifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    assert.deepEqual(m.variants, ["plain", "csh_csc", "csh+csc+ddi", "bn+frozen"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: a packed sweep's workers read the parent's prepared data bit for bit", async () => {
  const path = await Deno.makeTempFile();
  try {
    for (const over of [{}, { validation: "test", holdOut: undefined, normalize: "none" }]) {
      const d = await prepareData(cfg(over));
      await writeSweepData(path, d);
      const r = await readSweepData(path);
      const sets = async (x: SweepData) => [x.train, x.val, ...(x.test ? [await x.test()] : [])];
      const [want, got] = [await sets(d), await sets(r)];
      assert.equal(got.length, want.length);
      for (let i = 0; i < want.length; i++) {
        const { images, labels, norm, ...rest } = want[i];
        const g = got[i];
        assert.deepEqual({ ...g, images: 0, labels: 0, norm: 0 }, {
          ...rest,
          images: 0,
          labels: 0,
          norm: 0,
        });
        assert.deepEqual(g.images, images);
        assert.deepEqual(g.labels, labels);
        assert.deepEqual(g.norm, norm);
      }
      assert.equal(r.test === null, d.test === null);
    }
  } finally {
    await Deno.remove(path);
  }
});
