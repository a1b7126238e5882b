/**
 * ShiftLab: a research sandbox for neural-network training on Deno, built around the
 * shifting and scaling layers (SPEC §1) and their comparison with batch normalization.
 *
 * The public API, in the order data flows through it:
 * - tensors and backends: {@link Tensor}, the {@link Backend} contract and
 *   {@link selectBackend} (`auto`: cuda, else the native cpu library, else the TypeScript
 *   reference); tensor ops for writing layers as the {@link ops} namespace;
 * - layers and the layer registry: every layer class, its spec type (plain JSON data) and
 *   {@link buildLayer} / {@link layerSpec} between the two; {@link LayerBase} and {@link Param}
 *   for layers of one's own;
 * - networks: {@link Sequential}, the architecture presets and references
 *   ({@link resolveArchitecture}: a preset, a preset with a width factor, or an inline layer
 *   list), the variant grammar ({@link parseVariant}: `bn+lsh+lsc`, `csh+csc+ddi`, `fixup`)
 *   and builder ({@link buildNetwork}), losses, initialisers, optimizers;
 * - training: datasets, {@link fit}, safetensors checkpoints ({@link saveModel},
 *   {@link loadModel});
 * - studies: gradient ascent, candidate search and adversarial samples ({@link runStudy}).
 *
 * The experiment engine (`src/experiment/`), the reports (`src/report/`) and the command-line
 * tools are applications of this API (`deno task experiment`, `deno task report`,
 * `deno task visualize`); their modules can be imported directly.
 *
 * @example
 * ```ts
 * import { buildNetwork, fit, loadTrainTest, Optimizer, resolveArchitecture, selectBackend } from "./mod.ts";
 *
 * const { backend } = selectBackend("auto"); // cuda, then cpu, then the ts reference
 * const { train, test } = await loadTrainTest("mnist"); // embedded, normalised
 * const arch = resolveArchitecture({ preset: "shiftlab-small", width: 0.5 }, {
 *   inputShape: [1, 28, 28],
 *   classes: 10,
 * });
 * const model = buildNetwork(arch, "csh_csc", { backend, seed: 1 });
 * const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.01 });
 * const history = await fit(model, opt, train, test, { epochs: 1, batchSize: 64, seed: 1 });
 * console.log(history.valError.at(-1));
 * ```
 *
 * @module
 */

// ---- tensors and backends ----
export type * from "./src/backend.ts";
export { fmtShape, shapeSize, Tensor, tidy } from "./src/tensor.ts";
export * as ops from "./src/ops.ts";
export { Rng, Streams } from "./src/rng.ts";
export {
  BACKEND_NAMES,
  type BackendChoice,
  type BackendName,
  selectBackend,
} from "./src/backends/select.ts";
export { NativeError } from "./src/backends/native.ts";

// ---- layers and the layer registry ----
export type { BuildContext, ForwardContext, Layer } from "./src/layers/layer.ts";
export { LayerBase } from "./src/layers/base.ts";
export { Param, type ParamKind, type ParamOptions } from "./src/param.ts";
export {
  Activation,
  ACTIVATIONS,
  type ActivationSpec,
  RELU_GAIN,
} from "./src/layers/activation.ts";
export { BatchNorm, type BatchNormOptions, type BatchNormSpec } from "./src/layers/batchnorm.ts";
export { Conv2d, type Conv2dOptions, type Conv2dSpec } from "./src/layers/conv2d.ts";
export {
  Dense,
  type DenseOptions,
  type DenseSpec,
  WEIGHT_INITS,
  type WeightInit,
} from "./src/layers/dense.ts";
export { Dropout, DropoutBase, type DropoutSpec, SpatialDropout } from "./src/layers/dropout.ts";
export { Flatten, type FlattenSpec } from "./src/layers/flatten.ts";
export {
  GroupNorm,
  type GroupNormOptions,
  type GroupNormSpec,
  LayerNorm,
  type LayerNormSpec,
  PerSampleNorm,
} from "./src/layers/groupnorm.ts";
export { Residual, type ResidualSpec } from "./src/layers/residual.ts";
export { type WeightOptions, WS_EPS } from "./src/layers/weight.ts";
export { Identity, type IdentitySpec } from "./src/layers/identity.ts";
export { KWinners, type KWinnersSpec } from "./src/layers/kwinners.ts";
export {
  AvgPool2d,
  GlobalAvgPool2d,
  type GlobalAvgPool2dSpec,
  MaxPool2d,
  Pool2dBase,
  type Pool2dSpec,
} from "./src/layers/pool.ts";
export { Scale, type ScaleOptions, type ScaleSpec } from "./src/layers/scale.ts";
export { type Sharing, SHARINGS } from "./src/layers/sharing.ts";
export { Shift, type ShiftOptions, type ShiftSpec } from "./src/layers/shift.ts";
export type {
  AnyLayerDef,
  FieldRule,
  FieldRules,
  LayerDef,
  SpecOf,
  SubLayers,
} from "./src/layers/spec.ts";
export {
  buildLayer,
  LAYER_TYPES,
  layerDef,
  LAYERS,
  type LayerSpec,
  layerSpec,
  type LayerType,
  parseLayerSpec,
  parseLayerSpecs,
} from "./src/layers/registry.ts";

