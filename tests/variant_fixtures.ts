/**
 * The small conv net the variant tests build every variant of, and its kink-free twin for
 * finite differences.
 *
 * @module
 */
import type { ArchSpec, LayerSpec } from "../src/architectures.ts";

/** input [2,6,6] → conv 3x3 p1 (3) → relu → maxpool 2 → flatten → dense 5 → relu → dense 4 */
export const TINY: ArchSpec = {
  name: "tiny",
  inputShape: [2, 6, 6],
  classes: 4,
  layers: [
    { type: "conv", filters: 3, kernel: 3, pad: 1 },
    { type: "act", op: "relu" },
    { type: "maxpool", kernel: 2 },
    { type: "flatten" },
    { type: "dense", units: 5 },
    { type: "act", op: "relu" },
    { type: "dense", units: 4, init: "xavier" },
  ],
};

/** TINY with tanh and average pooling: no kink for a finite difference to cross. */
export const SMOOTH: ArchSpec = {
  ...TINY,
  name: "smooth",
  layers: TINY.layers.map((s): LayerSpec =>
    s.type === "act"
      ? { type: "act", op: "tanh" }
      : s.type === "maxpool"
      ? { ...s, type: "avgpool" }
      : s
  ),
};
