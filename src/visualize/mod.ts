/**
 * Gradient-ascent visualisation and adversarial samples (seed 000 §2.3-2.7, SPEC §5): the
 * engine, candidate search, the adversarial study, the whole study, the page writer and the
 * PNG encoder. The CLI is `cli.ts` (`deno task visualize`).
 *
 * @module
 */
export * from "./neuron.ts";
export * from "./ascent.ts";
export * from "./candidates.ts";
export * from "./adversarial.ts";
export * from "./study.ts";
export * from "./quick.ts";
export * from "./page.ts";
export * from "./png.ts";
export * from "./image.ts";
