/**
 * A sweep's prepared data in one file, so the worker processes of a packed sweep read the
 * parent's training, validation and test sets (already split, cut and normalised) instead of
 * each loading and normalising the whole dataset again: a header line of JSON, then the arrays,
 * each starting at a multiple of 8 bytes.
 *
 * @module
 */
import type { Dataset, NormStats } from "../data/dataset.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import type { SweepData } from "./sweep.ts";

interface Entry {
  name: string;
  inputShape: number[];
  classes: number;
  size: number;
  labels: "u8" | "u16";
  norm: boolean;
}

const pad = (n: number) => (n + 7) & ~7;

/** Writes `data` (the test set loaded) to `path`. */
export async function writeSweepData(path: string, data: SweepData): Promise<void> {
  const test = data.test ? await data.test() : null;
  const sets = [data.train, data.val, ...(test ? [test] : [])];
  const norm = data.train.norm;
  const arrays: ArrayBufferView[] = [];
  const entries: Entry[] = sets.map((ds) => {
    arrays.push(ds.images, ds.labels);
    return {
      name: ds.name,
      inputShape: ds.inputShape,
      classes: ds.classes,
      size: ds.size,
      labels: ds.labels instanceof Uint16Array ? "u16" : "u8",
      norm: !!ds.norm,
    };
  });
  if (norm) arrays.push(norm.mean, norm.std);
  const header = new TextEncoder().encode(
    JSON.stringify({ sets: entries, test: !!test, norm: norm ? norm.mean.length : 0 }) + "\n",
  );
  let size = pad(header.length);
  for (const a of arrays) size += pad(a.byteLength);
  const out = new Uint8Array(size);
  out.set(header);
  let off = pad(header.length);
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += pad(a.byteLength);
  }
  await writeFileAtomic(path, out);
}

/** Reads what {@link writeSweepData} wrote. */
export async function readSweepData(path: string): Promise<SweepData> {
  const bytes = await Deno.readFile(path);
  const nl = bytes.indexOf(10);
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl))) as {
    sets: Entry[];
    test: boolean;
    norm: number;
  };
  let off = pad(nl + 1);
  const next = <T>(
    make: (buf: ArrayBuffer, off: number, n: number) => T,
    n: number,
    size: number,
  ) => {
    const v = make(bytes.buffer, bytes.byteOffset + off, n);
    off += pad(n * size);
    return v;
  };
  const parts = head.sets.map((e) => {
    const per = e.inputShape.reduce((a, b) => a * b, 1);
    const images = next((b, o, n) => new Float32Array(b, o, n), e.size * per, 4);
    const labels = e.labels === "u16"
      ? next((b, o, n) => new Uint16Array(b, o, n), e.size, 2)
      : next((b, o, n) => new Uint8Array(b, o, n), e.size, 1);
    return { e, images, labels };
  });
  let norm: NormStats | undefined;
  if (head.norm) {
    norm = {
      mean: next((b, o, n) => new Float32Array(b, o, n), head.norm, 4),
      std: next((b, o, n) => new Float32Array(b, o, n), head.norm, 4),
    };
  }
  const sets: Dataset[] = parts.map(({ e, images, labels }) => ({
    name: e.name,
    inputShape: e.inputShape,
    classes: e.classes,
    size: e.size,
    images,
    labels,
    ...(e.norm && norm ? { norm } : {}),
  }));
  const test = head.test ? sets[2] : null;
  return { train: sets[0], val: sets[1], test: test ? () => Promise.resolve(test) : null };
}
