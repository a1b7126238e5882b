import assert from "node:assert/strict";
import { join } from "node:path";
import { analyzeExperiment, defaultThreshold, variantFamily } from "../src/report/analysis.ts";
import { epochCsv } from "../src/report/csv.ts";
import { loadExperiment, parseRunRecord } from "../src/report/load.ts";
import { areaUnderCurve, ema, mean } from "../src/report/stats.ts";
import { makeRecord, writeFixture } from "./report_fixtures.ts";

async function withTemp<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const root = await Deno.makeTempDir({ prefix: "shiftlab-report-" });
  try {
    return await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("analysis: complete sweep — counts, best variant, threshold and pace from full data", async () => {
  await withTemp(async (root) => {
    const exp = await loadExperiment(
      await writeFixture(root, { runs: 3, epochs: 3, stepsPerEpoch: 200 }),
    );
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files, { resamples: 2000 });
    assert.equal(a.partial, false);
    assert.equal(a.finishedRuns, 18);
    assert.equal(a.plannedRuns, 18);
    assert.deepEqual(a.variants.map((v) => v.name), ["plain", "bn", "sh", "csh", "lsh", "lsh_lsc"]);
    assert.equal(
      a.best?.variant,
      "bn",
      "the fastest-decaying fixture variant has the lowest error",
    );

    // The default threshold is plain's mean EMA training error at the midpoint step.
    const plain = exp.records.filter((r) => r.config.variant === "plain");
    const emas = plain.map((r) => ema(r.trainError));
    const mid = Math.floor((600 - 1) / 2);
    assert.ok(Math.abs(a.threshold! - mean(emas.map((e) => e[mid]))) < 1e-12);
    assert.match(a.thresholdSource, /plain/);

    const pv = a.variants[0];
    const paces = emas.map(areaUnderCurve);
    assert.ok(Math.abs(pv.pace.mean - mean(paces)) < 1e-9, "pace is the mean EMA-error area");
    assert.equal(pv.runs[0].steps, 600);
    assert.equal(pv.curves!.trainError.x.length, 600, "600 steps fit in 1500 plotted points");
    assert.equal(pv.curves!.valError.x.length, 3);
    assert.deepEqual(pv.runs.map((r) => r.seed), [1000, 1001, 1002]);
  });
});

Deno.test("analysis: plotted curves are downsampled, statistics are not", async () => {
  await withTemp(async (root) => {
    const exp = await loadExperiment(
      await writeFixture(root, {
        variants: ["plain", "lsh"],
        runs: 2,
        epochs: 2,
        stepsPerEpoch: 1500,
      }),
    );
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files, {
      maxPoints: 500,
      maxRunPoints: 100,
    });
    const v = a.variants[1];
    assert.equal(v.curves!.trainError.x.length, 500);
    assert.equal(v.curves!.trainError.x[499], 3000, "the last step is kept");
    assert.equal(v.runCurves[0].trainError.x.length, 100);
    assert.equal(v.runs[0].steps, 3000);
    const rec = exp.records.find((r) => r.config.variant === "lsh" && r.config.run === 0)!;
    assert.ok(Math.abs(v.runs[0].pace - areaUnderCurve(ema(rec.trainError))) < 1e-9);
  });
});

Deno.test("analysis: a faster variant is marked faster; a copy of plain gets an interval containing zero", async () => {
  await withTemp(async (root) => {
    const exp = await loadExperiment(
      await writeFixture(root, {
        variants: ["plain", "lsh_lsc", "twin"],
        runs: 4,
        epochs: 3,
        stepsPerEpoch: 200,
        copyOfPlain: ["twin"],
      }),
    );
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files);
    const fast = a.comparisons!.find((c) => c.variant === "lsh_lsc")!;
    assert.equal(fast.paceVerdict, "faster");
    assert.ok(fast.pace!.hi < 0);
    assert.deepEqual(fast.seeds, [1000, 1001, 1002, 1003]);
    const twin = a.comparisons!.find((c) => c.variant === "twin")!;
    for (const ci of [twin.pace!, twin.finalValError!, twin.stepsToThreshold!]) {
      assert.ok(ci.lo <= 0 && ci.hi >= 0, `interval [${ci.lo}, ${ci.hi}] contains zero`);
    }
    assert.equal(twin.paceVerdict, "no clear difference");
    assert.equal(twin.valVerdict, "no clear difference");
  });
});

