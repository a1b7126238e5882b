/**
 * Saving and loading trained networks as safetensors files.
 *
 * Every parameter (`Param.name`, e.g. `0_conv2d.weight`) and buffer (e.g.
 * `2_batchnorm.runningMean`) becomes one tensor, little-endian float32 (float64 for a float64
 * network, so a reload is exact). The input normalisation, when given, is stored as the
 * tensors `__input__.mean` and `__input__.std`. `__metadata__` holds, as strings:
 * `format` = `shiftlab`, `shiftlab.version`, `shiftlab.network` (JSON: the per-sample input
 * shape and every layer of the network as a layer-registry spec, batch norm and shift/scale
 * layers included), `shiftlab.architecture` (the base `ArchSpec` as JSON), `shiftlab.variant`,
 * `shiftlab.dataset`, `shiftlab.seed` and `shiftlab.training` (JSON).
 *
 * Loading rebuilds the network from the stored layer list through the layer registry (no
 * knowledge of variants needed) and copies the stored values in, so the same backend gives
 * bit-identical outputs. Format-1 files stored no layer list; {@link LoadModelOptions.rebuild}
 * builds theirs.
 *
 * @module
 */
import type { Backend, DType } from "../backend.ts";
import type { ArchSpec } from "../architectures.ts";
import { buildLayer, type LayerSpec, layerSpec, parseLayerSpecs } from "../layers/registry.ts";
import { Sequential } from "../model.ts";
import { Rng, Streams } from "../rng.ts";
import { fmtShape } from "../tensor.ts";
import { writeFileAtomic } from "./atomic.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsFile } from "./safetensors_codec.ts";

export * from "./safetensors_codec.ts";

/** Version of the metadata layout written by {@link saveModel}. */
export const MODEL_FORMAT_VERSION = 2;

/** Input normalisation of the data the model was trained on (per input element). */
export interface InputNormalization {
  /** Mean of every input element, subtracted first. */
  mean: ArrayLike<number>;
  /** Divisor of every input element. */
  std: ArrayLike<number>;
}

/** The network a model file stores: enough to rebuild it through the layer registry. */
export interface StoredNetwork {
  /** Per-sample input shape. */
  inputShape: number[];
  /** Every layer, input to logits. */
  layers: LayerSpec[];
}

/** What a model file says about the network besides its weights. */
export interface ModelMeta {
  /** The base architecture the network was built from. */
  architecture: ArchSpec;
  /** Variant name (SPEC §1), e.g. `plain`, `bn`, `lsh_lsc`. */
  variant: string;
  /** Dataset name, e.g. `mnist`. */
  dataset?: string;
  /** Seed the network was built and trained with. */
  seed?: number;
  /** Per-element input normalisation, `[...inputShape]` each. */
  normalization?: InputNormalization | null;
  /** The training configuration (e.g. a `RunConfig`), stored as JSON. */
  training?: Record<string, unknown> | null;
  /**
   * Read from a file: the stored network (null in format-1 files). Ignored when saving: the
   * stored network is always read off the model itself.
   */
  network?: StoredNetwork | null;
}

const NORM_MEAN = "__input__.mean";
const NORM_STD = "__input__.std";

function hostCopy(data: ArrayLike<number>, dtype: DType): Float32Array | Float64Array {
  return dtype === "float64" ? Float64Array.from(data) : Float32Array.from(data);
}

/** Encodes a network and its metadata as safetensors bytes. */
export function encodeModel(model: Sequential, meta: ModelMeta): Uint8Array {
  const tensors: [string, { shape: readonly number[]; data: Float32Array | Float64Array }][] = [];
  for (const p of model.params()) {
    tensors.push([p.name, {
      shape: p.value.shape,
      data: hostCopy(p.value.toArray(), p.value.dtype),
    }]);
  }
  for (const [name, t] of Object.entries(model.buffers())) {
    tensors.push([name, { shape: t.shape, data: hostCopy(t.toArray(), t.dtype) }]);
  }
  if (meta.normalization) {
    const size = model.inputShape.reduce((a, b) => a * b, 1);
    for (
      const [name, v] of [[NORM_MEAN, meta.normalization.mean], [
        NORM_STD,
        meta.normalization.std,
      ]] as const
    ) {
      if (v.length !== size) {
        throw new Error(
          `saveModel: normalisation ${name.slice(10)} has ${v.length} values, the input ${
            fmtShape(model.inputShape)
          } has ${size}`,
        );
      }
      tensors.push([name, { shape: model.inputShape, data: Float32Array.from(v) }]);
    }
  }
  const network: StoredNetwork = {
    inputShape: model.inputShape,
    layers: model.layers.map(layerSpec),
  };
  const metadata: Record<string, string> = {
    format: "shiftlab",
    "shiftlab.version": String(MODEL_FORMAT_VERSION),
    "shiftlab.network": JSON.stringify(network),
    "shiftlab.architecture": JSON.stringify(meta.architecture),
    "shiftlab.variant": meta.variant,
  };
  if (meta.dataset !== undefined) metadata["shiftlab.dataset"] = meta.dataset;
  if (meta.seed !== undefined) metadata["shiftlab.seed"] = String(meta.seed);
  if (meta.training) metadata["shiftlab.training"] = JSON.stringify(meta.training);
  return encodeSafetensors(tensors, metadata);
}

