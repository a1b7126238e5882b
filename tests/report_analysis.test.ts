import assert from "node:assert/strict";
import { join } from "node:path";
import { analyzeExperiment, defaultTarget, variantFamily } from "../src/report/analysis.ts";
import { combinesBnWithShiftScale } from "../src/report/findings.ts";
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

Deno.test("analysis: complete sweep — counts, best variant, target and pace from full data", async () => {
  await withTemp(async (root) => {
    const exp = await loadExperiment(
      await writeFixture(root, { runs: 3, epochs: 3, stepsPerEpoch: 200 }),
    );
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files, { resamples: 2000 });
    assert.equal(a.partial, false);
    assert.equal(a.finishedRuns, 18);
    assert.equal(a.plannedRuns, 18);
    assert.deepEqual(a.groups.map((g) => g.name), ["plain", "bn", "sh", "csh", "lsh", "lsh_lsc"]);
    assert.ok(a.groups.every((g) => g.chosen), "one rate per variant: each is its analysed rate");
    assert.equal(
      a.best?.variant,
      "bn",
      "the fastest-decaying fixture variant has the lowest error",
    );

    // The default time-to-target target is plain's mean final validation error.
    const plain = exp.records.filter((r) => r.config.variant === "plain");
    assert.ok(Math.abs(a.target! - mean(plain.map((r) => r.valError.at(-1)!))) < 1e-12);
    assert.match(a.targetSource, /plain's mean final validation error/);

    const pv = a.groups[0];
    const paces = plain.map((r) => areaUnderCurve(ema(r.trainError)));
    assert.ok(Math.abs(pv.pace.mean - mean(paces)) < 1e-9, "pace: mean bias-corrected EMA area");
    assert.equal(pv.runs[0].steps, 600);
    assert.equal(pv.curves!.trainError.x.length, 600, "600 steps fit in 1500 plotted points");
    assert.equal(pv.curves!.valError.x.length, 3);
    assert.deepEqual(pv.runs.map((r) => r.seed), [1000, 1001, 1002]);
    assert.ok(Math.abs(pv.testError.mean - mean(plain.map((r) => r.testError!))) < 1e-12);
    assert.equal(a.hasTest, true);
    assert.equal(pv.iqm, null, "IQM needs at least 10 runs");
    // Time-to-target of one run, by hand: first epoch at or below the target.
    const r0 = plain[0];
    const e = r0.valError.findIndex((x) => x <= a.target!);
    assert.deepEqual(
      pv.runs[0].timeToTarget,
      e < 0 ? null : {
        epoch: e + 1,
        steps: (e + 1) * 200,
        seconds: r0.epochSeconds.slice(0, e + 1).reduce((x, y) => x + y, 0),
      },
    );
    assert.deepEqual(a.comparisons.map((t) => t.reference), ["plain", "bn"]);
    assert.equal(a.comparisons[0].rows.length, 5);
    assert.equal(a.comparisons[1].rows.length, 5);
    assert.ok(a.comparisons[0].rows.every((r) => r.finalValError?.verdict === "too few seeds"));
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
    const v = a.groups[1];
    assert.equal(v.curves!.trainError.x.length, 500);
    assert.equal(v.curves!.trainError.x[499], 3000, "the last step is kept");
    assert.equal(v.runCurves[0].trainError.x.length, 100);
    assert.equal(v.runs[0].steps, 3000);
    const rec = exp.records.find((r) => r.config.variant === "lsh" && r.config.run === 0)!;
    assert.ok(Math.abs(v.runs[0].pace - areaUnderCurve(ema(rec.trainError))) < 1e-9);
  });
});

