#!/usr/bin/env bash
# Builds build/libshiftlab_cuda_emu.so: the CUDA sources in cuda/gpu/ compiled as C++ for the CPU
# against the emulated runtime in cuda_runtime.h (beside this script), so that the conformance
# suite's cuda target can check the kernels' logic where no GPU exists:
#
#   bash bench/cuda_ref/emu/build.sh
#   SHIFTLAB_LIB_CUDA=build/libshiftlab_cuda_emu.so SHIFTLAB_CONFORMANCE_QUICK=1 \
#     deno test -A tests/conformance.test.ts --filter "cuda:"
#
# Slow (every CUDA thread is an OS thread; QUICK leaves out the threaded-size cases, and the
# rest still takes tens of minutes on 2 cores) and silent about performance; it exists to catch
# indexing, barrier and shuffle mistakes.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
EMU=$ROOT/bench/cuda_ref/emu
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp cuda/gpu/*.cu cuda/gpu/*.cuh cuda/include/shiftlab.h "$TMP/"
# kernel<<<cfg>>>(args) -> emu::launch(kernel, emu::cfg(cfg), args)
python3 - "$TMP" <<'PY'
import glob, re, sys
for p in glob.glob(sys.argv[1] + "/*.cu") + glob.glob(sys.argv[1] + "/*.cuh"):
    s = open(p).read()
    s = re.sub(r'(\b\w+(?:<[^;<>]*(?:<[^;<>]*>[^;<>]*)*>)?)<<<(.*?)>>>\(',
               lambda m: f'emu::launch({m.group(1)}, emu::cfg({m.group(2)}), ', s, flags=re.S)
    s = s.replace('extern __shared__ float srow[];', 'float* srow = emu::dyn.data();')
    open(p, "w").write(s)
PY
mkdir -p build
(cd "$TMP" && g++ -std=c++20 -O1 -shared -fPIC -pthread -I"$EMU" -include cuda_runtime.h -x c++ \
  ./*.cu -o "$ROOT/build/libshiftlab_cuda_emu.so")
echo "built build/libshiftlab_cuda_emu.so (CPU emulation of the CUDA build)"
