/**
 * Nothing is left half-written: every file the tools write goes through one atomic write (a temp
 * file in the same folder, fsync, rename; the temp file removed on any error). The faults are
 * real: the tools run under a file-size limit (`ulimit -f`, no root needed), so every write past
 * the limit fails as on a full disk.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { tsBackend } from "../src/backends/ts.ts";
import { md5Hex } from "../src/data/download.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";
import { saveModel } from "../src/io/safetensors.ts";
import { architecture } from "../src/architectures.ts";
import { buildNetwork } from "../src/variants.ts";
import { bytes, gzip, tar } from "./data_fixtures.ts";
import { ROOT, runDeno } from "./cli_helpers.ts";
import { writeFixture } from "./report_fixtures.ts";

/** The file-size limit of the faulty runs, in KiB: every page and model is larger. */
const LIMIT_KIB = 64;

const run = (args: string[], limit: boolean) =>
  runDeno(args[0], args.slice(1), { limitKib: limit ? LIMIT_KIB : undefined });

/** Every file under `dir` (relative path → size and content hash). */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else out.set(relative(dir, p), md5Hex(await Deno.readFile(p)));
    }
  };
  await walk(dir);
  return out;
}

function assertUnchanged(before: Map<string, string>, after: Map<string, string>, ctx: string) {
  const added = [...after.keys()].filter((k) => !before.has(k));
  const changed = [...before.keys()].filter((k) => after.get(k) !== before.get(k));
  assert.deepEqual(added, [], `no temp or partial file left (${ctx})`);
  assert.deepEqual(changed, [], `no file changed or truncated (${ctx})`);
}

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-full-disk-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("full disk: every writer fails without leaving a temp or truncated file", async () => {
  await withTemp(async (root) => {
    const exp = await writeFixture(root, { id: "exp", runs: 2, epochs: 2, stepsPerEpoch: 50 });
    // a description long enough that the results index outgrows the limit too
    const manifest = JSON.parse(await Deno.readTextFile(join(exp, "experiment.json")));
    manifest.description = "a long description ".repeat(5000);
    await Deno.writeTextFile(join(exp, "experiment.json"), JSON.stringify(manifest));
    const archive = await gzip(tar([
      { path: "cifar-100-binary/train.bin", data: bytes(3074 * 40, (i) => i % 7) },
      { path: "cifar-100-binary/test.bin", data: bytes(3074 * 30, (i) => i % 5) },
    ]));
    await Deno.writeFile(join(root, "a.tar.gz"), archive);
    const args = [
      "tests/full_disk_writers.ts",
      root,
      new URL(`file://${root}/a.tar.gz`).href,
      md5Hex(archive),
    ];
    const warm = await run(["tests/full_disk_writers.ts", "warm"], false);
    assert.equal(warm.code, 0, warm.err);
    const before = await snapshot(root);
    const r = await run(args, true);
    assert.equal(r.code, 0, r.err);
    const errors = JSON.parse(r.out.trim().split("\n").pop()!) as Record<string, string | null>;
    for (const [writer, err] of Object.entries(errors)) {
      assert.match(String(err), /File too large/, `${writer} hit the limit`);
    }
    assert.deepEqual(Object.keys(errors), ["record", "report", "index", "model", "download"]);
    assertUnchanged(before, await snapshot(root), "after the faulty writes");
  });
});

Deno.test("full disk: deno task report keeps the old page and leaves no temp file", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, { id: "exp", runs: 2, epochs: 2, stepsPerEpoch: 50 });
    const ok = await run(["src/report/cli.ts", dir], false);
    assert.equal(ok.code, 0, ok.err);
    const before = await snapshot(root);
    assert.ok(before.has("exp/index.html"));
    const r = await run(["src/report/cli.ts", dir], true);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /^error: .*File too large/);
    assertUnchanged(before, await snapshot(root), "report under the limit");
  });
});

