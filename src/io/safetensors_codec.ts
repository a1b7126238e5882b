/**
 * The safetensors container format, bytes in and out (no model knowledge).
 *
 * Layout: an 8-byte little-endian unsigned header length `N`, then `N` bytes of UTF-8 JSON,
 * then the data section. The JSON maps each tensor name to
 * `{ "dtype": "F32" | "F64", "shape": [...], "data_offsets": [begin, end] }` (offsets in bytes,
 * relative to the data section) and may hold `"__metadata__"`, a map of string to string.
 * Tensor data is little-endian and row-major. The header is padded with spaces to a multiple
 * of 8 bytes so every tensor starts aligned.
 *
 * @module
 */

/** Element types this codec reads and writes. */
export type SafetensorsDType = "F32" | "F64";

/** One decoded tensor. */
export interface StoredTensor {
  /** Element type in the file. */
  dtype: SafetensorsDType;
  /** Row-major shape. */
  shape: number[];
  /** The values (a copy, aligned, in host order). */
  data: Float32Array | Float64Array;
}

/** A decoded file: tensors by name plus the string metadata. */
export interface SafetensorsFile {
  /** Tensors in the order of their data offsets. */
  tensors: Map<string, StoredTensor>;
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8 };
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Headers above this size are refused (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Encodes tensors and metadata into safetensors bytes. Tensors are written in the iteration
 * order of `tensors`; `Float32Array` data becomes `F32`, `Float64Array` becomes `F64`.
 */
export function encodeSafetensors(
  tensors: Iterable<[string, { shape: readonly number[]; data: Float32Array | Float64Array }]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new Error(`safetensors metadata '${k}' must be a string, got ${typeof v}`);
      }
    }
    header.__metadata__ = metadata;
  }
  const entries: { data: Float32Array | Float64Array; begin: number }[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__") {
      throw new Error(`safetensors: '__metadata__' is not a tensor name`);
    }
    if (name in header) throw new Error(`safetensors: tensor name '${name}' appears twice`);
    const dtype: SafetensorsDType = t.data instanceof Float64Array ? "F64" : "F32";
    const n = shapeSize(t.shape);
    if (n !== t.data.length) {
      throw new Error(
        `safetensors: tensor '${name}' of shape [${
          t.shape.join(", ")
        }] needs ${n} values, has ${t.data.length}`,
      );
    }
    const bytes = n * BYTES[dtype];
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    entries.push({ data: t.data, begin: offset });
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  const base = 8 + json.length;
  for (const e of entries) {
    const start = base + e.begin;
    if (HOST_LITTLE_ENDIAN) {
      out.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), start);
    } else if (e.data instanceof Float64Array) {
      for (let i = 0; i < e.data.length; i++) view.setFloat64(start + 8 * i, e.data[i], true);
    } else {
      for (let i = 0; i < e.data.length; i++) view.setFloat32(start + 4 * i, e.data[i], true);
    }
  }
  return out;
}

function fail(what: string, msg: string): never {
  throw new Error(`${what}: ${msg}`);
}

/**
 * Decodes safetensors bytes. `what` names the source (e.g. the file path) in error messages.
 * Throws a clear error for data that is not safetensors, is truncated, or is inconsistent.
 */
export function decodeSafetensors(bytes: Uint8Array, what = "safetensors data"): SafetensorsFile {
  if (bytes.length < 8) {
    fail(
      what,
      `not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length field`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen < 2n || headerLen > BigInt(MAX_HEADER_BYTES)) {
    fail(
      what,
      `not a safetensors file: the first 8 bytes give a header length of ${headerLen} bytes ` +
        `(expected a little-endian length between 2 and ${MAX_HEADER_BYTES})`,
    );
  }
  const n = Number(headerLen);
  if (8 + n > bytes.length) {
    fail(
      what,
      `truncated or not a safetensors file: header claims ${n} bytes but only ${
        bytes.length - 8
      } follow the length field`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(what, `not a safetensors file: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) {
    fail(what, `not a safetensors file: header is not a JSON object`);
  }
  const dataLen = bytes.length - 8 - n;
  const dataStart = 8 + n;
  const metadata: Record<string, string> = {};
  const found: {
    name: string;
    dtype: SafetensorsDType;
    shape: number[];
    begin: number;
    end: number;
  }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
        fail(what, `__metadata__ must be an object of strings`);
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(what, `__metadata__ entry '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!info || typeof info !== "object") fail(what, `tensor '${name}': entry is not an object`);
    if (info.dtype !== "F32" && info.dtype !== "F64") {
      fail(
        what,
        `tensor '${name}': dtype ${JSON.stringify(info.dtype)} is not supported (F32 or F64)`,
      );
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(what, `tensor '${name}': shape must be a list of non-negative integers`);
    }
    const off = info.data_offsets;
    if (
      !Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) ||
      off[1] < off[0]
    ) {
      fail(what, `tensor '${name}': data_offsets must be [begin, end] with 0 <= begin <= end`);
    }
    const dtype = info.dtype as SafetensorsDType;
    const expect = shapeSize(shape as number[]) * BYTES[dtype];
    if (off[1] - off[0] !== expect) {
      fail(
        what,
        `tensor '${name}': data_offsets span ${off[1] - off[0]} bytes but ${dtype} [${
          (shape as number[]).join(", ")
        }] needs ${expect}`,
      );
    }
    found.push({ name, dtype, shape: shape as number[], begin: off[0], end: off[1] });
  }
  found.sort((a, b) => a.begin - b.begin);
  let cursor = 0;
  for (const f of found) {
    if (f.begin !== cursor) {
      fail(
        what,
        `tensor '${f.name}': data starts at byte ${f.begin}, expected ${cursor} (gap or overlap)`,
      );
    }
    cursor = f.end;
  }
  if (cursor > dataLen) {
    fail(
      what,
      `truncated: the header describes ${cursor} bytes of tensor data but only ${dataLen} are present`,
    );
  }
  if (cursor < dataLen) {
    fail(
      what,
      `corrupt: ${dataLen - cursor} bytes after the last tensor are not described by the header`,
    );
  }
  const tensors = new Map<string, StoredTensor>();
  for (const f of found) {
    const count = shapeSize(f.shape);
    const data = f.dtype === "F64" ? new Float64Array(count) : new Float32Array(count);
    if (HOST_LITTLE_ENDIAN) {
      new Uint8Array(data.buffer).set(bytes.subarray(dataStart + f.begin, dataStart + f.end));
    } else {
      const start = dataStart + f.begin;
      for (let i = 0; i < count; i++) {
        data[i] = f.dtype === "F64"
          ? view.getFloat64(start + 8 * i, true)
          : view.getFloat32(start + 4 * i, true);
      }
    }
    tensors.set(f.name, { dtype: f.dtype, shape: f.shape, data });
  }
  return { tensors, metadata };
}
