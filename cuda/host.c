/*
 * ShiftLab host C build: every function of shiftlab.h on the CPU, float32, OpenMP over the
 * available cores where the work is large enough. Semantics are those of the TypeScript
 * `Backend` interface (src/backend.ts); tests/native_*.test.ts check each op against the `ts`
 * reference backend. Accumulations that the reference does in double (reductions, batch-norm
 * statistics, softmax sums) are done in double here too.
 *
 * Build: cc -O3 -march=native -fopenmp -shared -fPIC cuda/host.c -o build/libshiftlab_cpu.so
 * (ffi/build.ts does this).
 */
#include "shiftlab.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_gemm.h"

#ifndef SL_SOURCE_HASH
#define SL_SOURCE_HASH "unknown"
#endif
#ifndef SL_BUILD_FLAGS
#define SL_BUILD_FLAGS "unknown"
#endif

/* ---------------------------------------------------------------- errors */

static _Thread_local char sl_err[1024];

static int fail(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sl_err, sizeof sl_err, fmt, ap);
  va_end(ap);
  return code;
}

#define REQUIRE(cond, ...)                         \
  do {                                             \
    if (!(cond)) return fail(SL_ERR_ARG, __VA_ARGS__); \
  } while (0)

SL_API const char* sl_last_error(void) { return sl_err; }

/* Work (elements) below which a loop runs on one thread. */
#define PAR_MIN 131072

/* 8 floats (GCC vector extensions: AVX2 on x86, pairs of 4-wide vectors elsewhere), loads
 * and stores at any float alignment; with the masks picking the even / odd lanes of two. */
typedef float sl_v8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t sl_i8 __attribute__((vector_size(32)));
#define SL_EVEN8 ((sl_i8){0, 2, 4, 6, 8, 10, 12, 14})
#define SL_ODD8 ((sl_i8){1, 3, 5, 7, 9, 11, 13, 15})

/* d[i] = s[2 i] for i < n (im2col with stride 2); reads nothing past s[2 n - 2]. */
static inline void gather_stride2(float* restrict d, const float* restrict s, int32_t n) {
  int32_t i = 0;
  for (; i + 9 <= n; i += 8) {
    const sl_v8 a = *(const sl_v8*)(s + 2 * i), b = *(const sl_v8*)(s + 2 * i + 8);
    *(sl_v8*)(d + i) = __builtin_shuffle(a, b, SL_EVEN8);
  }
  for (; i < n; i++) d[i] = s[2 * i];
}

/* d[2 i] += s[i] for i < n (col2im with stride 2); touches nothing past d[2 n - 2] (the odd
 * positions in between are rewritten unchanged). */
static inline void scatter_add_stride2(float* restrict d, const float* restrict s, int32_t n) {
  int32_t i = 0;
  const sl_v8 zero = {0};
  for (; i + 9 <= n; i += 8) {
    const sl_v8 v = *(const sl_v8*)(s + i);
    sl_v8* lo = (sl_v8*)(d + 2 * i);
    sl_v8* hi = (sl_v8*)(d + 2 * i + 8);
    *lo += __builtin_shuffle(v, zero, ((sl_i8){0, 8, 1, 9, 2, 10, 3, 11}));
    *hi += __builtin_shuffle(v, zero, ((sl_i8){4, 12, 5, 13, 6, 14, 7, 15}));
  }
  for (; i < n; i++) d[2 * i] += s[i];
}

/* ---- pieces shared by the two threaded convolution paths (im2col groups, Winograd) ---- */

/* In a parallel region: the calling thread's index (returned), the team size, and the
 * contiguous run [lo, hi) of `groups` the thread owns: a static split, so the per-thread
 * partial sums are always added in the same order. A team smaller than asked for still
 * covers every group. */
static int conv_thread_range(int64_t groups, int* team, int64_t* lo, int64_t* hi) {
  int t = 0;
  *team = 1;
#ifdef _OPENMP
  t = omp_get_thread_num();
  *team = omp_get_num_threads();
#endif
  *lo = groups * t / *team;
  *hi = groups * (t + 1) / *team;
  return t;
}

/* Group gi of a batch of n images cut into groups of gsz: its first image (returned) and its
 * size (the last group may be short). */
static int64_t conv_group(int64_t n, int64_t gsz, int64_t gi, int64_t* gn) {
  const int64_t b0 = gi * gsz;
  *gn = (n - b0) < gsz ? (n - b0) : gsz;
  return b0;
}

/* acc[ff] += the sum of each of gn images' f planes of dy (s values each), in double. */
static void conv_bias_sums(const float* dy, int64_t gn, int32_t f, int64_t s, double* acc) {
  for (int64_t i = 0; i < gn; i++) {
    for (int32_t ff = 0; ff < f; ff++) {
      const float* row = dy + (i * f + ff) * s;
      double a = 0.0;
      for (int64_t j = 0; j < s; j++) a += row[j];
      acc[ff] += a;
    }
  }
}

/* Inside the parallel region, after a barrier: dst[i] = (add ? dst[i] : 0) + the team's
 * partials parts[u * size + i] in thread order (dst may be parts itself), and db[ff] += the
 * team's bias sums db_parts[u * f + ff] (db NULL: none). */
static void conv_reduce_partials(float* dst, int add, const float* parts, int64_t size,
                                 int team, float* db, const double* db_parts, int32_t f) {
#pragma omp for schedule(static)
  for (int64_t i = 0; i < size; i++) {
    float acc = 0.0f;
    for (int u = 0; u < team; u++) acc += parts[u * size + i];
    dst[i] = add ? dst[i] + acc : acc;
  }
  if (db) {
#pragma omp single
    for (int32_t ff = 0; ff < f; ff++) {
      double acc = 0.0;
      for (int u = 0; u < team; u++) acc += db_parts[u * f + ff];
      db[ff] += (float)acc;
    }
  }
}

/* for (i < n) BODY, over the OpenMP team when n is large, else serially without touching the
 * OpenMP runtime at all (entering even an if(0) parallel region costs ~1 us). */
#define ELEMENTWISE(n, BODY)                                              \
  do {                                                                    \
    const int64_t n_ = (n);                                               \
    if (n_ > PAR_MIN) {                                                   \
      _Pragma("omp parallel for simd schedule(static)")                   \
      for (int64_t i = 0; i < n_; i++) { BODY; }                          \
    } else {                                                              \
      _Pragma("omp simd")                                                 \
      for (int64_t i = 0; i < n_; i++) { BODY; }                          \
    }                                                                     \
  } while (0)

/* ---------------------------------------------------------------- library and device */

SL_API int sl_device_info(char* buf, int32_t cap) {
  REQUIRE(buf != NULL && cap > 0, "sl_device_info: null buffer or capacity %d", (int)cap);
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
  REQUIRE(out != NULL, "sl_alloc: null output pointer");
  REQUIRE(n >= 0, "sl_alloc: negative size %lld (expected a count of floats >= 0)", (long long)n);
  REQUIRE(n <= (INT64_C(1) << 40), "sl_alloc: size %lld is too large", (long long)n);
  int64_t capacity;
  const int cls = size_class(n > 0 ? n * 4 : 4, &capacity);
  REQUIRE(cls > 0 && cls < SL_NCLASS, "sl_alloc: size %lld is too large", (long long)n);
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
      return fail(SL_ERR_MEMORY, "sl_alloc: out of memory allocating %lld floats", (long long)n);
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
  REQUIRE(b->magic == SL_MAGIC, "sl_free: pointer was not allocated by sl_alloc (or was freed)");
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
  REQUIRE(out != NULL, "sl_memory_in_use: null output pointer");
  pthread_mutex_lock(&sl_alloc_lock);
  *out = sl_live_bytes + sl_cached_bytes;
  pthread_mutex_unlock(&sl_alloc_lock);
  return SL_OK;
}

