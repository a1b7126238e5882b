/**
 * bench/ab/records.ts: two experiment folders hold the same results when every record matches
 * outside its timing and provenance; a changed value, a missing record or an unreadable one is
 * reported, and the CLI exits 0, 1 or 2 accordingly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { compareFolders, firstDifference } from "../bench/ab/records.ts";
import { writeFixture } from "./report_fixtures.ts";

Deno.test("bench ab records: the first difference between two values, as a path", () => {
  assert.equal(firstDifference({ a: [1, 2], b: "x" }, { a: [1, 2], b: "x" }), null);
  assert.equal(firstDifference({ a: [1, 2] }, { a: [1, 3] }), "a.1");
  assert.equal(firstDifference({ a: { b: null } }, { a: { b: 0 } }), "a.b");
  assert.equal(firstDifference([1], { 0: 1 }), "(value)");
  assert.equal(firstDifference(NaN, NaN), null);
});

Deno.test("bench ab records: timing and provenance may differ, results may not", async () => {
  const root = await Deno.makeTempDir({ prefix: "shiftlab-ab-records-" });
  try {
    const opts = { variants: ["plain", "bn"], runs: 2, epochs: 2, stepsPerEpoch: 20 };
    const a = await writeFixture(join(root, "a"), opts);
    const b = await writeFixture(join(root, "b"), opts);
    const names = [...Deno.readDirSync(join(b, "runs"))].map((e) => e.name).sort();
    assert.equal(names.length, 4);
    const edit = (name: string, f: (r: Record<string, unknown>) => void) => {
      const path = join(b, "runs", name);
      const r = JSON.parse(Deno.readTextFileSync(path));
      f(r);
      Deno.writeTextFileSync(path, JSON.stringify(r));
    };
    // another machine, another moment: still the same results
    edit(names[0], (r) => {
      r.wallSeconds = 99;
      r.epochSeconds = [1, 2];
      (r.provenance as Record<string, unknown>).hostname = "elsewhere";
    });
    let c = await compareFolders(a, b);
    assert.equal(c.same, true, c.lines.join("\n"));
    assert.equal(c.lines.at(-1), "4 of 4 records identical");
    // one value of one run changed
    edit(names[1], (r) => (r.valError as number[])[1] += 1e-9);
    c = await compareFolders(a, b);
    assert.equal(c.same, false);
    assert.ok(c.lines.includes(`differs: ${names[1]} (first at valError.1)`), c.lines.join("\n"));
    // a record missing in B
    Deno.removeSync(join(b, "runs", names[2]));
    c = await compareFolders(a, b);
    assert.ok(c.lines.some((l) => l.startsWith(`missing in ${b}: ${names[2]}`)));
    assert.equal(c.lines.at(-1), "2 of 4 records identical");
    // the CLI: exit 1 on a difference, 2 on misuse
    const cli = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../bench/ab/records.ts", import.meta.url).pathname, ...args],
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
    assert.equal(cli([a, b]).code, 1);
    assert.equal(cli([a, a]).code, 0);
    const misuse = cli([a]);
    assert.equal(misuse.code, 2);
    assert.match(new TextDecoder().decode(misuse.stderr), /expected two experiment folders, got 1/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
