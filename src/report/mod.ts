/**
 * Static HTML reports from run records: the public API of `src/report/`.
 *
 * @module
 */

export {
  isOwnIndex,
  type ReportOptions,
  writeExperimentReport,
  writeResultsIndex,
} from "./report.ts";
export {
  createOutputFolder,
  type IndexUpdate,
  type OutputFolder,
  ownsResultsRoot,
  RESULTS_MARKER,
  updateResultsIndex,
} from "./root.ts";
export {
  type AnalysisOptions,
  analyzeExperiment,
  type Comparison,
  type ExperimentAnalysis,
  MIN_SEEDS_FOR_VERDICT,
  type VariantAnalysis,
  variantFamily,
} from "./analysis.ts";
export { isExperimentDir, type LoadedExperiment, loadExperiment, parseRunRecord } from "./load.ts";
export { epochCsv } from "./csv.ts";
export {
  areaUnderCurve,
  bootstrapMeanInterval,
  ema,
  EMA_COEFFICIENT,
  stepsToThreshold,
  summarize,
} from "./stats.ts";