const VIS_TINY = [
  "--backend",
  "ts",
  "--neurons",
  "0-1",
  "--iters",
  "2",
  "--top",
  "2",
  "--samples",
  "40",
  "--no-adversarial",
];

Deno.test("full disk: deno task visualize keeps the old page and leaves no partial file", async () => {
  await withTemp(async (root) => {
    const arch = architecture("shiftlab-small", { inputShape: [1, 28, 28], classes: 10 });
    const model = buildNetwork(arch, "plain", { backend: tsBackend, seed: 3 });
    const file = join(root, "m.safetensors");
    await saveModel(file, model, { architecture: arch, variant: "plain", dataset: "mnist" });
    model.dispose();
    const page = join(root, "page");
    const ok = await run(
      ["src/visualize/cli.ts", "--model", file, ...VIS_TINY, "--out", page],
      false,
    );
    assert.equal(ok.code, 0, ok.out + ok.err);
    const before = await snapshot(root);
    assert.ok(before.has("page/index.html") && before.has("page/visualize.json"));
    const r = await run(
      ["src/visualize/cli.ts", "--model", file, ...VIS_TINY, "--out", page],
      true,
    );
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /^error: .*File too large/m);
    assertUnchanged(before, await snapshot(root), "visualize page under the limit");
  });
});

Deno.test("full disk: the visualize quick model is not left half-saved", async () => {
  await withTemp(async (root) => {
    const out = join(root, "quick");
    const r = await run([
      "src/visualize/cli.ts",
      ...VIS_TINY,
      "--quick-samples",
      "100",
      "--out",
      out,
    ], true);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /^error: .*File too large/m);
    assertUnchanged(new Map(), await snapshot(root), "quick model save under the limit");
    await assert.rejects(() => Deno.stat(out), Deno.errors.NotFound, "its empty folder removed");
  });
});

Deno.test("every file the tools write goes through the one atomic writer", async () => {
  // Direct writes (Deno.writeFile, writeTextFile, create, open with write/append) bypass the
  // temp-fsync-rename of src/io/atomic.ts; only that module may make them.
  const direct =
    /Deno\.(writeFile|writeTextFile|create|open)(Sync)?\(|Deno\.openSync\(|\.truncate\(/g;
  const offenders: string[] = [];
  for (const top of ["src", "experiments", "bench", "ffi"]) {
    const walk = async (d: string) => {
      for await (const e of Deno.readDir(join(ROOT, d))) {
        const p = `${d}/${e.name}`;
        if (e.isDirectory) await walk(p);
        else if (/\.ts$/.test(e.name) && p !== "src/io/atomic.ts") {
          const text = await Deno.readTextFile(join(ROOT, p));
          for (const m of text.matchAll(direct)) {
            const line = text.slice(0, m.index).split("\n").length;
            const src = text.split("\n")[line - 1].trim();
            if (!/\{\s*read:\s*true\s*\}/.test(src)) offenders.push(`${p}:${line}: ${src}`);
          }
        }
      }
    };
    await walk(top);
  }
  assert.deepEqual(offenders, []);
});

Deno.test("writeFileAtomic: writes in full, replaces, and cleans up when the rename fails", async () => {
  await withTemp(async (dir) => {
    const path = join(dir, "sub", "a.json");
    await assert.rejects(() => writeFileAtomic(path, "x"), /cannot write .*sub\/a\.json/);
    await writeFileAtomic(path, "first", { mkdir: true });
    await writeFileAtomic(path, new TextEncoder().encode("second"));
    assert.equal(await Deno.readTextFile(path), "second");
    // a rename onto a non-empty folder fails after the temp file was written in full
    const blocked = join(dir, "sub", "taken");
    await Deno.mkdir(join(blocked, "inner"), { recursive: true });
    await assert.rejects(() => writeFileAtomic(blocked, "x".repeat(1 << 20)), /cannot write/);
    assert.deepEqual(
      [...(await snapshot(dir)).keys()],
      ["sub/a.json"],
      "only the finished file, no temp file",
    );
  });
});
