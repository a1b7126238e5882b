/*
 * CUDA build: library state, error reporting, device discovery and the caching allocator.
 *
 * Allocator: requests are rounded up to a bucket (powers of two up to 1 MiB, then multiples of
 * 2 MiB); sl_free returns a block to its bucket's free list, and sl_alloc reuses a cached block
 * of the same bucket before calling cudaMalloc. When cudaMalloc fails, the cache is released and
 * the allocation retried once; a second failure reports how much was asked and how much is free.
 * All kernels run on one stream, so a block freed while work that uses it is still queued can be
 * handed out again safely: the next user's work is ordered after it.
 */
#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "internal.cuh"

/* ffi/build.ts passes -DSL_SOURCE_HASH="<hex>" (a string literal) */
#ifndef SL_SOURCE_HASH
#define SL_SOURCE_HASH "unknown"
#endif

static thread_local char t_error[1024] = "";

int sl_set_error(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t_error, sizeof t_error, fmt, ap);
  va_end(ap);
  return code;
}

extern "C" SL_API const char* sl_last_error(void) { return t_error; }

/* ---- device state ---- */

enum { DEV_UNKNOWN = 0, DEV_OK = 1, DEV_NONE = 2 };
static std::mutex g_init_mu;
static int g_dev_state = DEV_UNKNOWN;
static char g_dev_reason[512] = "";
static char g_dev_name[256] = "";

static int init_locked(void) {
  if (g_dev_state != DEV_UNKNOWN) return g_dev_state;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count <= 0) {
    snprintf(g_dev_reason, sizeof g_dev_reason, "no CUDA device (%s)",
             e != cudaSuccess ? cudaGetErrorString(e) : "the runtime reports 0 devices");
    cudaGetLastError(); /* clear the non-sticky error */
    g_dev_state = DEV_NONE;
    return g_dev_state;
  }
  e = cudaSetDevice(0);
  cudaDeviceProp prop;
  if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, 0);
  if (e == cudaSuccess) e = cudaFree(0); /* creates the context now, not inside the first op */
  if (e != cudaSuccess) {
    snprintf(g_dev_reason, sizeof g_dev_reason, "no CUDA device (%s)", cudaGetErrorString(e));
    cudaGetLastError();
    g_dev_state = DEV_NONE;
    return g_dev_state;
  }
  snprintf(g_dev_name, sizeof g_dev_name, "%s (sm_%d%d, %d SMs, %.1f GiB)", prop.name,
           prop.major, prop.minor, prop.multiProcessorCount,
           (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  g_dev_state = DEV_OK;
  return g_dev_state;
}

int sl_require_device(void) {
  int st;
  {
    std::lock_guard<std::mutex> lk(g_init_mu);
    st = init_locked();
  }
  if (st == DEV_OK) return SL_OK;
  return sl_set_error(SL_ERR_DEVICE, "%s", g_dev_reason);
}

extern "C" SL_API int sl_init(void) { return sl_require_device(); }

extern "C" SL_API int sl_device_info(char* buf, int32_t cap) {
  if (buf == NULL || cap <= 0) return sl_set_error(SL_ERR_ARG, "sl_device_info: buf must be non-null with cap > 0");
  int st = sl_require_device();
  snprintf(buf, (size_t)cap, "%s", st == SL_OK ? g_dev_name : g_dev_reason);
  return st;
}

extern "C" SL_API const char* sl_build_info(void) {
  static char info[512];
  snprintf(info, sizeof info, "cuda: nvcc %d.%d, cudart %d, -O3 sm_80 sm_90 +PTX, source %s",
           __CUDACC_VER_MAJOR__, __CUDACC_VER_MINOR__, CUDART_VERSION,
           SL_SOURCE_HASH);
  return info;
}

int sl_cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return SL_OK;
  cudaGetLastError();
  if (e == cudaErrorMemoryAllocation) {
    return sl_set_error(SL_ERR_MEMORY, "%s: CUDA out of memory (%s)", what, cudaGetErrorString(e));
  }
  return sl_set_error(SL_ERR_DEVICE, "%s: CUDA error %d (%s): %s", what, (int)e, cudaGetErrorName(e),
                      cudaGetErrorString(e));
}