SL_API int sl_upload(float* dst, int64_t dst_off, const float* host, int64_t n) {
  REQUIRE(dst != NULL && (host != NULL || n == 0), "sl_upload: null pointer");
  REQUIRE(dst_off >= 0 && n >= 0, "sl_upload: negative offset %lld or count %lld",
          (long long)dst_off, (long long)n);
  if (n) memcpy(dst + dst_off, host, (size_t)n * 4);
  return SL_OK;
}

SL_API int sl_download(const float* src, int64_t src_off, float* host, int64_t n) {
  REQUIRE(src != NULL && (host != NULL || n == 0), "sl_download: null pointer");
  REQUIRE(src_off >= 0 && n >= 0, "sl_download: negative offset %lld or count %lld",
          (long long)src_off, (long long)n);
  if (n) memcpy(host, src + src_off, (size_t)n * 4);
  return SL_OK;
}

SL_API int sl_fill(float* p, int64_t n, float value) {
  REQUIRE(p != NULL, "sl_fill: null pointer");
  REQUIRE(n >= 0, "sl_fill: negative count %lld", (long long)n);
  if (value == 0.0f && !signbit(value)) {
    memset(p, 0, (size_t)n * 4);
    return SL_OK;
  }
  ELEMENTWISE(n, p[i] = value);
  return SL_OK;
}

SL_API int sl_copy(const float* src, int64_t src_off, float* dst, int64_t dst_off, int64_t n) {
  REQUIRE(src != NULL && dst != NULL, "sl_copy: null pointer");
  REQUIRE(src_off >= 0 && dst_off >= 0 && n >= 0, "sl_copy: negative offset or count");
  if (n) memmove(dst + dst_off, src + src_off, (size_t)n * 4);
  return SL_OK;
}

SL_API int sl_synchronize(void) { return SL_OK; }

/* ---------------------------------------------------------------- linear algebra */

SL_API int sl_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t a_off, const float* b, int64_t b_off, float beta,
                   float* c, int64_t c_off) {
  REQUIRE(m >= 0 && n >= 0 && k >= 0, "sl_gemm: negative size m=%lld n=%lld k=%lld",
          (long long)m, (long long)n, (long long)k);
  REQUIRE(a_off >= 0 && b_off >= 0 && c_off >= 0, "sl_gemm: negative offset");
  REQUIRE(c != NULL && ((a != NULL && b != NULL) || k == 0 || m == 0 || n == 0),
          "sl_gemm: null pointer");
  if (slg_sgemm(trans_a != 0, trans_b != 0, m, n, k, alpha, a ? a + a_off : NULL,
                b ? b + b_off : NULL, beta, c + c_off) != 0) {
    return fail(SL_ERR_MEMORY, "sl_gemm: out of memory for the packing buffers");
  }
  return SL_OK;
}

SL_API int sl_swap_axes01(const float* x, int64_t d0, int64_t d1, int64_t inner, float* out) {
  REQUIRE(x != NULL && out != NULL, "sl_swap_axes01: null pointer");
  REQUIRE(d0 >= 0 && d1 >= 0 && inner >= 0, "sl_swap_axes01: negative size");
#pragma omp parallel for collapse(2) if (d0 * d1 * inner > PAR_MIN)
  for (int64_t i = 0; i < d0; i++) {
    for (int64_t j = 0; j < d1; j++) {
      memcpy(out + (j * d0 + i) * inner, x + (i * d1 + j) * inner, (size_t)inner * 4);
    }
  }
  return SL_OK;
}

/* ---------------------------------------------------------------- windows */

static int check_window(const char* op, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                        int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t* oh,
                        int32_t* ow) {
  if (n < 0 || c < 0 || h < 0 || w < 0 || ph < 0 || pw < 0) {
    return fail(SL_ERR_ARG, "%s: negative geometry (n=%d c=%d h=%d w=%d ph=%d pw=%d)", op, n, c,
                h, w, ph, pw);
  }
  if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0) {
    return fail(SL_ERR_ARG, "%s: kernel and stride must be positive (k=%dx%d s=%dx%d)", op, kh,
                kw, sh, sw);
  }
  const int32_t oy = (h + 2 * ph - kh) / sh + 1;
  const int32_t ox = (w + 2 * pw - kw) / sw + 1;
  if (h + 2 * ph - kh < 0 || w + 2 * pw - kw < 0 || oy <= 0 || ox <= 0) {
    return fail(SL_ERR_ARG, "%s: window %dx%d does not fit input %dx%d with padding %d,%d", op,
                kh, kw, h, w, ph, pw);
  }
  *oh = oy;
  *ow = ox;
  return SL_OK;
}

#define WINDOW(op)                                                                       \
  int32_t oh, ow;                                                                        \
  {                                                                                      \
    int st_ = check_window(op, n, c, h, w, kh, kw, sh, sw, ph, pw, &oh, &ow);             \
    if (st_) return st_;                                                                 \
  }

/* One row (ch, ky, kx) of the column matrix of images [0, n): col_row[(b, oy, ox)]. */
static void im2col_row(const float* x, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                       int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t oh,
                       int32_t ow, int64_t row, float* dst) {
  const int32_t ch = (int32_t)(row / (kh * kw));
  const int32_t ky = (int32_t)((row / kw) % kh);
  const int32_t kx = (int32_t)(row % kw);
  /* valid ox range: 0 <= ox*sw - pw + kx < w */
  int32_t ox_lo = 0;
  while (ox_lo < ow && ox_lo * sw - pw + kx < 0) ox_lo++;
  int32_t ox_hi = ow;
  while (ox_hi > ox_lo && (ox_hi - 1) * sw - pw + kx >= w) ox_hi--;
  for (int32_t b = 0; b < n; b++) {
    const float* plane = x + ((int64_t)b * c + ch) * h * w;
    for (int32_t oy = 0; oy < oh; oy++) {
      float* d = dst + ((int64_t)b * oh + oy) * ow;
      const int32_t iy = oy * sh - ph + ky;
      if (iy < 0 || iy >= h) {
        memset(d, 0, (size_t)ow * 4);
        continue;
      }
      const float* src = plane + (int64_t)iy * w - pw + kx;
      for (int32_t ox = 0; ox < ox_lo; ox++) d[ox] = 0.0f;
      if (sw == 1) {
        if (ox_hi > ox_lo) memcpy(d + ox_lo, src + ox_lo, (size_t)(ox_hi - ox_lo) * 4);
      } else if (sw == 2) {
        gather_stride2(d + ox_lo, src + 2 * (int64_t)ox_lo, ox_hi - ox_lo);
      } else {
        for (int32_t ox = ox_lo; ox < ox_hi; ox++) d[ox] = src[(int64_t)ox * sw];
      }
      for (int32_t ox = ox_hi; ox < ow; ox++) d[ox] = 0.0f;
    }
  }
}

/* im2col of images [0, n) into col [c*kh*kw, n*oh*ow]; over the team when `par`. */
static void im2col_run(const float* x, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                       int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t oh,
                       int32_t ow, float* col, int par) {
  const int64_t cols = (int64_t)n * oh * ow;
  const int64_t rows = (int64_t)c * kh * kw;
  if (par && rows * cols > PAR_MIN) {
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < rows; row++) {
      im2col_row(x, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, row, col + row * cols);
    }
  } else {
    for (int64_t row = 0; row < rows; row++) {
      im2col_row(x, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, row, col + row * cols);
    }
  }
}

SL_API int sl_im2col(const float* x, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                     int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, float* col) {
  REQUIRE(x != NULL && col != NULL, "sl_im2col: null pointer");
  WINDOW("sl_im2col");
  im2col_run(x, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, col, 1);
  return SL_OK;
}