Deno.test("analysis: at 6 seeds a faster variant is marked faster; a copy of plain is not", async () => {
  await withTemp(async (root) => {
    const exp = await loadExperiment(
      await writeFixture(root, {
        variants: ["plain", "lsh_lsc", "twin"],
        runs: 6,
        epochs: 3,
        stepsPerEpoch: 200,
        copyOfPlain: ["twin"],
      }),
    );
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files);
    const rows = a.comparisons[0].rows;
    const fast = rows.find((c) => c.variant === "lsh_lsc")!;
    assert.equal(fast.pace!.verdict, "faster");
    assert.ok(fast.pace!.hi! < 0);
    assert.ok(fast.pace!.pHolm! < 0.05 && fast.pace!.pHolm! >= fast.pace!.p!);
    assert.equal(fast.pace!.signFlipP, 2 / 64, "every seed faster: 2 of 2^6 sign patterns");
    assert.deepEqual(fast.pace!.seeds, [1000, 1001, 1002, 1003, 1004, 1005]);
    assert.equal(fast.finalValError!.probabilityOfImprovement, 1);
    const twin = rows.find((c) => c.variant === "twin")!;
    assert.equal(twin.pace!.mean, 0);
    assert.equal(twin.pace!.verdict, "no clear difference");
    assert.equal(twin.finalValError!.verdict, "no clear difference");
    assert.equal(twin.finalValError!.probabilityOfImprovement, 0.5, "all ties");
    assert.equal(a.family.size, 4, "2 variants × 2 metrics; no finding has its variants");
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
    const sh = a.groups.find((g) => g.name === "sh")!;
    assert.equal(sh.finished, 3);
    assert.equal(sh.runs[1].divergedAtStep, 150);
    assert.equal(sh.runs[1].testError, null, "a diverged run has no test measurement");
    assert.equal(sh.finalValError.n, 2, "the diverged run is not averaged");
    assert.equal(sh.curves!.trainError.runs, 2);
    const cmp = a.comparisons[0].rows.find((c) => c.variant === "sh")!;
    assert.deepEqual(cmp.droppedSeeds, [1001]);
    assert.deepEqual(cmp.pace!.seeds, [1000, 1002]);
    assert.equal(cmp.pace!.verdict, "too few seeds", "two seeds give no verdict");
    assert.equal(cmp.finalValError!.verdict, "too few seeds");
    const lsh = a.groups.find((g) => g.name === "lsh")!;
    assert.equal(lsh.curves, null, "every run diverged: no mean curve");
    assert.equal(lsh.runCurves.length, 3, "but the drill-down still shows each run");
    assert.equal(a.comparisons[0].rows.find((c) => c.variant === "lsh")!.pace, null);
    const bn = a.comparisons[0].rows.find((c) => c.variant === "bn")!;
    assert.deepEqual(bn.droppedSeeds, [1002]);
  });
});

Deno.test("analysis: several rates per variant are groups; the best on validation is chosen", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, {
      variants: ["plain", "sh"],
      runs: 2,
      epochs: 2,
      stepsPerEpoch: 50,
    });
    // plain also ran at 0.02 (planned), with a lower validation error; and a stray record at
    // 0.05 that the plan does not contain.
    const m = JSON.parse(await Deno.readTextFile(join(dir, "experiment.json")));
    m.learningRates.plain = [0.01, 0.02];
    m.plannedRuns = 6;
    await Deno.writeTextFile(join(dir, "experiment.json"), JSON.stringify(m));
    for (const run of [0, 1]) {
      const r = makeRecord("quick-mnist", "plain", run, 1000 + run, 2, 50, 100, null);
      r.config.lr = 0.02;
      await Deno.writeTextFile(
        join(dir, "runs", `plain__lr0.02__run${run}.json`),
        JSON.stringify(r),
      );
    }
    const stray = makeRecord("quick-mnist", "plain", 0, 1000, 2, 50, 300, null);
    stray.config.lr = 0.05;
    await Deno.writeTextFile(join(dir, "runs", "plain__lr0.05__run0.json"), JSON.stringify(stray));
    const exp = await loadExperiment(dir);
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files);
    assert.deepEqual(a.groups.map((g) => g.name), ["plain @ 0.01", "plain @ 0.02", "sh"]);
    assert.deepEqual(a.groups.map((g) => g.chosen), [false, true, true]);
    assert.ok(a.groups.every((g) => g.finished === 2));
    assert.equal(a.partial, false);
    assert.ok(a.notes.some((n) => /plain at lr 0\.05 is not in this experiment's plan/.test(n)));
    assert.deepEqual(a.comparisons[0].rows.map((r) => r.group), ["sh"]);
    const s = a.sensitivity.find((c) => c.variant === "plain")!;
    assert.deepEqual(s.points.map((p) => p.lr), [0.01, 0.02]);
    assert.equal(s.chosenLr, 0.02);
  });
});

Deno.test("analysis: the default target is the reference's final validation error", () => {
  const t = defaultTarget([
    { variant: "sh", meanFinalValError: 0.05 },
    { variant: "bn", meanFinalValError: 0.02 },
    { variant: "plain", meanFinalValError: 0.04 },
  ]);
  assert.equal(t.target, 0.04);
  assert.match(t.source, /plain/);
  assert.equal(defaultTarget([{ variant: "bn", meanFinalValError: 0.02 }]).target, 0.02);
  assert.equal(defaultTarget([{ variant: "sh", meanFinalValError: 0.03 }]).target, 0.03);
  assert.equal(defaultTarget([]).target, null);
});

Deno.test("variantFamily: SPEC §1 abbreviations map to their sharing family", () => {
  const fam = (names: string[]) => names.map(variantFamily);
  assert.deepEqual(fam(["plain", "bn"]), ["baseline", "baseline"]);
  assert.deepEqual(fam(["sh", "sc", "sh_sc", "sh4", "psc"]), Array(5).fill("elementwise"));
  assert.deepEqual(fam(["csh", "csc", "csh_csc", "csh8", "cpsc"]), Array(5).fill("channelwise"));
  assert.deepEqual(fam(["lsh", "lsc", "lsh_lsc", "lpsc"]), Array(4).fill("layerwise"));
  assert.deepEqual(fam(["biased2", "biased16"]), ["bias learning rate", "bias learning rate"]);
  assert.equal(variantFamily("mystery"), "other");
  assert.deepEqual(fam(["lsh+lsc", "sc+sh", "lsh4"]), ["layerwise", "elementwise", "layerwise"]);
});

