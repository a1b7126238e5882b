import assert from "node:assert/strict";
import { join } from "node:path";
import { tsBackend } from "../src/backends/ts.ts";
import type { DType } from "../src/backend.ts";
import {
  decodeModel,
  decodeSafetensors,
  encodeModel,
  encodeSafetensors,
  loadModel,
  loadWeights,
  type ModelMeta,
  saveModel,
} from "../src/io/safetensors.ts";
import type { Sequential } from "../src/model.ts";
import { architecture } from "../src/architectures.ts";
import { Rng } from "../src/rng.ts";
import { Tensor, tidy } from "../src/tensor.ts";
import { buildNetwork } from "../src/variants.ts";
import { tryNative } from "../src/backends/select.ts";

const INPUT = [1, 12, 12];

function meta(variant: string, archName = "shiftlab-small", classes = 4): ModelMeta {
  const size = INPUT.reduce((a, b) => a * b, 1);
  return {
    architecture: architecture(archName, { inputShape: INPUT, classes }),
    variant,
    dataset: "synthetic",
    seed: 5,
    normalization: {
      mean: Float32Array.from({ length: size }, (_, i) => i / size),
      std: Float32Array.from({ length: size }, (_, i) => 0.5 + i / size),
    },
    training: { lr: 0.01, epochs: 3, note: "test" },
  };
}

/** A network whose every parameter and buffer holds non-default values. */
function scrambled(m: ModelMeta, dtype: DType): Sequential {
  const model = buildNetwork(m.architecture, m.variant, { backend: tsBackend, dtype, seed: 5 });
  const rng = new Rng(99, 7);
  for (const p of model.params()) {
    tsBackend.upload(
      p.value.buf,
      Array.from({ length: p.value.size }, () => 0.3 * rng.normal() + 0.1),
    );
  }
  // Training-mode forwards move the batch-norm running statistics away from 0 / 1.
  for (let k = 0; k < 3; k++) {
    tidy(() => {
      model.forward(input(8, dtype, 40 + k), { training: true, seed: 1, step: k });
    });
  }
  return model;
}

function input(n: number, dtype: DType, seed: number): Tensor {
  const rng = new Rng(seed, 4);
  const size = INPUT.reduce((a, b) => a * b, 1);
  return Tensor.from(
    tsBackend,
    [n, ...INPUT],
    Array.from({ length: n * size }, () => rng.normal()),
    dtype,
  );
}

function evalOutput(model: Sequential, dtype: DType): Float32Array | Float64Array {
  return tidy(() =>
    model.forward(input(6, dtype, 3), { training: false, seed: 0, step: 0 }).toArray()
  );
}

for (
  const [variant, dtype, arch] of [
    ["bn", "float32", "shiftlab-small"],
    ["lsh_lsc", "float32", "shiftlab-small"],
    ["csh_csc", "float64", "shiftlab-small"],
    // residual blocks: sub-layers, their parameters and batch-norm buffers, gates
    ["bn+skipinit", "float32", "resnet20"],
    ["ws+lsh+lsc+layerscale", "float64", "resnet20"],
  ] as const
) {
  Deno.test(`save → load restores an identical network (${arch} ${variant}, ${dtype})`, () => {
    const m = meta(variant, arch);
    const model = scrambled(m, dtype);
    const before = evalOutput(model, dtype);
    const bytes = encodeModel(model, m);
    const { model: loaded, meta: back } = decodeModel(bytes, { backend: tsBackend });
    assert.equal(loaded.dtype, dtype);
    assert.deepEqual(evalOutput(loaded, dtype), before, "outputs must be bit-identical");
    const bufA = model.buffers();
    const bufB = loaded.buffers();
    assert.deepEqual(Object.keys(bufB), Object.keys(bufA));
    if (variant === "bn") {
      assert.ok(
        Object.keys(bufA).some((k) => k.endsWith("runningMean")),
        "bn has running statistics",
      );
    }
    for (const k of Object.keys(bufA)) assert.deepEqual(bufB[k].toArray(), bufA[k].toArray(), k);
    assert.deepEqual(back.architecture, m.architecture);
    assert.equal(back.variant, variant);
    assert.equal(back.dataset, "synthetic");
    assert.equal(back.seed, 5);
    assert.deepEqual(back.training, m.training);
    assert.deepEqual(back.normalization!.mean, m.normalization!.mean);
    assert.deepEqual(back.normalization!.std, m.normalization!.std);
    model.dispose();
    loaded.dispose();
  });
}

