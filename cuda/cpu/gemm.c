/*
 * Host C build: our SGEMM (sl_gemm): packed panels, cache blocking (BLIS-style loop
 * order jc -> pc -> ic -> jr -> ir), a register-tiled micro-kernel written with GCC vector
 * extensions so the compiler emits AVX-512 / AVX2+FMA / SSE / NEON from the same source (a
 * plain C kernel is used when the compiler lacks vector extensions), and OpenMP threads over
 * chunks of the larger output dimension.
 *
 * Row-major: C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C.
 */
#include "internal.h"

#if SLG_VW == 8
typedef int32_t slg_vi __attribute__((vector_size(32)));

/* out[k] = (r[0][k], ..., r[7][k]): an 8x8 transpose in registers. */
static inline __attribute__((always_inline)) void slg_transpose8(const slg_vf r[8], slg_vf out[8]) {
  const slg_vi lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
  const slg_vi s0 = {0, 1, 8, 9, 4, 5, 12, 13}, s1 = {2, 3, 10, 11, 6, 7, 14, 15};
  const slg_vi f0 = {0, 1, 2, 3, 8, 9, 10, 11}, f1 = {4, 5, 6, 7, 12, 13, 14, 15};
  slg_vf t[8], u[8];
  for (int q = 0; q < 4; q++) {
    t[2 * q] = __builtin_shuffle(r[2 * q], r[2 * q + 1], lo);
    t[2 * q + 1] = __builtin_shuffle(r[2 * q], r[2 * q + 1], hi);
  }
  for (int g = 0; g < 2; g++) {
    u[4 * g + 0] = __builtin_shuffle(t[4 * g + 0], t[4 * g + 2], s0);
    u[4 * g + 1] = __builtin_shuffle(t[4 * g + 0], t[4 * g + 2], s1);
    u[4 * g + 2] = __builtin_shuffle(t[4 * g + 1], t[4 * g + 3], s0);
    u[4 * g + 3] = __builtin_shuffle(t[4 * g + 1], t[4 * g + 3], s1);
  }
  for (int q = 0; q < 4; q++) {
    out[q] = __builtin_shuffle(u[q], u[4 + q], f0);
    out[q + 4] = __builtin_shuffle(u[q], u[4 + q], f1);
  }
}
#endif

/* Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row micro-panels (zero-padded). */
static void slg_pack_a_panel(int trans_a, const float* a, int64_t lda, int64_t i0, int64_t p0,
                             int64_t mr_valid, int64_t kc, float* dst) {
#if SLG_VW == 8 && SLG_MR == 6
  if (!trans_a && mr_valid == SLG_MR) {
    /* Eight k values of the six rows at a time, transposed in registers: each k's six values
     * are stored as one vector whose last two lanes (rows 6 and 7 of the transpose, copies of
     * row 0) the next k's store overwrites, so a group runs only while its last spill stays
     * before the panel's end. */
    const float* src = a + i0 * lda + p0;
    int64_t p = 0;
    for (; p + 8 < kc; p += 8) {
      slg_vf r[8], out[8];
      for (int q = 0; q < 6; q++) r[q] = (slg_vf)(*(const slg_vfu*)(src + q * lda + p));
      r[6] = r[7] = r[0];
      slg_transpose8(r, out);
      for (int k = 0; k < 8; k++) *(slg_vfu*)(dst + (p + k) * SLG_MR) = (slg_vfu)out[k];
    }
    for (int64_t r = 0; r < SLG_MR; r++) {
      for (int64_t q = p; q < kc; q++) dst[q * SLG_MR + r] = src[r * lda + q];
    }
    return;
  }
#endif
  if (!trans_a) {
    for (int64_t r = 0; r < mr_valid; r++) {
      const float* src = a + (i0 + r) * lda + p0;
      for (int64_t p = 0; p < kc; p++) dst[p * SLG_MR + r] = src[p];
    }
    for (int64_t r = mr_valid; r < SLG_MR; r++) {
      for (int64_t p = 0; p < kc; p++) dst[p * SLG_MR + r] = 0.0f;
    }
  } else {
    for (int64_t p = 0; p < kc; p++) {
      const float* src = a + (p0 + p) * lda + i0;
      float* d = dst + p * SLG_MR;
      int64_t r = 0;
      for (; r < mr_valid; r++) d[r] = src[r];
      for (; r < SLG_MR; r++) d[r] = 0.0f;
    }
  }
}

