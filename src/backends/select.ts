/**
 * Backend selection behind `--backend auto|ts|cpu|cuda`.
 *
 * `auto` picks `cuda` when the CUDA library loads and a device answers (`sl_init`), else `cpu`
 * when the host library loads, else `ts`, and says which it chose and why in one short
 * sentence; the CUDA library's own message (a driver's complaint) is kept apart, for
 * `--verbose`. Naming a backend explicitly either gives that backend or throws an error saying
 * why it is unavailable and how to fix it. Native backends are created once per process and
 * shared.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { tsBackend } from "./ts.ts";
import { NativeBackend } from "./native.ts";
import { type LibraryKind, NativeError, resolveLibrary } from "../../ffi/library.ts";
import { UsageError } from "../errors.ts";
import { cudaDeviceCount } from "./devices.ts";

/** Names accepted by {@link selectBackend}. */
export type BackendName = "auto" | "ts" | "cpu" | "cuda";

/** The valid names, for CLIs and error messages. */
export const BACKEND_NAMES: readonly BackendName[] = ["auto", "ts", "cpu", "cuda"];

/** A chosen backend and the reason it was chosen. */
export interface BackendChoice {
  /** The backend to train on. */
  backend: Backend;
  /** Which backend and why, in one short sentence (e.g. `auto: cpu, no CUDA device`). */
  reason: string;
  /** When `auto` passed CUDA over: the CUDA library's own message (for `--verbose`). */
  detail?: string;
}

const natives = new Map<LibraryKind, NativeBackend>();
const failures = new Map<LibraryKind, { message: string; noDevice: boolean }>();

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/** The shared native backend of `kind`, or the reason it cannot be had (cached either way). */
export function tryNative(kind: LibraryKind): NativeBackend | string {
  const have = natives.get(kind);
  if (have) return have;
  const failed = failures.get(kind);
  if (failed !== undefined) return failed.message;
  try {
    const b = NativeBackend.open(kind);
    natives.set(kind, b);
    return b;
  } catch (e) {
    const message = firstLine(e);
    // sl_init's SL_ERR_DEVICE: the library loaded, no device answered
    failures.set(kind, { message, noDevice: e instanceof NativeError && e.code === 3 });
    return message;
  }
}

/** Why `auto` could not use CUDA, in a few words (the library's message is the detail). */
function whyNoCuda(): string {
  if (failures.get("cuda")?.noDevice) return "no CUDA device answered";
  if (!resolveLibrary("cuda").exists) {
    return cudaDeviceCount() > 0
      ? "the CUDA library is not built (deno task build --cuda)"
      : "no CUDA device";
  }
  return "the CUDA library did not load";
}

/**
 * Returns the backend for `name` and why. Throws a {@link UsageError} for an unknown name
 * (listing the valid ones) and when an explicitly named native backend is unavailable.
 */
export function selectBackend(name: BackendName | string): BackendChoice {
  switch (name) {
    case "ts":
      return { backend: tsBackend, reason: "ts requested" };
    case "cpu":
    case "cuda": {
      const b = tryNative(name);
      if (typeof b === "string") throw new UsageError(`backend '${name}' is unavailable: ${b}`);
      return { backend: b, reason: `${name} requested` };
    }
    case "auto": {
      const cuda = tryNative("cuda");
      if (typeof cuda !== "string") {
        return { backend: cuda, reason: "auto: cuda, a device answered" };
      }
      const detail = `cuda unavailable: ${cuda}`;
      const cpu = tryNative("cpu");
      if (typeof cpu !== "string") {
        return { backend: cpu, reason: `auto: cpu, ${whyNoCuda()}`, detail };
      }
      return {
        backend: tsBackend,
        reason: `auto: ts, ${whyNoCuda()} and the native cpu library is unavailable (${cpu})`,
        detail,
      };
    }
    default:
      throw new UsageError(
        `unknown backend '${name}' (expected one of ${BACKEND_NAMES.join(", ")})`,
      );
  }
}
