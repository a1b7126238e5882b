/**
 * Downloading the CIFAR archives: fetch, verify the MD5 the dataset's authors publish, extract
 * the `.tar.gz` with a small built-in tar reader (no external `tar` needed).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { writeFileAtomic } from "../io/atomic.ts";
import { CIFAR, type CifarName, findCifarDir } from "./cifar.ts";

/** Hex MD5 of `bytes`. */
export function md5Hex(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** One regular file of a tar archive. */
export interface TarEntry {
  path: string;
  data: Uint8Array;
}

/** Reads the regular files of a (ustar / GNU) tar archive; `file` names it in errors. */
export function readTar(bytes: Uint8Array, file: string): TarEntry[] {
  const out: TarEntry[] = [];
  const dec = new TextDecoder();
  const str = (o: number, n: number) => {
    const s = bytes.subarray(o, o + n);
    const end = s.indexOf(0);
    return dec.decode(end >= 0 ? s.subarray(0, end) : s);
  };
  let off = 0;
  while (off + 512 <= bytes.length) {
    if (bytes.subarray(off, off + 512).every((b) => b === 0)) break;
    const name = str(off, 100);
    const prefix = str(off + 345, 155);
    const sizeText = str(off + 124, 12).trim();
    const size = parseInt(sizeText || "0", 8);
    const type = String.fromCharCode(bytes[off + 156] || 48);
    if (!Number.isFinite(size) || size < 0) {
      throw new Error(`${file}: corrupt tar header at byte ${off} (size field '${sizeText}')`);
    }
    const start = off + 512;
    if (start + size > bytes.length) {
      throw new Error(`${file}: truncated tar archive (entry '${name}' runs past the end)`);
    }
    if (type === "0" || type === "\0") {
      out.push({
        path: prefix ? `${prefix}/${name}` : name,
        data: bytes.subarray(start, start + size),
      });
    }
    off = start + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Gunzips a buffer; `file` names it in errors. */
export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new Error(`${file}: corrupt gzip data (${(e as Error).message})`);
  }
}

/** Options of {@link downloadCifar}. */
export interface DownloadOptions {
  /** Archive URL (default: the official one); `file:` URLs work, for tests and mirrors. */
  url?: string;
  /** Expected MD5 (default: the official one). */
  md5?: string;
  /** Called with progress messages. */
  log?: (line: string) => void;
}

/**
 * Downloads, verifies and extracts a CIFAR archive into `dataDir` (giving
 * `dataDir/cifar-10-batches-bin/` or `dataDir/cifar-100-binary/`). Does nothing when the files
 * are already there. Errors are one line: offline, it says what to download and where to put it.
 */
export async function downloadCifar(
  name: CifarName,
  dataDir: string,
  opts: DownloadOptions = {},
): Promise<string> {
  const info = CIFAR[name];
  const existing = findCifarDir(name, dataDir);
  if (existing) {
    opts.log?.(`${name}: already present in ${existing}`);
    return existing;
  }
  const url = opts.url ?? info.url;
  const manual = `download ${info.url} (md5 ${info.md5}) yourself and extract it into ${dataDir}`;
  opts.log?.(`${name}: downloading ${url}`);
  let bytes: Uint8Array;
  try {
    const res = await fetch(url);
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status} ${res.statusText}`);
    }
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new Error(`${name}: cannot download ${url} (${(e as Error).message}); ${manual}`);
  }
  const md5 = opts.md5 ?? info.md5;
  const got = md5Hex(bytes);
  if (got !== md5) {
    throw new Error(
      `${name}: checksum mismatch for ${url}: md5 ${got}, expected ${md5} (corrupt or ` +
        `incomplete download); ${manual}`,
    );
  }
  opts.log?.(`${name}: md5 ok (${(bytes.length / 1e6).toFixed(1)} MB), extracting`);
  const entries = readTar(await gunzip(bytes, url), url);
  const wanted = new Set([...info.files.train, ...info.files.test]);
  let written = 0;
  for (const e of entries) {
    const base = e.path.split("/").pop()!;
    if (!wanted.has(base)) continue;
    await writeFileAtomic(`${dataDir}/${info.subdir}/${base}`, e.data, { mkdir: true });
    written++;
  }
  if (written !== wanted.size) {
    throw new Error(
      `${name}: the archive ${url} holds ${written} of the ${wanted.size} expected files ` +
        `(${[...wanted].join(", ")}); ${manual}`,
    );
  }
  const dir = `${dataDir}/${info.subdir}`;
  opts.log?.(`${name}: ready in ${dir}`);
  return dir;
}
