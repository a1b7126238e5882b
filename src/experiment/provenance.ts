/**
 * Provenance of a run: backend, device, native library build, Deno version, git commit, host.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import type { Provenance } from "./record.ts";

let commitCache: string | null | undefined;

/** `git rev-parse HEAD` of the checkout holding this file, or null (no git, not a repo). */
export function gitCommit(): string | null {
  if (commitCache !== undefined) return commitCache;
  try {
    const out = new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      cwd: decodeURIComponent(new URL("../../", import.meta.url).pathname),
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const s = new TextDecoder().decode(out.stdout).trim();
    commitCache = out.success && /^[0-9a-f]{40}$/.test(s) ? s : null;
  } catch {
    commitCache = null;
  }
  return commitCache;
}

/** The native library's build string when the backend exposes one (`buildInfo`, `library`, `build`). */
export function libraryBuild(backend: Backend): string | null {
  const b = backend as unknown as Record<string, unknown>;
  for (const k of ["buildInfo", "library", "build", "libraryVersion", "version"]) {
    const v = b[k];
    if (typeof v === "string" && v) return v;
  }
  return null;
}

/** Provenance for a run starting now on `backend`. */
export function provenance(backend: Backend): Provenance {
  let hostname = "unknown";
  try {
    hostname = Deno.hostname();
  } catch { /* no sys permission */ }
  return {
    backend: backend.name,
    device: backend.device,
    library: backend.name === "ts" ? null : libraryBuild(backend),
    deno: Deno.version.deno,
    commit: gitCommit(),
    startedAt: new Date().toISOString(),
    hostname,
  };
}