/** Writes `model` with `meta` to `path` atomically ({@link writeFileAtomic}). */
export async function saveModel(path: string, model: Sequential, meta: ModelMeta): Promise<void> {
  await writeFileAtomic(path, encodeModel(model, meta));
}

/** Reads the ShiftLab metadata of a decoded file; throws if it is not a ShiftLab model. */
export function readModelMeta(file: SafetensorsFile, what: string): ModelMeta {
  const m = file.metadata;
  if (m["shiftlab.architecture"] === undefined || m["shiftlab.variant"] === undefined) {
    throw new Error(
      `${what}: a safetensors file, but not a ShiftLab model (its __metadata__ lacks ` +
        `'shiftlab.architecture' and 'shiftlab.variant')`,
    );
  }
  const version = Number(m["shiftlab.version"] ?? "1");
  if (version > MODEL_FORMAT_VERSION) {
    throw new Error(
      `${what}: model format version ${version} is newer than this ShiftLab reads (${MODEL_FORMAT_VERSION})`,
    );
  }
  let architecture: ArchSpec;
  let training: Record<string, unknown> | null = null;
  let stored: { inputShape?: unknown; layers?: unknown } | null = null;
  try {
    architecture = JSON.parse(m["shiftlab.architecture"]);
    if (m["shiftlab.training"]) training = JSON.parse(m["shiftlab.training"]);
    if (m["shiftlab.network"] !== undefined) stored = JSON.parse(m["shiftlab.network"]);
  } catch (e) {
    throw new Error(`${what}: corrupt metadata, not valid JSON (${(e as Error).message})`);
  }
  if (
    !architecture || typeof architecture !== "object" || !Array.isArray(architecture.layers) ||
    !Array.isArray(architecture.inputShape)
  ) {
    throw new Error(
      `${what}: corrupt metadata, 'shiftlab.architecture' is not an architecture spec`,
    );
  }
  let network: StoredNetwork | null = null;
  if (stored !== null) {
    const shape = stored?.inputShape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(
        `${what}: corrupt metadata, 'shiftlab.network' has no input shape (got ${
          JSON.stringify(shape)
        })`,
      );
    }
    network = {
      inputShape: shape,
      layers: parseLayerSpecs(stored.layers, `${what}: 'shiftlab.network'`),
    };
  }
  const mean = file.tensors.get(NORM_MEAN);
  const std = file.tensors.get(NORM_STD);
  return {
    architecture,
    variant: m["shiftlab.variant"],
    dataset: m["shiftlab.dataset"],
    seed: m["shiftlab.seed"] !== undefined ? Number(m["shiftlab.seed"]) : undefined,
    normalization: mean && std
      ? { mean: Float32Array.from(mean.data), std: Float32Array.from(std.data) }
      : null,
    training,
    network,
  };
}

/**
 * Throws, naming the first such tensor, when a tensor of the file holds NaN or ±Infinity: the
 * weights of a diverged run (or a corrupt file) give no usable network.
 */
export function checkFinite(file: SafetensorsFile, what: string): void {
  for (const [name, t] of file.tensors) {
    let bad = 0;
    let first = -1;
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) {
        if (bad++ === 0) first = i;
      }
    }
    if (bad > 0) {
      throw new Error(
        `${what}: tensor '${name}' holds ${bad} value${bad === 1 ? " that is" : "s that are"} ` +
          `not finite (NaN or ±Infinity; the first at index ${first}): the network cannot be ` +
          `used (did its training diverge?)`,
      );
    }
  }
}

/**
 * Copies the tensors of a decoded file into `model`'s parameters and buffers. Throws, naming
 * the tensor, when a tensor is missing, unexpected, has another shape (the file does not match
 * the architecture) or holds a value that is not finite ({@link checkFinite}).
 */
