/*
 * Host C build: errors, device description, build identification and the caching
 * allocator, with the transfers and fills (sl_alloc ... sl_memory_in_use).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

#ifndef SL_SOURCE_HASH
#define SL_SOURCE_HASH "unknown"
#endif
#ifndef SL_BUILD_FLAGS
#define SL_BUILD_FLAGS "unknown"
#endif

/* ---------------------------------------------------------------- errors */

static _Thread_local char sl_err[1024];

int sl_set_error(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sl_err, sizeof sl_err, fmt, ap);
  va_end(ap);
  return code;
}

SL_API const char* sl_last_error(void) { return sl_err; }

/* ---------------------------------------------------------------- library and device */

SL_API int sl_device_info(char* buf, int32_t cap) {
  SL_ARG(buf != NULL && cap > 0, "sl_device_info: null buffer or capacity %d", (int)cap);
  char model[256] = "unknown CPU";
  FILE* f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10) == 0) {
        const char* colon = strchr(line, ':');
        if (colon) {
          colon++;
          while (*colon == ' ' || *colon == '\t') colon++;
          snprintf(model, sizeof model, "%s", colon);
          size_t len = strlen(model);
          while (len > 0 && (model[len - 1] == '\n' || model[len - 1] == ' ')) model[--len] = 0;
        }
        break;
      }
    }
    fclose(f);
  }
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  snprintf(buf, (size_t)cap, "cpu: %s, %d threads", model, threads);
  return SL_OK;
}

SL_API int sl_init(void) { return SL_OK; }

SL_API const char* sl_build_info(void) {
  static char info[512];
  if (!info[0]) {
    int omp = 0;
#ifdef _OPENMP
    omp = 1;
#endif
    snprintf(info, sizeof info,
             "host C build; compiler gcc-compatible %s; flags %s; source %s; OpenMP %s; "
             "gemm micro-kernel %dx%d, vector width %d",
             __VERSION__, SL_BUILD_FLAGS, SL_SOURCE_HASH, omp ? "on" : "off", SLG_MR, SLG_NR,
             SLG_VW);
  }
  return info;
}

/* ---------------------------------------------------------------- memory */

/*
 * A caching allocator. Training allocates the same sizes every step (im2col buffers of
 * hundreds of MB included); returning them to malloc means fresh pages, and page faults, on
 * every step. Freed blocks go to per-size-class free lists instead and are reused (zero-filled
 * again, as sl_alloc promises). Size classes: multiples of 64 bytes up to 4 KiB, then 8 per
 * power of two (at most 12.5% slack). At most SL_CACHE_MAX bytes are kept cached; beyond that
 * blocks go back to the system. sl_memory_in_use reports live + cached capacity.
 *
 * Every block carries a 64-byte header (magic, class, capacity) so the data stays 64-aligned.
 */
#define SL_HEADER 64
#define SL_MAGIC 0x5368694c4c616221ULL
#define SL_FREED 0x5368694c46726565ULL
#define SL_NCLASS 512
#define SL_CACHE_MAX (INT64_C(4) << 30)

typedef struct sl_block {
  uint64_t magic;
  int64_t capacity; /* data bytes */
  int32_t cls;
  struct sl_block* next; /* free-list link while cached */
} sl_block;

static sl_block* sl_free_lists[SL_NCLASS];
static int64_t sl_live_bytes = 0;
static int64_t sl_cached_bytes = 0;
static pthread_mutex_t sl_alloc_lock = PTHREAD_MUTEX_INITIALIZER;

/* Size class and its capacity for a request of `bytes` (> 0). */
static int size_class(int64_t bytes, int64_t* capacity) {
  if (bytes <= 4096) {
    const int64_t c = (bytes + 63) / 64;
    *capacity = c * 64;
    return (int)c; /* 1..64 */
  }
  int e = 63 - __builtin_clzll((unsigned long long)(bytes - 1)); /* 2^e < bytes <= 2^(e+1) */
  const int64_t base = INT64_C(1) << e;
  const int64_t step = base / 8;
  const int64_t sub = (bytes - base + step - 1) / step; /* 1..8 */
  *capacity = base + sub * step;
  return 64 + (e - 12) * 8 + (int)sub; /* e >= 12 */
}

static void zero_fill(void* p, int64_t bytes) {
  if (bytes >= (INT64_C(1) << 22)) {
#pragma omp parallel
    {
      int64_t lo = 0, hi = bytes;
#ifdef _OPENMP
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      lo = bytes / 64 * t / nt * 64;
      hi = t == nt - 1 ? bytes : bytes / 64 * (t + 1) / nt * 64;
#endif
      memset((char*)p + lo, 0, (size_t)(hi - lo));
    }
  } else {
    memset(p, 0, (size_t)bytes);
  }
}

