import assert from "node:assert/strict";
import { join } from "node:path";
import { tsBackend } from "../src/backends/ts.ts";
import { encodeIdx } from "../src/data/idx.ts";
import { saveModel } from "../src/io/safetensors.ts";
import { architecture } from "../src/architectures.ts";
import { buildNetwork } from "../src/variants.ts";
import { runDeno } from "./cli_helpers.ts";

/** Runs the visualize CLI (from `cwd`); `out` is stdout and stderr together. */
async function run(args: string[], cwd?: string): Promise<{ code: number; out: string }> {
  const r = await runDeno("src/visualize/cli.ts", args, { cwd });
  return { code: r.code, out: r.out + r.err };
}

Deno.test("visualize CLI: --help, bad flags and a missing model give clear messages", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  for (
    const flag of [
      "--model",
      "--layer",
      "--neurons",
      "--mode",
      "--iters",
      "--rate",
      "--start",
      "--clip",
      "--l2",
    ]
  ) {
    assert.ok(help.out.includes(flag), flag);
  }
  const mode = await run(["--mode", "sideways"]);
  assert.equal(mode.code, 2);
  assert.match(mode.out, /--mode must be unbiased or biased, got 'sideways'/);
  const iters = await run(["--iters", "0"]);
  assert.equal(iters.code, 2);
  assert.match(iters.out, /--iters must be an integer >= 1, got '0'/);
  const neurons = await run(["--neurons", "3-1"]);
  assert.match(neurons.out, /range '3-1' runs backwards/);
  const unknown = await run(["--bogus"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.out, /bogus/);
  const missing = await run(["--model", "/nonexistent/m.safetensors", "--backend", "ts"]);
  assert.equal(missing.code, 1);
  assert.match(missing.out, /cannot read model file '\/nonexistent\/m\.safetensors'/);
});

Deno.test("visualize CLI: --model FILE writes the page (ts backend, tiny settings)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-vis-cli-" });
  try {
    const arch = architecture("shiftlab-small", { inputShape: [1, 28, 28], classes: 10 });
    const model = buildNetwork(arch, "lsh_lsc", { backend: tsBackend, seed: 2 });
    const file = join(dir, "m.safetensors");
    await saveModel(file, model, {
      architecture: arch,
      variant: "lsh_lsc",
      dataset: "mnist",
      seed: 2,
    });
    model.dispose();
    const out = join(dir, "page");
    const r = await run([
      "--model",
      file,
      "--backend",
      "ts",
      "--layer",
      "2_conv2d",
      "--neurons",
      "0,2-3",
      "--position",
      "5,6",
      "--mode",
      "biased",
      "--iters",
      "3",
      "--rate",
      "0.1",
      "--start",
      "mean",
      "--top",
      "2",
      "--samples",
      "60",
      "--adversarial-per-class",
      "1",
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /loaded .*m\.safetensors: shiftlab-small, variant lsh_lsc/);
    const html = await Deno.readTextFile(join(out, "index.html"));
    assert.ok(html.includes("layer 0_conv2d") || html.includes("2_conv2d"));
    const summary = JSON.parse(await Deno.readTextFile(join(out, "visualize.json")));
    assert.deepEqual(summary.neurons.map((n: { neuron: number }) => n.neuron), [0, 2, 3]);
    assert.equal(summary.options.mode, "biased");
    assert.equal(summary.adversarial.attempts.length, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("visualize CLI: a NaN model, a wrong dataset or a failed load is refused before anything is written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-vis-refuse-" });
  try {
    const arch = architecture("shiftlab-small", { inputShape: [1, 28, 28], classes: 10 });
    const model = buildNetwork(arch, "plain", { backend: tsBackend, seed: 2 });
    const good = join(dir, "good.safetensors");
    await saveModel(good, model, { architecture: arch, variant: "plain", dataset: "mnist" });
    const w = model.params()[0].value;
    const poisoned = w.toArray();
    poisoned[5] = NaN;
    poisoned[7] = Infinity;
    tsBackend.upload(w.buf, poisoned);
    const nan = join(dir, "nan.safetensors");
    await saveModel(nan, model, { architecture: arch, variant: "plain", dataset: "mnist" });
    model.dispose();

    const bad = await run(["--model", nan, "--backend", "ts", "--out", join(dir, "p1")]);
    assert.equal(bad.code, 1, bad.out);
    assert.match(
      bad.out,
      /0_conv2d\.weight' holds 2 values that are not finite \(NaN or ±Infinity;/,
    );
    assert.doesNotMatch(bad.out, /loaded/);
    await assert.rejects(() => Deno.stat(join(dir, "p1")), Deno.errors.NotFound);

    // a dataset whose samples do not fit the model
    const fm = join(dir, "fm");
    await Deno.mkdir(fm);
    for (
      const [name, dims] of [
        ["train-images-idx3-ubyte", [4, 2, 2]],
        ["train-labels-idx1-ubyte", [4]],
        ["t10k-images-idx3-ubyte", [20, 2, 2]],
        ["t10k-labels-idx1-ubyte", [20]],
      ] as const
    ) {
      const n = dims.reduce((a: number, b: number) => a * b, 1);
      await Deno.writeFile(
        join(fm, name),
        encodeIdx([...dims], new Uint8Array(n).map((_, i) => i % 10)),
      );
    }
    const wrong = await run([
      "--model",
      good,
      "--backend",
      "ts",
      "--dataset",
      "fashion-mnist",
      "--data-dir",
      fm,
      "--out",
      join(dir, "p2"),
    ]);
    assert.equal(wrong.code, 1, wrong.out);
    assert.match(wrong.out, /takes inputs \[1, 28, 28\].*fashion-mnist.*\[1, 2, 2\]/);
    assert.doesNotMatch(wrong.out, /loaded/);
    await assert.rejects(() => Deno.stat(join(dir, "p2")), Deno.errors.NotFound);

    // a failed load with the default output folder leaves no empty results/visualize-* behind
    const p = await run(["--model", join(dir, "missing.safetensors"), "--backend", "ts"], dir);
    assert.equal(p.code, 1, p.out);
    await assert.rejects(() => Deno.stat(join(dir, "results")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