/* Plane pl = (b, ch) of x from the column matrix of images [0, n) (overwritten, not added). */
static void col2im_plane(const float* col, int32_t n, int32_t c, int32_t h, int32_t w,
                         int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw,
                         int32_t oh, int32_t ow, int64_t pl, float* x) {
  const int64_t cols = (int64_t)n * oh * ow;
  const int32_t b = (int32_t)(pl / c);
  const int32_t ch = (int32_t)(pl % c);
  float* plane = x + pl * h * w;
  memset(plane, 0, (size_t)h * w * 4);
  for (int32_t ky = 0; ky < kh; ky++) {
    for (int32_t kx = 0; kx < kw; kx++) {
      const float* src = col + (((int64_t)ch * kh + ky) * kw + kx) * cols + (int64_t)b * oh * ow;
      int32_t ox_lo = 0;
      while (ox_lo < ow && ox_lo * sw - pw + kx < 0) ox_lo++;
      int32_t ox_hi = ow;
      while (ox_hi > ox_lo && (ox_hi - 1) * sw - pw + kx >= w) ox_hi--;
      for (int32_t oy = 0; oy < oh; oy++) {
        const int32_t iy = oy * sh - ph + ky;
        if (iy < 0 || iy >= h) continue;
        float* d = plane + (int64_t)iy * w - pw + kx;
        const float* s = src + (int64_t)oy * ow;
        if (sw == 1) {
          for (int32_t ox = ox_lo; ox < ox_hi; ox++) d[ox] += s[ox];
        } else if (sw == 2) {
          scatter_add_stride2(d + 2 * (int64_t)ox_lo, s + ox_lo, ox_hi - ox_lo);
        } else {
          for (int32_t ox = ox_lo; ox < ox_hi; ox++) d[(int64_t)ox * sw] += s[ox];
        }
      }
    }
  }
}

/* col2im of images [0, n); one (n, c) plane per iteration: planes are disjoint, so no two
 * threads write one value. */
static void col2im_run(const float* col, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                       int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t oh,
                       int32_t ow, float* x, int par) {
  const int64_t planes = (int64_t)n * c;
  if (par && planes * h * w * kh * kw > PAR_MIN) {
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
      col2im_plane(col, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, pl, x);
    }
  } else {
    for (int64_t pl = 0; pl < planes; pl++) {
      col2im_plane(col, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, pl, x);
    }
  }
}

SL_API int sl_col2im(const float* col, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                     int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, float* x) {
  REQUIRE(x != NULL && col != NULL, "sl_col2im: null pointer");
  WINDOW("sl_col2im");
  col2im_run(col, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, x, 1);
  return SL_OK;
}

/* ---------------------------------------------------------------- fused convolution */

/*
 * Convolution without the whole batch's column matrix. The batch is cut into groups of
 * images; a group's columns [c*kh*kw, g*oh*ow] are built in a buffer that stays in cache,
 * multiplied, and dropped. With enough images, threads take whole groups and run serial GEMMs
 * (no column matrix of hundreds of MB goes through memory, no transpose of the output); with
 * few images the groups run in turn and each GEMM uses the whole team.
 */
typedef struct {
  int32_t n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, f;
  int64_t s;     /* oh * ow */
  int64_t ckk;   /* c * kh * kw */
  int nt;        /* threads */
  int outer;     /* 1: threads over groups, serial GEMMs; 0: groups in turn, parallel GEMMs */
  int64_t gsz;   /* images per group */
  int64_t groups;
} conv_plan_t;

/* Columns a group aims for: enough for the GEMM's N to fill several micro-panels. */
#define CONV_GROUP_COLS 512
/* Cap on a serial-mode group's column buffer (floats). */
#define CONV_MAX_COL 16777216LL

static conv_plan_t conv_plan(int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw,
                             int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t oh,
                             int32_t ow, int32_t f) {
  conv_plan_t p = {n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, f, 0, 0, 1, 0, 1, 1};
  p.s = (int64_t)oh * ow;
  p.ckk = (int64_t)c * kh * kw;
#ifdef _OPENMP
  if ((double)f * (double)p.ckk * (double)n * (double)p.s >= (double)SLG_PARALLEL_MIN_FLOPS) {
    p.nt = omp_get_max_threads();
  }
#endif
  if (p.nt > 1 && n >= 2 * p.nt) {
    p.outer = 1;
    int64_t g = (CONV_GROUP_COLS + p.s - 1) / p.s;
    const int64_t cap = n / (2 * p.nt); /* at least two groups per thread */
    if (g > cap) g = cap;
    p.gsz = g < 1 ? 1 : g;
  } else {
    int64_t g = CONV_MAX_COL / (p.ckk * p.s);
    if (g > n) g = n;
    p.gsz = g < 1 ? 1 : g;
  }
  p.groups = (n + p.gsz - 1) / p.gsz;
  return p;
}

/* Per-thread scratch: the group's columns, its output or dL/dy in [f, g*s] order, and the
 * GEMM packing buffers (serial mode only). */
typedef struct {
  float* col;
  float* mat;
  float* pa;
  float* pb;
} conv_scratch_t;

static int conv_scratch_init(const conv_plan_t* p, int serial_gemm, conv_scratch_t* sc) {
  const int64_t cols = p->gsz * p->s;
  sc->col = (float*)malloc(sizeof(float) * (size_t)(p->ckk * cols));
  sc->mat = p->gsz > 1 ? (float*)malloc(sizeof(float) * (size_t)(p->f * cols)) : NULL;
  sc->pa = sc->pb = NULL;
  const int packed = !serial_gemm || slg_serial_buffers(&sc->pa, &sc->pb);
  return sc->col && (p->gsz == 1 || sc->mat) && packed;
}

static void conv_scratch_free(conv_scratch_t* sc) {
  free(sc->col);
  free(sc->mat);
  free(sc->pa);
  free(sc->pb);
}

/* Contiguous row-major GEMM, over the team (sc->pa == NULL) or on this thread alone. */
static int conv_gemm(const conv_scratch_t* sc, int ta, int tb, int64_t m, int64_t n, int64_t k,
                     const float* a, const float* b, float beta, float* c) {
  if (!sc->pa) return slg_sgemm(ta, tb, m, n, k, 1.0f, a, b, beta, c);
  slg_gemm_serial(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, beta, c, n, sc->pa,
                  sc->pb);
  return 0;
}

/* Images [b0, b0 + gn) forward: y[b, f, :] = W col + bias. */
static int conv_forward_group(const conv_plan_t* p, const float* x, const float* wt,
                              const float* bias, float* y, int64_t b0, int64_t gn,
                              const conv_scratch_t* sc) {
  const int par = sc->pa == NULL;
  const int64_t cols = gn * p->s;
  im2col_run(x + b0 * p->c * p->h * p->w, (int32_t)gn, p->c, p->h, p->w, p->kh, p->kw, p->sh,
             p->sw, p->ph, p->pw, p->oh, p->ow, sc->col, par);
  float* out = gn == 1 ? y + b0 * p->f * p->s : sc->mat;
  if (conv_gemm(sc, 0, 0, p->f, cols, p->ckk, wt, sc->col, 0.0f, out)) return -1;
  if (gn == 1 && !bias) return 0;
  const int64_t rows = gn * p->f;
#pragma omp parallel for schedule(static) if (par && rows * p->s > PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t i = r / p->f, ff = r % p->f;
    float* dst = y + ((b0 + i) * p->f + ff) * p->s;
    const float* src = gn == 1 ? dst : out + ff * cols + i * p->s;
    const float bv = bias ? bias[ff] : 0.0f;
    for (int64_t j = 0; j < p->s; j++) dst[j] = src[j] + bv;
  }
  return 0;
}

