import assert from "node:assert/strict";
import { join } from "node:path";
import { main, parseCli } from "../src/report/cli.ts";
import { embedJson, escapeHtml } from "../src/report/html.ts";
import { isOwnIndex, writeExperimentReport, writeResultsIndex } from "../src/report/report.ts";
import {
  createOutputFolder,
  ownsResultsRoot,
  RESULTS_MARKER,
  updateResultsIndex,
} from "../src/report/root.ts";
import { silenced } from "./cli_helpers.ts";
import { writeFixture } from "./report_fixtures.ts";

async function withTemp<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const root = await Deno.makeTempDir({ prefix: "shiftlab-report-pages-" });
  try {
    return await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** URLs a page would load or link to outside itself (data: URLs and in-page anchors excepted). */
function externalRefs(html: string): string[] {
  const outside = html.replace(/<script>[\s\S]*?<\/script>/g, ""); // inlined code is not a reference
  return [...outside.matchAll(/(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1])
    .filter((u) => !u.startsWith("data:") && !u.startsWith("#"));
}

Deno.test("experiment page: self-contained, Chart.js inlined, data embedded, sections present", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, { runs: 2, epochs: 2, stepsPerEpoch: 100 });
    const mPath = join(dir, "experiment.json");
    const m = JSON.parse(await Deno.readTextFile(mPath));
    m.lrSearch = {
      mode: "thesis",
      trials: { plain: { "0.005": 0.09, "0.01": 0.07, "0.02": 0.08 } },
      chosen: { plain: 0.01 },
    };
    await Deno.writeTextFile(mPath, JSON.stringify(m));
    const page = await writeExperimentReport(dir, { generatedAt: "2026-11-23T00:00:00Z" });
    assert.equal(page, join(dir, "index.html"));
    const html = await Deno.readTextFile(page);
    assert.match(html, /Chart\.js v4\.5\.1/, "the UMD bundle is inlined");
    assert.doesNotMatch(html, /<script[^>]+src=/, "no external script");
    assert.doesNotMatch(html, /<link[^>]+stylesheet/, "no external stylesheet");
    assert.deepEqual(externalRefs(html), ["../index.html"], "only the link back to the index");
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.match(html, /<script type="application\/json" id="report-data">\{/);
    for (
      const id of [
        "findings",
        "run",
        "summary",
        "paired",
        "sensitivity",
        "curves",
        "groups",
        "runs",
        "data",
      ]
    ) {
      assert.match(html, new RegExp(`<section id="${id}">`), `section ${id}`);
    }
    for (const g of ["elementwise", "channelwise", "layerwise"]) {
      assert.match(html, new RegExp(`plain and bn against ${g}`));
    }
    assert.match(html, /href="data:text\/csv;charset=utf-8,variant%2Clr%2Crun/);
    assert.match(html, /<span class="badge complete">complete<\/span>/);
    assert.match(html, /Learning-rate search \(thesis protocol/);
    assert.match(html, /0\.005 → 9\.00%, 0\.01 → 7\.00%, 0\.02 → 8\.00%/);
    assert.match(html, /data-sensitivity="plain"/, "plain was tried at three rates");
    assert.match(html, /Validation<\/b> is a <b>held-out split of 1,000 training samples/);
    assert.match(html, /test error \(read once, at the end\)/);
    assert.match(html, /<h3 id="paired-plain">Against plain<\/h3>/);
    assert.match(html, /<h3 id="paired-bn">Against bn<\/h3>/);
    assert.match(html, /No verdicts on this page:<\/b> at most 2 paired seeds/);
    assert.match(html, /Holm–Bonferroni-corrected across all \d+ tests on this page/);
    assert.match(html, /Variants with a shift learn faster than plain/);
    assert.match(
      html,
      /Raising the learning rate of ordinary biases \(biasedK\) does not help\.[\s\S]*?not tested/,
    );
    assert.doesNotMatch(html, /Partial sweep/);
    // every signed number has one sign; outside the scripts no "<" that is not a tag
    const text = html.replace(/<script[\s\S]*?<\/script>/g, "");
    assert.doesNotMatch(text, /[+-]{2}\d/, "a number with two signs");
    assert.doesNotMatch(text, /<(?![a-zA-Z/!])/, "an unescaped <");
    assert.match(text, /[+-]\d+\.\d\d pp/, "differences in percentage points are signed");
    assert.ok(html.length < 1_500_000, `page size ${html.length} is sensible`);
  });
});

Deno.test("experiment page: partial sweep, all-diverged variant and an empty sweep", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, {
      id: "p",
      variants: ["plain", "lsh"],
      runs: 3,
      epochs: 2,
      stepsPerEpoch: 50,
      missing: ["plain/2"],
      diverge: { "lsh/0": 3, "lsh/1": 3, "lsh/2": 3 },
    });
    const html = await Deno.readTextFile(await writeExperimentReport(dir));
    assert.match(html, /<b>Partial sweep\.<\/b> 5 of 6 planned runs/);
    assert.match(html, /unfinished: plain \(2\/3\)/);
    assert.match(html, /badge diverged">3 diverged/);

    const empty = await writeFixture(root, {
      id: "e",
      variants: ["plain"],
      runs: 2,
      missing: ["plain/0", "plain/1"],
    });
    // Every planned run finished, and every one diverged: not "complete" in green.
    const dead = await writeFixture(root, {
      id: "d",
      variants: ["plain", "sh"],
      runs: 1,
      epochs: 2,
      stepsPerEpoch: 50,
      diverge: { "plain/0": 3, "sh/0": 4 },
    });
    const html3 = await Deno.readTextFile(await writeExperimentReport(dead));
    assert.doesNotMatch(html3, /badge complete/);
    assert.match(html3, /<span class="badge diverged">every run diverged<\/span>/);

    const html2 = await Deno.readTextFile(await writeExperimentReport(empty));
    assert.match(html2, /No run has finished without\s+diverging yet/);
    assert.doesNotMatch(html2, /<canvas/, "no chart without data (it would be blank)");
  });
});

