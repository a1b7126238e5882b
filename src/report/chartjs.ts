/**
 * Finds and reads Chart.js's UMD bundle from the npm package `chart.js` (mapped in `deno.json`),
 * so report pages can inline it and work offline from `file://`.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | null = null;

/**
 * Path of `dist/chart.umd.min.js` (or `chart.umd.js`) of the resolved `chart.js` package. The
 * package's entry point resolves to `dist/chart.js`; the UMD bundle lies beside it. Throws with a
 * remedy when the package is not installed.
 */
export function chartJsBundlePath(): string {
  let entry: string;
  try {
    entry = import.meta.resolve("chart.js");
  } catch (e) {
    throw new Error(
      `cannot resolve the npm package "chart.js" (deno.json imports it as npm:chart.js@4.5.1): ${
        (e as Error).message
      }; run \`deno install\` in the repository`,
    );
  }
  if (!entry.startsWith("file:")) {
    throw new Error(
      `the npm package "chart.js" resolved to ${entry}, not a local file; set "nodeModulesDir": "auto" in deno.json and run \`deno install\``,
    );
  }
  const dist = dirname(fileURLToPath(entry));
  for (const name of ["chart.umd.min.js", "chart.umd.js"]) {
    const p = join(dist, name);
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // try the next name
    }
  }
  throw new Error(
    `Chart.js's UMD bundle was not found in ${dist} (expected chart.umd.min.js or chart.umd.js); run \`deno install\``,
  );
}

/**
 * The text of Chart.js's UMD bundle, safe to place inside a `<script>` element (any `</script`
 * is escaped). Read once per process.
 */
export async function chartJsBundle(): Promise<string> {
  if (cached === null) {
    // Importing the package makes Deno install it into node_modules when it is missing there
    // (a fresh checkout without `deno install`); the UMD bundle is then read from beside it.
    await import("chart.js");
    const text = await Deno.readTextFile(chartJsBundlePath());
    cached = text.replace(/<\/(script)/gi, "<\\/$1");
  }
  return cached;
}