/* Images [b0, b0 + gn) backward: dw (+)= dy col^T (beta 1), db += row sums of dy (in double),
 * dx = col2im(W^T dy) when dx is given. */
static int conv_backward_group(const conv_plan_t* p, const float* x, const float* wt,
                               const float* dy, float* dw, double* db, float* dx, int64_t b0,
                               int64_t gn, const conv_scratch_t* sc) {
  const int par = sc->pa == NULL;
  const int64_t cols = gn * p->s;
  const int64_t img = (int64_t)p->c * p->h * p->w;
  im2col_run(x + b0 * img, (int32_t)gn, p->c, p->h, p->w, p->kh, p->kw, p->sh, p->sw, p->ph,
             p->pw, p->oh, p->ow, sc->col, par);
  const float* d = dy + b0 * p->f * p->s;
  if (gn > 1) {
    const int64_t rows = gn * p->f;
#pragma omp parallel for schedule(static) if (par && rows * p->s > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t i = r / p->f, ff = r % p->f;
      memcpy(sc->mat + ff * cols + i * p->s, d + r * p->s, sizeof(float) * (size_t)p->s);
    }
    d = sc->mat;
  }
  if (db) conv_bias_sums(dy + b0 * p->f * p->s, gn, p->f, p->s, db);
  if (conv_gemm(sc, 0, 1, p->f, p->ckk, cols, d, sc->col, 1.0f, dw)) return -1;
  if (!dx) return 0;
  /* the columns are no longer needed: dcol = W^T dy overwrites them */
  if (conv_gemm(sc, 1, 0, p->ckk, cols, p->f, wt, d, 0.0f, sc->col)) return -1;
  col2im_run(sc->col, (int32_t)gn, p->c, p->h, p->w, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw,
             p->oh, p->ow, dx + b0 * img, par);
  return 0;
}

#include "host_winograd.h"

#define CONV_WINDOW(op)                                                               \
  REQUIRE(f > 0, "%s: filters must be positive, got %d", op, (int)f);                 \
  WINDOW(op);                                                                         \
  const conv_plan_t plan = conv_plan(n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, f);  \
  if (n == 0) return SL_OK

SL_API int sl_conv2d_forward(const float* x, const float* wt, const float* bias, int32_t n,
                             int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw, int32_t sh,
                             int32_t sw, int32_t ph, int32_t pw, int32_t f, float* y) {
  REQUIRE(x != NULL && wt != NULL && y != NULL, "sl_conv2d_forward: null pointer");
  CONV_WINDOW("sl_conv2d_forward");
  int oom = 0;
  if (wino_applies(&plan)) {
    oom = wino_conv_forward(x, wt, bias, n, c, h, w, ph, pw, f, oh, ow, y, plan.nt) != 0;
  } else if (plan.outer) {
#pragma omp parallel num_threads(plan.nt)
    {
      conv_scratch_t sc;
      const int ok = conv_scratch_init(&plan, 1, &sc);
      if (!ok) oom = 1;
#pragma omp for schedule(dynamic, 1)
      for (int64_t gi = 0; gi < plan.groups; gi++) {
        if (!ok) continue;
        int64_t gn;
        const int64_t b0 = conv_group(n, plan.gsz, gi, &gn);
        if (conv_forward_group(&plan, x, wt, bias, y, b0, gn, &sc)) oom = 1;
      }
      conv_scratch_free(&sc);
    }
  } else {
    conv_scratch_t sc = {0};
    if (!conv_scratch_init(&plan, 0, &sc)) oom = 1;
    for (int64_t gi = 0; gi < plan.groups && !oom; gi++) {
      int64_t gn;
      const int64_t b0 = conv_group(n, plan.gsz, gi, &gn);
      if (conv_forward_group(&plan, x, wt, bias, y, b0, gn, &sc)) oom = 1;
    }
    conv_scratch_free(&sc);
  }
  return oom ? fail(SL_ERR_MEMORY, "sl_conv2d_forward: out of memory for the work buffers")
             : SL_OK;
}

/*
 * In the threaded mode each thread owns a contiguous run of groups and sums its dL/dw and
 * dL/db into its own buffers, which are then added to dw and db in thread order: for a given
 * thread count the result is the same on every run.
 */
SL_API int sl_conv2d_backward(const float* x, const float* wt, const float* dy, int32_t n,
                              int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw,
                              int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t f,
                              float* dw, float* db, float* dx) {
  REQUIRE(x != NULL && wt != NULL && dy != NULL && dw != NULL,
          "sl_conv2d_backward: null pointer");
  CONV_WINDOW("sl_conv2d_backward");
  const int64_t wsize = (int64_t)f * plan.ckk;
  int oom = 0;
  if (wino_applies(&plan)) {
    oom = wino_conv_backward(x, wt, dy, n, c, h, w, ph, pw, f, oh, ow, dw, db, dx, plan.nt) != 0;
  } else if (plan.outer) {
    const int nt = plan.nt;
    float* dw_t = (float*)calloc((size_t)(nt * wsize), sizeof(float));
    double* db_t = (double*)calloc((size_t)(nt * f), sizeof(double));
    if (!dw_t || !db_t) {
      free(dw_t);
      free(db_t);
      return fail(SL_ERR_MEMORY, "sl_conv2d_backward: out of memory for the work buffers");
    }
#pragma omp parallel num_threads(nt)
    {
      int team;
      int64_t lo, hi;
      const int t = conv_thread_range(plan.groups, &team, &lo, &hi);
      conv_scratch_t sc;
      const int ok = conv_scratch_init(&plan, 1, &sc);
      if (!ok) oom = 1;
      for (int64_t gi = lo; gi < hi && ok; gi++) {
        int64_t gn;
        const int64_t b0 = conv_group(n, plan.gsz, gi, &gn);
        if (conv_backward_group(&plan, x, wt, dy, dw_t + t * wsize, db ? db_t + t * f : NULL, dx,
                                b0, gn, &sc)) {
          oom = 1;
        }
      }
      conv_scratch_free(&sc);
#pragma omp barrier
      if (!oom) conv_reduce_partials(dw, 1, dw_t, wsize, team, db, db_t, f);
    }
    free(dw_t);
    free(db_t);
  } else {
    conv_scratch_t sc = {0};
    double* db_acc = (double*)calloc((size_t)f, sizeof(double));
    if (!db_acc || !conv_scratch_init(&plan, 0, &sc)) oom = 1;
    for (int64_t gi = 0; gi < plan.groups && !oom; gi++) {
      int64_t gn;
      const int64_t b0 = conv_group(n, plan.gsz, gi, &gn);
      if (conv_backward_group(&plan, x, wt, dy, dw, db ? db_acc : NULL, dx, b0, gn, &sc)) {
        oom = 1;
      }
    }
    if (!oom && db) {
      for (int32_t ff = 0; ff < f; ff++) db[ff] += (float)db_acc[ff];
    }
    conv_scratch_free(&sc);
    free(db_acc);
  }
  return oom ? fail(SL_ERR_MEMORY, "sl_conv2d_backward: out of memory for the work buffers")
             : SL_OK;
}