Deno.test("analysis: partial sweep with diverged runs — excluded from statistics, seeds dropped", async () => {
  await withTemp(async (root) => {
    const exp = await loadExperiment(
      await writeFixture(root, {
        variants: ["plain", "bn", "sh", "lsh"],
        runs: 3,
        epochs: 3,
        stepsPerEpoch: 100,
        missing: ["bn/2"],
        diverge: { "sh/1": 150, "lsh/0": 5, "lsh/1": 5, "lsh/2": 5 },
      }),
    );
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files);
    assert.equal(a.partial, true);
    assert.equal(a.finishedRuns, 11);
    const sh = a.variants.find((v) => v.name === "sh")!;
    assert.equal(sh.finished, 3);
    assert.equal(sh.runs[1].divergedAtStep, 150);
    assert.equal(sh.finalValError.n, 2, "the diverged run is not averaged");
    assert.equal(sh.curves!.trainError.runs, 2);
    const cmp = a.comparisons!.find((c) => c.variant === "sh")!;
    assert.deepEqual(cmp.droppedSeeds, [1001]);
    assert.deepEqual(cmp.seeds, [1000, 1002]);
    assert.equal(cmp.paceVerdict, "too few seeds", "two seeds give no verdict");
    assert.equal(cmp.valVerdict, "too few seeds");
    const lsh = a.variants.find((v) => v.name === "lsh")!;
    assert.equal(lsh.curves, null, "every run diverged: no mean curve");
    assert.equal(lsh.runCurves.length, 3, "but the drill-down still shows each run");
    assert.equal(a.comparisons!.find((c) => c.variant === "lsh")!.paceVerdict, "too few seeds");
    const bn = a.comparisons!.find((c) => c.variant === "bn")!;
    assert.deepEqual(bn.droppedSeeds, [1002]);
  });
});

Deno.test("analysis: runs at other learning rates are search runs, not analysed", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, {
      variants: ["plain", "sh"],
      runs: 2,
      epochs: 2,
      stepsPerEpoch: 50,
    });
    const extra = makeRecord("quick-mnist", "plain", 0, 1000, 2, 50, 300, null);
    extra.config.lr = 0.02;
    await Deno.writeTextFile(join(dir, "runs", "plain__lr0.02__run0.json"), JSON.stringify(extra));
    const exp = await loadExperiment(dir);
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files);
    const plain = a.variants[0];
    assert.equal(plain.finished, 2);
    assert.equal(plain.otherLrRuns, 1);
    assert.ok(plain.runs.every((r) => r.lr === 0.01));
  });
});

Deno.test("analysis: without plain there is no comparison and the threshold is a median", () => {
  const t = defaultThreshold([
    { name: "sh", curve: [0.9, 0.5, 0.1] },
    { name: "lsh", curve: [0.9, 0.3, 0.1] },
    { name: "bn", curve: [0.9, 0.2, 0.1] },
  ]);
  assert.equal(t.threshold, 0.3);
  assert.match(t.source, /median/);
  assert.equal(defaultThreshold([{ name: "plain", curve: [0.8, 0.4, 0.2, 0.1] }]).threshold, 0.4);
  assert.equal(defaultThreshold([]).threshold, null);
});