/* Packs rows [p0, p0+kc) x cols [j0, j0+nr) of op(B) into one NR-column micro-panel. */
static void slg_pack_b_panel(int trans_b, const float* b, int64_t ldb, int64_t p0, int64_t j0,
                             int64_t nr_valid, int64_t kc, float* dst) {
  if (!trans_b) {
    for (int64_t p = 0; p < kc; p++) {
      const float* src = b + (p0 + p) * ldb + j0;
      float* d = dst + p * SLG_NR;
      int64_t j = 0;
      if (nr_valid == SLG_NR) {
        memcpy(d, src, sizeof(float) * SLG_NR);
      } else {
        for (; j < nr_valid; j++) d[j] = src[j];
        for (; j < SLG_NR; j++) d[j] = 0.0f;
      }
    }
  } else {
#if SLG_VW == 8
    if (nr_valid == SLG_NR) {
      /* 8x8 in-register transposes: two row groups of 8, eight k values at a time */
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8) {
        for (int h = 0; h < 2; h++) {
          const float* src = b + (j0 + 8 * h) * ldb + p0 + p;
          slg_vf r[8], out[8];
          for (int q = 0; q < 8; q++) r[q] = (slg_vf)(*(const slg_vfu*)(src + q * ldb));
          slg_transpose8(r, out);
          float* d = dst + p * SLG_NR + 8 * h;
          for (int q = 0; q < 8; q++) *(slg_vf*)(d + q * SLG_NR) = out[q];
        }
      }
      for (; p < kc; p++) {
        for (int64_t j = 0; j < SLG_NR; j++) dst[p * SLG_NR + j] = b[(j0 + j) * ldb + p0 + p];
      }
      return;
    }
#endif
    for (int64_t j = 0; j < nr_valid; j++) {
      const float* src = b + (j0 + j) * ldb + p0;
      for (int64_t p = 0; p < kc; p++) dst[p * SLG_NR + j] = src[p];
    }
    for (int64_t j = nr_valid; j < SLG_NR; j++) {
      for (int64_t p = 0; p < kc; p++) dst[p * SLG_NR + j] = 0.0f;
    }
  }
}

/* Packs rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into consecutive NR-column
 * micro-panels. Without a transpose, each row of B is read once, left to right, across all
 * the panels (sequential reads; a panel at a time would stride ldb floats per 64 bytes). */
static void slg_pack_b_block(int trans_b, const float* b, int64_t ldb, int64_t p0, int64_t j0,
                             int64_t nc, int64_t kc, float* dst) {
  const int64_t full = nc / SLG_NR;
  const int64_t tail = nc - full * SLG_NR;
  if (!trans_b) {
    int64_t p = 0;
#if SLG_VW > 0
    /* four rows at a time: each panel gets 4 x NR consecutive floats per visit (8 rows
     * measured no faster) */
    for (; p + 4 <= kc; p += 4) {
      const float* src = b + (p0 + p) * ldb + j0;
      float* d = dst + p * SLG_NR;
      for (int64_t jp = 0; jp < full; jp++) {
        float* dd = d + jp * kc * SLG_NR;
        const float* ss = src + jp * SLG_NR;
        for (int q = 0; q < 4; q++) {
          *(slg_vfu*)(dd + q * SLG_NR) = *(const slg_vfu*)(ss + q * ldb);
          *(slg_vfu*)(dd + q * SLG_NR + SLG_VW) = *(const slg_vfu*)(ss + q * ldb + SLG_VW);
        }
      }
    }
#endif
    for (; p < kc; p++) {
      const float* src = b + (p0 + p) * ldb + j0;
      float* d = dst + p * SLG_NR;
      for (int64_t jp = 0; jp < full; jp++) {
        memcpy(d + jp * kc * SLG_NR, src + jp * SLG_NR, sizeof(float) * SLG_NR);
      }
    }
  } else {
    for (int64_t jp = 0; jp < full; jp++) {
      slg_pack_b_panel(1, b, ldb, p0, j0 + jp * SLG_NR, SLG_NR, kc, dst + jp * kc * SLG_NR);
    }
  }
  if (tail > 0) {
    slg_pack_b_panel(trans_b, b, ldb, p0, j0 + full * SLG_NR, tail, kc, dst + full * kc * SLG_NR);
  }
}

