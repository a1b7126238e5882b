#!/usr/bin/env bash
# GPU verification of the CUDA backend in ONE call on the lent device machine (repo root):
#
#   bash bench/gpu_check.sh [build] [test] [native] [bench] [sanitize]   (default: all but sanitize)
#
# Stages: build the libraries (ffi/build.ts, nvcc there); the CUDA tests (the conformance
# suite's cuda target, tests/conformance.test.ts; the library's own checks and memory soak,
# tests/cuda_library.test.ts; 11-variant training parity, tests/cuda_training.test.ts); backend
# selection (auto should pick cuda); the benchmarks (bench/cuda_bench.ts: SGEMM vs cuBLAS,
# convs and All-CNN-C steps vs PyTorch); optionally compute-sanitizer memcheck over the
# conformance suite's cuda target. Logs and bench.json go to $OUT.
#
# Deno is not installed on the device machine, and its binary (~95 MB) is larger than the
# 64 MiB a call may carry, so carry it compressed. Prepare once, here:
#   mkdir -p .deno-dl && gzip -c "$(readlink -f "$(command -v deno)")" > .deno-dl/deno.gz
# (.deno-dl/ is git-ignored) and call the device tool with carry [".deno-dl"] and the command
#   bash bench/gpu_check.sh
# An uncompressed .deno-dl/deno, a .deno-dl/deno.xz or a deno on PATH are used as well.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="${OUT:-$ROOT/gpu_check_out}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "== $*" | tee -a "$SUMMARY"; }

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test native bench)
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# ---- deno
if [ -x .deno-dl/deno ]; then
  DENO=$ROOT/.deno-dl/deno
elif [ -f .deno-dl/deno.gz ]; then
  gzip -dc .deno-dl/deno.gz >/tmp/deno && chmod +x /tmp/deno && DENO=/tmp/deno
elif [ -f .deno-dl/deno.xz ]; then
  xz -dc .deno-dl/deno.xz >/tmp/deno && chmod +x /tmp/deno && DENO=/tmp/deno
elif command -v deno >/dev/null; then
  DENO=$(command -v deno)
else
  note "no deno: put it in .deno-dl/ (see the header of bench/gpu_check.sh) and carry .deno-dl"
  exit 2
fi
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 DENO_DIR=/tmp/deno-dir PYTHONUNBUFFERED=1
note "deno: $("$DENO" --version | head -1)"
note "nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo missing)"
note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
# at most 8 files come back from $OUT: summary, build, cuda_tests, native_select, bench.log,
# bench.json, sanitize

status=0
stage() { # name, log file, command...
  local name=$1 log=$2
  shift 2
  local t0=$SECONDS
  "$@" 2>&1 | tee "$OUT/$log"
  local rc=${PIPESTATUS[0]}
  note "$name: exit $rc in $((SECONDS - t0)) s (log $log)"
  [ "$rc" -ne 0 ] && status=1
  return 0
}

if want build; then
  stage "build" build.log "$DENO" run -A ffi/build.ts
fi
if want test; then
  stage "cuda tests" cuda_tests.log "$DENO" test -A tests/conformance.test.ts \
    tests/cuda_library.test.ts tests/cuda_training.test.ts --filter "/^cuda/"
  grep -E "^SKIP" "$OUT/cuda_tests.log" | tee -a "$SUMMARY"
fi
if want native; then
  stage "backend selection (auto should pick cuda)" native_select.log \
    "$DENO" test -A tests/native_select.test.ts
fi
if want bench; then
  stage "benchmarks" bench.log "$DENO" run -A bench/cuda_bench.ts --out "$OUT/bench.json"
  grep -E "^target:|^projected" "$OUT/bench.log" | tee -a "$SUMMARY"
fi
if want sanitize; then
  if command -v compute-sanitizer >/dev/null; then
    stage "compute-sanitizer memcheck (op conformance)" sanitize.log \
      compute-sanitizer --tool memcheck --error-exitcode 9 --target-processes all \
      "$DENO" test -A tests/conformance.test.ts --filter "cuda:"
  else
    note "compute-sanitizer not found: sanitize stage skipped"
  fi
fi
note "overall: $([ $status -eq 0 ] && echo OK || echo FAILURES)"
exit $status