Deno.test("results index: newest first, best variant, link, broken folder listed with its error", async () => {
  await withTemp(async (root) => {
    const a = await writeFixture(root, {
      id: "older",
      variants: ["plain", "bn"],
      runs: 1,
      epochs: 1,
      stepsPerEpoch: 20,
    });
    const b = await writeFixture(root, {
      id: "newer",
      variants: ["plain", "lsh"],
      runs: 1,
      epochs: 1,
      stepsPerEpoch: 20,
    });
    const m = JSON.parse(await Deno.readTextFile(join(b, "experiment.json")));
    m.createdAt = "2026-11-23T08:00:00.000Z";
    await Deno.writeTextFile(join(b, "experiment.json"), JSON.stringify(m));
    await writeExperimentReport(a);
    await Deno.mkdir(join(root, "broken"));
    await Deno.writeTextFile(join(root, "broken", "experiment.json"), "{}");
    await Deno.mkdir(join(root, "not-an-experiment"));
    await Deno.mkdir(join(root, "vis-1"));
    await Deno.writeTextFile(
      join(root, "vis-1", "visualize.json"),
      JSON.stringify({
        kind: "visualize",
        title: "Gradient ascent on 2_relu",
        createdAt: "2026-11-23T09:00:00.000Z",
        layerName: "2_relu",
        accuracy: 0.9512,
        adversarial: { successRate: 0.8 },
      }),
    );
    const html = await Deno.readTextFile(await writeResultsIndex(root));
    assert.match(html, /<a href="vis-1\/index.html">Gradient ascent on 2_relu<\/a>/);
    assert.match(html, /95\.12%/);
    assert.match(html, /80\.00%/);
    assert.ok(html.indexOf("newer") < html.indexOf("older"), "newest first");
    assert.match(html, /<a href="older\/index.html">older<\/a>/);
    assert.match(html, /newer <span class="muted">\(no page yet/);
    assert.match(html, /<b>bn<\/b> \(\d+\.\d\d%\)/);
    assert.match(html, /experiment\.json: manifest version undefined is not supported/);
    assert.doesNotMatch(html, /not-an-experiment/);
    assert.match(html, /3 experiments/);
    assert.deepEqual(externalRefs(html).sort(), ["older/index.html", "vis-1/index.html"]);
  });
});

Deno.test("html helpers: escaping and embedded JSON cannot break out of the page", () => {
  assert.equal(
    escapeHtml(`<a href="x">&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;",
  );
  const j = embedJson({ s: "</script><b>", x: NaN, y: 1 / 3, n: 7 });
  assert.doesNotMatch(j, /</);
  assert.deepEqual(JSON.parse(j), { s: "</script><b>", x: null, y: 0.33333, n: 7 });
});

Deno.test("cli: parses options and rejects mistakes with what was expected", () => {
  assert.deepEqual(parseCli([]), { dir: "results" });
  assert.deepEqual(parseCli(["r", "--target", "0.2", "--max-points", "100"]), {
    dir: "r",
    target: 0.2,
    maxPoints: 100,
  });
  assert.equal(parseCli(["--help"]), "help");
  assert.throws(
    () => parseCli(["--target", "2"]),
    /--target must be a number between 0 and 1, got "2"/,
  );
  assert.throws(() => parseCli(["--max-points", "1"]), /--max-points must be an integer >= 2/);
  assert.throws(() => parseCli(["a", "b"]), /at most one DIR/);
  assert.throws(() => parseCli(["--bogus"]), /bogus/);
});

Deno.test("cli: regenerates a results folder and an experiment folder; exit 2 on mistakes", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, {
      id: "x",
      variants: ["plain", "sh"],
      runs: 1,
      epochs: 1,
      stepsPerEpoch: 20,
    });
    const log = console.log, err = console.error;
    const out: string[] = [];
    console.log = (...a: unknown[]) => out.push(a.join(" "));
    console.error = (...a: unknown[]) => out.push(a.join(" "));
    try {
      assert.equal(await main([root]), 0);
      assert.equal(await main([dir, "--target", "0.5"]), 0);
      assert.equal(await main([join(root, "missing")]), 2);
      assert.equal(await main(["--nope"]), 2);
      assert.equal(await main(["--help"]), 0);
    } finally {
      console.log = log;
      console.error = err;
    }
    assert.ok((await Deno.stat(join(dir, "index.html"))).isFile);
    assert.ok((await Deno.stat(join(root, "index.html"))).isFile);
    assert.ok(
      out.some((l) =>
        /missing does not exist \(expected an experiment or results folder\)/.test(l)
      ),
    );
    assert.ok(out.some((l) => l.startsWith("usage: deno task report")));
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.match(html, /steps \(seconds\) to 50\.00% val\. error/, "--target reaches the page");
  });
});

Deno.test("cli: as a process, exit status 2 and a message on a bad option", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/report/cli.ts", "--target", "abc"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 2);
  assert.match(
    new TextDecoder().decode(r.stderr),
    /--target must be a number between 0 and 1, got "abc"/,
  );
});

Deno.test("results root: the index is written only where ShiftLab owns the folder, never over a user's file", async () => {
  await withTemp(async (root) => {
    // a folder the tool did not create: no index for an experiment inside it
    const exp = await writeFixture(root, { id: "x", variants: ["plain"], runs: 1, epochs: 1 });
    assert.equal(await ownsResultsRoot(root), false);
    assert.deepEqual(await updateResultsIndex(root), {});
    await assert.rejects(() => Deno.stat(join(root, "index.html")), Deno.errors.NotFound);
    // named explicitly as a results folder (deno task report DIR): written
    assert.equal((await updateResultsIndex(root, true)).written, join(root, "index.html"));
    assert.ok(await isOwnIndex(join(root, "index.html")));
    // a user's own index.html is never replaced, explicit or not
    await Deno.writeTextFile(join(root, "index.html"), "mine");
    const u = await updateResultsIndex(root, true);
    assert.equal(u.written, undefined);
    assert.match(u.warning!, /^warning: left .*index\.html alone: ShiftLab did not write it/);
    await assert.rejects(() => writeResultsIndex(root), /was not written by ShiftLab; left alone/);
    assert.equal(await Deno.readTextFile(join(root, "index.html")), "mine");
    // a report of the experiment leaves it alone too, with one warning line
    const r = await silenced(() => main([exp]));
    assert.equal(r.value, 0, r.err);
    assert.equal(r.err.split("\n").filter((l) => l.startsWith("warning: left")).length, 1, r.err);
    assert.equal(await Deno.readTextFile(join(root, "index.html")), "mine");
    // a new output folder under a missing parent: the parent is created and marked as owned
    const fresh = join(root, "new-results", "exp");
    assert.equal((await createOutputFolder(fresh)).created, true);
    assert.equal((await createOutputFolder(fresh)).created, false, "already there");
    assert.ok(await ownsResultsRoot(join(root, "new-results")));
    assert.ok((await Deno.stat(join(root, "new-results", RESULTS_MARKER))).isFile);
    assert.equal(await ownsResultsRoot(root), false, "an existing parent is not marked");
    assert.ok(
      (await updateResultsIndex(join(root, "new-results"))).written,
      "an owned root's index is kept current",
    );
    // a run that fails before writing anything takes back the folders it made
    const other = await createOutputFolder(join(root, "other", "exp"));
    await other.discard();
    await assert.rejects(() => Deno.stat(join(root, "other")), Deno.errors.NotFound);
    const kept = await createOutputFolder(join(root, "new-results", "exp2"));
    await Deno.writeTextFile(join(root, "new-results", "exp2", "result"), "x");
    await kept.discard();
    assert.ok((await Deno.stat(join(root, "new-results", "exp2", "result"))).isFile);
  });
});

Deno.test("report: unreadable records are left out and listed on the page and in the output", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, {
      id: "u",
      variants: ["plain", "sh"],
      runs: 2,
      epochs: 1,
      stepsPerEpoch: 20,
    });
    await Deno.writeTextFile(join(dir, "runs", "plain__lr0.01__run1.json"), "{ not json");
    const other = join(dir, "runs", "sh__lr0.01__run0.json");
    const rec = JSON.parse(await Deno.readTextFile(other));
    rec.version = 99;
    await Deno.writeTextFile(other, JSON.stringify(rec));
    const r = await silenced(() => main([dir]));
    assert.equal(r.value, 0, r.err);
    const text = r.out + r.err;
    assert.match(text, /runs\/plain__lr0\.01__run1\.json.*not valid JSON/);
    assert.match(text, /runs\/sh__lr0\.01__run0\.json.*record version 99/);
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.match(html, /2 unreadable run records/);
    assert.match(html, /runs\/plain__lr0\.01__run1\.json/);
    assert.match(html, /record version 99 is not supported \(expected one of 1, 2\)/);
    assert.match(html, /<b>Partial sweep\.<\/b> 2 of 4 planned runs/);
  });
});

Deno.test("experiment page: no empty 'Grouped views' section when all variants are one family", async () => {
  await withTemp(async (root) => {
    const dir = await writeFixture(root, {
      id: "g",
      variants: ["plain", "bn"],
      runs: 1,
      epochs: 1,
      stepsPerEpoch: 20,
    });
    const html = await Deno.readTextFile(await writeExperimentReport(dir));
    assert.doesNotMatch(html, /Grouped views/);
    assert.doesNotMatch(html, /href="#groups"/);
    assert.match(html, /<section id="curves">/);
  });
});
