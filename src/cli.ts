/**
 * What every command-line tool (`experiment`, `report`, `visualize`, `bench`, `data`, `build`)
 * shares: flag parsing whose mistakes become {@link UsageError}s, and one way to report a
 * failure. Misuse prints `error: <one line>` and the hint {@link HELP_HINT} on stderr and exits
 * 2; the full usage text is printed only for `--help`. Any other failure prints `error: ...`
 * and exits 1.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.ts";

export { UsageError } from "./errors.ts";

/** The line printed after a misuse error. */
export const HELP_HINT = "run with --help for the options";

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/**
 * `parseArgs` (strict) whose errors (unknown option, missing value) are {@link UsageError}s
 * with the message on one line, without parseArgs' advice about positionals after `--` (no tool
 * takes one that starts with `-`).
 */
export function parseFlags<T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    const msg = (e as Error).message.split("\n").map((l) => l.trim()).filter(Boolean).join(" ");
    throw new UsageError(msg.replace(/\. To specify a positional argument starting with .*$/, ""));
  }
}

/** {@link parseFlags} at a script's top level: misuse is reported ({@link reportFailure}), exit 2. */
export function parseFlagsOrExit<T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseFlags(config);
  } catch (e) {
    Deno.exit(reportFailure(e));
  }
}

/**
 * Prints `e` the way every tool does and returns the exit code: for a {@link UsageError}
 * `error: <first line>` and the hint, 2; otherwise `error: <message>`, 1.
 */
export function reportFailure(e: unknown, print: (line: string) => void = console.error): number {
  if (e instanceof UsageError) {
    print(`error: ${firstLine(e)}\n${HELP_HINT}`);
    return 2;
  }
  print(`error: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
}