int sl_check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return SL_OK;
  return sl_set_error(SL_ERR_DEVICE, "%s: kernel launch failed, CUDA error %d (%s): %s", what,
                      (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
}

extern "C" SL_API int sl_synchronize(void) {
  SL_GUARD();
  SL_CUDA(cudaDeviceSynchronize(), "sl_synchronize");
  return SL_OK;
}

/* ---- caching allocator ---- */

struct Allocator {
  std::mutex mu;
  /* live blocks: base address -> (requested floats, bucket bytes) */
  std::map<uintptr_t, std::pair<int64_t, size_t>> live;
  std::unordered_map<size_t, std::vector<void*>> cache;
  size_t live_bytes = 0;
  size_t cached_bytes = 0;
};
static Allocator g_alloc;

static size_t bucket_bytes(size_t bytes) {
  if (bytes < 256) return 256;
  if (bytes <= (1u << 20)) {
    size_t b = 256;
    while (b < bytes) b <<= 1;
    return b;
  }
  const size_t g = (size_t)2 << 20;
  return (bytes + g - 1) / g * g;
}

static void release_cache_locked(void) {
  for (auto& kv : g_alloc.cache) {
    for (void* p : kv.second) cudaFree(p);
    kv.second.clear();
  }
  g_alloc.cache.clear();
  g_alloc.cached_bytes = 0;
}

static int alloc_raw(int64_t n, float** out, bool zero, const char* what) {
  SL_GUARD();
  SL_ARG(out != NULL, "%s: out pointer is null", what);
  SL_ARG(n >= 0, "%s: element count must be >= 0, got %lld", what, (long long)n);
  SL_ARG(n <= ((int64_t)1 << 40), "%s: element count %lld is too large", what, (long long)n);
  const size_t want = (size_t)(n > 0 ? n : 1) * sizeof(float);
  const size_t bytes = bucket_bytes(want);
  void* p = NULL;
  {
    std::lock_guard<std::mutex> lk(g_alloc.mu);
    auto it = g_alloc.cache.find(bytes);
    if (it != g_alloc.cache.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      g_alloc.cached_bytes -= bytes;
    } else {
      cudaError_t e = cudaMalloc(&p, bytes);
      if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        cudaDeviceSynchronize();
        release_cache_locked();
        e = cudaMalloc(&p, bytes);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        if (e == cudaErrorMemoryAllocation) {
          return sl_set_error(SL_ERR_MEMORY,
                              "%s: CUDA out of memory: asked for %zu bytes (%lld floats), %zu bytes "
                              "free of %zu on the device (this library holds %zu live)",
                              what, bytes, (long long)n, free_b, total_b, g_alloc.live_bytes);
        }
        return sl_set_error(SL_ERR_DEVICE, "%s: cudaMalloc of %zu bytes failed: %s", what, bytes,
                            cudaGetErrorString(e));
      }
    }
    g_alloc.live[(uintptr_t)p] = std::make_pair(n, bytes);
    g_alloc.live_bytes += bytes;
  }
  if (zero && n > 0) {
    SL_CUDA(cudaMemsetAsync(p, 0, (size_t)n * sizeof(float), SL_STREAM), what);
  }
  *out = (float*)p;
  return SL_OK;
}

extern "C" SL_API int sl_alloc(int64_t n, float** out) { return alloc_raw(n, out, true, "sl_alloc"); }

int sl_workspace(int64_t n, float** out) { return alloc_raw(n, out, false, "workspace"); }

/* Contents unspecified; SHIFTLAB_POISON_EMPTY (read per call) fills them with NaN (all-ones
 * bytes) so tests can prove no op reads them before writing. */
extern "C" SL_API int sl_alloc_empty(int64_t n, float** out) {
  SL_TRY(alloc_raw(n, out, false, "sl_alloc_empty"));
  const char* v = getenv("SHIFTLAB_POISON_EMPTY");
  if (v != NULL && v[0] != '\0' && strcmp(v, "0") != 0 && n > 0) {
    SL_CUDA(cudaMemsetAsync(*out, 0xff, (size_t)n * sizeof(float), SL_STREAM), "sl_alloc_empty");
  }
  return SL_OK;
}

extern "C" SL_API int sl_free(float* p) {
  SL_GUARD();
  if (p == NULL) return SL_OK;
  std::lock_guard<std::mutex> lk(g_alloc.mu);
  auto it = g_alloc.live.find((uintptr_t)p);
  if (it == g_alloc.live.end()) {
    return sl_set_error(SL_ERR_ARG, "sl_free: %p is not a live buffer of this library (double free?)",
                        (void*)p);
  }
  const size_t bytes = it->second.second;
  g_alloc.live.erase(it);
  g_alloc.live_bytes -= bytes;
  g_alloc.cache[bytes].push_back(p);
  g_alloc.cached_bytes += bytes;
  return SL_OK;
}

void sl_workspace_free(float* p) { sl_free(p); }

extern "C" SL_API int sl_memory_in_use(int64_t* out) {
  SL_GUARD();
  SL_ARG(out != NULL, "sl_memory_in_use: out pointer is null");
  std::lock_guard<std::mutex> lk(g_alloc.mu);
  *out = (int64_t)(g_alloc.live_bytes + g_alloc.cached_bytes);
  return SL_OK;
}

