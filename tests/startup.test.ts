/**
 * Start-up cost of the experiment CLI, which every worker process of a packed sweep pays: its
 * static imports must not reach an npm package. The report's statistics (stdlib-js, some 1,000
 * modules, about 0.5 s to load) are imported when the report is written.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[];
}

Deno.test("experiment CLI: its static imports reach no npm package", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "experiments/cli.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const from = new Map<string, string>();
  const seen = new Set<string>();
  const stack = [info.roots[0]];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of modules.get(s)?.dependencies ?? []) {
      const to = d.code?.specifier;
      if (d.isDynamic || !to || seen.has(to)) continue;
      if (!from.has(to)) from.set(to, s);
      stack.push(to);
    }
  }
  assert.ok(seen.size > 20, `the graph was read (${seen.size} modules)`);
  const npm = [...seen].filter((s) => s.startsWith("npm:"));
  const chain = (s: string): string => from.has(s) ? `${chain(from.get(s)!)} -> ${s}` : s;
  assert.deepEqual(npm.map(chain), [], "an npm package is imported at start-up");
});
