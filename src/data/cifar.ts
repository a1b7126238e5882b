/**
 * CIFAR-10 and CIFAR-100 from their standard binary distributions.
 *
 * CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` … `data_batch_5.bin` and
 * `test_batch.bin`, each 10000 records of 1 label byte + 3072 pixel bytes (R, G, B planes of
 * 32x32). CIFAR-100 (`cifar-100-binary/`): `train.bin` (50000) and `test.bin` (10000), records
 * of a coarse label byte, a fine label byte and 3072 pixel bytes; we use the fine labels.
 *
 * @module
 */
import { checkLabels, type Dataset } from "./dataset.ts";
import type { Split } from "./mnist.ts";

/** The two CIFAR datasets. */
export type CifarName = "cifar10" | "cifar100";

/** Pixel bytes per CIFAR image (3 x 32 x 32). */
export const CIFAR_PIXELS = 3072;

/** Facts about each CIFAR distribution: files, archive, checksum. */
export const CIFAR: Record<CifarName, {
  classes: number;
  labelBytes: number;
  subdir: string;
  files: Record<Split, string[]>;
  /** Records per file in the official distribution. */
  recordsPerFile: Record<Split, number>;
  url: string;
  md5: string;
}> = {
  cifar10: {
    classes: 10,
    labelBytes: 1,
    subdir: "cifar-10-batches-bin",
    files: {
      train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
      test: ["test_batch.bin"],
    },
    recordsPerFile: { train: 10000, test: 10000 },
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
  },
  cifar100: {
    classes: 100,
    labelBytes: 2,
    subdir: "cifar-100-binary",
    files: { train: ["train.bin"], test: ["test.bin"] },
    recordsPerFile: { train: 50000, test: 10000 },
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    md5: "03b5dce01913d631647c71ecec9e9cb8",
  },
};

/**
 * Parses CIFAR binary records. `labelBytes` is 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine; the
 * fine label is used). Throws, naming `file`, when the size is not a whole number of records or
 * a label is out of range.
 */
export function parseCifar(
  bytes: Uint8Array,
  file: string,
  labelBytes: number,
  classes: number,
): { images: Float32Array; labels: Uint8Array; count: number } {
  const rec = labelBytes + CIFAR_PIXELS;
  if (bytes.length === 0 || bytes.length % rec !== 0) {
    throw new Error(
      `${file}: ${bytes.length} bytes is not a whole number of ${rec}-byte CIFAR records ` +
        `(${labelBytes} label byte${labelBytes > 1 ? "s" : ""} + ${CIFAR_PIXELS} pixels; ` +
        `file truncated or not a CIFAR-${classes} binary batch?)`,
    );
  }
  const count = bytes.length / rec;
  const images = new Float32Array(count * CIFAR_PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * rec;
    if (labelBytes === 2 && bytes[o] >= 20) {
      throw new Error(
        `${file}: coarse label ${bytes[o]} of record ${i} is out of range (expected 0..19)`,
      );
    }
    labels[i] = bytes[o + labelBytes - 1];
    const src = o + labelBytes;
    const dst = i * CIFAR_PIXELS;
    for (let j = 0; j < CIFAR_PIXELS; j++) images[dst + j] = bytes[src + j] / 255;
  }
  checkLabels(labels, classes, file);
  return { images, labels, count };
}

/** The folder under `dataDir` that holds the batch files (`dataDir` itself or its subdir). */
export function findCifarDir(name: CifarName, dataDir: string): string | null {
  const first = CIFAR[name].files.test[0];
  for (const dir of [dataDir, `${dataDir}/${CIFAR[name].subdir}`]) {
    try {
      if (Deno.statSync(`${dir}/${first}`).isFile) return dir;
    } catch { /* try the next */ }
  }
  return null;
}

/** What to do when CIFAR files are missing: one line. */
export function cifarMissingMessage(name: CifarName, dataDir: string): string {
  return `${name}: files not found in ${dataDir}; run 'deno task data ${name}' or download ` +
    `${CIFAR[name].url} and extract it into ${dataDir} (giving ${dataDir}/${CIFAR[name].subdir}/)`;
}

/**
 * Loads one split of CIFAR-10/100 from `dataDir` (or its standard subfolder). With `strict`
 * (the default) each file must hold exactly the official record count.
 */
export async function loadCifar(
  name: CifarName,
  split: Split,
  dataDir: string,
  opts: { strict?: boolean } = {},
): Promise<Dataset> {
  const info = CIFAR[name];
  const dir = findCifarDir(name, dataDir);
  if (!dir) throw new Error(cifarMissingMessage(name, dataDir));
  const parts: { images: Float32Array; labels: Uint8Array; count: number }[] = [];
  for (const f of info.files[split]) {
    const path = `${dir}/${f}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      throw new Error(
        `${path}: cannot read (${(e as Error).message}); ${cifarMissingMessage(name, dataDir)}`,
      );
    }
    const p = parseCifar(bytes, path, info.labelBytes, info.classes);
    if ((opts.strict ?? true) && p.count !== info.recordsPerFile[split]) {
      throw new Error(
        `${path}: ${p.count} records, the official ${name} file has ${
          info.recordsPerFile[split]
        } ` +
          `(truncated download?)`,
      );
    }
    parts.push(p);
  }
  const count = parts.reduce((a, p) => a + p.count, 0);
  const images = new Float32Array(count * CIFAR_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * CIFAR_PIXELS);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { name, inputShape: [3, 32, 32], classes: info.classes, size: count, images, labels };
}