SL_API int sl_maxpool_forward(const float* x, int32_t n, int32_t c, int32_t h, int32_t w,
                              int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                              int32_t pw, float* y, float* argmax) {
  REQUIRE(x != NULL && y != NULL && argmax != NULL, "sl_maxpool_forward: null pointer");
  WINDOW("sl_maxpool_forward");
  const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    const float* plane = x + p * h * w;
    for (int32_t oy = 0; oy < oh; oy++) {
      for (int32_t ox = 0; ox < ow; ox++) {
        float best = -INFINITY;
        int32_t bi = -1;
        const int32_t iy0 = oy * sh - ph, ix0 = ox * sw - pw;
        if (iy0 >= 0 && iy0 + kh <= h && ix0 >= 0 && ix0 + kw <= w) {
          /* window inside the plane: no bounds checks, and selects instead of branches (the
           * winner is unpredictable); same rule: first element, then strictly greater */
          const int32_t base = iy0 * w + ix0;
          best = plane[base];
          bi = base;
          for (int32_t ky = 0; ky < kh; ky++) {
            for (int32_t kx = 0; kx < kw; kx++) {
              const int32_t i = base + ky * w + kx;
              const float v = plane[i];
              const int take = v > best;
              best = take ? v : best;
              bi = take ? i : bi;
            }
          }
        } else {
          for (int32_t ky = 0; ky < kh; ky++) {
            const int32_t iy = iy0 + ky;
            if (iy < 0 || iy >= h) continue;
            for (int32_t kx = 0; kx < kw; kx++) {
              const int32_t ix = ix0 + kx;
              if (ix < 0 || ix >= w) continue;
              const float v = plane[iy * w + ix];
              if (v > best || bi < 0) {
                best = v;
                bi = iy * w + ix;
              }
            }
          }
        }
        const int64_t o = (p * oh + oy) * ow + ox;
        y[o] = best;
        argmax[o] = (float)bi;
      }
    }
  }
  return SL_OK;
}

SL_API int sl_maxpool_backward(const float* dy, const float* argmax, int32_t n, int32_t c,
                               int32_t h, int32_t w, int32_t kh, int32_t kw, int32_t sh,
                               int32_t sw, int32_t ph, int32_t pw, float* dx) {
  REQUIRE(dy != NULL && argmax != NULL && dx != NULL, "sl_maxpool_backward: null pointer");
  WINDOW("sl_maxpool_backward");
  const int64_t planes = (int64_t)n * c;
  const int64_t hw = (int64_t)h * w;
  int bad = 0;
  float bad_value = 0;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    float* d = dx + p * hw;
    memset(d, 0, (size_t)hw * 4);
    const float* g = dy + p * oh * ow;
    const float* ia = argmax + p * oh * ow;
    for (int64_t o = 0; o < (int64_t)oh * ow; o++) {
      const float idx = ia[o];
      if (idx < 0) continue;
      if (!(idx < (float)hw) || idx != floorf(idx)) {
        bad = 1;
        bad_value = idx;
        continue;
      }
      d[(int64_t)idx] += g[o];
    }
  }
  if (bad) {
    return fail(SL_ERR_ARG, "sl_maxpool_backward: argmax index %g outside the %dx%d plane",
                (double)bad_value, h, w);
  }
  return SL_OK;
}

SL_API int sl_avgpool_forward(const float* x, int32_t n, int32_t c, int32_t h, int32_t w,
                              int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                              int32_t pw, float* y) {
  REQUIRE(x != NULL && y != NULL, "sl_avgpool_forward: null pointer");
  WINDOW("sl_avgpool_forward");
  const int64_t planes = (int64_t)n * c;
  const double inv = 1.0 / ((double)kh * kw);
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    const float* plane = x + p * h * w;
    for (int32_t oy = 0; oy < oh; oy++) {
      for (int32_t ox = 0; ox < ow; ox++) {
        double s = 0;
        for (int32_t ky = 0; ky < kh; ky++) {
          const int32_t iy = oy * sh - ph + ky;
          if (iy < 0 || iy >= h) continue;
          for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t ix = ox * sw - pw + kx;
            if (ix >= 0 && ix < w) s += plane[iy * w + ix];
          }
        }
        y[(p * oh + oy) * ow + ox] = (float)(s * inv);
      }
    }
  }
  return SL_OK;
}

SL_API int sl_avgpool_backward(const float* dy, int32_t n, int32_t c, int32_t h, int32_t w,
                               int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                               int32_t pw, float* dx) {
  REQUIRE(dy != NULL && dx != NULL, "sl_avgpool_backward: null pointer");
  WINDOW("sl_avgpool_backward");
  const int64_t planes = (int64_t)n * c;
  const float inv = (float)(1.0 / ((double)kh * kw));
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    float* plane = dx + p * h * w;
    memset(plane, 0, (size_t)h * w * 4);
    for (int32_t oy = 0; oy < oh; oy++) {
      for (int32_t ox = 0; ox < ow; ox++) {
        const float v = dy[(p * oh + oy) * ow + ox] * inv;
        for (int32_t ky = 0; ky < kh; ky++) {
          const int32_t iy = oy * sh - ph + ky;
          if (iy < 0 || iy >= h) continue;
          for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t ix = ox * sw - pw + kx;
            if (ix >= 0 && ix < w) plane[iy * w + ix] += v;
          }
        }
      }
    }
  }
  return SL_OK;
}

/* ---------------------------------------------------------------- elementwise */

static inline float bin_apply(int op, float a, float b) {
  switch (op) {
    case SL_ADD: return a + b;
    case SL_SUB: return a - b;
    case SL_MUL: return a * b;
    case SL_DIV: return a / b;
    case SL_MAX: return (a >= b || isnan(a)) ? a : b;
    default: return (a <= b || isnan(a)) ? a : b;
  }
}

/* out[i] = a[i*sa] op b[i*sb] for i < len (sa, sb in {0, 1}); specialised per op so the
 * compiler vectorises the common cases. */
#define BIN_LOOP(EXPR)                                                           \
  if (sa && sb) {                                                                \
    for (int64_t i = 0; i < len; i++) { const float x = a[i], y = b[i]; o[i] = EXPR; } \
  } else if (sa) {                                                               \
    const float y = b[0];                                                        \
    for (int64_t i = 0; i < len; i++) { const float x = a[i]; o[i] = EXPR; }     \
  } else if (sb) {                                                               \
    const float x = a[0];                                                        \
    for (int64_t i = 0; i < len; i++) { const float y = b[i]; o[i] = EXPR; }     \
  } else {                                                                       \
    const float x = a[0], y = b[0];                                              \
    const float v = EXPR;                                                        \
    for (int64_t i = 0; i < len; i++) o[i] = v;                                  \
  }

static void bin_row(int op, const float* a, int sa, const float* b, int sb, float* o,
                    int64_t len) {
  switch (op) {
    case SL_ADD: BIN_LOOP(x + y) break;
    case SL_SUB: BIN_LOOP(x - y) break;
    case SL_MUL: BIN_LOOP(x * y) break;
    case SL_DIV: BIN_LOOP(x / y) break;
    case SL_MAX: BIN_LOOP((x >= y || x != x) ? x : y) break;
    default: BIN_LOOP((x <= y || x != x) ? x : y) break;
  }
}