int sl_check_buf(const float* p, int64_t n, const char* what) {
  if (p == NULL) return sl_set_error(SL_ERR_ARG, "%s: buffer is null", what);
  if (n < 0) return sl_set_error(SL_ERR_ARG, "%s: negative element count %lld", what, (long long)n);
  std::lock_guard<std::mutex> lk(g_alloc.mu);
  const uintptr_t a = (uintptr_t)p;
  auto it = g_alloc.live.upper_bound(a);
  if (it == g_alloc.live.begin()) {
    return sl_set_error(SL_ERR_ARG, "%s: %p is not a live buffer of this library", what, (const void*)p);
  }
  --it;
  const int64_t cap = it->second.first;
  const uintptr_t base = it->first;
  if (a >= base + (uintptr_t)it->second.second || ((a - base) % sizeof(float)) != 0) {
    return sl_set_error(SL_ERR_ARG, "%s: %p is not a live buffer of this library", what, (const void*)p);
  }
  const int64_t off = (int64_t)((a - base) / sizeof(float));
  if (off + n > cap) {
    return sl_set_error(SL_ERR_ARG, "%s needs %lld elements, buffer has %lld", what,
                        (long long)(off + n), (long long)cap);
  }
  return SL_OK;
}

/* ---- transfers and fills ---- */

extern "C" SL_API int sl_upload(float* dst, int64_t dst_off, const float* host, int64_t n) {
  SL_GUARD();
  SL_ARG(dst_off >= 0 && n >= 0, "sl_upload: offset %lld and count %lld must be >= 0",
         (long long)dst_off, (long long)n);
  if (n == 0) return SL_OK;
  SL_ARG(host != NULL, "sl_upload: host pointer is null");
  SL_TRY(sl_check_buf(dst, dst_off + n, "sl_upload destination"));
  SL_CUDA(cudaMemcpy(dst + dst_off, host, (size_t)n * sizeof(float), cudaMemcpyHostToDevice),
          "sl_upload");
  return SL_OK;
}

extern "C" SL_API int sl_download(const float* src, int64_t src_off, float* host, int64_t n) {
  SL_GUARD();
  SL_ARG(src_off >= 0 && n >= 0, "sl_download: offset %lld and count %lld must be >= 0",
         (long long)src_off, (long long)n);
  if (n == 0) return SL_OK;
  SL_ARG(host != NULL, "sl_download: host pointer is null");
  SL_TRY(sl_check_buf(src, src_off + n, "sl_download source"));
  SL_CUDA(cudaMemcpy(host, src + src_off, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost),
          "sl_download");
  return SL_OK;
}

__global__ void k_fill(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    p[i] = v;
  }
}

extern "C" SL_API int sl_fill(float* p, int64_t n, float value) {
  SL_GUARD();
  SL_ARG(n >= 0, "sl_fill: count must be >= 0, got %lld", (long long)n);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(p, n, "sl_fill buffer"));
  k_fill<<<sl_blocks(n, 256), 256, 0, SL_STREAM>>>(p, n, value);
  return sl_check_launch("sl_fill");
}

extern "C" SL_API int sl_copy(const float* src, int64_t src_off, float* dst, int64_t dst_off,
                              int64_t n) {
  SL_GUARD();
  SL_ARG(src_off >= 0 && dst_off >= 0 && n >= 0, "sl_copy: offsets and count must be >= 0");
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(src, src_off + n, "sl_copy source"));
  SL_TRY(sl_check_buf(dst, dst_off + n, "sl_copy destination"));
  if (src == dst && src_off != dst_off &&
      (src_off < dst_off ? dst_off < src_off + n : src_off < dst_off + n)) {
    /* overlapping ranges of one buffer: go through a temporary, like memmove */
    float* tmp = NULL;
    SL_TRY(sl_workspace(n, &tmp));
    cudaError_t e = cudaMemcpyAsync(tmp, src + src_off, (size_t)n * sizeof(float),
                                    cudaMemcpyDeviceToDevice, SL_STREAM);
    if (e == cudaSuccess) {
      e = cudaMemcpyAsync(dst + dst_off, tmp, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice,
                          SL_STREAM);
    }
    sl_workspace_free(tmp);
    return sl_cuda_status(e, "sl_copy");
  }
  SL_CUDA(cudaMemcpyAsync(dst + dst_off, src + src_off, (size_t)n * sizeof(float),
                          cudaMemcpyDeviceToDevice, SL_STREAM),
          "sl_copy");
  return SL_OK;
}
