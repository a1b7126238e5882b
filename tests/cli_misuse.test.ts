/**
 * Every command-line tool answers misuse the same way: exit 2, `error: <one line>` and one hint
 * line on stderr, nothing on stdout; the full usage only for `--help`. A backend that was asked
 * for by name but is not available is a misuse too (exit 2, same two lines).
 */
import assert from "node:assert/strict";
import { tryNative } from "../src/backends/select.ts";
import { type Ran, runDeno } from "./cli_helpers.ts";

const HINT = "run with --help for the options";

const TOOLS: Record<string, string> = {
  experiment: "experiments/cli.ts",
  report: "src/report/cli.ts",
  visualize: "src/visualize/cli.ts",
  bench: "bench/bench.ts",
  data: "src/data/cli.ts",
  build: "ffi/build.ts",
};

const run = (tool: string, args: string[]) => runDeno(TOOLS[tool], args);

function assertMisuse(r: Ran, what: string, re: RegExp) {
  const ctx = `${what}\nstdout: ${r.out}\nstderr: ${r.err}`;
  assert.equal(r.code, 2, ctx);
  const lines = r.err.trimEnd().split("\n");
  assert.equal(lines.length, 2, `two lines on stderr: ${ctx}`);
  assert.match(lines[0], /^error: \S/, ctx);
  assert.match(lines[0], re, ctx);
  assert.equal(lines[1], HINT, ctx);
  assert.equal(r.out, "", `nothing on stdout: ${ctx}`);
}

Deno.test("CLI misuse: every tool exits 2 with `error: ...` and one hint line, no usage", async () => {
  const cases: [string, string[], RegExp][] = [
    ["experiment", ["--bogus"], /Unknown option '--bogus'/],
    ["experiment", ["--runs", "0"], /--runs must be a positive integer, got '0'/],
    ["report", ["--bogus"], /Unknown option '--bogus'/],
    ["report", ["--target", "2"], /--target must be a number between 0 and 1/],
    ["visualize", ["--bogus"], /Unknown option '--bogus'/],
    ["visualize", ["--mode", "sideways"], /--mode must be unbiased or biased, got 'sideways'/],
    ["bench", ["--bogus"], /Unknown option '--bogus'/],
    ["bench", ["--threads", "0"], /--threads must be a positive integer, got '0'/],
    ["bench", ["--only", "fft"], /--only: unknown part 'fft'/],
    ["data", ["--bogus"], /Unknown option '--bogus'/],
    ["data", ["imagenet"], /expected exactly one dataset, cifar10 or cifar100, got 'imagenet'/],
    ["build", ["--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [tool, args, re] of cases) {
    assertMisuse(await run(tool, args), `${tool} ${args.join(" ")}`, re);
  }
});

Deno.test("CLI --help: every tool prints its usage on stdout and exits 0", async () => {
  for (const tool of Object.keys(TOOLS)) {
    const r = await run(tool, ["--help"]);
    assert.equal(r.code, 0, `${tool}: ${r.err}`);
    assert.match(r.out, /usage: deno task /i, tool);
    assert.equal(r.err, "", tool);
  }
});

Deno.test("CLI: --backend cuda without a device exits 2 with one error line and the hint", async () => {
  const cuda = tryNative("cuda");
  if (typeof cuda !== "string") {
    console.log(`skip: a CUDA device answers here (${cuda.device}); nothing to refuse`);
    return;
  }
  for (
    const [tool, args] of [
      ["experiment", ["--backend", "cuda", "--variants", "plain", "--runs", "1"]],
      ["visualize", ["--backend", "cuda"]],
      ["bench", ["--backends", "cuda"]],
    ] as [string, string[]][]
  ) {
    assertMisuse(await run(tool, args), `${tool} ${args.join(" ")}`, /cuda.*unavailable/);
  }
});