#if SLG_VW > 0
/* Rows [0, rows) of a full-width tile: C = alpha * acc + (first ? beta * C : C). */
static inline __attribute__((always_inline)) void slg_store_rows(slg_vf acc[SLG_MR][2], int rows,
                                                                 float* restrict c, int64_t ldc,
                                                                 float alpha, float beta,
                                                                 int first) {
  for (int r = 0; r < rows; r++) {
    slg_vfu* c0 = (slg_vfu*)(c + r * ldc);
    slg_vfu* c1 = (slg_vfu*)(c + r * ldc + SLG_VW);
    slg_vf v0 = acc[r][0] * alpha;
    slg_vf v1 = acc[r][1] * alpha;
    if (!first) {
      v0 += (slg_vf)*c0;
      v1 += (slg_vf)*c1;
    } else if (beta != 0.0f) {
      v0 += (slg_vf)*c0 * beta;
      v1 += (slg_vf)*c1 * beta;
    }
    *c0 = (slg_vfu)v0;
    *c1 = (slg_vfu)v1;
  }
}
#endif

/* The valid mr x nr corner of a tile of sums: C = alpha * tile + (first ? beta * C : C). */
static inline void slg_store_tile(float tile[SLG_MR][SLG_NR], float* restrict c, int64_t ldc,
                                  int64_t mr, int64_t nr, float alpha, float beta, int first) {
  for (int64_t r = 0; r < mr; r++) {
    float* cr = c + r * ldc;
    for (int64_t j = 0; j < nr; j++) {
      float v = alpha * tile[r][j];
      if (!first) v += cr[j];
      else if (beta != 0.0f) v += beta * cr[j];
      cr[j] = v;
    }
  }
}

/* CALL(R) with R the rows a micro-kernel runs for a panel of mr valid rows: all SLG_MR, two
 * thirds or a third of them, as a constant (so each call is compiled for it). The bits do not
 * depend on R. */
#define SLG_BY_ROWS(mr, CALL)              \
  do {                                      \
    if ((mr) > 2 * SLG_MR / 3) {            \
      CALL(SLG_MR);                         \
    } else if ((mr) > SLG_MR / 3) {         \
      CALL(2 * SLG_MR / 3);                 \
    } else {                                \
      CALL(SLG_MR / 3);                     \
    }                                       \
  } while (0)

#if SLG_VW > 0
/*
 * Micro-kernel on the first R rows of an A micro-panel: acc[R x NR] = sum_p a[p*MR + r] *
 * b[p*NR + j]; then C = alpha * acc + (first ? beta * C : C) for the valid mr x nr corner
 * (mr <= R). Every element's sum is the same chain of multiply-adds for any R, so a short
 * panel's bits do not depend on which R runs it.
 */
