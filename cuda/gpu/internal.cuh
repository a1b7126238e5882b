/*
 * Internal header of the CUDA build (libshiftlab_cuda.so): error reporting, the device guard,
 * launch checking and buffer-range checks against the caching allocator (device.cu), grid
 * loops, and the window geometry the convolution and pooling files share. Not part of the C
 * API (cuda/include/shiftlab.h).
 */
#ifndef SHIFTLAB_GPU_INTERNAL_CUH
#define SHIFTLAB_GPU_INTERNAL_CUH

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

/* for (i = this thread's first index; i < total; i += the grid's thread count), int64_t i */
#define SL_GRID_LOOP(i, total)                                                  \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (total); \
       i += (int64_t)gridDim.x * blockDim.x)

/* The same with an index type I: uint32_t when every buffer involved has < 2^31 elements
 * (32-bit division is several times cheaper), else int64_t. */
#define SL_GRID_LOOP_T(I, i, total)                                        \
  for (I i = (I)blockIdx.x * (I)blockDim.x + threadIdx.x; i < (total); \
       i += (I)gridDim.x * (I)blockDim.x)

/* Sizes below this use 32-bit indexing. */
constexpr int64_t SL_SMALL = (int64_t)1 << 31;

/* Launches KERNEL<uint32_t> when every size in the pack is < 2^31, else KERNEL<int64_t>. */
#define LAUNCH_IDX(big, kernel, grid, ...)                                   \
  do {                                                                      \
    if (big) {                                                              \
      kernel<int64_t><<<(grid), 256, 0, SL_STREAM>>>(__VA_ARGS__);          \
    } else {                                                                \
      kernel<uint32_t><<<(grid), 256, 0, SL_STREAM>>>(__VA_ARGS__);         \
    }                                                                       \
  } while (0)

/* ---- 2-D windows (conv.cu, pool.cu) ---- */

/* A checked window with its output size, passed to the kernels by value. */
struct Win {
  int n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
};

/* Checks the window *win (sl_window_out) and unpacks it into `Win g` and n, c, h, w, kh, kw,
 * sh, sw, ph, pw; returns SL_ERR_ARG naming `what` when it is invalid. */
#define SL_WINDOW(what, win)                                                               \
  int32_t oh_ = 0, ow_ = 0;                                                                \
  SL_ARG((win) != NULL, "%s: null window", what);                                          \
  SL_ARG(sl_window_out((win), &oh_, &ow_), "%s: " SL_WINDOW_INVALID, what,                 \
         SL_WINDOW_FIELDS(win));                                                           \
  const Win g{(win)->n, (win)->c,  (win)->h,  (win)->w,  (win)->kh, (win)->kw,             \
              (win)->sh, (win)->sw, (win)->ph, (win)->pw, oh_,       ow_};                 \
  const int32_t n = g.n, c = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw;                  \
  (void)n, (void)c, (void)h, (void)w, (void)kh, (void)kw

/* first and last output index (inclusive) whose window covers input position i */
__device__ __forceinline__ void cover(int i, int p, int k, int s, int o, int* lo, int* hi) {
  const int t = i + p; /* o*s <= t and t < o*s + k */
  int l = t - k + 1 <= 0 ? 0 : (t - k + 1 + s - 1) / s;
  int h = t / s;
  if (h > o - 1) h = o - 1;
  *lo = l;
  *hi = h;
}

#endif
