/**
 * IDX file parsing (the MNIST / Fashion-MNIST container format), with validation.
 *
 * Layout: two zero bytes, a type byte (`0x08` = unsigned byte, the only type the image
 * datasets use), the number of dimensions, then one big-endian uint32 per dimension, then the
 * data in row-major order. Files may be gzip-compressed (`.gz`).
 *
 * @module
 */

/** A parsed IDX file: its dimensions and its unsigned-byte payload. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parses an IDX byte buffer. `file` names the source in error messages. Throws when the magic
 * number, the element type, the header or the payload size is wrong.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new Error(`${file}: not an IDX file (only ${bytes.length} bytes, header needs 4)`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(
      `${file}: bad IDX magic number 0x${hex(bytes, 0, 4)} (expected 0x000008NN: two zero bytes, ` +
        `type 0x08, dimension count)`,
    );
  }
  if (bytes[2] !== 0x08) {
    throw new Error(
      `${file}: IDX element type 0x${bytes[2].toString(16).padStart(2, "0")} not supported ` +
        `(expected 0x08, unsigned byte)`,
    );
  }
  const ndim = bytes[3];
  if (ndim < 1) throw new Error(`${file}: IDX header declares 0 dimensions (expected >= 1)`);
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) {
    throw new Error(
      `${file}: truncated IDX header (${bytes.length} bytes, ${ndim} dimensions need ${headerLen})`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  const have = bytes.length - headerLen;
  if (have !== size) {
    throw new Error(
      `${file}: IDX payload is ${have} bytes but the header's dimensions [${dims.join(", ")}] ` +
        `need ${size}${have < size ? " (file truncated?)" : " (trailing garbage?)"}`,
    );
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/** Serialises unsigned-byte data as an IDX file (used by tests and tools). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new Error(`encodeIdx: dims [${dims.join(", ")}] need ${size} bytes, got ${data.length}`);
  }
  const out = new Uint8Array(4 + 4 * dims.length + size);
  out[2] = 0x08;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Reads a file, gunzipping it when its name ends in `.gz`; errors name the file. */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  if (!path.endsWith(".gz")) return bytes;
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new Error(`${path}: corrupt gzip data (${(e as Error).message})`);
  }
}

function hex(b: Uint8Array, start: number, n: number): string {
  return Array.from(b.subarray(start, start + n), (x) => x.toString(16).padStart(2, "0")).join("");
}
