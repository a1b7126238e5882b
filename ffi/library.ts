/**
 * Finding, opening and calling the native library: the path resolver (environment override,
 * then `build/`), the loader (one open library per path, shared), and the mapping of every
 * non-zero status code to a thrown {@link NativeError} carrying `sl_last_error()`.
 *
 * @module
 */
import { type ShiftlabSymbols, STATUS_NAMES, SYMBOLS } from "./symbols.ts";

/** Which build of the library. */
export type LibraryKind = "cpu" | "cuda";

/** Environment variables that override the library path. */
export const LIBRARY_ENV: Readonly<Record<LibraryKind, string>> = {
  cpu: "SHIFTLAB_LIB_CPU",
  cuda: "SHIFTLAB_LIB_CUDA",
};

/** The command that builds the libraries. */
export const BUILD_COMMAND = "deno task build";

/** The command that builds the library of `kind` (without a device, CUDA's only when asked). */
export function buildCommand(kind: LibraryKind): string {
  return kind === "cuda" ? `${BUILD_COMMAND} --cuda` : BUILD_COMMAND;
}

/** The repository's build folder (next to `ffi/`). */
export const BUILD_DIR: string = decodeURIComponent(new URL("../build/", import.meta.url).pathname);

/** The native sources folder. */
export const SOURCE_DIR: string = decodeURIComponent(new URL("../cuda/", import.meta.url).pathname);

/** File name of a library build for this platform. */
export function libraryFileName(kind: LibraryKind): string {
  const base = `shiftlab_${kind}`;
  if (Deno.build.os === "windows") return `${base}.dll`;
  if (Deno.build.os === "darwin") return `lib${base}.dylib`;
  return `lib${base}.so`;
}

/** Where a library is looked for, and why there. */
export interface ResolvedLibrary {
  kind: LibraryKind;
  path: string;
  /** `env` when the environment variable named the path, else `build`. */
  source: "env" | "build";
  exists: boolean;
}

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: fall back to the build folder
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Resolves the path of a library: `SHIFTLAB_LIB_CPU` / `SHIFTLAB_LIB_CUDA`, then `build/`. */
export function resolveLibrary(kind: LibraryKind): ResolvedLibrary {
  const fromEnv = envGet(LIBRARY_ENV[kind]);
  if (fromEnv) return { kind, path: fromEnv, source: "env", exists: isFile(fromEnv) };
  const path = BUILD_DIR + libraryFileName(kind);
  return { kind, path, source: "build", exists: isFile(path) };
}

/** A failed native call: the function, the status code and the library's message. */
export class NativeError extends Error {
  /** Creates the error; `message` is the C side's `sl_last_error()`. */
  constructor(
    readonly fn: string,
    readonly code: number,
    readonly nativeMessage: string,
  ) {
    super(`${fn} failed (${STATUS_NAMES[code] ?? `status ${code}`}): ${nativeMessage}`);
    this.name = "NativeError";
  }
}

/** Why a library could not be used (missing file, dlopen failure, no device). */
export class LibraryUnavailableError extends Error {
  /** Creates the error. */
  constructor(readonly kind: LibraryKind, message: string) {
    super(message);
    this.name = "LibraryUnavailableError";
  }
}

/** An opened native library with status checking. */
export class NativeLibrary {
  /** The raw symbols; prefer {@link NativeLibrary.check} around every call. */
  readonly symbols: ShiftlabSymbols;
  #lib: Deno.DynamicLibrary<typeof SYMBOLS>;

  /** Opens `path`; throws {@link LibraryUnavailableError} when dlopen fails. */
  constructor(readonly kind: LibraryKind, readonly path: string) {
    try {
      this.#lib = Deno.dlopen(path, SYMBOLS);
    } catch (e) {
      throw new LibraryUnavailableError(
        kind,
        `cannot open the native ${kind} library ${path}: ${(e as Error).message}` +
          ` (rebuild it with \`${buildCommand(kind)}\`)`,
      );
    }
    this.symbols = this.#lib.symbols;
  }

