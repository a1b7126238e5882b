import assert from "node:assert/strict";
import { encodeIdx, parseIdx } from "../src/data/idx.ts";
import {
  FASHION_MNIST_SYSTEM_DIRS,
  findIdx,
  loadFashionMnist,
  loadIdxPair,
  loadMnistFormat,
} from "../src/data/mnist.ts";
import { loadCifar, parseCifar } from "../src/data/cifar.ts";
import { downloadCifar, md5Hex, readTar } from "../src/data/download.ts";
import { dataMain } from "../src/data/cli.ts";
import { loadDataset, parseDatasetName } from "../src/data/mod.ts";
import { bytes, gzip, tar } from "./data_fixtures.ts";

Deno.test("data: IDX round trip keeps dims and bytes", () => {
  const data = bytes(2 * 3 * 4, (i) => i * 7);
  const p = parseIdx(encodeIdx([2, 3, 4], data), "x.idx");
  assert.deepEqual(p.dims, [2, 3, 4]);
  assert.deepEqual(Array.from(p.data), Array.from(data));
});

Deno.test("data: corrupt and truncated IDX files give errors naming the file and the fault", () => {
  const good = encodeIdx([2, 2, 2], bytes(8, (i) => i));
  const badMagic = good.slice();
  badMagic[0] = 0x1f;
  assert.throws(() => parseIdx(badMagic, "f1.idx"), /f1\.idx: bad IDX magic number 0x1f/);
  const badType = good.slice();
  badType[2] = 0x0d;
  assert.throws(() => parseIdx(badType, "f2.idx"), /f2\.idx: IDX element type 0x0d/);
  assert.throws(
    () => parseIdx(good.subarray(0, good.length - 1), "f3.idx"),
    /f3\.idx:.*need 8.*truncated/,
  );
  assert.throws(() => parseIdx(good.subarray(0, 9), "f4.idx"), /f4\.idx: truncated IDX header/);
  const extra = new Uint8Array(good.length + 3);
  extra.set(good);
  assert.throws(() => parseIdx(extra, "f5.idx"), /f5\.idx:.*trailing garbage/);
});

