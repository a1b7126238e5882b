/**
 * Run by io_atomic.test.ts under a file-size limit (`ulimit -f`), where every write past the
 * limit fails the way a full disk does: calls each file writer of the tools with content larger
 * than the limit and prints one JSON line, writer name → the error it threw (null: it wrote).
 *
 * Arguments: ROOT (a results folder holding the experiment `exp`), ARCHIVE_URL, ARCHIVE_MD5;
 * or `warm` alone, to load every module once without the limit.
 *
 * @module
 */
import { tsBackend } from "../src/backends/ts.ts";
import { downloadCifar } from "../src/data/download.ts";
import { writeJsonAtomic } from "../src/experiment/files.ts";
import { saveModel } from "../src/io/safetensors.ts";
import { architecture } from "../src/architectures.ts";
import { writeExperimentReport, writeResultsIndex } from "../src/report/report.ts";
import { buildNetwork } from "../src/variants.ts";

if (Deno.args[0] !== "warm") {
  const [root, url, md5] = Deno.args;
  const out: Record<string, string | null> = {};
  const attempt = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      out[name] = null;
    } catch (e) {
      out[name] = (e as Error).message;
    }
  };
  await attempt("record", () =>
    writeJsonAtomic(`${root}/exp/runs/big__lr0.01__run0.json`, {
      trainLoss: new Array(40000).fill(0.123456789),
    }));
  await attempt("report", () => writeExperimentReport(`${root}/exp`));
  await attempt("index", () => writeResultsIndex(root));
  const arch = architecture("shiftlab-small", { inputShape: [1, 28, 28], classes: 10 });
  const model = buildNetwork(arch, "plain", { backend: tsBackend, seed: 1 });
  await attempt(
    "model",
    () => saveModel(`${root}/exp/m.safetensors`, model, { architecture: arch, variant: "plain" }),
  );
  model.dispose();
  await attempt("download", () => downloadCifar("cifar100", `${root}/data`, { url, md5 }));
  console.log(JSON.stringify(out));
}
