import assert from "node:assert/strict";
import { main, parseCli, workerArgs } from "../experiments/cli.ts";
import { EXPERIMENT_PRESETS } from "../experiments/presets.ts";
import { validateConfig } from "../src/experiment/config.ts";
import { type ArchitectureRef, resolveArchitecture } from "../src/architectures.ts";
import { canonicalVariant, countParameters, parseVariant } from "../src/variants.ts";
import { runDeno, silenced } from "./cli_helpers.ts";

const CLI = new URL("../experiments/cli.ts", import.meta.url).pathname;
const TINY = [
  "--variants",
  "plain,lsh_lsc",
  "--runs",
  "2",
  "--epochs",
  "1",
  "--batch",
  "16",
  "--train-subset",
  "160",
  "--test-subset",
  "32",
  "--backend",
  "ts",
  "--progress",
  "plain",
];

function cli(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

/** The finished records in `dir/runs` (a record being written is a hidden `.tmp` file). */
async function runFiles(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(`${dir}/runs`))).map((e) => e.name)
      .filter((n) => n.endsWith(".json")).sort();
  } catch {
    return [];
  }
}

Deno.test("experiment CLI: mistakes exit 2 with the error and a hint, not the usage text", async () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /Unknown option '--bogus'/],
    [["--runs", "0"], /--runs must be a positive integer, got '0'/],
    [["--runs", "x"], /--runs must be a positive integer/],
    [["--threads", "0"], /--threads must be a positive integer, got '0'/],
    [["--workers", "two"], /--workers must be a positive integer, got 'two'/],
    [["--shard", "2/2"], /--shard 2\/2: need 0 <= i < n/],
    [["--shard", "a"], /--shard must look like i\/n/],
    [["--backend", "gpu"], /--backend must be auto, ts, cpu or cuda, got 'gpu'/],
    [["--preset", "nope"], /unknown preset 'nope' \(expected one of: quick, initial/],
    [["--variants", "plain,xyz"], /xyz/],
    [["--lr", "0.1,abc"], /--lr must be a comma-separated list of positive numbers/],
    [["--dataset", "svhn"], /--dataset must be one of mnist, fashion-mnist, cifar10, cifar100/],
    [["--preset", "quick", "--config", "x.json"], /give --preset or --config, not both/],
    [["--config", "/nonexistent/x.json"], /\/nonexistent\/x\.json: cannot read config/],
    [["--resume"], /--resume needs --out DIR/],
    [["stray"], /positional|Unexpected argument/i],
  ];
  for (const [args, re] of cases) {
    const { value, err } = await silenced(() => main(args));
    assert.equal(value, 2, args.join(" "));
    assert.match(err, re, args.join(" "));
    assert.match(err, /^error: .*\nrun with --help for the options\n$/, args.join(" "));
    assert.doesNotMatch(err, /usage: deno task experiment/, args.join(" "));
  }
  const { value, out } = await silenced(() => main(["--help"]));
  assert.equal(value, 0);
  assert.match(out, /--shard i\/n/);
  // and as a real process
  const p = await cli(["--workers", "-1"]).output();
  assert.equal(p.code, 2);
  assert.equal(
    new TextDecoder().decode(p.stderr),
    "error: Option '--workers' argument is ambiguous. Did you forget to specify the option " +
      "argument for '--workers'? To specify an option argument starting with a dash use " +
      "'--workers=-XYZ'.\nrun with --help for the options\n",
  );
});