Deno.test("bn running statistics matter: a file without them would not reproduce the outputs", () => {
  // Guards the test above: resetting the running stats changes the eval output.
  const m = meta("bn");
  const model = scrambled(m, "float32");
  const before = evalOutput(model, "float32");
  const fresh = buildNetwork(m.architecture, "bn", { backend: tsBackend, seed: 5 });
  for (const [a, b] of model.params().map((p, i) => [p, fresh.params()[i]] as const)) {
    b.value.assign(a.value);
  }
  assert.notDeepEqual(evalOutput(fresh, "float32"), before);
  model.dispose();
  fresh.dispose();
});

Deno.test("saveModel/loadModel/loadWeights through files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-io-" });
  try {
    const m = meta("plain");
    const model = scrambled(m, "float32");
    const path = join(dir, "m.safetensors");
    await saveModel(path, model, m);
    const { model: loaded } = await loadModel(path, { backend: tsBackend });
    assert.deepEqual(evalOutput(loaded, "float32"), evalOutput(model, "float32"));
    const other = buildNetwork(m.architecture, "plain", { backend: tsBackend, seed: 77 });
    assert.notDeepEqual(evalOutput(other, "float32"), evalOutput(model, "float32"));
    await loadWeights(path, other);
    assert.deepEqual(evalOutput(other, "float32"), evalOutput(model, "float32"));
    for (const x of [model, loaded, other]) x.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("corrupt, truncated, foreign and missing files give clear errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-io-" });
  try {
    const m = meta("plain");
    const model = scrambled(m, "float32");
    const bytes = encodeModel(model, m);
    const good = join(dir, "good.safetensors");
    await Deno.writeFile(good, bytes);

    const truncated = join(dir, "cut.safetensors");
    await Deno.writeFile(truncated, bytes.subarray(0, bytes.length - 100));
    await assert.rejects(
      loadModel(truncated, { backend: tsBackend }),
      /model file '.*cut\.safetensors': truncated: the header describes \d+ bytes of tensor data but only \d+/,
    );
    const headerCut = join(dir, "head.safetensors");
    await Deno.writeFile(headerCut, bytes.subarray(0, 40));
    await assert.rejects(
      loadModel(headerCut, { backend: tsBackend }),
      /truncated or not a safetensors file/,
    );

    const text = join(dir, "notes.txt");
    await Deno.writeTextFile(text, "these are not weights, just some text in a file\n");
    await assert.rejects(
      loadModel(text, { backend: tsBackend }),
      /notes\.txt': not a safetensors file/,
    );

    const foreign = join(dir, "foreign.safetensors");
    await Deno.writeFile(
      foreign,
      encodeSafetensors([["w", { shape: [2], data: new Float32Array(2) }]]),
    );
    await assert.rejects(loadModel(foreign, { backend: tsBackend }), /not a ShiftLab model/);

    await assert.rejects(
      loadModel(join(dir, "absent.safetensors"), { backend: tsBackend }),
      /cannot read model file '.*absent\.safetensors'/,
    );
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("weights that do not match the architecture are refused, naming the tensors", async () => {
  const m = meta("plain");
  const model = scrambled(m, "float32");
  const bytes = encodeModel(model, m);
  // Into a different architecture (6 classes instead of 4): the last layer's shapes differ.
  const wide = buildNetwork(meta("plain", "shiftlab-small", 6).architecture, "plain", {
    backend: tsBackend,
    seed: 1,
  });
  const dir = await Deno.makeTempDir({ prefix: "shiftlab-io-" });
  try {
    const path = join(dir, "m.safetensors");
    await Deno.writeFile(path, bytes);
    await assert.rejects(
      loadWeights(path, wide),
      /do not match the network architecture \(2 with another shape, 0 missing, 0 unexpected\): tensor '\d+_dense\.weight' is \[4, 64\] in the file but \[6, 64\] in the network/,
    );
    // Into another variant: shift/scale parameters are missing from the file.
    const shifted = buildNetwork(m.architecture, "lsh", { backend: tsBackend, seed: 1 });
    await assert.rejects(
      loadWeights(path, shifted),
      /do not match the network architecture .*missing tensor '0_shift\.\w+' \[1\]/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // A file whose stored network says one layer width while its tensors are another.
  const lying = withMetadata(bytes, (md) => {
    md["shiftlab.network"] = md["shiftlab.network"].replace('"units":4', '"units":6');
    md["shiftlab.architecture"] = JSON.stringify(meta("plain", "shiftlab-small", 6).architecture);
  });
  assert.throws(
    () => decodeModel(lying, { backend: tsBackend }, "lying.st"),
    /lying\.st: the weights do not match .*tensor '\d+_dense\.weight' is \[4, 64\] in the file but \[6, 64\]/,
  );
  // The base architecture's class count must agree with the stored network.
  const otherClasses = encodeModel(model, {
    ...m,
    architecture: meta("plain", "shiftlab-small", 6).architecture,
  });
  assert.throws(
    () => decodeModel(otherClasses, { backend: tsBackend }, "x.st"),
    /x\.st: cannot rebuild the stored network: corrupt metadata: the stored network gives \[4\] logits but the architecture says 6 classes/,
  );
  // Extra tensors are named too: a bn file whose stored network lost its batch-norm layers.
  const bn = scrambled(meta("bn"), "float32");
  const bnBytes = encodeModel(bn, meta("bn"));
  const roundTrip = decodeModel(bnBytes, { backend: tsBackend }, "x");
  roundTrip.model.dispose();
  const noBn = withMetadata(bnBytes, (md) => {
    const net = JSON.parse(md["shiftlab.network"]);
    net.layers = net.layers.filter((l: { type: string }) => l.type !== "batchnorm");
    md["shiftlab.network"] = JSON.stringify(net);
  });
  assert.throws(
    () => decodeModel(noBn, { backend: tsBackend }, "x"),
    /unexpected tensor '\d+_batchnorm\./,
  );
  // A stored layer the registry does not know is named by its index and field.
  const unknown = withMetadata(bytes, (md) => {
    md["shiftlab.network"] = md["shiftlab.network"].replace('"type":"flatten"', '"type":"flat"');
  });
  assert.throws(
    () => decodeModel(unknown, { backend: tsBackend }, "u.st"),
    /u\.st: 'shiftlab\.network', layer 4: field 'type' is "flat", which is not a registered layer type/,
  );
  for (const x of [model, wide, bn]) x.dispose();
});

/** `bytes` re-encoded with its metadata edited by `edit`. */
function withMetadata(bytes: Uint8Array, edit: (md: Record<string, string>) => void): Uint8Array {
  const file = decodeSafetensors(bytes);
  const md = { ...file.metadata };
  edit(md);
  return encodeSafetensors(file.tensors.entries(), md);
}

Deno.test("the stored network is the registry's layer list; format-1 files need 'rebuild'", () => {
  const m = meta("biased4");
  const model = scrambled(m, "float32");
  const bytes = encodeModel(model, m);
  const file = decodeSafetensors(bytes);
  assert.equal(file.metadata["shiftlab.version"], "2");
  const net = JSON.parse(file.metadata["shiftlab.network"]);
  assert.deepEqual(net.inputShape, INPUT);
  assert.deepEqual(net.layers.map((l: { type: string }) => l.type), [
    "conv",
    "act",
    "conv",
    "act",
    "flatten",
    "dense",
    "act",
    "dense",
  ]);
  // Bias learning-rate multipliers of biasedK survive the round trip.
  const loaded = decodeModel(bytes, { backend: tsBackend }).model;
  assert.deepEqual(
    loaded.params().map((p) => p.lrMult),
    model.params().map((p) => p.lrMult),
  );
  assert.ok(loaded.params().some((p) => p.lrMult === 4));
  loaded.dispose();
  // A format-1 file: architecture and variant, no layer list.
  const v1 = withMetadata(bytes, (md) => {
    delete md["shiftlab.network"];
    md["shiftlab.version"] = "1";
  });
  assert.throws(
    () => decodeModel(v1, { backend: tsBackend }, "old.st"),
    /old\.st: written in model format 1, which stores no layer list; load it with the 'rebuild' option/,
  );
  const old = decodeModel(v1, {
    backend: tsBackend,
    rebuild: (mm, dtype) =>
      buildNetwork(mm.architecture, mm.variant, { backend: tsBackend, dtype, seed: 1 }),
  });
  assert.equal(old.meta.network, null);
  assert.deepEqual(evalOutput(old.model, "float32"), evalOutput(model, "float32"));
  old.model.dispose();
  model.dispose();
});

// Native backends: the same round trip on every backend that loads here (cpu; cuda on a GPU host).
for (const kind of ["cpu", "cuda"] as const) {
  const native = tryNative(kind);
  Deno.test({
    name: `save → load restores an identical network on the ${kind} backend`,
    ignore: typeof native === "string",
    fn: () => {
      const backend = native as Exclude<typeof native, string>;
      const m = meta("bn");
      const src = scrambled(m, "float32");
      const model = decodeModel(encodeModel(src, m), { backend }).model;
      const x = input(6, "float32", 3);
      const onNative = Tensor.from(backend, x.shape, x.toArray());
      const before = tidy(() =>
        model.forward(onNative, { training: false, seed: 0, step: 0 }).toArray()
      );
      const again = decodeModel(encodeModel(model, m), { backend }).model;
      const after = tidy(() =>
        again.forward(onNative, { training: false, seed: 0, step: 0 }).toArray()
      );
      assert.deepEqual(after, before);
      for (const t of [x, onNative]) t.dispose();
      for (const n of [src, model, again]) n.dispose();
    },
  });
}
