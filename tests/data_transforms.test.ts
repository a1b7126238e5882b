import assert from "node:assert/strict";
import {
  batchCount,
  batches,
  computeNormStats,
  type Dataset,
  epochOrder,
  holdOut,
  normalize,
  STD_FLOOR,
  subset,
} from "../src/data/dataset.ts";

function toy(n = 6, d = 3): Dataset {
  const images = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    images[i * d] = i; // varies
    images[i * d + 1] = 0.5; // constant
    if (d > 2) images[i * d + 2] = i % 2; // 0/1
  }
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % 3;
  return { name: "toy", inputShape: [d], classes: 3, size: n, images, labels };
}

Deno.test("data: per-element normalisation statistics from the training set", () => {
  const ds = toy();
  const s = computeNormStats(ds);
  assert.ok(Math.abs(s.mean[0] - 2.5) < 1e-6);
  assert.ok(Math.abs(s.std[0] - Math.sqrt(35 / 12)) < 1e-6);
  assert.equal(s.mean[1], 0.5);
  assert.ok(Math.abs(s.std[1] - STD_FLOOR) < 1e-9, "constant elements get the floor, not 0");
  assert.ok(Math.abs(s.std[2] - 0.5) < 1e-6);
  const n = normalize(ds, s);
  // normalised training data: mean 0, std 1 per varying element
  const s2 = computeNormStats({ ...n, norm: undefined });
  assert.ok(Math.abs(s2.mean[0]) < 1e-6 && Math.abs(s2.std[0] - 1) < 1e-5);
  assert.equal(n.images[1], 0);
  // the test set uses the training statistics, not its own
  const other = toy(2);
  const nt = normalize(other, s);
  assert.ok(Math.abs(nt.images[3] - (1 - 2.5) / Math.sqrt(35 / 12)) < 1e-6);
  assert.throws(() => normalize(n, s), /already normalised/);
  assert.throws(() => normalize(toy(2, 2), s), /statistics have 3 elements.*samples have 2/);
});

Deno.test("data: shuffling is a per-epoch permutation fixed by the seed", () => {
  const a = epochOrder(100, 7, 0);
  assert.deepEqual(Array.from(a).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(a, epochOrder(100, 7, 0));
  assert.notDeepEqual(a, epochOrder(100, 7, 1));
  assert.notDeepEqual(a, epochOrder(100, 8, 0));
  const ds = toy(10);
  const seen: number[] = [];
  let count = 0;
  for (const b of batches(ds, 4, { shuffle: true, seed: 7, epoch: 2 })) {
    count++;
    for (let i = 0; i < b.n; i++) {
      seen.push(b.x[i * 3]);
      assert.equal(b.y[i], ds.labels[b.x[i * 3]]);
    }
  }
  assert.equal(count, batchCount(10, 4));
  assert.deepEqual(seen, Array.from(epochOrder(10, 7, 2)));
  assert.equal([...batches(ds, 4, { dropLast: true })].length, 2);
  assert.throws(() => [...batches(ds, 0)], /batch size must be a positive integer/);
});

Deno.test("data: held-out split is disjoint, complete and seeded; subset keeps the head", () => {
  const ds = toy(20);
  const { train, heldOut } = holdOut(ds, 5, 3);
  assert.equal(train.size, 15);
  assert.equal(heldOut.size, 5);
  const ids = [
    ...Array.from({ length: 15 }, (_, i) => train.images[i * 3]),
    ...Array.from({ length: 5 }, (_, i) => heldOut.images[i * 3]),
  ];
  assert.deepEqual(ids.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual(holdOut(ds, 5, 3).heldOut.images, heldOut.images);
  assert.notDeepEqual(holdOut(ds, 5, 4).heldOut.images, heldOut.images);
  assert.throws(() => holdOut(ds, 20, 1), /held-out size must be an integer in \[1, 19\]/);
  const s = subset(ds, 4);
  assert.equal(s.size, 4);
  assert.deepEqual(Array.from(s.labels), [0, 1, 2, 0]);
  assert.equal(subset(ds, ds.size), ds);
  assert.throws(
    () => subset(ds, ds.size + 1, "trainSubset"),
    new RegExp(`trainSubset: ${ds.size + 1} samples asked for, but .* has ${ds.size}`),
  );
});