  /** The message of the most recent failure on this thread. */
  lastError(): string {
    const p = this.symbols.sl_last_error();
    return p === null ? "" : Deno.UnsafePointerView.getCString(p);
  }

  /** Throws a {@link NativeError} unless `status` is 0. */
  check(status: number, fn: string): void {
    if (status !== 0) throw new NativeError(fn, status, this.lastError() || "no message");
  }

  /** The build identification string (compiler, flags, source hash). */
  buildInfo(): string {
    const p = this.symbols.sl_build_info();
    return p === null ? "" : Deno.UnsafePointerView.getCString(p);
  }

  /** The device description (CPU model and threads, or GPU name). */
  deviceInfo(): string {
    const buf = new Uint8Array(512);
    this.check(this.symbols.sl_device_info(buf, buf.length), "sl_device_info");
    const end = buf.indexOf(0);
    return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
  }

  /** Closes the library; buffers it allocated become invalid. */
  close(): void {
    this.#lib.close();
  }
}

const opened = new Map<string, NativeLibrary>();

/** The folder under `cuda/` that holds each build's own sources (`cuda/cpu/*.c`, `cuda/gpu/*.cu`). */
export const BUILD_FOLDER: Readonly<Record<LibraryKind, string>> = { cpu: "cpu", cuda: "gpu" };

/**
 * Every file under `cuda/` that a build depends on, as paths relative to `cuda/`, sorted: all
 * of them except the other build's folder (so the public header, the build's own folder and
 * anything added later all count). The build's stamp hashes these and the staleness check
 * compares their times, so a change to any of them triggers a rebuild.
 */
export function buildSources(kind: LibraryKind): string[] {
  const other = BUILD_FOLDER[kind === "cpu" ? "cuda" : "cpu"];
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(SOURCE_DIR + rel)) {
      const path = rel + e.name;
      if (e.isDirectory && path !== other) walk(path + "/");
      else if (e.isFile) out.push(path);
    }
  };
  try {
    walk("");
  } catch {
    return [];
  }
  return out.sort();
}

/** Newest modification time of a build's sources, or 0 when they are not present. */
function newestSourceTime(kind: LibraryKind): number {
  let newest = 0;
  try {
    for (const f of buildSources(kind)) {
      const t = Deno.statSync(SOURCE_DIR + f).mtime?.getTime() ?? 0;
      if (t > newest) newest = t;
    }
  } catch {
    return 0;
  }
  return newest;
}

/**
 * Whether the library in `build/` is older than a native source (it should be rebuilt with
 * `deno task build`; the tasks do that on their own).
 */
export function isStale(lib: ResolvedLibrary): boolean {
  if (lib.source !== "build" || !lib.exists) return false;
  try {
    const built = Deno.statSync(lib.path).mtime?.getTime() ?? 0;
    return newestSourceTime(lib.kind) > built;
  } catch {
    return false;
  }
}

const warnedStale = new Set<string>();

/**
 * Opens (once per path) the library of `kind`. A missing file throws
 * {@link LibraryUnavailableError} naming the path and the command that builds it.
 */
export function openLibrary(kind: LibraryKind): NativeLibrary {
  const r = resolveLibrary(kind);
  const cached = opened.get(r.path);
  if (cached) return cached;
  if (!r.exists) {
    const where = r.source === "env" ? ` (from ${LIBRARY_ENV[kind]})` : "";
    throw new LibraryUnavailableError(
      kind,
      `native ${kind} library not found at ${r.path}${where}; build it with \`${
        buildCommand(kind)
      }\``,
    );
  }
  if (isStale(r) && !warnedStale.has(r.path)) {
    warnedStale.add(r.path);
    console.error(
      `warning: ${r.path} is older than the sources in cuda/; run \`${buildCommand(r.kind)}\``,
    );
  }
  const lib = new NativeLibrary(kind, r.path);
  opened.set(r.path, lib);
  return lib;
}