static inline __attribute__((always_inline)) void slg_kernel_rows(
    const int R, int64_t kc, const float* restrict a, const float* restrict b, float* restrict c,
    int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta, int first) {
  slg_vf acc[SLG_MR][2];
  for (int r = 0; r < R; r++) {
    acc[r][0] = (slg_vf){0};
    acc[r][1] = (slg_vf){0};
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    const slg_vf b0 = *(const slg_vf*)(b + p * SLG_NR);
    const slg_vf b1 = *(const slg_vf*)(b + p * SLG_NR + SLG_VW);
    const float* ap = a + p * SLG_MR;
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      /* x - 0 == x exactly, so this folds to a plain broadcast load */
      const slg_vf av = ap[r] - (slg_vf){0};
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  if (nr == SLG_NR) {
    /* full width: every row (a constant bound, so acc stays in registers), or the first mr */
    if (mr == R) {
      slg_store_rows(acc, R, c, ldc, alpha, beta, first);
    } else {
      slg_store_rows(acc, (int)mr, c, ldc, alpha, beta, first);
    }
    return;
  }
  float tile[SLG_MR][SLG_NR] __attribute__((aligned(64)));
  for (int r = 0; r < R; r++) {
    *(slg_vf*)&tile[r][0] = acc[r][0];
    *(slg_vf*)&tile[r][SLG_VW] = acc[r][1];
  }
  slg_store_tile(tile, c, ldc, mr, nr, alpha, beta, first);
}
#endif

/*
 * Micro-kernel: acc[MR x NR] = sum_p a[p*MR + r] * b[p*NR + j]; then
 * C = alpha * acc + (first ? beta * C : C) for the valid mr x nr corner.
 * `first` marks the first k-block, where beta applies (beta == 0: C is not read). A short panel
 * (mr of a third or two thirds of MR or less) runs on that many rows only.
 */
static inline void slg_kernel(int64_t kc, const float* restrict a, const float* restrict b,
                              float* restrict c, int64_t ldc, int64_t mr, int64_t nr, float alpha,
                              float beta, int first) {
#if SLG_VW > 0
#define SLG_KERNEL_ROWS(R) slg_kernel_rows(R, kc, a, b, c, ldc, mr, nr, alpha, beta, first)
  SLG_BY_ROWS(mr, SLG_KERNEL_ROWS);
#undef SLG_KERNEL_ROWS
#else
  float tile[SLG_MR][SLG_NR];
  for (int r = 0; r < SLG_MR; r++)
    for (int j = 0; j < SLG_NR; j++) tile[r][j] = 0.0f;
  for (int64_t p = 0; p < kc; p++) {
    for (int r = 0; r < SLG_MR; r++) {
      const float av = a[p * SLG_MR + r];
      for (int j = 0; j < SLG_NR; j++) tile[r][j] += av * b[p * SLG_NR + j];
    }
  }
  slg_store_tile(tile, c, ldc, mr, nr, alpha, beta, first);
#endif
}

/* C = beta * C (beta == 0: zero fill, ignoring NaN in C); used when k == 0 or alpha == 0. */
static void slg_scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++) {
    float* cr = c + i * ldc;
    if (beta == 0.0f) memset(cr, 0, sizeof(float) * (size_t)n);
    else for (int64_t j = 0; j < n; j++) cr[j] *= beta;
  }
}

/* The calling thread's buffers, one per use (slg_buf_t), kept from call to call. */
static __thread float* slg_tls_buf[SLG_BUF_COUNT];
static __thread size_t slg_tls_bytes[SLG_BUF_COUNT];

float* slg_thread_buffer(int which, size_t bytes) {
  if (slg_tls_bytes[which] >= bytes) return slg_tls_buf[which];
  free(slg_tls_buf[which]);
  bytes = (bytes + 63) / 64 * 64;
  slg_tls_buf[which] = (float*)aligned_alloc(64, bytes);
  slg_tls_bytes[which] = slg_tls_buf[which] ? bytes : 0;
  return slg_tls_buf[which];
}

/* Allocates packing buffers big enough for any slg_gemm_serial call (KC x MC for A,
 * KC x NC for B); 0 when out of memory (then both are NULL). Release with free(). */
int slg_serial_buffers(float** pa, float** pb) {
  *pa = (float*)aligned_alloc(64, sizeof(float) * SLG_KC * SLG_MC);
  *pb = (float*)aligned_alloc(64, sizeof(float) * SLG_KC * SLG_NC);
  if (*pa && *pb) return 1;
  free(*pa);
  free(*pb);
  *pa = *pb = NULL;
  return 0;
}

/* One thread's GEMM on a sub-block with explicit leading dimensions; pa / pb are this
 * thread's packing buffers (MC x KC and KC x NC). */
void slg_gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                            float beta, float* c, int64_t ldc, float* pa, float* pb) {
  for (int64_t jc = 0; jc < n; jc += SLG_NC) {
    const int64_t nc = (n - jc) < SLG_NC ? (n - jc) : SLG_NC;
    const int64_t npanels = (nc + SLG_NR - 1) / SLG_NR;
    for (int64_t pc = 0; pc < k; pc += SLG_KC) {
      const int64_t kc = (k - pc) < SLG_KC ? (k - pc) : SLG_KC;
      const int first = pc == 0;
      slg_pack_b_block(trans_b, b, ldb, pc, jc, nc, kc, pb);
      for (int64_t ic = 0; ic < m; ic += SLG_MC) {
        const int64_t mc = (m - ic) < SLG_MC ? (m - ic) : SLG_MC;
        const int64_t mpanels = (mc + SLG_MR - 1) / SLG_MR;
        for (int64_t ip = 0; ip < mpanels; ip++) {
          const int64_t i0 = ip * SLG_MR;
          const int64_t mr = (mc - i0) < SLG_MR ? (mc - i0) : SLG_MR;
          slg_pack_a_panel(trans_a, a, lda, ic + i0, pc, mr, kc, pa + ip * kc * SLG_MR);
        }
        /* jr outer (a B micro-panel stays in L1), ir inner (the A block stays in L2) */
        for (int64_t jp = 0; jp < npanels; jp++) {
          const int64_t j0 = jp * SLG_NR;
          const int64_t nr = (nc - j0) < SLG_NR ? (nc - j0) : SLG_NR;
          for (int64_t ip = 0; ip < mpanels; ip++) {
            const int64_t i0 = ip * SLG_MR;
            const int64_t mr = (mc - i0) < SLG_MR ? (mc - i0) : SLG_MR;
            slg_kernel(kc, pa + ip * kc * SLG_MR, pb + jp * kc * SLG_NR,
                       c + (ic + i0) * ldc + jc + j0, ldc, mr, nr, alpha, beta, first);
          }
        }
      }
    }
  }
}

