import assert from "node:assert/strict";
import { tsBackend } from "../src/backends/ts.ts";
import { ratesFor, readConfigFile, validateConfig } from "../src/experiment/config.ts";
import { plannedTrials, searchLearningRates, searchTrials } from "../src/experiment/lrsearch.ts";
import {
  type ExperimentManifest,
  parseRunFileName,
  runFileName,
} from "../src/experiment/record.ts";
import { prepareData, runSweep } from "../src/experiment/sweep.ts";
import { parseVariant } from "../src/variants.ts";

const OK = {
  name: "x",
  dataset: "mnist",
  architecture: "shiftlab-small",
  variants: ["plain", "bn"],
  lr: 0.01,
};
const checks = { variant: (v: string) => void parseVariant(v) };

Deno.test("experiment config: defaults are filled and per-variant rates resolve", () => {
  const c = validateConfig({ ...OK, lr: { default: 0.01, bn: [0.02, 0.04] } }, "t");
  assert.equal(c.batchSize, 32);
  assert.equal(c.momentum, 0.9);
  assert.equal(c.optimizer, "momentum");
  assert.equal(c.normalize, "per-element");
  assert.deepEqual(ratesFor(c, "plain"), [0.01]);
  assert.deepEqual(ratesFor(c, "bn"), [0.02, 0.04]);
});

