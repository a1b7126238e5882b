/**
 * ShiftLab: a research sandbox for neural-network training on Deno, built around the
 * shifting and scaling layers (SPEC §1) and their comparison with batch normalization.
 *
 * The public API, layer by layer of the architecture:
 * - tensors and backends: {@link Tensor}, the {@link Backend} interface, the `ts` reference
 *   backend, the native `cpu`/`cuda` backends through Deno FFI, and {@link selectBackend};
 * - the model: layers, losses, initialisers, {@link Sequential}, optimizers, the variant
 *   builder and the architecture presets;
 * - training: datasets, the training loop, safetensors checkpoints;
 * - studies: the experiment engine, reports, gradient-ascent visualisation.
 *
 * @example
 * ```ts
 * import { architecture, buildNetwork, fit, loadTrainTest, Optimizer, selectBackend } from "./mod.ts";
 *
 * const { backend } = selectBackend("auto"); // cuda, then cpu, then the ts reference
 * const { train, test } = await loadTrainTest("mnist"); // embedded, normalised
 * const arch = architecture("shiftlab-small", { inputShape: [1, 28, 28], classes: 10 });
 * const model = buildNetwork(arch, "csh_csc", { backend, seed: 1 });
 * const opt = new Optimizer(model.params(), { kind: "momentum", lr: 0.01 });
 * const history = await fit(model, opt, train, test, { epochs: 1, batchSize: 64, seed: 1 });
 * console.log(history.valError.at(-1));
 * ```
 *
 * @module
 */
export * from "./src/backend.ts";
export * from "./src/tensor.ts";
export * from "./src/ops.ts";
export * from "./src/rng.ts";
export * from "./src/backends/ts.ts";
export * from "./src/backends/native.ts";
export * from "./src/backends/select.ts";
export * from "./src/layers/mod.ts";
export * from "./src/loss.ts";
export * from "./src/init.ts";
export * from "./src/model.ts";
export * from "./src/optim.ts";
export * from "./src/variants.ts";
export * from "./src/architectures.ts";
export * from "./src/train.ts";
export * from "./src/progress.ts";
export * from "./src/data/mod.ts";
export * from "./src/io/safetensors.ts";
export * from "./src/experiment/record.ts";
export * from "./src/experiment/config.ts";
export * from "./src/experiment/sweep.ts";
export * from "./src/report/mod.ts";
export * from "./src/visualize/mod.ts";
