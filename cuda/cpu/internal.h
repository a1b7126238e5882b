/*
 * Internal header of the host C build (libshiftlab_cpu.so): error reporting, the threading
 * threshold, the GEMM entry points and the pieces the convolution files share. Not part of the
 * C API (cuda/include/shiftlab.h); every declaration here has hidden visibility.
 *
 * Semantics of every op are those of the TypeScript `Backend` interface (src/backend.ts).
 * Accumulations that the reference does in double (reductions, batch-norm statistics, softmax
 * sums) are done in double here too.
 */
#ifndef SHIFTLAB_CPU_INTERNAL_H
#define SHIFTLAB_CPU_INTERNAL_H

#include "shiftlab.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define SL_INTERNAL __attribute__((visibility("hidden")))

/* ---------------------------------------------------------------- errors (device.c) */

/* Records a printf-style message as the calling thread's last error and returns `code`. */
SL_INTERNAL int sl_set_error(int code, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define SL_ARG(cond, ...)                                  \
  do {                                                     \
    if (!(cond)) return sl_set_error(SL_ERR_ARG, __VA_ARGS__); \
  } while (0)

/* Work (elements) below which a loop runs on one thread. */
#define PAR_MIN 131072

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

/* 8 floats (GCC vector extensions: AVX2 on x86, pairs of 4-wide vectors elsewhere), loads
 * and stores at any float alignment; with the masks picking the even / odd lanes of two. */
typedef float sl_v8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t sl_i8 __attribute__((vector_size(32)));
#define SL_EVEN8 ((sl_i8){0, 2, 4, 6, 8, 10, 12, 14})
#define SL_ODD8 ((sl_i8){1, 3, 5, 7, 9, 11, 13, 15})

/* ---------------------------------------------------------------- GEMM (gemm.c) */

/* Micro-kernel geometry, chosen from the target's vector width. */
#if defined(__GNUC__) && (defined(__AVX512F__))
#define SLG_VW 16
#define SLG_MR 12
#elif defined(__GNUC__) && (defined(__AVX__) || defined(__AVX2__))
#define SLG_VW 8
#define SLG_MR 6
#elif defined(__GNUC__)
#define SLG_VW 4
#define SLG_MR 6
#else
#define SLG_VW 0
#define SLG_MR 4
#endif

#if SLG_VW > 0
#define SLG_NR (2 * SLG_VW)
typedef float slg_vf __attribute__((vector_size(SLG_VW * 4), aligned(SLG_VW * 4)));
typedef float slg_vfu __attribute__((vector_size(SLG_VW * 4), aligned(4)));
#else
#define SLG_NR 8
#endif

/* Cache blocking: A block MC x KC stays in L2, a B micro-panel KC x NR in L1, the packed B
 * panel KC x NC in L3. */
#define SLG_KC 256
#define SLG_MC (SLG_MR * 24)
#define SLG_NC 4096

/* Below this many multiply-adds (~0.1 ms on one core) one thread runs the GEMM: waking the
 * team costs microseconds on an idle machine but a scheduler tick (ms) when the other cores
 * are busy with other processes. */
#define SLG_PARALLEL_MIN_FLOPS (200LL * 200 * 200)

/* C = alpha op(A) op(B) + beta C, row-major with leading dimensions lda, ldb, ldc, over the
 * OpenMP team. Returns 0, or -1 when the packing buffers could not be allocated. */
SL_INTERNAL int slg_sgemm_ld(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                             float beta, float* c, int64_t ldc);

/* slg_sgemm_ld on contiguous matrices. */
SL_INTERNAL int slg_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const float* a, const float* b, float beta, float* c);

/* Buffers a thread keeps between calls, by use: the GEMM's packed A and B panels. */
typedef enum { SLG_BUF_A, SLG_BUF_B, SLG_BUF_COUNT } slg_buf_t;

/* The calling thread's buffer `which` (slg_buf_t), at least `bytes` long and 64-byte aligned:
 * kept from call to call and grown when too small (its contents are not kept then), so a hot
 * path allocates, faults in and frees nothing per call. NULL when out of memory. Never freed
 * (a thread keeps its largest size: a few MB at most). */
SL_INTERNAL float* slg_thread_buffer(int which, size_t bytes);

/* Allocates packing buffers big enough for any slg_gemm_serial call (KC x MC for A,
 * KC x NC for B); 0 when out of memory (then both are NULL). Release with free(). */
SL_INTERNAL int slg_serial_buffers(float** pa, float** pb);

/* One thread's GEMM on a sub-block with explicit leading dimensions; pa / pb are this
 * thread's packing buffers (MC x KC and KC x NC). */
SL_INTERNAL void slg_gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                 float alpha, const float* a, int64_t lda, const float* b,
                                 int64_t ldb, float beta, float* c, int64_t ldc, float* pa,
                                 float* pb);

