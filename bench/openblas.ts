/**
 * OpenBLAS's `cblas_sgemm` through Deno FFI, for the benchmark's reference only (never used
 * for training). Found through `ldconfig -p` or the usual Debian paths.
 *
 * @module
 */

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "pointer",
      "i32",
      "pointer",
      "i32",
      "f32",
      "pointer",
      "i32",
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** A loaded OpenBLAS. */
export interface OpenBlas {
  path: string;
  /** Row-major `C = alpha op(A) op(B) + beta C` on host pointers. */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Deno.PointerValue,
    b: Deno.PointerValue,
    beta: number,
    c: Deno.PointerValue,
  ): void;
}

function candidates(): string[] {
  const out: string[] = [];
  try {
    const r = new Deno.Command("ldconfig", { args: ["-p"], stdout: "piped", stderr: "null" })
      .outputSync();
    for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
      const m = line.match(/libopenblas[^ ]*\.so[^ ]* .*=> (\S+)/);
      if (m) out.push(m[1]);
    }
  } catch {
    // no ldconfig
  }
  out.push(
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/local/lib/libopenblas.so",
  );
  return out;
}

/** Opens OpenBLAS, or returns why it could not. */
export function openBlas(): OpenBlas | string {
  const errors: string[] = [];
  for (const path of candidates()) {
    try {
      Deno.statSync(path);
    } catch {
      continue;
    }
    try {
      const lib = Deno.dlopen(path, SYMBOLS);
      return {
        path,
        sgemm(ta, tb, m, n, k, alpha, a, b, beta, c) {
          lib.symbols.cblas_sgemm(
            CBLAS_ROW_MAJOR,
            ta ? CBLAS_TRANS : CBLAS_NO_TRANS,
            tb ? CBLAS_TRANS : CBLAS_NO_TRANS,
            m,
            n,
            k,
            alpha,
            a,
            ta ? m : k,
            b,
            tb ? k : n,
            beta,
            c,
            n,
          );
        },
      };
    } catch (e) {
      errors.push(`${path}: ${(e as Error).message}`);
    }
  }
  return errors.length > 0
    ? errors.join("; ")
    : "libopenblas is not installed (Debian: apt-get install libopenblas0-pthread)";
}