export function loadStateInto(model: Sequential, file: SafetensorsFile, what: string): void {
  checkFinite(file, what);
  const targets = new Map<
    string,
    { shape: readonly number[]; upload: (d: ArrayLike<number>) => void }
  >();
  const backend: Backend = model.backend;
  for (const p of model.params()) {
    targets.set(p.name, { shape: p.value.shape, upload: (d) => backend.upload(p.value.buf, d) });
  }
  for (const [name, t] of Object.entries(model.buffers())) {
    targets.set(name, { shape: t.shape, upload: (d) => backend.upload(t.buf, d) });
  }
  const shapes: string[] = [];
  const missing: string[] = [];
  const unexpected: string[] = [];
  for (const [name, t] of targets) {
    const stored = file.tensors.get(name);
    if (!stored) missing.push(`missing tensor '${name}' ${fmtShape(t.shape)}`);
    else if (
      stored.shape.length !== t.shape.length || stored.shape.some((d, i) => d !== t.shape[i])
    ) {
      shapes.push(
        `tensor '${name}' is ${fmtShape(stored.shape)} in the file but ${
          fmtShape(t.shape)
        } in the network`,
      );
    }
  }
  for (const name of file.tensors.keys()) {
    if (!targets.has(name) && name !== NORM_MEAN && name !== NORM_STD) {
      unexpected.push(`unexpected tensor '${name}'`);
    }
  }
  if (shapes.length + missing.length + unexpected.length > 0) {
    const show = (list: string[]) =>
      list.slice(0, 3).join("; ") + (list.length > 3 ? `; and ${list.length - 3} more` : "");
    const detail = [shapes, missing, unexpected].filter((l) => l.length > 0).map(show).join("; ");
    throw new Error(
      `${what}: the weights do not match the network architecture (${shapes.length} with another ` +
        `shape, ${missing.length} missing, ${unexpected.length} unexpected): ${detail}`,
    );
  }
  for (const [name, t] of targets) t.upload(file.tensors.get(name)!.data);
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Backend to build the network on. */
  backend: Backend;
  /** Element type; default float64 when the file holds F64 and the backend supports it, else float32. */
  dtype?: DType;
  /**
   * Builds the network of a format-1 file, which stored the base architecture and variant but
   * no layer list (e.g. with `buildNetwork(meta.architecture, meta.variant, ...)`). Without it
   * such a file is refused with an error that says so.
   */
  rebuild?: (meta: ModelMeta, dtype: DType) => Sequential;
}

/** The stored network rebuilt through the layer registry (parameters to be overwritten). */
function rebuildStored(
  meta: ModelMeta,
  net: StoredNetwork,
  backend: Backend,
  dtype: DType,
): Sequential {
  const model = new Sequential(net.layers.map((s) => buildLayer(s)), {
    name: `${meta.architecture.name}/${meta.variant}`,
  });
  try {
    model.build(net.inputShape, { backend, dtype, rng: new Rng(meta.seed ?? 0, Streams.init) });
    const out = model.outputShape;
    if (out.length !== 1 || out[0] !== meta.architecture.classes) {
      throw new Error(
        `corrupt metadata: the stored network gives ${fmtShape(out)} logits but the ` +
          `architecture says ${meta.architecture.classes} classes`,
      );
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** Decodes model bytes (see {@link loadModel}); `what` names the source in errors. */
export function decodeModel(
  bytes: Uint8Array,
  opts: LoadModelOptions,
  what = "model data",
): { model: Sequential; meta: ModelMeta } {
  const file = decodeSafetensors(bytes, what);
  const meta = readModelMeta(file, what);
  const hasF64 = [...file.tensors.values()].some((t) => t.dtype === "F64");
  const dtype: DType = opts.dtype ??
    (hasF64 && opts.backend.supports("float64") ? "float64" : "float32");
  if (!meta.network && !opts.rebuild) {
    throw new Error(
      `${what}: written in model format 1, which stores no layer list; load it with the ` +
        `'rebuild' option (e.g. buildNetwork(meta.architecture, meta.variant, ...)) or into a ` +
        `network you built, with loadWeights`,
    );
  }
  let model: Sequential;
  try {
    model = meta.network
      ? rebuildStored(meta, meta.network, opts.backend, dtype)
      : opts.rebuild!(meta, dtype);
  } catch (e) {
    throw new Error(`${what}: cannot rebuild the stored network: ${(e as Error).message}`);
  }
  try {
    loadStateInto(model, file, what);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, meta };
}

/**
 * Reads a model written by {@link saveModel} and rebuilds it on `opts.backend`. Clear errors
 * for a missing file, a file that is not safetensors, a truncated file, a file without
 * ShiftLab metadata, and weights that do not match the stored architecture.
 */
export async function loadModel(
  path: string,
  opts: LoadModelOptions,
): Promise<{ model: Sequential; meta: ModelMeta }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`cannot read model file '${path}': ${(e as Error).message}`);
  }
  return decodeModel(bytes, opts, `model file '${path}'`);
}

/**
 * Loads the weights of a model file into an existing network (whose architecture must
 * match), returning the file's metadata.
 */
export async function loadWeights(path: string, model: Sequential): Promise<ModelMeta> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`cannot read model file '${path}': ${(e as Error).message}`);
  }
  const what = `model file '${path}'`;
  const file = decodeSafetensors(bytes, what);
  const meta = readModelMeta(file, what);
  loadStateInto(model, file, what);
  return meta;
}
