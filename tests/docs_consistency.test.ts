/**
 * Numbers stated in two places must agree: the quick default's measured time is in the README
 * ("What the default experiment does") and in the preset's own `$comment`.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

Deno.test("docs: the README and quick.json state the same quick-default time", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const quick = JSON.parse(
    await Deno.readTextFile(new URL("experiments/presets/quick.json", ROOT)),
  ) as { $comment: string; runs: number; variants: string[] };
  const section = readme.slice(readme.indexOf("## What the default experiment does"));
  const inReadme = section.match(/takes about (\d+) minutes? (\d+) seconds/);
  const inPreset = quick.$comment.match(/About (\d+) min (\d+) s/);
  assert.ok(inReadme, "the README states the quick default's time");
  assert.ok(inPreset, "quick.json's $comment states its time");
  assert.deepEqual(inPreset.slice(1), inReadme.slice(1));
  // and the README's run count is the preset's
  const runs = section.match(/\((\d+) runs, two at a time/);
  assert.equal(Number(runs?.[1]), quick.runs * quick.variants.length);
});