// ---- networks ----
export { Sequential, type SequentialOptions } from "./src/model.ts";
export {
  architecture,
  architectureName,
  type ArchitectureOptions,
  type ArchitectureRef,
  ARCHITECTURES,
  type ArchSpec,
  parseArchitectureRef,
  type PresetRef,
  resolveArchitecture,
  scaleWidths,
} from "./src/architectures.ts";
export {
  ALL_VARIANTS,
  buildNetwork,
  type BuildNetworkOptions,
  canonicalVariant,
  checkVariant,
  countParameters,
  dryRunNetwork,
  type Gate,
  GATES,
  parseVariant,
  VARIANT_GRAMMAR,
  VARIANT_NORMS,
  variantComponents,
  type VariantName,
  type VariantNorm,
  VARIANTS,
  type VariantSpec,
  variantSpecs,
} from "./src/variants.ts";
export { dataDependentInit, dataInitLayers } from "./src/ddi.ts";
export { MeanSquaredError, SoftmaxCrossEntropy } from "./src/loss.ts";
export { heNormal, ones, xavierNormal, xavierUniform, zeros } from "./src/init.ts";
export {
  AGC_EPS,
  clipGradientAdaptive,
  Optimizer,
  OPTIMIZER_KINDS,
  type OptimizerConfig,
  type OptimizerKind,
  type OptimizerState,
} from "./src/optim.ts";

// ---- training ----
export {
  type Batch,
  batches,
  computeNormStats,
  type Dataset,
  type DatasetName,
  DATASETS,
  holdOut,
  loadDataset,
  type LoadOptions,
  loadTrainTest,
  normalize,
  type NormStats,
  type Split,
  subset,
} from "./src/data/mod.ts";
export {
  type EpochInfo,
  evaluate,
  fit,
  type FitOptions,
  type Metrics,
  type StepInfo,
  type TrainHistory,
  trainStep,
} from "./src/train.ts";
export {
  decodeModel,
  encodeModel,
  type InputNormalization,
  loadModel,
  type LoadModelOptions,
  loadWeights,
  MODEL_FORMAT_VERSION,
  type ModelMeta,
  saveModel,
  type StoredNetwork,
} from "./src/io/safetensors.ts";

// ---- studies: gradient ascent, candidates, adversarial samples ----
export {
  type AscentModel,
  type AscentOptions,
  type AscentResult,
  type ClipBounds,
  gradientAscent,
  type ProbeOptions,
} from "./src/visualize/ascent.ts";
export type { AscentMode, SpatialReadout } from "./src/visualize/neuron.ts";
export { type ActivationTable, scanActivations } from "./src/visualize/candidates.ts";
export {
  type AdversarialAttempt,
  type AdversarialOptions,
  type AdversarialReport,
  adversarialStudy,
} from "./src/visualize/adversarial.ts";
export {
  type AscentStart,
  type NeuronStudy,
  runStudy,
  type StudyData,
  type StudyOptions,
  type StudyResult,
} from "./src/visualize/study.ts";
