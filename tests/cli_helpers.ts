/**
 * Running the command-line tools in tests: in-process with the console captured, or as a
 * `deno run` child process (optionally under a file-size limit, where every write past it fails
 * as on a full disk).
 *
 * @module
 */

/** The project's root folder. */
export const ROOT: string = new URL("../", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** What a tool printed and returned. */
export interface Ran {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs `deno run -A SCRIPT ARGS` (SCRIPT relative to the project) from `cwd` (default the
 * project; the project's deno.json is used from anywhere). With `limitKib`, every file the
 * process writes is limited to that size (`ulimit -f`, SIGXFSZ ignored so a write past it fails
 * with EFBIG instead of killing the process).
 */
export async function runDeno(
  script: string,
  args: string[],
  opts: { cwd?: string; limitKib?: number } = {},
): Promise<Ran> {
  const argv = ["run", "-A", "--config", CONFIG, `${ROOT}${script}`, ...args];
  const command = opts.limitKib === undefined ? Deno.execPath() : "bash";
  const quoted = [Deno.execPath(), ...argv].map((a) => `'${a.replaceAll("'", `'\\''`)}'`);
  const p = await new Deno.Command(command, {
    args: opts.limitKib === undefined
      ? argv
      : ["-c", `trap '' XFSZ; ulimit -f ${opts.limitKib}; exec ${quoted.join(" ")}`],
    cwd: opts.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** Runs `fn` with `console.log` and `console.error` captured. */
export async function silenced<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; out: string; err: string }> {
  const e = console.error;
  const l = console.log;
  let err = "";
  let out = "";
  console.error = (...a: unknown[]) => void (err += a.join(" ") + "\n");
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  try {
    return { value: await fn(), err, out };
  } finally {
    console.error = e;
    console.log = l;
  }
}