SL_API int sl_binary(int32_t op, const float* a, const int32_t* a_shape, const float* b,
                     const int32_t* b_shape, float* out, const int32_t* out_shape, int32_t rank) {
  REQUIRE(op >= SL_ADD && op <= SL_MIN, "sl_binary: unknown op code %d (expected 0..5)", op);
  REQUIRE(rank >= 0 && rank <= 8, "sl_binary: rank %d outside [0, 8]", rank);
  REQUIRE(a != NULL && b != NULL && out != NULL, "sl_binary: null pointer");
  REQUIRE(rank == 0 || (a_shape != NULL && b_shape != NULL && out_shape != NULL),
          "sl_binary: null shape");
  /* Coalesce: drop size-1 output axes, merge neighbours with the same broadcast pattern. */
  int64_t dims[8];
  int fa[8], fb[8];
  int r = 0;
  int64_t total = 1;
  for (int i = 0; i < rank; i++) {
    const int32_t d = out_shape[i];
    REQUIRE(d >= 0, "sl_binary: negative output dimension %d", d);
    REQUIRE((a_shape[i] == d || a_shape[i] == 1) && (b_shape[i] == d || b_shape[i] == 1),
            "sl_binary: axis %d: sizes %d and %d do not broadcast to %d", i, a_shape[i],
            b_shape[i], d);
    total *= d;
    if (d == 1) continue;
    const int ia = a_shape[i] == d, ib = b_shape[i] == d;
    if (r > 0 && fa[r - 1] == ia && fb[r - 1] == ib) {
      dims[r - 1] *= d;
    } else {
      dims[r] = d;
      fa[r] = ia;
      fb[r] = ib;
      r++;
    }
  }
  if (total == 0) return SL_OK;
  if (r == 0) {
    out[0] = bin_apply(op, a[0], b[0]);
    return SL_OK;
  }
  /* strides of the coalesced operands */
  int64_t sa[8], sb[8];
  int64_t acc_a = 1, acc_b = 1;
  for (int i = r - 1; i >= 0; i--) {
    sa[i] = fa[i] ? acc_a : 0;
    sb[i] = fb[i] ? acc_b : 0;
    if (fa[i]) acc_a *= dims[i];
    if (fb[i]) acc_b *= dims[i];
  }
  const int64_t len = dims[r - 1];
  const int64_t rows = total / len;
  const int la = fa[r - 1], lb = fb[r - 1];
  if (rows == 1 && len <= PAR_MIN) {
    bin_row(op, a, la, b, lb, out, len);
    return SL_OK;
  }
  if (rows == 1) {
    /* a single long row: split it between threads */
#pragma omp parallel
    {
      int64_t lo = 0, hi = len;
#ifdef _OPENMP
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      lo = len * t / nt;
      hi = len * (t + 1) / nt;
#endif
      bin_row(op, la ? a + lo : a, la, lb ? b + lo : b, lb, out + lo, hi - lo);
    }
    return SL_OK;
  }
#define BIN_ROWS_BODY                                                   \
  for (int64_t row = 0; row < rows; row++) {                            \
    int64_t rem = row, oa = 0, ob = 0;                                  \
    for (int i = r - 2; i >= 0; i--) {                                  \
      const int64_t idx = rem % dims[i];                                \
      rem /= dims[i];                                                   \
      oa += idx * sa[i];                                                \
      ob += idx * sb[i];                                                \
    }                                                                   \
    bin_row(op, a + oa, la, b + ob, lb, out + row * len, len);          \
  }
  if (total > PAR_MIN) {
#pragma omp parallel for schedule(static)
    BIN_ROWS_BODY
  } else {
    BIN_ROWS_BODY
  }
#undef BIN_ROWS_BODY
  return SL_OK;
}

static inline float sigmoidf_(float x) {
  return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}
static inline float softplusf_(float x) {
  return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

#define UNARY_LOOP(EXPR)                    \
  ELEMENTWISE(n, const float v = x[i]; out[i] = (EXPR)); \
  break;

SL_API int sl_unary(int32_t op, const float* x, float* out, int64_t n, float alpha) {
  REQUIRE(op >= SL_RELU && op <= SL_RECIPROCAL, "sl_unary: unknown op code %d (expected 0..15)",
          op);
  REQUIRE(x != NULL && out != NULL, "sl_unary: null pointer");
  REQUIRE(n >= 0, "sl_unary: negative count %lld", (long long)n);
  switch (op) {
    case SL_RELU: UNARY_LOOP(v > 0 ? v : 0.0f)
    case SL_LEAKY_RELU: UNARY_LOOP(v > 0 ? v : alpha * v)
    case SL_SIGMOID: UNARY_LOOP(sigmoidf_(v))
    case SL_TANH: UNARY_LOOP(tanhf(v))
    case SL_SOFTPLUS: UNARY_LOOP(softplusf_(v))
    case SL_EXP: UNARY_LOOP(expf(v))
    case SL_LOG: UNARY_LOOP(logf(v))
    case SL_SQRT: UNARY_LOOP(sqrtf(v))
    case SL_SQUARE: UNARY_LOOP(v * v)
    case SL_ABS: UNARY_LOOP(fabsf(v))
    case SL_NEG: UNARY_LOOP(-v)
    case SL_SIGN: UNARY_LOOP(v > 0 ? 1.0f : (v < 0 ? -1.0f : 0.0f))
    case SL_SCALE: UNARY_LOOP(alpha * v)
    case SL_ADD_SCALAR: UNARY_LOOP(v + alpha)
    case SL_POW: UNARY_LOOP((float)pow((double)v, (double)alpha))
    case SL_RECIPROCAL: UNARY_LOOP(1.0f / v)
  }
  return SL_OK;
}

#define UNARY_BW_LOOP(EXPR)                                                           \
  ELEMENTWISE(n, const float xv = x[i]; const float yv = y[i]; const float g = dy[i]; \
              (void)xv; (void)yv; dx[i] = (EXPR));                                      \
  break;

SL_API int sl_unary_backward(int32_t op, const float* x, const float* y, const float* dy,
                             float* dx, int64_t n, float alpha) {
  REQUIRE(op >= SL_RELU && op <= SL_SOFTPLUS,
          "sl_unary_backward: op code %d has no derivative (expected 0..4)", op);
  REQUIRE(x != NULL && y != NULL && dy != NULL && dx != NULL, "sl_unary_backward: null pointer");
  REQUIRE(n >= 0, "sl_unary_backward: negative count %lld", (long long)n);
  switch (op) {
    case SL_RELU: UNARY_BW_LOOP(xv > 0 ? g : 0.0f)
    case SL_LEAKY_RELU: UNARY_BW_LOOP(xv > 0 ? g : alpha * g)
    case SL_SIGMOID: UNARY_BW_LOOP(g * yv * (1.0f - yv))
    case SL_TANH: UNARY_BW_LOOP(g * (1.0f - yv * yv))
    case SL_SOFTPLUS: UNARY_BW_LOOP(g * sigmoidf_(xv))
  }
  return SL_OK;
}

SL_API int sl_axpby(float alpha, const float* a, float beta, const float* b, float* out,
                    int64_t n) {
  REQUIRE(a != NULL && b != NULL && out != NULL, "sl_axpby: null pointer");
  REQUIRE(n >= 0, "sl_axpby: negative count %lld", (long long)n);
  ELEMENTWISE(n, out[i] = alpha * a[i] + beta * b[i]);
  return SL_OK;
}

/* ---------------------------------------------------------------- reductions */

SL_API int sl_reduce(int32_t op, const float* x, const int32_t* shape, int32_t rank,
                     int32_t axes_mask, float* out) {
  REQUIRE(op >= SL_REDUCE_SUM && op <= SL_REDUCE_MAX,
          "sl_reduce: unknown op code %d (expected 0..2)", op);
  REQUIRE(rank >= 0 && rank <= 8, "sl_reduce: rank %d outside [0, 8]", rank);
  REQUIRE(x != NULL && out != NULL && (shape != NULL || rank == 0), "sl_reduce: null pointer");
  REQUIRE((axes_mask & ~((1 << rank) - 1)) == 0, "sl_reduce: axes mask 0x%x names an axis >= %d",
          (unsigned)axes_mask, rank);
  /* Coalesce into alternating kept / reduced groups (size-1 axes dropped). */
  int64_t dims[8];
  int red[8];
  int r = 0;
  int64_t total = 1, out_total = 1;
  for (int i = 0; i < rank; i++) {
    REQUIRE(shape[i] >= 0, "sl_reduce: negative dimension %d", shape[i]);
    const int isr = (axes_mask >> i) & 1;
    total *= shape[i];
    if (!isr) out_total *= shape[i];
    if (shape[i] == 1) continue;
    if (r > 0 && red[r - 1] == isr) {
      dims[r - 1] *= shape[i];
    } else {
      dims[r] = shape[i];
      red[r] = isr;
      r++;
    }
  }
  if (out_total == 0) return SL_OK;
  int64_t stride[8];
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    stride[i] = acc;
    acc *= dims[i];
  }
  const int64_t red_count = out_total > 0 ? total / out_total : 0;
  const double div = (double)total / (double)(out_total > 1 ? out_total : 1);
  /* kept and reduced axis lists */
  int kept[8], reds[8];
  int nk = 0, nr = 0;
  for (int i = 0; i < r; i++) {
    if (red[i]) reds[nr++] = i;
    else kept[nk++] = i;
  }
  const int inner_contig = nr > 0 && reds[nr - 1] == r - 1;
#pragma omp parallel for schedule(static) if (total > PAR_MIN && out_total > 1)
  for (int64_t o = 0; o < out_total; o++) {
    int64_t rem = o, base = 0;
    for (int q = nk - 1; q >= 0; q--) {
      const int i = kept[q];
      base += (rem % dims[i]) * stride[i];
      rem /= dims[i];
    }
    double s = op == SL_REDUCE_MAX ? -INFINITY : 0.0;
    if (red_count > 0) {
      const int64_t inner = inner_contig ? dims[r - 1] : 1;
      const int64_t outer_n = red_count / inner;
      for (int64_t t = 0; t < outer_n; t++) {
        int64_t rr = t, off = base;
        for (int q = (inner_contig ? nr - 2 : nr - 1); q >= 0; q--) {
          const int i = reds[q];
          off += (rr % dims[i]) * stride[i];
          rr /= dims[i];
        }
        const float* p = x + off;
        if (op == SL_REDUCE_MAX) {
          for (int64_t u = 0; u < inner; u++) {
            const double v = p[u];
            if (v > s || isnan(v)) s = v;
          }
        } else {
          for (int64_t u = 0; u < inner; u++) s += p[u];
        }
      }
    }
    out[o] = (float)(op == SL_REDUCE_MEAN ? s / div : s);
  }
  return SL_OK;
}