/* ---------------------------------------------------------------- implicit B */

/*
 * A GEMM whose B is not a matrix but windows of one buffer, read in place: B[p][j] =
 * base[off[p] + j]. A convolution's phase planes are such a B (conv.c): row p = (channel, ky,
 * kx) of the column matrix is one window of them, so the product needs no column matrix and
 * no B packing. A is packed once (slg_rows_pack_a) and reused for every B. Each element of C is
 * the chain of multiply-adds slg_gemm_serial computes for it (p in order, blocks of SLG_KC
 * added as it adds them, alpha 1, beta 0), so the results are the bits of the explicit GEMM.
 */

int64_t slg_rows_a_floats(int64_t m, int64_t k) {
  return (m + SLG_MR - 1) / SLG_MR * SLG_MR * k;
}

void slg_rows_pack_a(const float* a, int64_t lda, int64_t m, int64_t k, float* dst) {
  const int64_t mp = (m + SLG_MR - 1) / SLG_MR;
  for (int64_t pc = 0; pc < k; pc += SLG_KC) {
    const int64_t kc = (k - pc) < SLG_KC ? (k - pc) : SLG_KC;
    for (int64_t ip = 0; ip < mp; ip++) {
      const int64_t mr = (m - ip * SLG_MR) < SLG_MR ? (m - ip * SLG_MR) : SLG_MR;
      float* panel = dst + pc * mp * SLG_MR + ip * kc * SLG_MR;
      slg_pack_a_panel(0, a, lda, ip * SLG_MR, pc, mr, kc, panel);
    }
  }
}

#if SLG_VW > 0
/* One tile of the implicit product on the first R rows of an A micro-panel and NV vectors of
 * columns: acc = sum_p a[p*MR + r] * base[off[p] + j], then C = acc (first) or acc + C for the
 * valid mr x nr corner, as slg_kernel_rows. */
static inline __attribute__((always_inline)) void slg_rows_tile(
    const int R, const int NV, int64_t kc, const float* restrict a, const float* restrict base,
    const int64_t* restrict off, float* restrict c, int64_t ldc, int64_t mr, int64_t nr,
    int first) {
  slg_vf acc[SLG_MR][2];
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = (slg_vf){0};
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    const float* bp = base + off[p];
    const slg_vf b0 = (slg_vf)(*(const slg_vfu*)bp);
    const slg_vf b1 = NV == 2 ? (slg_vf)(*(const slg_vfu*)(bp + SLG_VW)) : (slg_vf){0};
    const float* ap = a + p * SLG_MR;
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const slg_vf av = ap[r] - (slg_vf){0};
      acc[r][0] += av * b0;
      if (NV == 2) acc[r][1] += av * b1;
    }
  }
  if (NV == 2 && nr == SLG_NR) {
    if (mr == R) {
      slg_store_rows(acc, R, c, ldc, 1.0f, 0.0f, first);
    } else {
      slg_store_rows(acc, (int)mr, c, ldc, 1.0f, 0.0f, first);
    }
    return;
  }
  float tile[SLG_MR][SLG_NR] __attribute__((aligned(64)));
  for (int r = 0; r < R; r++) {
    *(slg_vf*)&tile[r][0] = acc[r][0];
    *(slg_vf*)&tile[r][SLG_VW] = acc[r][1];
  }
  slg_store_tile(tile, c, ldc, mr, nr, 1.0f, 0.0f, first);
}