Deno.test("variantFamily: the later methods (SPEC §1b) are families of their own", () => {
  const fam = (names: string[]) => names.map(variantFamily);
  assert.deepEqual(
    fam(["gn", "ln", "ws", "bn+lsh+lsc", "gn+csh+csc"]),
    Array(5).fill("normalisation"),
  );
  assert.deepEqual(
    fam(["csh+csc+ddi", "bn+lsh+lsc+ddi", "sc+ddi"]),
    Array(3).fill("data-dependent initialisation"),
  );
  assert.deepEqual(fam(["csh+csc+frozen", "bn+frozen"]), ["frozen", "frozen"]);
  assert.deepEqual(
    fam(["skipinit", "rezero", "layerscale", "fixup", "bn+skipinit", "lsh+lsc+fixup"]),
    Array(6).fill("residual gates"),
  );
  assert.deepEqual(fam(["lsh+csc", "sh+biased4"]), ["other", "other"]);
});

Deno.test("analysis: grouped views gain the new families; bn+shift/scale is the bn-combined claim's", async () => {
  await withTemp(async (root) => {
    const exp = await loadExperiment(
      await writeFixture(root, {
        variants: [
          "plain",
          "bn",
          "lsh_lsc",
          "bn+lsh+lsc",
          "gn",
          "csh+csc+ddi",
          "bn+frozen",
          "skipinit",
        ],
        runs: 5,
        epochs: 2,
        stepsPerEpoch: 40,
      }),
    );
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files);
    assert.deepEqual(a.views.map((v) => [v.id, v.variants.slice(2)]), [
      ["layerwise", ["lsh_lsc"]],
      ["normalisation", ["bn+lsh+lsc", "gn"]],
      ["data-dependent-initialisation", ["csh+csc+ddi"]],
      ["frozen", ["bn+frozen"]],
      ["residual-gates", ["skipinit"]],
    ]);
    assert.ok(a.views.every((v) => v.title.startsWith("plain and bn against ")));
    // Every new variant is compared with plain and bn, paired by seed.
    for (const table of a.comparisons) {
      const rows = table.rows.map((r) => r.variant);
      for (const v of ["bn+lsh+lsc", "gn", "csh+csc+ddi", "bn+frozen", "skipinit"]) {
        assert.ok(rows.includes(v), `${v} against ${table.reference}`);
      }
      const r = table.rows.find((x) => x.variant === "gn")!;
      assert.deepEqual(r.finalValError!.seeds, [1000, 1001, 1002, 1003, 1004]);
    }
    const combined = a.findings.find((f) => f.id === "bn-combined-no-help")!;
    assert.deepEqual(combined.checks.map((c) => c.label), [
      "bn+lsh+lsc − bn, final validation error",
    ]);
  });
  assert.equal(combinesBnWithShiftScale("bn+csh+csc+ddi"), true);
  assert.equal(combinesBnWithShiftScale("lsh_lsc+bn"), true);
  assert.equal(combinesBnWithShiftScale("bn+frozen"), false);
  assert.equal(combinesBnWithShiftScale("gn+lsh+lsc"), false);
  assert.equal(combinesBnWithShiftScale("mystery"), false);
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
    /r\.json: record version 99 is not supported \(expected one of 1, 2\)/,
  );
  // A version 1 record (before the validation split) reads as validated on the test set.
  const v1 = makeRecord("e", "plain", 0, 1, 1, 4, 10, null) as unknown as Record<string, unknown>;
  const cfg = { ...(v1.config as Record<string, unknown>) };
  delete cfg.validation;
  delete cfg.valSize;
  const old = { ...v1, version: 1, config: cfg };
  delete (old as Record<string, unknown>).testError;
  delete (old as Record<string, unknown>).testLoss;
  const read = parseRunRecord(old, "v1.json");
  assert.equal(read.config.validation, "test");
  assert.equal(read.config.valSize, 1000);
  assert.equal(read.testError, null);
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
    "variant,lr,run,seed,epoch,step,val_loss,val_error,test_loss,test_error,epoch_seconds," +
      "diverged_at_step",
  );
  assert.equal(lines.length, 1 + 3 + 1, "the diverged run has one finished epoch");
  const row = lines[2].split(",");
  assert.deepEqual(row.slice(0, 6), ["plain", "0.01", "0", "1000", "2", "20"]);
  assert.equal(Number(row[7]), a.valError[1]);
  assert.equal(row[9], "", "the test error is on the last epoch's row only");
  assert.equal(Number(lines[3].split(",")[9]), a.testError);
  assert.equal(row[11], "");
  assert.equal(lines[4].split(",")[11], "15");
  const c = { ...a, valLoss: [NaN, 1, 2] };
  assert.equal(epochCsv([c]).split("\n")[1].split(",")[6], "NaN");
});
