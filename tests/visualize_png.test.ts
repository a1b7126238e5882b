import assert from "node:assert/strict";
import { crc32, encodePng, PNG_SIGNATURE, zlibDecompress } from "../src/visualize/png.ts";
import { grid, heatmapImage, sampleImage, seismic, upscale } from "../src/visualize/image.ts";

/** Splits PNG bytes into chunks, checking every CRC. */
function chunks(png: Uint8Array): { type: string; body: Uint8Array }[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: { type: string; body: Uint8Array }[] = [];
  let o = 8;
  while (o < png.length) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    const body = png.subarray(o + 8, o + 8 + len);
    const crc = view.getUint32(o + 8 + len);
    assert.equal(crc, crc32(png.subarray(o + 4, o + 8 + len)), `CRC of ${type}`);
    out.push({ type, body });
    o += 12 + len;
  }
  assert.equal(o, png.length);
  return out;
}

Deno.test("crc32 matches the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new TextEncoder().encode("IEND")), 0xae426082);
});

for (const channels of [1, 3, 4] as const) {
  Deno.test(`encodePng (${channels} channels): signature, IHDR, CRCs and IDAT inflate round trip`, async () => {
    const width = 7;
    const height = 5;
    const data = new Uint8Array(width * height * channels);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) & 0xff;
    const png = await encodePng({ width, height, channels, data });
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    const cs = chunks(png);
    assert.deepEqual(cs.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
    const ihdr = new DataView(cs[0].body.buffer, cs[0].body.byteOffset, 13);
    assert.equal(ihdr.getUint32(0), width);
    assert.equal(ihdr.getUint32(4), height);
    assert.equal(cs[0].body[8], 8);
    assert.equal(cs[0].body[9], channels === 1 ? 0 : channels === 3 ? 2 : 6);
    const raw = await zlibDecompress(cs[1].body);
    const stride = width * channels;
    assert.equal(raw.length, (stride + 1) * height);
    for (let y = 0; y < height; y++) {
      assert.equal(raw[y * (stride + 1)], 0, "filter byte");
      assert.deepEqual(
        raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)),
        data.subarray(y * stride, (y + 1) * stride),
      );
    }
  });
}

Deno.test("encodePng rejects inconsistent sizes", async () => {
  await assert.rejects(
    encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) }),
    /2x2x3 needs 12 bytes, got 11/,
  );
  await assert.rejects(
    encodePng({ width: 0, height: 2, channels: 1, data: new Uint8Array(0) }),
    /positive integers/,
  );
});

Deno.test("seismic is white at 0, red for positive, blue for negative", () => {
  assert.deepEqual(seismic(0, 1), [255, 255, 255]);
  assert.deepEqual(seismic(1, 1), [128, 0, 0]);
  assert.deepEqual(seismic(-1, 1), [0, 0, 77]);
  assert.deepEqual(seismic(0.5, 1), [255, 0, 0]);
  assert.deepEqual(seismic(-0.5, 1), [0, 0, 255]);
  const [r, g, b] = seismic(0.25, 1);
  assert.ok(r === 255 && g < 255 && b < 255 && g === b);
});

Deno.test("sampleImage, heatmapImage, upscale and grid lay out pixels", () => {
  const img = sampleImage([0, 1, 0.5, 2], [1, 2, 2], { lo: 0, hi: 1 });
  assert.deepEqual([...img.data], [0, 0, 0, 255, 255, 255, 128, 128, 128, 255, 255, 255]);
  const heat = heatmapImage([1, -1, 0, 0.5], [1, 2, 2]);
  assert.deepEqual([...heat.data.subarray(0, 3)], [128, 0, 0]);
  assert.deepEqual([...heat.data.subarray(3, 6)], [0, 0, 77]);
  assert.deepEqual([...heat.data.subarray(6, 9)], [255, 255, 255]);
  const up = upscale(img, 2);
  assert.equal(up.width, 4);
  assert.deepEqual([...up.data.subarray(0, 6)], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...up.data.subarray(6, 9)], [255, 255, 255]);
  const g = grid([img, heat, img], 2, 1);
  assert.equal(g.width, 2 * 2 + 3);
  assert.equal(g.height, 2 * 2 + 3);
  // Top-left gap pixel is background, the first tile's pixel sits at (1, 1).
  assert.deepEqual([...g.data.subarray(0, 3)], [255, 255, 255]);
  assert.deepEqual([...g.data.subarray((1 * g.width + 1) * 3, (1 * g.width + 1) * 3 + 3)], [
    0,
    0,
    0,
  ]);
  assert.throws(() => grid([img, up], 2), /tiles must all be 2x2/);
});
