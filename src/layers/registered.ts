/**
 * The registered layers, one line each. A new layer type is its own file (the class, its spec
 * type and its `LayerDef`) plus one line here; the registry (`registry.ts`), the architecture
 * spec union, the builder, checkpoints and the tests' layer lists all derive from this list.
 *
 * @module
 */
export { activationLayer } from "./activation.ts";
export { batchNormLayer } from "./batchnorm.ts";
export { convLayer } from "./conv2d.ts";
export { denseLayer } from "./dense.ts";
export { dropoutLayer, spatialDropoutLayer } from "./dropout.ts";
export { flattenLayer } from "./flatten.ts";
export { groupNormLayer, layerNormLayer } from "./groupnorm.ts";
export { identityLayer } from "./identity.ts";
export { kWinnersLayer } from "./kwinners.ts";
export { avgPoolLayer, globalAvgPoolLayer, maxPoolLayer } from "./pool.ts";
export { residualLayer } from "./residual.ts";
export { scaleLayer } from "./scale.ts";
export { shiftLayer } from "./shift.ts";
