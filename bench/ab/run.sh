#!/usr/bin/env bash
# Speed work on the host library, where results must not change:
#
#   bash bench/ab/run.sh [REF]     (REF: a git commit, default HEAD)
#
# builds the library from REF (A) and from the working tree (B) with the flags of `deno task
# build`, then bench/ab/ab.c runs the same GEMMs, convolutions (with and without the column
# cache), batch norms and reductions through both: every output compared bit for bit, and the
# two timed interleaved (best of 40 short rounds each). OMP_NUM_THREADS=1 unless set. Exits 1
# when an output differs. Needs a C compiler; REF must have sl_conv2d_columns (from f5691c0 on).
set -euo pipefail
cd "$(dirname "$0")/../.."
REF=${1:-HEAD}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FLAGS=(-O3 -march=native -fopenmp -shared -fPIC -std=gnu11)
mkdir -p "$TMP/a"
git archive "$REF" cuda | tar -x -C "$TMP/a"
cc "${FLAGS[@]}" -I"$TMP/a/cuda/include" "$TMP"/a/cuda/cpu/*.c -o "$TMP/liba.so" -lm
cc "${FLAGS[@]}" -Icuda/include cuda/cpu/*.c -o "$TMP/libb.so" -lm
cc -O2 -Icuda/include bench/ab/ab.c -o "$TMP/ab" -ldl
echo "A = $(git rev-parse --short "$REF"), B = the working tree; OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$TMP/ab" "$TMP/liba.so" "$TMP/libb.so"
