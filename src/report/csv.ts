/**
 * The per-epoch metrics of every run as CSV (one row per run and epoch), for the report's
 * download link.
 *
 * @module
 */

import type { RunRecord } from "../experiment/record.ts";

/** Column names of {@link epochCsv}, in order. */
export const EPOCH_CSV_COLUMNS = [
  "variant",
  "lr",
  "run",
  "seed",
  "epoch",
  "step",
  "val_loss",
  "val_error",
  "test_loss",
  "test_error",
  "epoch_seconds",
  "diverged_at_step",
] as const;

function cell(v: string | number | null): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "NaN";
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/**
 * CSV text with a header row and one row per run and epoch: `step` is the step count at the end
 * of the epoch (`epoch * stepsPerEpoch`), non-finite values are written `NaN`; the test loss and
 * error (measured once, after the last epoch) fill the run's last row only; a missing value is
 * empty. Lines end with `\n`.
 */
export function epochCsv(records: readonly RunRecord[]): string {
  const lines = [EPOCH_CSV_COLUMNS.join(",")];
  for (const r of records) {
    for (let e = 0; e < r.valError.length; e++) {
      lines.push(
        [
          r.config.variant,
          r.config.lr,
          r.config.run,
          r.config.seed,
          e + 1,
          (e + 1) * r.stepsPerEpoch,
          r.valLoss[e],
          r.valError[e],
          e === r.valError.length - 1 ? r.testLoss ?? null : null,
          e === r.valError.length - 1 ? r.testError ?? null : null,
          r.epochSeconds[e] ?? null,
          r.divergedAtStep,
        ].map(cell).join(","),
      );
    }
  }
  return lines.join("\n") + "\n";
}
