import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import type { Dataset } from "../src/data/dataset.ts";
import { type ExperimentConfig, validateConfig } from "../src/experiment/config.ts";
import { planRuns, selectShard } from "../src/experiment/plan.ts";
import type { ExperimentManifest, RunRecord } from "../src/experiment/record.ts";
import { checkCompatible, prepareData, runSweep } from "../src/experiment/sweep.ts";

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
};

function cfg(over: Record<string, unknown> = {}): ExperimentConfig {
  return validateConfig({ ...BASE, ...over }, "test");
}

let cached: { train: Dataset; test: Dataset } | null = null;
async function data() {
  cached ??= await prepareData(cfg());
  return cached;
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
    const res = await runSweep({
      config: cfg(),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
    assert.equal(res.planned, 4);
    assert.equal(res.ran, 4);
    const runs = await readRuns(dir);
    assert.deepEqual([...runs.keys()].sort(), [...FILES].sort());
    for (const [f, r] of runs) {
      assert.equal(r.version, 1);
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
      assert.equal(r.config.testSize, 32);
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
    assert.deepEqual(m.learningRates, { plain: 0.01, lsh_lsc: 0.01 });
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
    const r1 = await runSweep({
      config: cfg(),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
      stopAfterRuns: 1,
    });
    assert.equal(r1.ran, 1);
    assert.ok(r1.stopped);
    const first = await Deno.readTextFile(`${dir}/runs/${FILES[0]}`);
    const r2 = await runSweep({
      config: cfg(),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
    assert.equal(r2.skipped, 1);
    assert.equal(r2.ran, 3);
    assert.equal(
      await Deno.readTextFile(`${dir}/runs/${FILES[0]}`),
      first,
      "finished run untouched",
    );
    // a third pass has nothing to do
    const r3 = await runSweep({
      config: cfg(),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
    assert.equal(r3.ran, 0);
    assert.equal(r3.skipped, 4);
    // determinism: an independent sweep gives identical records (timings aside)
    await runSweep({
      config: cfg(),
      source: "test",
      outDir: dir2,
      backend: tsBackend,
      data: await data(),
    });
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
      await runSweep({
        config: cfg({ baseSeed: 5, variants: ["plain"], runs: 1 }),
        source: "test",
        outDir: dir3,
        backend: tsBackend,
        data: await data(),
      });
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
    const a = await runSweep({
      config: cfg(),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
      shard: { index: 0, count: 2 },
    });
    const b = await runSweep({
      config: cfg(),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
      shard: { index: 1, count: 2 },
    });
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
    const res = await runSweep({
      config: cfg({ lr: { default: 0.01, lsh_lsc: 1e20 }, runs: 1, epochs: 2 }),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
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
    await Deno.writeTextFile(`${dir}/runs/${FILES[0]}`, '{"version": 1, "config": {');
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
    await runSweep({
      config: cfg({ variants: ["plain"], runs: 1 }),
      source: "test",
      outDir: dir,
      backend: tsBackend,
      data: await data(),
    });
    await assert.rejects(
      runSweep({
        config: cfg({ variants: ["plain"], runs: 1, epochs: 3 }),
        source: "test",
        outDir: dir,
        backend: tsBackend,
        data: await data(),
      }),
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
