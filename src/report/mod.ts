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
  type ComparisonRow,
  type ComparisonTable,
  type ExperimentAnalysis,
  type GroupAnalysis,
  variantFamily,
} from "./analysis.ts";
export {
  FAMILY_ALPHA,
  type HypothesisTest,
  MIN_SEEDS_FOR_VERDICT,
  type OrientedDifference,
  TestFamily,
  type Verdict,
} from "./inference.ts";
export { CLAIMS, EQUIVALENCE_MARGIN, type Finding, type FindingVerdict } from "./findings.ts";
export { isExperimentDir, type LoadedExperiment, loadExperiment, parseRunRecord } from "./load.ts";
export { epochCsv } from "./csv.ts";
export {
  areaUnderCurve,
  bootstrapIqmInterval,
  ema,
  EMA_COEFFICIENT,
  holm,
  interquartileMean,
  pairedT,
  signFlipP,
  summarize,
  timeToTarget,
} from "./stats.ts";
