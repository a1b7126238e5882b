import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../experiments/findings.ts";
import { analyzeExperiment } from "../src/report/analysis.ts";
import { loadExperiment } from "../src/report/load.ts";
import {
  experimentSpan,
  findingsFromSummary,
  findingsMarkdown,
  parseSummaryCsv,
  summaryCsv,
  summaryRows,
} from "../src/report/summary_csv.ts";
import { silenced } from "./cli_helpers.ts";
import { writeFixture } from "./report_fixtures.ts";

Deno.test("findings summary: one CSV row per run, and the findings rebuilt from it equal the page's", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = await writeFixture(root, {
      variants: ["plain", "bn", "sh", "csh", "lsh", "lsh_lsc"],
      runs: 6,
      epochs: 3,
      stepsPerEpoch: 100,
      diverge: { "sh/2": 150 },
    });
    const exp = await loadExperiment(dir);
    const a = analyzeExperiment(exp.manifest, exp.records, exp.files, { resamples: 1 });
    const csv = summaryCsv(summaryRows(a, experimentSpan(exp.records)));
    const rows = parseSummaryCsv(csv);
    assert.equal(rows.length, 36, "6 variants × 6 seeds");
    const sh2 = rows.find((r) => r.variant === "sh" && r.run === "2")!;
    assert.equal(sh2.diverged_at_step, "150");
    const plain0 = rows.find((r) => r.variant === "plain" && r.run === "0")!;
    assert.equal(Number(plain0.pace), a.groups[0].runs[0].pace, "numbers round-trip exactly");
    const [rebuilt] = findingsFromSummary(rows);
    assert.equal(rebuilt.seeds, 6);
    assert.deepEqual(rebuilt.findings, a.findings, "same inference as the page");
    assert.ok(a.findings.some((f) => f.verdict === "supported"), "the fixture supports a claim");
    const md = findingsMarkdown([rebuilt]);
    assert.match(md, /\| Variants with a shift learn faster than plain\. \| quick-mnist \(6 seeds/);
    assert.doesNotMatch(md, /biasedK/, "claims the experiment cannot test are left out");
    assert.throws(() => parseSummaryCsv("a,b\n1,2\n", "x.csv"), /x\.csv: missing columns/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("findings summary: wall time is the time with a run in flight, overlapping runs counted once", () => {
  const rec = (t: string, s: number) => ({ provenance: { startedAt: t }, wallSeconds: s });
  assert.equal(
    experimentSpan([rec("2026-01-01T00:00:00Z", 10), rec("2026-01-01T00:00:05Z", 20)]),
    25,
  );
  assert.equal(experimentSpan([]), null);
  // an interruption: nothing trained from 0:25 to 1:00, which does not count
  assert.equal(
    experimentSpan([
      rec("2026-01-01T00:00:00Z", 10),
      rec("2026-01-01T00:00:05Z", 20),
      rec("2026-01-01T00:01:00Z", 30),
      rec("2026-01-01T00:01:10Z", 5),
    ]),
    25 + 30,
  );
});

Deno.test("findings CLI: collect and table; never replaces a file it did not write; misuse exits 2", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = await writeFixture(root, { variants: ["plain", "sh"], runs: 2, epochs: 1 });
    const csv = join(root, "out", "s.csv");
    const q = await silenced(() => main(["collect", dir, "--out", csv]));
    assert.equal(q.value, 0);
    assert.equal(parseSummaryCsv(await Deno.readTextFile(csv)).length, 4);
    const md = join(root, "table.md");
    assert.equal((await silenced(() => main(["table", csv, "--out", md]))).value, 0);
    assert.match(await Deno.readTextFile(md), /findings table: deno task findings table/);
    // A user's file of that name is left alone.
    const mine = join(root, "mine.md");
    await Deno.writeTextFile(mine, "my notes\n");
    const r = await silenced(() => main(["table", csv, "--out", mine]));
    assert.equal(r.value, 1);
    assert.equal(await Deno.readTextFile(mine), "my notes\n");
    assert.equal((await silenced(() => main(["collect", dir]))).value, 2);
    assert.equal((await silenced(() => main(["nope"]))).value, 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