Deno.test("experiment CLI: overrides reach the config; every preset is valid", async () => {
  const a = (await parseCli([
    "--preset",
    "initial",
    "--lr",
    "0.1,0.2",
    "--variants",
    "plain,bn",
    "--runs",
    "3",
  ]))!;
  assert.deepEqual(a.config.lr, [0.1, 0.2]);
  assert.equal(a.config.lrSearch, undefined, "--lr turns the search off");
  assert.deepEqual(a.config.variants, ["plain", "bn"]);
  assert.equal(a.config.runs, 3);
  assert.equal(a.outDir, "results/initial");
  assert.equal(a.report, true);
  // What ran differs from the preset: recorded for the page's description.
  assert.ok(a.overrides.includes("runs: 4 → 3"), a.overrides.join("; "));
  assert.ok(a.overrides.some((o) => o.startsWith('lr: {"default":0.01,"bn":0.04} → [0.1,0.2]')));
  assert.ok(a.overrides.some((o) => o.startsWith("lrSearch: ") && o.endsWith("→ none")));
  assert.ok(a.overrides.some((o) => o.startsWith("variants: ")));
  const q = (await parseCli([]))!;
  assert.equal(q.source, "quick");
  assert.equal(q.config.variants.length, 11);
  assert.ok(q.config.runs >= 5, "the quick default runs enough seeds for verdicts");
  assert.equal(q.config.validation, "holdout", "the quick default validates on a held-out split");
  assert.deepEqual(q.overrides, []);
  assert.equal((await parseCli(["--shard", "1/4"]))!.report, false);
  const checks = {
    variant: (v: string) => void parseVariant(v),
    architecture: (a: ArchitectureRef) =>
      void resolveArchitecture(a, { inputShape: [3, 32, 32], classes: 10 }),
  };
  for (const [name, raw] of Object.entries(EXPERIMENT_PRESETS)) {
    const c = validateConfig(raw, name, checks);
    assert.equal(c.name, name);
  }
  assert.deepEqual(
    workerArgs(
      ["--preset", "quick", "--workers", "2", "--threads=1", "--out", "x", "--backend", "auto"],
      1,
      2,
      "/abs/x",
      "cpu",
    ),
    ["--preset", "quick", "--worker", "1/2", "--out", "/abs/x", "--no-report", "--backend", "cpu"],
  );
});

Deno.test("experiment CLI: --variants takes compositions in any spelling; --agc λ", async () => {
  const a = (await parseCli(["--variants", "plain,sc+sh,frozen+bn", "--agc", "0.01"]))!;
  assert.deepEqual(a.config.variants, ["plain", "sh_sc", "bn+frozen"]);
  assert.equal(a.config.agc, 0.01);
  assert.ok(a.overrides.includes("agc: none → 0.01"), a.overrides.join("; "));
  await assert.rejects(parseCli(["--agc", "0"]), /--agc must be a positive number .*got '0'/);
  await assert.rejects(
    parseCli(["--variants", "bn+gn"]),
    /variant 'bn\+gn': two components of kind normalisation/,
  );
  await assert.rejects(
    parseCli(["--variants", "sh_sc,sh+sc"]),
    /variant 'sh_sc' is listed twice/,
  );
  await assert.rejects(
    parseCli(["--variants", "skipinit"]),
    /variant .skipinit.: the residual gate .skipinit. needs a residual architecture .*.shiftlab-small. has none/,
  );
});

Deno.test("every preset lists canonical variant names that build on its network (dry run)", () => {
  const shapes: Record<string, { inputShape: number[]; classes: number }> = {
    mnist: { inputShape: [1, 28, 28], classes: 10 },
    "fashion-mnist": { inputShape: [1, 28, 28], classes: 10 },
    cifar10: { inputShape: [3, 32, 32], classes: 10 },
    cifar100: { inputShape: [3, 32, 32], classes: 100 },
  };
  for (const [name, raw] of Object.entries(EXPERIMENT_PRESETS)) {
    const written = (raw as { variants: string[] }).variants;
    const c = validateConfig(raw, name, { variant: canonicalVariant });
    assert.deepEqual(c.variants, written, `${name} writes its variants canonically`);
    for (const v of c.variants) {
      const dropout = c.dropoutOverrides?.[v] ?? c.dropout;
      const arch = resolveArchitecture(c.architecture, { ...shapes[c.dataset], dropout });
      assert.ok(countParameters(arch, v) > 0, `${name}: ${v}`);
    }
  }
  const modern = validateConfig(EXPERIMENT_PRESETS.modern, "modern", { variant: canonicalVariant });
  assert.deepEqual(modern.variants, [
    "plain",
    "bn",
    "lsh_lsc",
    "bn+lsh+lsc",
    "gn",
    "ws",
    "csh+csc+ddi",
    "csh+csc+frozen",
    "bn+frozen",
  ]);
  assert.deepEqual(modern.architecture, { preset: "allcnnc", width: 0.125 });
  const residual = validateConfig(EXPERIMENT_PRESETS.residual, "residual", {
    variant: canonicalVariant,
  });
  assert.deepEqual(residual.variants, [
    "plain",
    "bn",
    "skipinit",
    "rezero",
    "layerscale",
    "fixup",
    "lsh_lsc",
  ]);
  for (const c of [modern, residual]) {
    assert.equal(c.dataset, "fashion-mnist");
    assert.ok(c.runs >= 5, `${c.name}: enough seeds for verdicts`);
  }
});

