/**
 * Byte, gzip and tar fixtures for the data tests, generated in memory.
 *
 * @module
 */

/** `n` bytes, byte `i` = `f(i)`. */
export function bytes(n: number, f: (i: number) => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = f(i);
  return b;
}

/** gzip-compresses `data`. */
export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Minimal ustar writer for regular files. */
export function tar(files: { path: string; data: Uint8Array }[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const f of files) {
    const h = new Uint8Array(512);
    h.set(enc.encode(f.path), 0);
    h.set(enc.encode("0000644\0"), 100);
    h.set(enc.encode(f.data.length.toString(8).padStart(11, "0") + "\0"), 124);
    h[156] = 48;
    h.set(enc.encode("ustar\0"), 257);
    chunks.push(h, f.data, new Uint8Array((512 - (f.data.length % 512)) % 512));
  }
  chunks.push(new Uint8Array(1024));
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
