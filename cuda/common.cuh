/*
 * Shared internals of the CUDA build (libshiftlab_cuda.so): error reporting, the device guard,
 * launch checking and buffer-range checks against the caching allocator. Not part of the C API.
 */
#ifndef SHIFTLAB_COMMON_CUH
#define SHIFTLAB_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "shiftlab.h"

/* Records a printf-style message as the calling thread's last error and returns `code`. */
int sl_set_error(int code, const char* fmt, ...);

/* Lazily initialises the device; SL_OK when usable, else SL_ERR_DEVICE with the message set. */
int sl_require_device(void);

/* Turns a CUDA runtime status into SL_ERR_DEVICE (or SL_ERR_MEMORY) naming `what`. */
int sl_cuda_status(cudaError_t e, const char* what);

/* Checks the most recent launch of `what`. */
int sl_check_launch(const char* what);

/*
 * Checks that [p, p + n floats) lies inside one live allocation of this library. `what` names
 * the operand in the error message.
 */
int sl_check_buf(const float* p, int64_t n, const char* what);

/* Allocates / releases a temporary workspace through the caching allocator. */
int sl_workspace(int64_t n, float** out);
void sl_workspace_free(float* p);

/* The stream every kernel of the library runs on (the legacy default stream). */
static const cudaStream_t SL_STREAM = 0;

#define SL_GUARD()                         \
  do {                                     \
    int _st = sl_require_device();         \
    if (_st != SL_OK) return _st;          \
  } while (0)

#define SL_TRY(expr)                       \
  do {                                     \
    int _st = (expr);                      \
    if (_st != SL_OK) return _st;          \
  } while (0)

#define SL_CUDA(call, what) SL_TRY(sl_cuda_status((call), (what)))

#define SL_ARG(cond, ...)                                  \
  do {                                                     \
    if (!(cond)) return sl_set_error(SL_ERR_ARG, __VA_ARGS__); \
  } while (0)

/* Grid size for `n` items at `threads` per block, capped to keep grid-stride loops sane. */
static inline unsigned int sl_blocks(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 32) b = 65535LL * 32;
  return (unsigned int)b;
}

/* Counter-based generator of src/rng.ts (lowbias32 rounds). */
__device__ __forceinline__ uint32_t sl_mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

__device__ __forceinline__ uint32_t sl_random_u32(uint32_t seed, uint32_t stream, uint64_t counter) {
  uint32_t hi = (uint32_t)(counter >> 32);
  uint32_t lo = (uint32_t)(counter & 0xffffffffu);
  uint32_t h = sl_mix32(seed ^ 0x9e3779b9u);
  h = sl_mix32(h ^ stream);
  h = sl_mix32(h ^ hi);
  return sl_mix32(h ^ lo);
}

/* Block-wide sum of doubles; every thread gets the result. `scratch` holds >= 32 doubles. */
__device__ __forceinline__ double sl_block_sum(double v, double* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  double t = (threadIdx.x < nw) ? scratch[threadIdx.x] : 0.0;
  if (warp == 0) {
    for (int o = 16; o > 0; o >>= 1) t += __shfl_down_sync(0xffffffffu, t, o);
    if (lane == 0) scratch[0] = t;
  }
  __syncthreads();
  double r = scratch[0];
  __syncthreads();
  return r;
}

#endif