/* SHIFTLAB_POISON_EMPTY: sl_alloc_empty fills with NaN (read per call, so tests can toggle it). */
static int poison_empty(void) {
  const char* v = getenv("SHIFTLAB_POISON_EMPTY");
  return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static int alloc_block(int64_t n, float** out, int zero) {
  SL_ARG(out != NULL, "sl_alloc: null output pointer");
  SL_ARG(n >= 0, "sl_alloc: negative size %lld (expected a count of floats >= 0)", (long long)n);
  SL_ARG(n <= (INT64_C(1) << 40), "sl_alloc: size %lld is too large", (long long)n);
  int64_t capacity;
  const int cls = size_class(n > 0 ? n * 4 : 4, &capacity);
  SL_ARG(cls > 0 && cls < SL_NCLASS, "sl_alloc: size %lld is too large", (long long)n);
  sl_block* b = NULL;
  pthread_mutex_lock(&sl_alloc_lock);
  if (sl_free_lists[cls]) {
    b = sl_free_lists[cls];
    sl_free_lists[cls] = b->next;
    sl_cached_bytes -= capacity;
  }
  sl_live_bytes += capacity;
  pthread_mutex_unlock(&sl_alloc_lock);
  if (!b) {
    b = (sl_block*)aligned_alloc(64, (size_t)(capacity + SL_HEADER));
    if (!b) {
      pthread_mutex_lock(&sl_alloc_lock);
      sl_live_bytes -= capacity;
      pthread_mutex_unlock(&sl_alloc_lock);
      return sl_set_error(SL_ERR_MEMORY, "sl_alloc: out of memory allocating %lld floats",
                          (long long)n);
    }
    b->capacity = capacity;
    b->cls = cls;
  }
  b->magic = SL_MAGIC;
  b->next = NULL;
  float* data = (float*)((unsigned char*)b + SL_HEADER);
  if (zero) {
    zero_fill(data, n * 4);
  } else if (poison_empty()) {
    for (int64_t i = 0; i < n; i++) data[i] = NAN;
  }
  *out = data;
  return SL_OK;
}

SL_API int sl_alloc(int64_t n, float** out) { return alloc_block(n, out, 1); }

SL_API int sl_alloc_empty(int64_t n, float** out) { return alloc_block(n, out, 0); }

SL_API int sl_free(float* p) {
  if (p == NULL) return SL_OK;
  sl_block* b = (sl_block*)((unsigned char*)p - SL_HEADER);
  SL_ARG(b->magic == SL_MAGIC, "sl_free: pointer was not allocated by sl_alloc (or was freed)");
  b->magic = SL_FREED;
  int keep = 0;
  pthread_mutex_lock(&sl_alloc_lock);
  sl_live_bytes -= b->capacity;
  if (sl_cached_bytes + b->capacity <= SL_CACHE_MAX) {
    b->next = sl_free_lists[b->cls];
    sl_free_lists[b->cls] = b;
    sl_cached_bytes += b->capacity;
    keep = 1;
  }
  pthread_mutex_unlock(&sl_alloc_lock);
  if (!keep) free(b);
  return SL_OK;
}

SL_API int sl_memory_in_use(int64_t* out) {
  SL_ARG(out != NULL, "sl_memory_in_use: null output pointer");
  pthread_mutex_lock(&sl_alloc_lock);
  *out = sl_live_bytes + sl_cached_bytes;
  pthread_mutex_unlock(&sl_alloc_lock);
  return SL_OK;
}

SL_API int sl_upload(float* dst, int64_t dst_off, const float* host, int64_t n) {
  SL_ARG(dst != NULL && (host != NULL || n == 0), "sl_upload: null pointer");
  SL_ARG(dst_off >= 0 && n >= 0, "sl_upload: negative offset %lld or count %lld",
         (long long)dst_off, (long long)n);
  if (n) memcpy(dst + dst_off, host, (size_t)n * 4);
  return SL_OK;
}

SL_API int sl_download(const float* src, int64_t src_off, float* host, int64_t n) {
  SL_ARG(src != NULL && (host != NULL || n == 0), "sl_download: null pointer");
  SL_ARG(src_off >= 0 && n >= 0, "sl_download: negative offset %lld or count %lld",
         (long long)src_off, (long long)n);
  if (n) memcpy(host, src + src_off, (size_t)n * 4);
  return SL_OK;
}

SL_API int sl_fill(float* p, int64_t n, float value) {
  SL_ARG(p != NULL, "sl_fill: null pointer");
  SL_ARG(n >= 0, "sl_fill: negative count %lld", (long long)n);
  if (value == 0.0f && !signbit(value)) {
    memset(p, 0, (size_t)n * 4);
    return SL_OK;
  }
  ELEMENTWISE(n, p[i] = value);
  return SL_OK;
}

SL_API int sl_copy(const float* src, int64_t src_off, float* dst, int64_t dst_off, int64_t n) {
  SL_ARG(src != NULL && dst != NULL, "sl_copy: null pointer");
  SL_ARG(src_off >= 0 && dst_off >= 0 && n >= 0, "sl_copy: negative offset or count");
  if (n) memmove(dst + dst_off, src + src_off, (size_t)n * 4);
  return SL_OK;
}

SL_API int sl_synchronize(void) { return SL_OK; }