Deno.test("data: MNIST-format folder round trip, plain and gzip, with validation", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const n = 5;
    const img = bytes(n * 4 * 3, (i) => (i * 13) % 256);
    const lab = bytes(n, (i) => i % 10);
    await Deno.writeFile(`${dir}/train-images-idx3-ubyte`, encodeIdx([n, 4, 3], img));
    await Deno.writeFile(`${dir}/train-labels-idx1-ubyte.gz`, await gzip(encodeIdx([n], lab)));
    const ds = await loadMnistFormat("toy", dir, "train");
    assert.equal(ds.size, n);
    assert.deepEqual(ds.inputShape, [1, 4, 3]);
    assert.deepEqual(Array.from(ds.labels), Array.from(lab));
    assert.ok(Math.abs(ds.images[7] - img[7] / 255) < 1e-7);

    // missing test files: the error names them
    await assert.rejects(
      loadMnistFormat("toy", dir, "test"),
      /t10k-images-idx3-ubyte\[\.gz\].*not found/,
    );
    // label out of range
    await Deno.writeFile(`${dir}/l.idx`, encodeIdx([n], bytes(n, (i) => (i === 3 ? 10 : 0))));
    await assert.rejects(
      loadIdxPair("toy", `${dir}/train-images-idx3-ubyte`, `${dir}/l.idx`, 10),
      /l\.idx: label 10 at index 3 is out of range \(expected 0\.\.9\)/,
    );
    // count mismatch
    await Deno.writeFile(`${dir}/l4.idx`, encodeIdx([4], bytes(4, () => 1)));
    await assert.rejects(
      loadIdxPair("toy", `${dir}/train-images-idx3-ubyte`, `${dir}/l4.idx`, 10),
      /l4\.idx: 4 labels but .* has 5 images/,
    );
    // wrong rank
    await assert.rejects(
      loadIdxPair("toy", `${dir}/l4.idx`, `${dir}/l4.idx`, 10),
      /l4\.idx: expected an image file with 3 dimensions/,
    );
    // corrupt gzip
    await Deno.writeFile(`${dir}/bad.gz`, bytes(50, (i) => i));
    await assert.rejects(
      loadIdxPair("toy", `${dir}/bad.gz`, `${dir}/l4.idx`, 10),
      /bad\.gz: corrupt gzip/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("data: CIFAR-10 and CIFAR-100 record parsing and validation", () => {
  const rec10 = 1 + 3072;
  const b10 = bytes(3 * rec10, (i) => (i % rec10 === 0 ? (i / rec10) * 3 : (i * 31) % 256));
  const p10 = parseCifar(b10, "c10.bin", 1, 10);
  assert.equal(p10.count, 3);
  assert.deepEqual(Array.from(p10.labels), [0, 3, 6]);
  assert.ok(Math.abs(p10.images[3072 + 5] - b10[rec10 + 1 + 5] / 255) < 1e-7);
  assert.throws(
    () => parseCifar(b10.subarray(0, b10.length - 10), "c10.bin", 1, 10),
    /c10\.bin: .*not a whole number of 3073-byte/,
  );
  const bad = b10.slice();
  bad[rec10] = 10;
  assert.throws(
    () => parseCifar(bad, "c10.bin", 1, 10),
    /c10\.bin: label 10 at index 1 is out of range/,
  );

  const rec100 = 2 + 3072;
  const b100 = bytes(
    2 * rec100,
    (i) => (i % rec100 === 0 ? 19 : i % rec100 === 1 ? 42 + Math.floor(i / rec100) : 0),
  );
  assert.deepEqual(Array.from(parseCifar(b100, "c100.bin", 2, 100).labels), [42, 43]);
  const badCoarse = b100.slice();
  badCoarse[0] = 20;
  assert.throws(() => parseCifar(badCoarse, "c100.bin", 2, 100), /c100\.bin: coarse label 20/);
});

Deno.test("data: CIFAR folder loading, strict counts, missing files, download checks", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sub = `${dir}/cifar-100-binary`;
    await Deno.mkdir(sub);
    const rec = 2 + 3072;
    await Deno.writeFile(`${sub}/train.bin`, bytes(4 * rec, (i) => (i % rec < 2 ? 1 : 100)));
    await Deno.writeFile(`${sub}/test.bin`, bytes(2 * rec, (i) => (i % rec < 2 ? 2 : 200)));
    const tr = await loadCifar("cifar100", "train", dir, { strict: false });
    assert.equal(tr.size, 4);
    assert.deepEqual(tr.inputShape, [3, 32, 32]);
    assert.equal(tr.classes, 100);
    await assert.rejects(
      loadCifar("cifar100", "train", dir),
      /train\.bin: 4 records, the official cifar100 file has 50000/,
    );
    await assert.rejects(
      loadCifar("cifar10", "train", `${dir}/none`),
      /cifar10: files not found in .*deno task data cifar10/,
    );

    // a local archive: wrong checksum is refused, right one is extracted
    const archive = await gzip(tar([
      { path: "cifar-100-binary/train.bin", data: bytes(rec, () => 3) },
      { path: "cifar-100-binary/test.bin", data: bytes(rec, () => 4) },
    ]));
    assert.equal(readTar(tar([{ path: "a/b", data: bytes(3, () => 1) }]), "t")[0].path, "a/b");
    await Deno.writeFile(`${dir}/a.tar.gz`, archive);
    const url = new URL(`file://${dir}/a.tar.gz`).href;
    const out = `${dir}/dl`;
    await assert.rejects(
      downloadCifar("cifar100", out, { url, md5: "0".repeat(32) }),
      /cifar100: checksum mismatch .* expected 0{32}/,
    );
    const where = await downloadCifar("cifar100", out, { url, md5: md5Hex(archive) });
    assert.equal(where, `${out}/cifar-100-binary`);
    assert.equal((await Deno.readFile(`${where}/test.bin`))[5], 4);
    // unreachable: one line naming what to download and where
    await assert.rejects(
      downloadCifar("cifar10", `${dir}/x`, { url: "http://127.0.0.1:9/cifar.tgz" }),
      (e: Error) =>
        !e.message.includes("\n") &&
        /cannot download .*cifar-10-binary\.tar\.gz.*into .*\/x/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("data: data CLI rejects bad usage with exit 2, the error and a hint", async () => {
  const saved = console.error;
  let err = "";
  console.error = (...a: unknown[]) => void (err += a.join(" ") + "\n");
  try {
    assert.equal(await dataMain(["imagenet"]), 2);
    assert.match(err, /expected exactly one dataset, cifar10 or cifar100, got 'imagenet'/);
    assert.equal(await dataMain(["--bogus"]), 2);
    assert.equal(await dataMain([]), 2);
    assert.match(err, /^error: .*\nrun with --help for the options\n/);
    assert.doesNotMatch(err, /usage: deno task data/);
  } finally {
    console.error = saved;
  }
});

Deno.test("data: Fashion-MNIST from a folder of gzip IDX files, normalised with training statistics", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (name: string, dims: number[], f: (i: number) => number) =>
      await Deno.writeFile(
        `${dir}/${name}.gz`,
        await gzip(encodeIdx(dims, bytes(dims.reduce((a, b) => a * b, 1), f))),
      );
    await write("train-images-idx3-ubyte", [4, 2, 2], (i) => (i % 4) * 60 + (i >> 2) * 10);
    await write("train-labels-idx1-ubyte", [4], (i) => i);
    await write("t10k-images-idx3-ubyte", [2, 2, 2], () => 100);
    await write("t10k-labels-idx1-ubyte", [2], () => 9);
    const test = await loadDataset("fashion-mnist", { split: "test", dataDir: dir });
    assert.equal(test.name, "fashion-mnist");
    assert.deepEqual(test.inputShape, [1, 2, 2]);
    // element 0 over the training set: 0, 10, 20, 30 (/255): mean 15/255, std sqrt(125)/255
    const expected = (100 / 255 - 15 / 255) / (Math.sqrt(125) / 255);
    assert.ok(Math.abs(test.images[0] - expected) < 1e-5, `${test.images[0]} vs ${expected}`);
    const raw = await loadDataset("fashion-mnist", {
      split: "train",
      dataDir: dir,
      normalize: false,
    });
    assert.ok(Math.abs(raw.images[4] - 10 / 255) < 1e-7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("data: embedded MNIST loads 60000/10000 normalised, unknown names rejected", async () => {
  assert.throws(
    () => parseDatasetName("svhn"),
    /unknown dataset 'svhn' \(expected one of: mnist, fashion-mnist, cifar10, cifar100\)/,
  );
  const test = await loadDataset("mnist", { split: "test" });
  assert.equal(test.size, 10000);
  assert.deepEqual(test.inputShape, [1, 28, 28]);
  assert.ok(test.norm);
  assert.equal(test.images.length, 10000 * 784);
  assert.ok(Math.max(...test.labels) === 9);
});

Deno.test("data: Fashion-MNIST is found where Debian's dataset-fashion-mnist installs it", async () => {
  // The package's real layout (dpkg -L dataset-fashion-mnist), rebuilt under a temp root.
  const root = await Deno.makeTempDir();
  const pkg = `${root}/usr/share/datasets/fashion-mnist`;
  try {
    await Deno.mkdir(pkg, { recursive: true });
    const write = async (name: string, dims: number[], f: (i: number) => number) =>
      await Deno.writeFile(
        `${pkg}/${name}.gz`,
        await gzip(encodeIdx(dims, bytes(dims.reduce((a, b) => a * b, 1), f))),
      );
    await write("train-images-idx3-ubyte", [3, 2, 2], (i) => i * 20);
    await write("train-labels-idx1-ubyte", [3], (i) => i);
    await write("t10k-images-idx3-ubyte", [2, 2, 2], () => 100);
    await write("t10k-labels-idx1-ubyte", [2], () => 9);
    const found = FASHION_MNIST_SYSTEM_DIRS.filter((d) =>
      findIdx(`${root}${d}`, "train-images-idx3-ubyte")
    );
    assert.deepEqual(
      found,
      ["/usr/share/datasets/fashion-mnist"],
      "the package's folder is searched",
    );
    const train = await loadFashionMnist("train", undefined, root);
    assert.equal(train.size, 3);
    assert.equal((await loadFashionMnist("test", undefined, root)).labels[1], 9);
    await Deno.remove(pkg, { recursive: true });
    await assert.rejects(
      () => loadFashionMnist("test", undefined, root),
      /fashion-mnist: not found in \/usr\/share\/datasets\/fashion-mnist, .*apt-get install dataset-fashion-mnist/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("data: the installed dataset-fashion-mnist package loads (when installed)", async () => {
  if (!findIdx("/usr/share/datasets/fashion-mnist", "t10k-images-idx3-ubyte")) {
    console.log("skip: dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)");
    return;
  }
  const test = await loadDataset("fashion-mnist", { split: "test", normalize: false });
  assert.equal(test.size, 10000);
  assert.deepEqual(test.inputShape, [1, 28, 28]);
  assert.equal(Math.max(...test.labels), 9);
});