/* slg_rows_tile with R chosen as slg_kernel chooses it. */
static inline __attribute__((always_inline)) void slg_rows_kernel(
    const int NV, int64_t kc, const float* restrict a, const float* restrict base,
    const int64_t* restrict off, float* restrict c, int64_t ldc, int64_t mr, int64_t nr,
    int first) {
#define SLG_ROWS_TILE(R) slg_rows_tile(R, NV, kc, a, base, off, c, ldc, mr, nr, first)
  SLG_BY_ROWS(mr, SLG_ROWS_TILE);
#undef SLG_ROWS_TILE
}
#endif

void slg_gemm_rows(int64_t m, int64_t n, int64_t k, const float* pa, const float* base,
                   const int64_t* off, float* c, int64_t ldc) {
  const int64_t mp = (m + SLG_MR - 1) / SLG_MR;
  for (int64_t pc = 0; pc < k; pc += SLG_KC) {
    const int64_t kc = (k - pc) < SLG_KC ? (k - pc) : SLG_KC;
    const int first = pc == 0;
    const float* ab = pa + pc * mp * SLG_MR;
    for (int64_t j0 = 0; j0 < n; j0 += SLG_NR) {
      const int64_t nr = (n - j0) < SLG_NR ? (n - j0) : SLG_NR;
      for (int64_t ip = 0; ip < mp; ip++) {
        const int64_t mr = (m - ip * SLG_MR) < SLG_MR ? (m - ip * SLG_MR) : SLG_MR;
        const float* a = ab + ip * kc * SLG_MR;
        float* ct = c + ip * SLG_MR * ldc + j0;
#if SLG_VW > 0
        if (nr > SLG_VW) {
          slg_rows_kernel(2, kc, a, base + j0, off + pc, ct, ldc, mr, nr, first);
        } else {
          slg_rows_kernel(1, kc, a, base + j0, off + pc, ct, ldc, mr, nr, first);
        }
#else
        float tile[SLG_MR][SLG_NR];
        for (int r = 0; r < SLG_MR; r++)
          for (int j = 0; j < SLG_NR; j++) tile[r][j] = 0.0f;
        for (int64_t p = 0; p < kc; p++) {
          const float* bp = base + off[pc + p] + j0;
          for (int r = 0; r < SLG_MR; r++) {
            const float av = a[p * SLG_MR + r];
            for (int64_t j = 0; j < nr; j++) tile[r][j] += av * bp[j];
          }
        }
        slg_store_tile(tile, ct, ldc, mr, nr, 1.0f, 0.0f, first);
#endif
      }
    }
  }
}

/* dst[j * ldd + i] = src[i * lds + j]: the rows x cols matrix src transposed. */
static void slg_transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst,
                          int64_t ldd) {
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
  }
}

/*
 * C [m x n] with n narrower than one B micro-panel, as C^T = op(B)^T op(A)^T: full panels (and
 * the fast transposing pack) instead of one mostly empty panel per row block. Every element is
 * the same products summed in the same order (the micro-kernel's a * b is b * a here), so the
 * bits do not change. Returns 0, or -1 when a buffer could not be allocated.
 */
static int slg_sgemm_narrow(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                            float beta, float* c, int64_t ldc) {
  float* t = (float*)malloc(sizeof(float) * (size_t)(m * n));
  if (!t) return -1;
  if (beta != 0.0f) slg_transpose(c, m, n, ldc, t, m);
  const int rc = slg_sgemm_ld(!trans_b, !trans_a, n, m, k, alpha, b, ldb, a, lda, beta, t, m);
  if (rc == 0) slg_transpose(t, n, m, m, c, ldc);
  free(t);
  return rc;
}

/*
 * Threads split the larger of M and N into a few chunks (a multiple of the micro-tile, about
 * two per thread, taken dynamically) and each chunk runs an independent blocked GEMM with its
 * own packing buffers: no barriers, so a core shared with another process slows only the
 * chunks it runs. The other operand is packed once per chunk, which costs little against the
 * chunk's arithmetic.
 * Returns 0, or -1 when the packing buffers could not be allocated.
 */
