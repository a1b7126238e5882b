/**
 * Whether two experiment folders hold the same results: every run record of A compared field by
 * field with the record of the same name in B, leaving out what changes with the machine and the
 * moment (`provenance`, `wallSeconds`, `epochSeconds`) and the experiment's name. For speed work,
 * where a faster build must give the same bits (see README, Development):
 *
 *   deno run -A bench/ab/records.ts DIR_A DIR_B
 *
 * Prints one line per difference and a summary; exits 0 when every record of A is in B and the
 * same, 1 when not, 2 on misuse.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { readRunRecords } from "../../src/experiment/files.ts";
import type { RunRecord } from "../../src/experiment/record.ts";

/** The fields of a record that may differ between two runs of the same computation. */
export const VOLATILE = ["provenance", "wallSeconds", "epochSeconds"] as const;

/** A record without its volatile fields and its experiment name. */
export function comparable(r: RunRecord): unknown {
  const out: Record<string, unknown> = { ...r };
  for (const k of VOLATILE) delete out[k];
  out.config = { ...r.config, experiment: undefined };
  return out;
}

/** Where two values first differ (a dotted path), or null when they are the same. */
export function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (Object.is(a, b)) return null;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return path || "(value)";
  }
  if (Array.isArray(a) !== Array.isArray(b)) return path || "(value)";
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      path ? `${path}.${k}` : k,
    );
    if (d !== null) return d;
  }
  return null;
}

/** Compares the run records of two experiment folders; the lines to print and whether all match. */
export async function compareFolders(
  dirA: string,
  dirB: string,
): Promise<{ lines: string[]; same: boolean }> {
  const [a, b] = await Promise.all([
    readRunRecords(`${dirA}/runs`),
    readRunRecords(`${dirB}/runs`),
  ]);
  if (a.records.size === 0) throw new Error(`${dirA}/runs holds no run records`);
  const lines: string[] = [];
  let identical = 0;
  for (const u of [...a.unreadable, ...b.unreadable]) {
    lines.push(`unreadable: ${u.file} (${u.reason})`);
  }
  for (const [name, ra] of a.records) {
    const rb = b.records.get(name);
    if (!rb) {
      lines.push(`missing in ${dirB}: ${name}`);
      continue;
    }
    const d = firstDifference(comparable(ra), comparable(rb));
    if (d === null) identical++;
    else lines.push(`differs: ${name} (first at ${d})`);
  }
  const same = identical === a.records.size && a.unreadable.length + b.unreadable.length === 0;
  lines.push(`${identical} of ${a.records.size} records identical`);
  return { lines, same };
}

if (import.meta.main) {
  let dirs: string[];
  try {
    dirs = parseArgs({ args: Deno.args, allowPositionals: true, options: {} }).positionals;
    if (dirs.length !== 2) throw new Error(`expected two experiment folders, got ${dirs.length}`);
  } catch (e) {
    console.error(`records: ${(e as Error).message} (usage: records.ts DIR_A DIR_B)`);
    Deno.exit(2);
  }
  try {
    const { lines, same } = await compareFolders(dirs[0], dirs[1]);
    for (const l of lines) console.log(l);
    Deno.exit(same ? 0 : 1);
  } catch (e) {
    console.error(`records: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