Deno.test("experiment config: invalid configs give errors naming the source and the field", async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...OK, colour: 1 }, /cfg\.json: unknown field 'colour' \(expected: name, /],
    [{ ...OK, name: undefined }, /missing required field 'name'/],
    [{ ...OK, epochs: 0 }, /'epochs' must be a positive integer, got 0/],
    [{ ...OK, epochs: "3" }, /field 'epochs' must be number, got "3"/],
    [{ ...OK, dataset: "svhn" }, /unknown dataset 'svhn'/],
    [{ ...OK, variants: ["plain", "nope"] }, /nope/],
    [{ ...OK, variants: ["plain", "plain"] }, /variant 'plain' is listed twice/],
    [{ ...OK, lr: -1 }, /'lr' must be a positive number, got -1/],
    [{ ...OK, lr: { plain: 0.1 } }, /'lr' gives no rate for variant 'bn' and has no 'default'/],
    [{ ...OK, lr: { default: 0.1, lsh: 0.2 } }, /'lr' names 'lsh', which is not in 'variants'/],
    [{ ...OK, optimizer: "rmsprop" }, /unknown optimizer 'rmsprop'/],
    [{ ...OK, momentum: 1 }, /'momentum' must be in \[0, 1\)/],
    [{ ...OK, lrSearch: { anchor: [1] } }, /unknown field 'lrSearch\.anchor'/],
    [{ ...OK, name: "a b" }, /'name' must be letters/],
    [
      { ...OK, validation: "train" },
      /unknown validation 'train' \(expected one of: holdout, test\)/,
    ],
    [{ ...OK, validation: "test", holdOut: 10 }, /'holdOut' needs 'validation': "holdout"/],
    [
      { ...OK, normalize: "minmax" },
      /unknown normalize 'minmax' \(expected one of: per-element, none\)/,
    ],
  ];
  for (const [raw, re] of bad) assert.throws(() => validateConfig(raw, "cfg.json", checks), re);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.json`, "{ not json");
    await assert.rejects(readConfigFile(`${dir}/c.json`), /c\.json: not valid JSON/);
    await Deno.writeTextFile(`${dir}/d.json`, JSON.stringify({ ...OK, runs: 2 }));
    assert.equal((await readConfigFile(`${dir}/d.json`)).runs, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: lr search tries the 10^-i anchors, a grid around the best, then a higher bn grid", async () => {
  const tried: string[] = [];
  // a valley at 0.02 for plain and 0.08 for bn
  const r = await searchLearningRates({}, ["plain", "bn", "lsh"], (v, lr) => {
    tried.push(`${v}@${lr}`);
    return Promise.resolve(Math.abs(Math.log(lr / (v === "bn" ? 0.08 : 0.02))));
  });
  assert.deepEqual(tried, [
    "plain@0.1",
    "plain@0.01",
    "plain@0.001",
    "plain@0.0001",
    "plain@0.005",
    "plain@0.02", // 0.01 already known
    "bn@0.04",
    "bn@0.08",
    "bn@0.16",
  ]);
  assert.equal(r.mode, "thesis");
  assert.deepEqual(r.chosen, { plain: 0.02, bn: 0.08, lsh: 0.02 });
  assert.deepEqual(Object.keys(r.table.plain).length, 6);
  assert.equal(r.table.lsh, undefined, "thesis protocol: shift/scale variants are not searched");
  const g = await searchLearningRates(
    { plainGrid: [0.005, 0.01], bnGrid: [0.3] },
    ["plain"],
    (_v, lr) => Promise.resolve(lr),
  );
  assert.deepEqual(g.chosen, { plain: 0.005 });
  assert.equal(g.table.bn, undefined, "no bn variant, no bn search");
  // the progress counts trials only when the grids fix their number
  assert.equal(plannedTrials({}, ["plain", "bn", "lsh"]), null, "anchors first: open-ended");
  assert.equal(plannedTrials({ plainGrid: [0.005, 0.01], bnGrid: [0.3] }, ["plain"]), 2);
  const counted: string[] = [];
  const m = { plainGrid: [0.005, 0.01, 0.02, 0.01], bnMultipliers: [2, 4] };
  await searchLearningRates(m, ["plain", "bn", "sh"], (v, lr) => {
    counted.push(`${v}@${lr}`);
    return Promise.resolve(lr);
  });
  assert.equal(plannedTrials(m, ["plain", "bn", "sh"]), counted.length, counted.join(" "));
  assert.equal(counted.length, 5, "the repeated 0.01 is tried once");
  assert.equal(searchTrials(m, ["plain", "bn"]), null, "bn's rates follow plain's choice");
  assert.deepEqual(searchTrials(m, ["plain", "sh"])?.map((t) => t.lr), [0.005, 0.01, 0.02]);
  const both = { plainGrid: [0.01, 0.02], bnGrid: [0.04] };
  const seen: string[] = [];
  await searchLearningRates(both, ["plain", "bn+sh"], (v, lr) => {
    seen.push(`${v}@${lr}`);
    return Promise.resolve(lr);
  });
  assert.deepEqual(
    searchTrials(both, ["plain", "bn+sh"])?.map((t) => `${t.variant}@${t.lr}`),
    seen,
  );
  assert.equal(searchTrials({}, ["plain"]), null, "anchors first: not fixed");
  // stage by stage, each stage's new rates are announced before they are scored
  const stages: string[][] = [];
  const order: string[] = [];
  await searchLearningRates(
    { anchors: [0.1, 0.01], grid: [0.5, 1, 2], bnMultipliers: [2, 4] },
    ["plain", "bn"],
    (v, lr) => {
      order.push(`${v}@${lr}`);
      return Promise.resolve(Math.abs(Math.log(lr / 0.02)));
    },
    (trials) => {
      stages.push(trials.map((t) => `${t.variant}@${t.lr}`));
      return Promise.resolve();
    },
  );
  assert.deepEqual(stages, [
    ["plain@0.1", "plain@0.01"],
    ["plain@0.005", "plain@0.02"], // 0.01 is known
    ["bn@0.04", "bn@0.08"],
  ]);
  assert.deepEqual(order, stages.flat(), "every announced rate is scored, nothing else");
  assert.deepEqual(parseRunFileName(runFileName("csh+csc+ddi", 0.005, 3)), {
    variant: "csh+csc+ddi",
    lr: 0.005,
    run: 3,
  });
  for (const bad of ["plain__lr0__run0.json", "plain__lrx__run0.json", "plain.json"]) {
    assert.equal(parseRunFileName(bad), null, bad);
  }
});

Deno.test("experiment: per-variant lr search gives every variant the same grid and budget", async () => {
  const tried: string[] = [];
  // valleys: plain 0.01, bn 0.04, lsh 0.02
  const best: Record<string, number> = { plain: 0.01, bn: 0.04, lsh: 0.02 };
  const r = await searchLearningRates(
    { mode: "per-variant", plainGrid: [0.005, 0.01, 0.02], bnGrid: [0.02, 0.04, 0.08] },
    ["plain", "bn", "lsh"],
    (v, lr) => {
      tried.push(`${v}@${lr}`);
      return Promise.resolve(Math.abs(Math.log(lr / best[v])));
    },
  );
  assert.equal(r.mode, "per-variant");
  assert.deepEqual(r.chosen, best);
  const grid = ["0.005", "0.01", "0.02", "0.04", "0.08"];
  for (const v of ["plain", "bn", "lsh"]) {
    assert.deepEqual(Object.keys(r.table[v]).sort(), [...grid].sort(), `${v}: the union grid`);
  }
  assert.equal(tried.length, 15, "same budget: 5 rates for each of the 3 variants");
  assert.equal(
    plannedTrials(
      { mode: "per-variant", plainGrid: [0.005, 0.01, 0.02], bnGrid: [0.02, 0.04, 0.08] },
      ["plain", "bn", "lsh"],
    ),
    15,
  );
  assert.equal(plannedTrials({ mode: "per-variant" }, ["plain"]), null);
  // the grids fix every trial in advance: the list a packed search trains side by side
  const fixed = searchTrials(
    { mode: "per-variant", plainGrid: [0.005, 0.01, 0.02], bnGrid: [0.02, 0.04, 0.08] },
    ["plain", "bn", "lsh"],
  );
  assert.deepEqual(fixed?.map((t) => `${t.variant}@${t.lr}`).sort(), [...tried].sort());
  assert.throws(
    () => validateConfig({ ...OK, lrSearch: { mode: "fair" } }, "c", checks),
    /unknown lrSearch\.mode "fair" \(expected one of: thesis, per-variant\)/,
  );
  assert.throws(
    () => validateConfig({ ...OK, lrSearch: { perVariantGrid: [0.1] } }, "c", checks),
    /'lrSearch\.perVariantGrid' needs 'lrSearch\.mode': "per-variant"/,
  );
});

Deno.test("experiment: a sweep with lrSearch records the trials and trains at the chosen rates", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = validateConfig(
      {
        ...OK,
        variants: ["plain", "bn", "lsh"],
        lrSearch: { plainGrid: [0.001, 0.05], bnMultipliers: [2] },
        epochs: 1,
        batchSize: 16,
        trainSubset: 64,
        testSubset: 64,
        holdOut: 64,
      },
      "t",
      checks,
    );
    const res = await runSweep({
      config,
      source: "t",
      outDir: dir,
      backend: tsBackend,
      data: await prepareData(config),
    });
    const m: ExperimentManifest = JSON.parse(await Deno.readTextFile(`${dir}/experiment.json`));
    const plainTable = m.lrSearch!.trials.plain;
    const best = Object.entries(plainTable).sort((a, b) => a[1] - b[1])[0][0];
    assert.deepEqual(m.learningRates.plain, [Number(best)]);
    assert.deepEqual(m.learningRates.lsh, [Number(best)], "shift/scale variants use plain's rate");
    assert.deepEqual(m.learningRates.bn, [Number(best) * 2]);
    assert.equal(m.lrSearch!.mode, "thesis");
    assert.equal(res.ran, 3);
    const trials = (await Array.fromAsync(Deno.readDir(`${dir}/search`))).map((e) => e.name).sort();
    assert.equal(trials.length, 3);
    // rerun: trials are reused, nothing retrained
    const again = await runSweep({
      config,
      source: "t",
      outDir: dir,
      backend: tsBackend,
      data: await prepareData(config),
    });
    assert.equal(again.ran, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