int slg_sgemm_ld(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  if (m == 0 || n == 0) return 0;
  if (k == 0 || alpha == 0.0f) {
    slg_scale_c(m, n, beta, c, ldc);
    return 0;
  }
  if (n < SLG_NR && m >= SLG_NR) {
    return slg_sgemm_narrow(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  int nt = 1;
#ifdef _OPENMP
  if ((double)m * (double)n * (double)k >= (double)SLG_PARALLEL_MIN_FLOPS) nt = omp_get_max_threads();
#endif
  const int split_n = n >= m;
  const int64_t dim = split_n ? n : m;
  const int64_t unit = split_n ? SLG_NR : SLG_MR;
  int64_t chunk = dim;
  if (nt > 1) {
    const int64_t want = (int64_t)nt * 2;
    chunk = (dim + want - 1) / want;
    chunk = (chunk + unit - 1) / unit * unit;
    const int64_t min_chunk = 4 * unit;
    if (chunk < min_chunk) chunk = min_chunk;
  }
  const int64_t nchunks = (dim + chunk - 1) / chunk;
  const int64_t sub_n = split_n ? chunk : n;
  const int64_t sub_m = split_n ? m : chunk;
  const int64_t nc_max = sub_n < SLG_NC ? ((sub_n + SLG_NR - 1) / SLG_NR) * SLG_NR : SLG_NC;
  const int64_t mc_max = sub_m < SLG_MC ? ((sub_m + SLG_MR - 1) / SLG_MR) * SLG_MR : SLG_MC;
  const int64_t kc_max = k < SLG_KC ? k : SLG_KC;
  const size_t pb_bytes = (size_t)(((kc_max * nc_max * 4) + 63) / 64 * 64);
  const size_t pa_bytes = (size_t)(((kc_max * mc_max * 4) + 63) / 64 * 64);
  if (nt == 1 || nchunks == 1) {
    /* on this thread, without entering OpenMP (~1 us even for an if(0) region), with its
     * kept packing buffers (no allocation per call) */
    float* pb = slg_thread_buffer(SLG_BUF_B, pb_bytes);
    float* pa = slg_thread_buffer(SLG_BUF_A, pa_bytes);
    if (!pb || !pa) return -1;
    slg_gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pa, pb);
    return 0;
  }
  int oom = 0;
#pragma omp parallel num_threads(nt)
  {
    float* pb = (float*)aligned_alloc(64, pb_bytes);
    float* pa = (float*)aligned_alloc(64, pa_bytes);
    if (!pb || !pa) oom = 1;
#pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < nchunks; ch++) {
      if (!pb || !pa) continue;
      const int64_t lo = ch * chunk;
      const int64_t len = (dim - lo) < chunk ? (dim - lo) : chunk;
      if (split_n) {
        const float* bs = trans_b ? b + lo * ldb : b + lo;
        slg_gemm_serial(trans_a, trans_b, m, len, k, alpha, a, lda, bs, ldb, beta, c + lo, ldc,
                        pa, pb);
      } else {
        const float* as = trans_a ? a + lo : a + lo * lda;
        slg_gemm_serial(trans_a, trans_b, len, n, k, alpha, as, lda, b, ldb, beta, c + lo * ldc,
                        ldc, pa, pb);
      }
    }
    free(pb);
    free(pa);
  }
  return oom ? -1 : 0;
}

int slg_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, const float* b, float beta, float* c) {
  return slg_sgemm_ld(trans_a, trans_b, m, n, k, alpha, a, trans_a ? m : k, b, trans_b ? k : n,
                      beta, c, n);
}

SL_API int sl_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t a_off, const float* b, int64_t b_off, float beta,
                   float* c, int64_t c_off) {
  SL_ARG(m >= 0 && n >= 0 && k >= 0, "sl_gemm: negative size m=%lld n=%lld k=%lld",
         (long long)m, (long long)n, (long long)k);
  SL_ARG(a_off >= 0 && b_off >= 0 && c_off >= 0, "sl_gemm: negative offset");
  SL_ARG(c != NULL && ((a != NULL && b != NULL) || k == 0 || m == 0 || n == 0),
         "sl_gemm: null pointer");
  if (slg_sgemm(trans_a != 0, trans_b != 0, m, n, k, alpha, a ? a + a_off : NULL,
                b ? b + b_off : NULL, beta, c + c_off) != 0) {
    return sl_set_error(SL_ERR_MEMORY, "sl_gemm: out of memory for the packing buffers");
  }
  return SL_OK;
}
