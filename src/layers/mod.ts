/**
 * Every layer, re-exported: the contract (`Layer`, `Param`, contexts), the shared base, and
 * the concrete layers.
 *
 * @module
 */
export * from "./layer.ts";
export * from "./spec.ts";
export * from "./registry.ts";
export { batchShapeText, LayerBase } from "./base.ts";
export {
  checkInit,
  Dense,
  type DenseOptions,
  type DenseSpec,
  WEIGHT_INITS,
  type WeightInit,
} from "./dense.ts";
export { Conv2d, type Conv2dOptions } from "./conv2d.ts";
export { AvgPool2d, GlobalAvgPool2d, MaxPool2d, Pool2dBase } from "./pool.ts";
export { Flatten } from "./flatten.ts";
export { Activation, ACTIVATIONS, LEAKY_SLOPE, parseActivation } from "./activation.ts";
export {
  Dropout,
  DropoutBase,
  dropoutKey,
  hashName,
  MAX_DROPOUT_STEP,
  SpatialDropout,
} from "./dropout.ts";
export { BatchNorm, type BatchNormOptions } from "./batchnorm.ts";
export { gcd, GroupNorm, type GroupNormOptions, LayerNorm, PerSampleNorm } from "./groupnorm.ts";
export { Residual, type ResidualSpec } from "./residual.ts";
export { RELU_GAIN } from "./activation.ts";
export { type WeightOptions, WS_EPS } from "./weight.ts";
export { parseSharing, type SharedShape, sharedShape, type Sharing, SHARINGS } from "./sharing.ts";
export { Shift, type ShiftOptions } from "./shift.ts";
export { DDI_EPS, PROPORTIONAL_EPS2, Scale, type ScaleOptions } from "./scale.ts";
export { KWinners } from "./kwinners.ts";
export { Identity } from "./identity.ts";