Deno.test("variantFamily: SPEC §1 abbreviations map to their sharing family", () => {
  const fam = (names: string[]) => names.map(variantFamily);
  assert.deepEqual(fam(["plain", "bn"]), ["baseline", "baseline"]);
  assert.deepEqual(fam(["sh", "sc", "sh_sc", "sh4", "psc"]), Array(5).fill("elementwise"));
  assert.deepEqual(fam(["csh", "csc", "csh_csc", "csh8", "cpsc"]), Array(5).fill("channelwise"));
  assert.deepEqual(fam(["lsh", "lsc", "lsh_lsc", "lpsc"]), Array(4).fill("layerwise"));
  assert.deepEqual(fam(["biased2", "biased16"]), ["bias learning rate", "bias learning rate"]);
  assert.equal(variantFamily("mystery"), "other");
});

Deno.test("load: unreadable records are listed naming the file and the field; null reads as NaN", async () => {
  await withTemp(async (root) => {
    await assert.rejects(
      loadExperiment(root),
      /is not an experiment folder: expected .*experiment\.json/,
    );
    const dir = await writeFixture(root, {
      variants: ["plain"],
      runs: 1,
      epochs: 1,
      stepsPerEpoch: 20,
    });
    const file = join(dir, "runs", "plain__lr0.01__run0.json");
    const rec = JSON.parse(await Deno.readTextFile(file));
    rec.trainLoss[3] = null; // what JSON.stringify writes for NaN
    rec.divergedAtStep = 3;
    await Deno.writeTextFile(file, JSON.stringify(rec));
    const exp = await loadExperiment(dir);
    assert.ok(Number.isNaN(exp.records[0].trainLoss[3]));

    // a record that cannot be read is left out and listed, naming the file and the field
    delete rec.config.seed;
    await Deno.writeTextFile(file, JSON.stringify(rec));
    let bad = await loadExperiment(dir);
    assert.equal(bad.records.length, 0);
    assert.deepEqual(bad.unreadable, [{
      file: join("runs", "plain__lr0.01__run0.json"),
      reason: 'field "config.seed" must be a number, got nothing',
    }]);
    await Deno.writeTextFile(file, "{ not json");
    bad = await loadExperiment(dir);
    assert.match(bad.unreadable[0].reason, /^not valid JSON/);
    await Deno.writeTextFile(join(dir, "runs", "x.json.tmp"), "partial write");
    await Deno.remove(file);
    const none = await loadExperiment(dir);
    assert.equal(none.records.length + none.unreadable.length, 0, "temporary files are ignored");
  });
  assert.throws(
    () => parseRunRecord({ version: 99 }, "r.json"),
    /r\.json: record version 99 is not the supported version 1/,
  );
  const good = makeRecord("e", "plain", 0, 1, 1, 4, 10, null);
  assert.throws(
    () => parseRunRecord({ ...good, valLoss: [1, 2] }, "r.json"),
    /valLoss has 2 entries but valError 1/,
  );
  assert.throws(
    () => parseRunRecord({ ...good, trainError: ["x"] }, "r.json"),
    /trainError\[0\] must be a number or null/,
  );
});

Deno.test("csv: one row per run and epoch with the step at the epoch's end", () => {
  const a = makeRecord("e", "plain", 0, 1000, 3, 10, 50, null);
  const b = makeRecord("e", "sh", 1, 1001, 3, 10, 50, 15);
  const csv = epochCsv([a, b]);
  const lines = csv.trimEnd().split("\n");
  assert.equal(
    lines[0],
    "variant,lr,run,seed,epoch,step,val_loss,val_error,epoch_seconds,diverged_at_step",
  );
  assert.equal(lines.length, 1 + 3 + 1, "the diverged run has one finished epoch");
  const row = lines[2].split(",");
  assert.deepEqual(row.slice(0, 6), ["plain", "0.01", "0", "1000", "2", "20"]);
  assert.equal(Number(row[7]), a.valError[1]);
  assert.equal(row[9], "");
  assert.equal(lines[4].split(",")[9], "15");
  const c = { ...a, valLoss: [NaN, 1, 2] };
  assert.equal(epochCsv([c]).split("\n")[1].split(",")[6], "NaN");
});