/* The implicit-B GEMM (gemm.c): C[m x n] (rows of ldc floats) = A[m x k] B with B[p][j] =
 * base[off[p] + j], serial; A packed by slg_rows_pack_a into slg_rows_a_floats(m, k) floats.
 * Reads base[off[p] + j] for j below n rounded up to SLG_NR; the bits are those of
 * slg_gemm_serial on the explicit B with alpha 1, beta 0. */
SL_INTERNAL int64_t slg_rows_a_floats(int64_t m, int64_t k);
SL_INTERNAL void slg_rows_pack_a(const float* a, int64_t lda, int64_t m, int64_t k, float* dst);
SL_INTERNAL void slg_gemm_rows(int64_t m, int64_t n, int64_t k, const float* pa,
                               const float* base, const int64_t* off, float* c, int64_t ldc);

/* ---------------------------------------------------------------- windows (conv.c, pool.c) */

/* Checks the window *g (sl_window_out) and unpacks it into n, c, h, w, kh, kw, sh, sw, ph,
 * pw and its output size oh, ow; returns SL_ERR_ARG naming `op` when it is invalid. */
#define WINDOW(op, g)                                                                     \
  int32_t oh = 0, ow = 0;                                                                 \
  SL_ARG((g) != NULL, "%s: null window", op);                                             \
  SL_ARG(sl_window_out((g), &oh, &ow), "%s: " SL_WINDOW_INVALID, op, SL_WINDOW_FIELDS(g)); \
  const int32_t n = (g)->n, c = (g)->c, h = (g)->h, w = (g)->w, kh = (g)->kh, kw = (g)->kw; \
  const int32_t sh = (g)->sh, sw = (g)->sw, ph = (g)->ph, pw = (g)->pw;                  \
  (void)n, (void)c, (void)h, (void)w, (void)kh, (void)kw, (void)sh, (void)sw, (void)ph, (void)pw

/* ---------------------------------------------------------------- convolution (conv.c,
 * winograd.c) */

/*
 * How a convolution is cut up. The batch is cut into groups of images; with enough images,
 * threads take whole groups (`outer`) and run serial GEMMs, else the groups run in turn and
 * each GEMM uses the whole team.
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

/* In a parallel region: the calling thread's index (returned), the team size, and the
 * contiguous run [lo, hi) of `groups` the thread owns: a static split, so the per-thread
 * partial sums are always added in the same order. A team smaller than asked for still
 * covers every group. */
static inline int conv_thread_range(int64_t groups, int* team, int64_t* lo, int64_t* hi) {
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
static inline int64_t conv_group(int64_t n, int64_t gsz, int64_t gi, int64_t* gn) {
  const int64_t b0 = gi * gsz;
  *gn = (n - b0) < gsz ? (n - b0) : gsz;
  return b0;
}

/* acc[ff] += the sum of each of gn images' f planes of dy (s values each), in double. */
static inline void conv_bias_sums(const float* dy, int64_t gn, int32_t f, int64_t s, double* acc) {
  /* Each plane's sum is one chain of additions in j order (the reference's order); four planes
   * at a time so that four independent chains overlap instead of waiting on one add's latency. */
  for (int64_t i = 0; i < gn; i++) {
    int32_t ff = 0;
    for (; ff + 4 <= f; ff += 4) {
      const float* r = dy + (i * f + ff) * s;
      double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
      for (int64_t j = 0; j < s; j++) {
        a0 += r[j];
        a1 += r[s + j];
        a2 += r[2 * s + j];
        a3 += r[3 * s + j];
      }
      acc[ff] += a0;
      acc[ff + 1] += a1;
      acc[ff + 2] += a2;
      acc[ff + 3] += a3;
    }
    for (; ff < f; ff++) {
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
static inline void conv_reduce_partials(float* dst, int add, const float* parts, int64_t size,
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

/* Winograd F(2x2, 3x3) (winograd.c): whether it takes this convolution, and the two passes
 * (each returns 0, or -1 when out of memory). */
SL_INTERNAL int wino_applies(const conv_plan_t* p);
SL_INTERNAL int wino_conv_forward(const float* x, const float* wt, const float* bias, int32_t n,
                                  int32_t c, int32_t h, int32_t w, int32_t ph, int32_t pw,
                                  int32_t f, int32_t oh, int32_t ow, float* y, int nt);
SL_INTERNAL int wino_conv_backward(const float* x, const float* wt, const float* dy, int32_t n,
                                   int32_t c, int32_t h, int32_t w, int32_t ph, int32_t pw,
                                   int32_t f, int32_t oh, int32_t ow, float* dw, float* db,
                                   float* dx, int nt);

#endif