SL_API int sl_argmax(const float* x, int64_t rows, int64_t cols, float* out) {
  REQUIRE(x != NULL && out != NULL, "sl_argmax: null pointer");
  REQUIRE(rows >= 0 && cols >= 0, "sl_argmax: negative size");
#pragma omp parallel for schedule(static) if (rows * cols > PAR_MIN)
  for (int64_t i = 0; i < rows; i++) {
    float best = -INFINITY;
    int64_t bi = 0;
    for (int64_t j = 0; j < cols; j++) {
      const float v = x[i * cols + j];
      if (v > best) {
        best = v;
        bi = j;
      }
    }
    out[i] = (float)bi;
  }
  return SL_OK;
}

/* ---------------------------------------------------------------- losses */

SL_API int sl_softmax_xent(const float* logits, const float* labels, int64_t n, int64_t k,
                           float* probs, float* losses) {
  REQUIRE(logits != NULL && labels != NULL && probs != NULL && losses != NULL,
          "sl_softmax_xent: null pointer");
  REQUIRE(n >= 0 && k > 0, "sl_softmax_xent: need n >= 0 and k > 0, got n=%lld k=%lld",
          (long long)n, (long long)k);
  for (int64_t i = 0; i < n; i++) {
    const float l = labels[i];
    REQUIRE(l >= 0 && l < (float)k && l == floorf(l),
            "label %g of sample %lld outside [0, %lld)", (double)l, (long long)i, (long long)k);
  }
#pragma omp parallel for schedule(static) if (n * k > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float* z = logits + i * k;
    float* p = probs + i * k;
    float m = -INFINITY;
    for (int64_t j = 0; j < k; j++) m = z[j] > m ? z[j] : m;
    double s = 0;
    for (int64_t j = 0; j < k; j++) s += exp((double)z[j] - m);
    const double log_s = log(s);
    for (int64_t j = 0; j < k; j++) p[j] = (float)exp((double)z[j] - m - log_s);
    losses[i] = (float)(log_s - ((double)z[(int64_t)labels[i]] - m));
  }
  return SL_OK;
}

SL_API int sl_softmax_xent_backward(const float* probs, const float* labels, int64_t n, int64_t k,
                                    float scale, float* dlogits) {
  REQUIRE(probs != NULL && labels != NULL && dlogits != NULL,
          "sl_softmax_xent_backward: null pointer");
  REQUIRE(n >= 0 && k > 0, "sl_softmax_xent_backward: need n >= 0 and k > 0");
  for (int64_t i = 0; i < n; i++) {
    const float l = labels[i];
    REQUIRE(l >= 0 && l < (float)k && l == floorf(l),
            "label %g of sample %lld outside [0, %lld)", (double)l, (long long)i, (long long)k);
  }
  for (int64_t i = 0; i < n; i++) {
    const int64_t y = (int64_t)labels[i];
    for (int64_t j = 0; j < k; j++) {
      dlogits[i * k + j] = scale * (probs[i * k + j] - (j == y ? 1.0f : 0.0f));
    }
  }
  return SL_OK;
}

/* ---------------------------------------------------------------- batch norm */

SL_API int sl_batchnorm_forward(const float* x, int64_t outer, int64_t c, int64_t inner,
                                const float* gamma, const float* beta, float* running_mean,
                                float* running_var, int32_t training, float momentum, float eps,
                                float* y, float* mean, float* inv_std) {
  REQUIRE(x && gamma && beta && running_mean && running_var && y && mean && inv_std,
          "sl_batchnorm_forward: null pointer");
  REQUIRE(outer >= 0 && c >= 0 && inner >= 0, "sl_batchnorm_forward: negative size");
  const int64_t count = outer * inner;
#pragma omp parallel for schedule(static) if (outer * c * inner > PAR_MIN)
  for (int64_t ch = 0; ch < c; ch++) {
    double mu, istd;
    if (training) {
      double s = 0;
      for (int64_t o = 0; o < outer; o++) {
        const float* p = x + (o * c + ch) * inner;
        for (int64_t t = 0; t < inner; t++) s += p[t];
      }
      mu = s / (double)count;
      double v = 0;
      for (int64_t o = 0; o < outer; o++) {
        const float* p = x + (o * c + ch) * inner;
        for (int64_t t = 0; t < inner; t++) {
          const double q = p[t] - mu;
          v += q * q;
        }
      }
      const double var_b = v / (double)count;
      istd = 1.0 / sqrt(var_b + (double)eps);
      mean[ch] = (float)mu;
      inv_std[ch] = (float)istd;
      const double unbiased = count > 1 ? var_b * count / (double)(count - 1) : var_b;
      running_mean[ch] =
          (float)((1.0 - (double)momentum) * running_mean[ch] + (double)momentum * mu);
      running_var[ch] =
          (float)((1.0 - (double)momentum) * running_var[ch] + (double)momentum * unbiased);
    } else {
      mu = running_mean[ch];
      istd = 1.0 / sqrt((double)running_var[ch] + (double)eps);
    }
    /* (x - mu) first: with a tiny variance, gamma istd x - gamma istd mu would cancel */
    const float g = (float)(gamma[ch] * istd);
    const float b = beta[ch];
    const float muf = (float)mu;
    for (int64_t o = 0; o < outer; o++) {
      const float* p = x + (o * c + ch) * inner;
      float* q = y + (o * c + ch) * inner;
      for (int64_t t = 0; t < inner; t++) q[t] = (p[t] - muf) * g + b;
    }
  }
  return SL_OK;
}

