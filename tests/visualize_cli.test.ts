import assert from "node:assert/strict";
import { join } from "node:path";
import { tsBackend } from "../src/backends/ts.ts";
import { saveModel } from "../src/io/safetensors.ts";
import { architecture } from "../src/architectures.ts";
import { buildNetwork } from "../src/variants.ts";

const CLI = new URL("../src/visualize/cli.ts", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await p.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
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