/** How many processes have `text` in their command line (Linux /proc). */
async function processesNaming(text: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (cmd.includes(text)) n++;
    } catch { /* gone meanwhile */ }
  }
  return n;
}

/** Waits until `dir` holds a finished record (at most 30 s); returns the records there. */
async function firstRecord(dir: string): Promise<string[]> {
  let files: string[] = [];
  for (let i = 0; i < 1200 && files.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    files = await runFiles(dir);
  }
  return files;
}

for (const workers of [1, 2]) {
  const packed = workers > 1 ? ", 2 runs in flight" : "";
  Deno.test(`experiment CLI: killed after the first record${packed}, --resume finishes without redoing it`, async () => {
    const dir = await Deno.makeTempDir();
    const args = [...TINY, "--runs", "4", "--workers", String(workers)];
    const all = ["lsh_lsc", "plain"].flatMap((v) =>
      [0, 1, 2, 3].map((k) => `${v}__lr0.01__run${k}.json`)
    );
    try {
      const child = cli([...args, "--out", dir, "--no-report"]).spawn();
      const files = await firstRecord(dir);
      child.kill("SIGKILL");
      await child.output();
      const atKill = await runFiles(dir);
      assert.ok(files.length >= 1, "a first record was written");
      // the workers notice that their parent is gone and exit: at most the runs in flight
      // still finish (waited for by process, not by a quiet spell, which a loaded machine breaks)
      for (let i = 0; i < 240 && (await processesNaming(dir)) > 0; i++) {
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(await processesNaming(dir), 0, "the workers exited within 60 s");
      const before = await runFiles(dir);
      assert.ok(
        before.length <= atKill.length + workers,
        `${atKill.length} at the kill, then ${before.length}`,
      );
      assert.ok(before.length < all.length, `killed before the end (had ${before.length})`);
      const first = await Deno.readTextFile(`${dir}/runs/${before[0]}`);
      const p = await cli([
        "--resume",
        "--out",
        dir,
        "--no-report",
        "--progress",
        "plain",
        "--backend",
        "ts",
        "--workers",
        String(workers),
      ]).output();
      const out = new TextDecoder().decode(p.stdout);
      assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
      assert.match(out, new RegExp(`${before.length} already finished`));
      assert.deepEqual(await runFiles(dir), all.sort());
      assert.equal(await Deno.readTextFile(`${dir}/runs/${before[0]}`), first);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`experiment CLI: Ctrl-C stops cleanly after saving finished runs${packed} (exit 130)`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const child = cli([...TINY, "--workers", String(workers), "--out", dir]).spawn();
      await firstRecord(dir);
      child.kill("SIGINT");
      const o = await child.output();
      const out = new TextDecoder().decode(o.stdout);
      assert.equal(o.code, 130, out + new TextDecoder().decode(o.stderr));
      assert.match(out, /resume with: deno task experiment --resume --out/);
      const after = await runFiles(dir);
      assert.ok(after.length >= 1 && after.length < 4);
      for (const f of after) JSON.parse(await Deno.readTextFile(`${dir}/runs/${f}`)); // complete
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(await runFiles(dir), after, "the workers stopped with their parent");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("experiment CLI: --workers 2 completes the sweep and writes the report", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = await cli([...TINY, "--train-subset", "48", "--workers", "2", "--out", `${dir}/w`])
      .output();
    const out = new TextDecoder().decode(p.stdout);
    assert.equal(p.code, 0, out + new TextDecoder().decode(p.stderr));
    assert.match(out, /^packing: 2 runs at once \(--workers; threads: /m);
    assert.match(out, /started 2 worker processes/);
    // the parent shows the workers' runs: one line per epoch and per finished run
    assert.equal(out.match(/: epoch 1\/1 val_loss/g)?.length, 4, out);
    assert.equal(out.match(/: done in /g)?.length, 4, out);
    assert.doesNotMatch(out, /^\{/m, "no protocol line leaks to the output");
    assert.match(out, /4 run\(s\) trained, 0 already finished/);
    assert.equal((await runFiles(`${dir}/w`)).length, 4);
    assert.match(out, /report: .*index\.html/);
    assert.ok((await Deno.stat(`${dir}/w/index.html`)).size > 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment CLI: records are bit-identical packed or not (same threads a run); the threads are recorded", async () => {
  const dir = await Deno.makeTempDir();
  const args = [
    ...TINY,
    "--backend",
    "cpu",
    "--variants",
    "plain,bn,csh_csc",
    "--runs",
    "2",
    "--train-subset",
    "96",
    "--no-report",
  ];
  const curves = (r: Record<string, unknown>) =>
    JSON.stringify(
      ["trainLoss", "trainError", "valLoss", "valError", "testLoss", "testError", "parameters"]
        .map((k) => r[k]),
    );
  try {
    const records: Record<string, Record<string, unknown>>[] = [];
    for (const [workers, threads] of [[1, 2], [2, 2], [1, 1]]) {
      const out = `${dir}/w${workers}t${threads}`;
      const p = await cli([
        ...args,
        "--workers",
        `${workers}`,
        "--threads",
        `${threads}`,
        "--out",
        out,
      ])
        .output();
      assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
      const set: Record<string, Record<string, unknown>> = {};
      for (const f of await runFiles(out)) {
        set[f] = JSON.parse(await Deno.readTextFile(`${out}/runs/${f}`));
        const device = (set[f].provenance as { device: string }).device;
        assert.match(device, new RegExp(`, ${threads} threads?$`), `${f}: ${device}`);
      }
      assert.equal(Object.keys(set).length, 6);
      records.push(set);
    }
    for (const f of Object.keys(records[0])) {
      assert.equal(curves(records[1][f]), curves(records[0][f]), `${f}: 2 workers vs 1`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment CLI: the backend line says the choice in a sentence; --verbose adds CUDA's message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dec = new TextDecoder();
    const base = [...TINY, "--backend", "auto", "--prepare", "--out"];
    const plain = dec.decode((await cli([...base, `${dir}/a`]).output()).stdout);
    const verbose = dec.decode((await cli([...base, `${dir}/b`, "--verbose"]).output()).stdout);
    const line = plain.split("\n").find((l) => l.startsWith("backend: ")) ?? "";
    if (line.startsWith("backend: cuda")) return; // a device answered: nothing to explain
    assert.match(line, /^backend: (cpu|ts) \(.*\) - auto: (cpu|ts), [^;]*$/);
    assert.doesNotMatch(plain, /cuda unavailable/);
    assert.match(verbose, /^ {2}cuda unavailable: .+/m);
    assert.match(plain, /^packing: \d+ runs? (at once|at a time)/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment CLI: the results index goes only into a results folder the tool owns", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "shiftlab-owned-root-" });
  const small = [
    ...TINY,
    "--variants",
    "plain",
    "--runs",
    "1",
    "--train-subset",
    "32",
    "--test-subset",
    "16",
  ];
  const inTemp = (args: string[]) => runDeno("experiments/cli.ts", args, { cwd });
  try {
    // a user's own site: its index.html is left alone, with one warning line
    await Deno.mkdir(`${cwd}/site`);
    await Deno.writeTextFile(`${cwd}/site/index.html`, "<h1>my own site</h1>\n");
    let p = await inTemp([...small, "--out", "site/exp"]);
    assert.equal(p.code, 0, p.out + p.err);
    assert.equal(await Deno.readTextFile(`${cwd}/site/index.html`), "<h1>my own site</h1>\n");
    assert.ok((await Deno.stat(`${cwd}/site/exp/index.html`)).isFile, "the experiment's page");
    const warnings = p.err.split("\n").filter((l) => l.includes("site/index.html"));
    assert.equal(warnings.length, 1, p.err);
    assert.match(warnings[0], /^warning: /);
    // a folder relative to the working directory: no index.html written into the directory
    p = await inTemp([...small, "--out", "exp_rel"]);
    assert.equal(p.code, 0, p.err);
    await assert.rejects(() => Deno.stat(`${cwd}/index.html`), Deno.errors.NotFound);
    // a results folder the tool creates is its own: the index is written there and kept current
    p = await inTemp([...small, "--out", "mine/a"]);
    assert.equal(p.code, 0, p.err);
    p = await inTemp([...small, "--out", "mine/b"]);
    assert.equal(p.code, 0, p.err);
    assert.equal(p.err, "");
    const index = await Deno.readTextFile(`${cwd}/mine/index.html`);
    assert.match(index, /<a href="a\/index.html">a<\/a>/);
    assert.match(index, /<a href="b\/index.html">b<\/a>/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("experiment CLI: a subset larger than the dataset is refused naming its size (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [flag, n, re] of [
        ["--train-subset", "100000", /trainSubset.*100000.*54000/],
        ["--test-subset", "20000", /testSubset.*20000.*10000/],
      ] as const
    ) {
      const p = await runDeno("experiments/cli.ts", [...TINY, flag, n, "--out", `${dir}/new/exp`]);
      assert.equal(p.code, 2, p.err);
      assert.match(p.err, re);
      assert.match(p.err, /^error: .*\nrun with --help for the options\n$/);
      await assert.rejects(() => Deno.stat(`${dir}/new`), Deno.errors.NotFound, "nothing left");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A tiny sweep config with a learning-rate search over `variants`. */
function searchConfig(variants: string[], lrSearch: Record<string, unknown>) {
  return {
    name: "packed-search",
    description: "a tiny sweep with a learning-rate search",
    dataset: "mnist",
    architecture: "shiftlab-small",
    variants,
    lr: { default: 0.01 },
    lrSearch,
    epochs: 1,
    batchSize: 16,
    runs: 1,
    trainSubset: 96,
    testSubset: 32,
  };
}

Deno.test("experiment CLI: a packed search trains its trials side by side (all at once or by stage), the same bits as one by one", async () => {
  const dir = await Deno.makeTempDir();
  const config = searchConfig(["plain", "bn", "sh"], {
    plainGrid: [0.005, 0.01],
    bnGrid: [0.02, 0.04],
    epochs: 1,
    trainSubset: 64,
  });
  try {
    await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify(config));
    const base = ["--config", `${dir}/c.json`, "--backend", "cpu", "--threads", "1"];
    const outs: Record<number, string> = {};
    for (const workers of [1, 2]) {
      const p = await cli([
        ...base,
        "--workers",
        `${workers}`,
        "--progress",
        "plain",
        "--no-report",
        "--out",
        `${dir}/w${workers}`,
      ]).output();
      outs[workers] = new TextDecoder().decode(p.stdout);
      assert.equal(p.code, 0, outs[workers] + new TextDecoder().decode(p.stderr));
      assert.match(
        outs[workers],
        /^learning-rate search: 4 trials, 0 already finished, 4 to run$/m,
      );
      assert.doesNotMatch(outs[workers], /\/0\]/, "no [n/0] counters");
    }
    // packed: the workers train the trials (before the search's choice is printed, once)
    const packed = outs[2];
    const started = packed.indexOf("started 2 worker processes");
    assert.ok(started >= 0 && started < packed.indexOf("[1/4] "), packed);
    assert.equal(packed.match(/learning-rate search \(thesis\)/g)?.length, 1, packed);
    const trials = ["bn__lr0.02__run0", "bn__lr0.04__run0", "plain__lr0.005__run0"]
      .concat(["plain__lr0.01__run0"]);
    for (const t of trials) {
      const [a, b] = await Promise.all(
        [1, 2].map(async (w) =>
          JSON.parse(await Deno.readTextFile(`${dir}/w${w}/search/${t}.json`))
        ),
      );
      for (const k of ["trainLoss", "trainError", "valLoss", "valError", "parameters"]) {
        assert.deepEqual(b[k], a[k], `${t}.${k}: 2 workers vs 1`);
      }
    }
    const m = await Promise.all(
      [1, 2].map(async (w) => JSON.parse(await Deno.readTextFile(`${dir}/w${w}/experiment.json`))),
    );
    assert.deepEqual(m[1].lrSearch, m[0].lrSearch);

    // A search in stages (anchors, the grid around the best, bn's multiples of plain's rate):
    // each stage's new rates train side by side, with the bits of the one-by-one search.
    const staged = {
      ...config,
      lrSearch: {
        anchors: [0.1, 0.01],
        grid: [0.5, 1, 2],
        bnMultipliers: [2, 4],
        epochs: 1,
        trainSubset: 64,
      },
    };
    await Deno.writeTextFile(`${dir}/s.json`, JSON.stringify(staged));
    const sets: Record<string, string>[] = [];
    for (const workers of [1, 2]) {
      const out = `${dir}/s${workers}`;
      const p = await cli([
        ...base.map((a) => a === `${dir}/c.json` ? `${dir}/s.json` : a),
        ...["--workers", `${workers}`, "--progress", "plain", "--no-report", "--out", out],
      ]).output();
      const text = new TextDecoder().decode(p.stdout);
      assert.equal(p.code, 0, text + new TextDecoder().decode(p.stderr));
      if (workers === 2) {
        // anchors (2), the grid's two new rates, bn's two multiples, then the sweep
        assert.equal(text.match(/started 2 worker processes/g)?.length, 4, text);
      }
      const set: Record<string, string> = {};
      for (const e of await Array.fromAsync(Deno.readDir(`${out}/search`))) {
        const r = JSON.parse(await Deno.readTextFile(`${out}/search/${e.name}`));
        set[e.name] = JSON.stringify([r.trainLoss, r.valError, r.valLoss, r.parameters]);
      }
      sets.push(set);
    }
    assert.equal(Object.keys(sets[0]).length, 6, Object.keys(sets[0]).join(" "));
    assert.deepEqual(sets[1], sets[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment CLI: Ctrl-C during a packed search keeps its trials; --resume finishes it", async () => {
  const dir = await Deno.makeTempDir();
  const config = searchConfig(["plain", "sh"], {
    plainGrid: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
    epochs: 1,
    trainSubset: 96,
  });
  try {
    await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify(config));
    const out = `${dir}/x`;
    const child = cli([
      ...["--config", `${dir}/c.json`, "--backend", "ts", "--workers", "2", "--out", out],
    ]).spawn();
    const trials = async () =>
      (await Array.fromAsync(Deno.readDir(`${out}/search`)).catch(() => []))
        .filter((e) => e.name.endsWith(".json")).length;
    for (let i = 0; i < 1200 && (await trials()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGINT");
    const o = await child.output();
    const text = new TextDecoder().decode(o.stdout);
    assert.equal(o.code, 130, text + new TextDecoder().decode(o.stderr));
    assert.match(
      text,
      /search: 6 trials, 0 already finished, 6 to run\nstarted 2 worker processes/,
    );
    assert.match(text, /interrupted during the learning-rate search; its finished trials are kept/);
    assert.match(text, /resume with: deno task experiment --resume --out /);
    const kept = await trials();
    assert.ok(kept >= 1 && kept < 6, `${kept} trials kept`);
    const p = await cli(["--resume", "--out", out, "--no-report", "--progress", "plain"]).output();
    const resumed = new TextDecoder().decode(p.stdout);
    assert.equal(p.code, 0, resumed + new TextDecoder().decode(p.stderr));
    assert.match(resumed, new RegExp(`learning-rate search: 6 trials, ${kept} already finished`));
    assert.equal(await trials(), 6);
    assert.equal((await runFiles(out)).length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