SL_API int sl_batchnorm_backward(const float* x, const float* dy, int64_t outer, int64_t c,
                                 int64_t inner, const float* gamma, const float* mean,
                                 const float* inv_std, float* dx, float* dgamma, float* dbeta) {
  REQUIRE(x && dy && gamma && mean && inv_std && dx && dgamma && dbeta,
          "sl_batchnorm_backward: null pointer");
  REQUIRE(outer >= 0 && c >= 0 && inner >= 0, "sl_batchnorm_backward: negative size");
  const int64_t count = outer * inner;
#pragma omp parallel for schedule(static) if (outer * c * inner > PAR_MIN)
  for (int64_t ch = 0; ch < c; ch++) {
    const double mu = mean[ch];
    const double istd = inv_std[ch];
    double sdy = 0, sdyx = 0;
    for (int64_t o = 0; o < outer; o++) {
      const float* p = x + (o * c + ch) * inner;
      const float* g = dy + (o * c + ch) * inner;
      for (int64_t t = 0; t < inner; t++) {
        sdy += g[t];
        sdyx += (double)g[t] * ((p[t] - mu) * istd);
      }
    }
    dbeta[ch] = (float)sdy;
    dgamma[ch] = (float)sdyx;
    /* dx = k (count dy - sdy - xhat sdyx), k = gamma istd / count, xhat = (x - mu) istd */
    /* in double, like the reference: count dy - sdy cancels exactly when count is 1 */
    const double k = (double)gamma[ch] * istd / (double)count;
    const double cnt = (double)count;
    for (int64_t o = 0; o < outer; o++) {
      const float* p = x + (o * c + ch) * inner;
      const float* g = dy + (o * c + ch) * inner;
      float* d = dx + (o * c + ch) * inner;
      for (int64_t t = 0; t < inner; t++) {
        const double xh = (p[t] - mu) * istd;
        d[t] = (float)(k * (cnt * g[t] - sdy - xh * sdyx));
      }
    }
  }
  return SL_OK;
}

/* ---------------------------------------------------------------- randomness */

static inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

static inline uint32_t random_u32(uint32_t seed, uint32_t stream, uint64_t counter) {
  uint32_t h = mix32(seed ^ 0x9e3779b9U);
  h = mix32(h ^ stream);
  h = mix32(h ^ (uint32_t)(counter >> 32));
  return mix32(h ^ (uint32_t)counter);
}

SL_API int sl_dropout_mask(float* out, int64_t outer, int64_t c, int64_t inner, double p,
                           int32_t per_channel, uint32_t seed, uint32_t stream, uint64_t counter) {
  REQUIRE(out != NULL, "sl_dropout_mask: null pointer");
  REQUIRE(outer >= 0 && c >= 0 && inner >= 0, "sl_dropout_mask: negative size");
  REQUIRE(p >= 0 && p < 1, "sl_dropout_mask: dropout p must be in [0, 1), got %g", p);
  double thr_d = floor(p * 4294967296.0);
  if (thr_d > 4294967295.0) thr_d = 4294967295.0;
  const uint32_t thr = (uint32_t)thr_d;
  const float keep = (float)(1.0 / (1.0 - p));
  if (per_channel) {
    const int64_t units = outer * c;
#pragma omp parallel for schedule(static) if (units * inner > PAR_MIN)
    for (int64_t u = 0; u < units; u++) {
      const float v = random_u32(seed, stream, counter + (uint64_t)u) >= thr ? keep : 0.0f;
      float* o = out + u * inner;
      for (int64_t t = 0; t < inner; t++) o[t] = v;
    }
  } else {
    const int64_t total = outer * c * inner;
#pragma omp parallel for simd schedule(static) if (total > PAR_MIN)
    for (int64_t i = 0; i < total; i++) {
      out[i] = random_u32(seed, stream, counter + (uint64_t)i) >= thr ? keep : 0.0f;
    }
  }
  return SL_OK;
}

typedef struct {
  float v;
  int64_t i;
} topk_item;

static int topk_cmp(const void* pa, const void* pb) {
  const topk_item* a = (const topk_item*)pa;
  const topk_item* b = (const topk_item*)pb;
  if (a->v > b->v) return -1;
  if (a->v < b->v) return 1;
  return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
}

SL_API int sl_topk_mask(const float* x, int64_t rows, int64_t cols, int64_t k, float* out) {
  REQUIRE(x != NULL && out != NULL, "sl_topk_mask: null pointer");
  REQUIRE(rows >= 0 && cols >= 0, "sl_topk_mask: negative size");
  REQUIRE(k >= 0 && k <= cols, "top-k: k=%lld outside [0, %lld]", (long long)k, (long long)cols);
  int oom = 0;
#pragma omp parallel if (rows * cols > PAR_MIN)
  {
    topk_item* items = (topk_item*)malloc(sizeof(topk_item) * (size_t)(cols > 0 ? cols : 1));
    if (!items) {
      oom = 1;
    } else {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * cols;
        float* o = out + r * cols;
        for (int64_t j = 0; j < cols; j++) {
          items[j].v = xr[j];
          items[j].i = j;
          o[j] = 0.0f;
        }
        qsort(items, (size_t)cols, sizeof(topk_item), topk_cmp);
        for (int64_t j = 0; j < k; j++) o[items[j].i] = 1.0f;
      }
    }
    free(items);
  }
  if (oom) return fail(SL_ERR_MEMORY, "sl_topk_mask: out of memory");
  return SL_OK;
}

/* ---------------------------------------------------------------- optimizer updates */

SL_API int sl_update(int32_t rule, float* p, const float* g, float* s0, float* s1, int64_t n,
                     const double* hyper) {
  REQUIRE(rule >= SL_RULE_SGD && rule <= SL_RULE_ADAMW,
          "sl_update: unknown rule code %d (expected 0..4)", rule);
  REQUIRE(p != NULL && g != NULL && hyper != NULL, "sl_update: null pointer");
  REQUIRE(n >= 0, "sl_update: negative count %lld", (long long)n);
  const double lr = hyper[0], mu = hyper[1], b2 = hyper[2], eps = hyper[3], wd = hyper[4],
               t = hyper[5];
  switch (rule) {
    case SL_RULE_SGD: {
      ELEMENTWISE(n, p[i] = (float)(p[i] - lr * (g[i] + wd * p[i])));
      break;
    }
    case SL_RULE_MOMENTUM:
    case SL_RULE_NESTEROV: {
      REQUIRE(s0 != NULL, "sl_update: momentum needs a velocity slot");
      const int nesterov = rule == SL_RULE_NESTEROV;
      ELEMENTWISE(n, const double gi = g[i] + wd * p[i]; const float v = (float)(mu * s0[i] - lr * gi);
                  s0[i] = v; p[i] = (float)(p[i] + (nesterov ? mu * v - lr * gi : (double)v)));
      break;
    }
    default: {
      REQUIRE(s0 != NULL && s1 != NULL, "sl_update: adam needs m and v slots");
      REQUIRE(t >= 1, "sl_update: adam step must be >= 1, got %g", t);
      const int decoupled = rule == SL_RULE_ADAMW;
      const double c1 = 1.0 - pow(mu, t), c2 = 1.0 - pow(b2, t);
      ELEMENTWISE(n, const double gi = decoupled ? (double)g[i] : g[i] + wd * p[i];
                  const float m = (float)(mu * s0[i] + (1.0 - mu) * gi);
                  const float v = (float)(b2 * s1[i] + (1.0 - b2) * gi * gi); s0[i] = m;
                  s1[i] = v; const double upd = ((double)m / c1) / (sqrt((double)v / c2) + eps);
                  p[i] = (float)(p[i] - lr * (upd + (decoupled ? wd * p[i] : 0.0))));
      break;
    }
  }
  return SL_OK;
}
