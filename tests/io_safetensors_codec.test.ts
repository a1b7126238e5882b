import assert from "node:assert/strict";
import { decodeSafetensors, encodeSafetensors } from "../src/io/safetensors_codec.ts";

function sample(): Uint8Array {
  return encodeSafetensors(
    [
      ["a.weight", { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 4, 5, 1e-30]) }],
      ["b", { shape: [3], data: Float64Array.from([Math.PI, -0, 1 / 3]) }],
      ["empty", { shape: [0, 4], data: new Float32Array(0) }],
    ],
    { format: "test", note: "héllo" },
  );
}

Deno.test("safetensors: layout is u64 LE header length, padded JSON, LE data", () => {
  const bytes = sample();
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  assert.equal(n % 8, 0, "header padded to 8 bytes");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.__metadata__, { format: "test", note: "héllo" });
  assert.deepEqual(header["a.weight"], { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(header.b, { dtype: "F64", shape: [3], data_offsets: [24, 48] });
  assert.deepEqual(header.empty, { dtype: "F32", shape: [0, 4], data_offsets: [48, 48] });
  assert.equal(bytes.length, 8 + n + 48);
  assert.equal(view.getFloat32(8 + n + 4, true), -2);
  assert.equal(view.getFloat64(8 + n + 24, true), Math.PI);
});

Deno.test("safetensors: decode(encode(x)) is exact", () => {
  const f = decodeSafetensors(sample());
  assert.deepEqual(f.metadata, { format: "test", note: "héllo" });
  assert.deepEqual([...f.tensors.keys()], ["a.weight", "b", "empty"]);
  const a = f.tensors.get("a.weight")!;
  assert.equal(a.dtype, "F32");
  assert.ok(a.data instanceof Float32Array);
  assert.deepEqual(a.data, Float32Array.from([1, -2, 3.5, 4, 5, 1e-30]));
  const b = f.tensors.get("b")!;
  assert.ok(b.data instanceof Float64Array);
  assert.ok(Object.is(b.data[1], -0));
  assert.deepEqual(b.data, Float64Array.from([Math.PI, -0, 1 / 3]));
  assert.equal(f.tensors.get("empty")!.data.length, 0);
});

Deno.test("safetensors: decodes a file written by the reference format (hand-built)", () => {
  // {"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} without padding, as Python writes it.
  const json = new TextEncoder().encode('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
  const bytes = new Uint8Array(8 + json.length + 8);
  const v = new DataView(bytes.buffer);
  v.setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  v.setFloat32(8 + json.length, 1.5, true);
  v.setFloat32(12 + json.length, -7, true);
  const f = decodeSafetensors(bytes);
  assert.deepEqual(f.metadata, {});
  assert.deepEqual(f.tensors.get("x")!.data, Float32Array.from([1.5, -7]));
});

Deno.test("safetensors: not-safetensors, truncated and corrupt data give clear errors", () => {
  const good = sample();
  assert.throws(
    () => decodeSafetensors(new Uint8Array(5), "f.st"),
    /f\.st: not a safetensors file: 5 bytes/,
  );
  const png = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13]);
  assert.throws(
    () => decodeSafetensors(png, "img.png"),
    /img\.png: not a safetensors file: the first 8 bytes/,
  );
  const text = new TextEncoder().encode("hello world, this is text");
  assert.throws(() => decodeSafetensors(text), /not a safetensors file/);
  // Header cut short.
  assert.throws(
    () => decodeSafetensors(good.subarray(0, 20)),
    /truncated or not a safetensors file: header claims/,
  );
  // Data cut short.
  assert.throws(
    () => decodeSafetensors(good.subarray(0, good.length - 4)),
    /truncated: the header describes 48 bytes of tensor data but only 44/,
  );
  // Trailing garbage.
  const longer = new Uint8Array(good.length + 3);
  longer.set(good);
  assert.throws(() => decodeSafetensors(longer), /3 bytes after the last tensor/);
  // Header bytes that are not JSON.
  const broken = good.slice();
  broken[8] = 0x7b + 1;
  assert.throws(() => decodeSafetensors(broken), /header is not valid UTF-8 JSON/);
});

Deno.test("safetensors: inconsistent headers are rejected", () => {
  const make = (header: unknown, dataBytes: number) => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const b = new Uint8Array(8 + json.length + dataBytes);
    new DataView(b.buffer).setBigUint64(0, BigInt(json.length), true);
    b.set(json, 8);
    return b;
  };
  assert.throws(
    () => decodeSafetensors(make({ x: { dtype: "I8", shape: [1], data_offsets: [0, 1] } }, 1)),
    /dtype "I8" is not supported/,
  );
  assert.throws(
    () => decodeSafetensors(make({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8)),
    /span 8 bytes but F32 \[3\] needs 12/,
  );
  assert.throws(
    () =>
      decodeSafetensors(
        make({
          x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          y: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
        }, 12),
      ),
    /gap or overlap/,
  );
  assert.throws(() => decodeSafetensors(make([1, 2], 0)), /header is not a JSON object/);
  assert.throws(
    () => decodeSafetensors(make({ __metadata__: { a: 1 } }, 0)),
    /'a' is not a string/,
  );
});

Deno.test("safetensors: encode rejects bad input", () => {
  assert.throws(
    () => encodeSafetensors([["x", { shape: [2, 2], data: new Float32Array(3) }]]),
    /shape \[2, 2\] needs 4 values, has 3/,
  );
  assert.throws(
    () =>
      encodeSafetensors([
        ["x", { shape: [1], data: new Float32Array(1) }],
        ["x", { shape: [1], data: new Float32Array(1) }],
      ]),
    /appears twice/,
  );
});
