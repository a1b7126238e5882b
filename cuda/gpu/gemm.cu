/*
 * CUDA build: our SGEMM. C = alpha op(A) op(B) + beta C, row-major, any M, N, K.
 *
 * Design (one kernel template, two tile shapes):
 * - 256 threads as 16 x 16; block tile BM x BN with BM = 16 TM, BN = 16 TN; each thread keeps a
 *   TM x TN accumulator in registers (2-D register blocking). Its rows are ty*4 + {0..3} + 64 h
 *   and its columns tx*4 + {0..3} + 64 h, so the shared-memory reads of a warp are one broadcast
 *   float4 of A and 64 consecutive floats of B: no bank conflicts.
 * - A is kept in shared memory k-major (As[k][m]) whatever its transpose, B as Bs[k][n]; rows are
 *   padded by 4 floats, which also makes the transposing stores of the 128-tile conflict-free.
 * - Global tiles are loaded as 16-byte float4 when the operand's base and leading dimension are
 *   16-byte aligned and the 4 elements are in range; otherwise element by element with bounds
 *   checks. Loads for tile t+1 are issued into registers before the math on tile t (double
 *   buffered shared memory, one barrier per k-step).
 * - Shapes: 128 x 128 (TM = TN = 8, BK = 8) when there are enough tiles to fill the GPU's
 *   multiprocessors once, else
 *   64 x 64 (TM = TN = 4, BK = 16); tall-skinny products whose output has too few tiles (the
 *   weight gradient of a convolution: M, N small, K = batch * pixels huge) are split along K
 *   into a workspace and summed by a second, deterministic kernel.
 */
#include "internal.cuh"

namespace {

constexpr int PAD = 4;

/* p[0..3], where element j exists when first + j < lim: one float4 load when VEC and all four
 * exist (p is then 16-byte aligned), else element by element; missing elements are 0. */
template <bool VEC>
__device__ __forceinline__ float4 load4(const float* p, int first, int lim) {
  if (VEC && first + 3 < lim) return *reinterpret_cast<const float4*>(p);
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (first < lim) v.x = p[0];
  if (first + 1 < lim) v.y = p[1];
  if (first + 2 < lim) v.z = p[2];
  if (first + 3 < lim) v.w = p[3];
  return v;
}

/*
 * Loads one BK x DIM tile of an operand into registers, 4 floats per piece, LOADS pieces per
 * thread. DIM is the tile's M (for A) or N (for B) side, starting at `base` of `lim`; the k side
 * runs from k0 below kend. KCONTIG: the operand is stored with k contiguous (A as is, B
 * transposed), so a piece is 4 consecutive k of one row; otherwise 4 consecutive rows of one k.
 */
template <int DIM, int BK, int LOADS, bool KCONTIG, bool VEC>
__device__ __forceinline__ void load_tile(float4 (&r)[LOADS], const float* __restrict__ X,
                                          int64_t ld, int base, int lim, int k0, int kend,
                                          int tid) {
#pragma unroll
  for (int i = 0; i < LOADS; i++) {
    const int l = tid + i * 256;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (KCONTIG) {
      const int row = base + l / (BK / 4);
      const int kk = k0 + (l % (BK / 4)) * 4;
      if (row < lim) v = load4<VEC>(X + (int64_t)row * ld + kk, kk, kend);
    } else {
      const int kk = k0 + l / (DIM / 4);
      const int col = base + (l % (DIM / 4)) * 4;
      if (kk < kend) v = load4<VEC>(X + (int64_t)kk * ld + col, col, lim);
    }
    r[i] = v;
  }
}

/* Stores the pieces of load_tile into the k-major shared tile S[k][DIM + PAD]. */
template <int DIM, int BK, int LOADS, bool KCONTIG>
__device__ __forceinline__ void store_tile(float (*S)[DIM + PAD], const float4 (&r)[LOADS],
                                           int tid) {
#pragma unroll
  for (int i = 0; i < LOADS; i++) {
    const int l = tid + i * 256;
    if (KCONTIG) {
      const int m = l / (BK / 4);
      const int kq = (l % (BK / 4)) * 4;
      S[kq + 0][m] = r[i].x;
      S[kq + 1][m] = r[i].y;
      S[kq + 2][m] = r[i].z;
      S[kq + 3][m] = r[i].w;
    } else {
      *reinterpret_cast<float4*>(&S[l / (DIM / 4)][(l % (DIM / 4)) * 4]) = r[i];
    }
  }
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__(256)
    k_gemm(int M, int N, int K, float alpha, const float* __restrict__ A, int64_t lda,
            const float* __restrict__ B, int64_t ldb, float beta, float* __restrict__ C,
            int64_t ldc, int kchunk, int64_t split_stride, int vec_c) {
  __shared__ __align__(16) float As[2][BK][BM + PAD];
  __shared__ __align__(16) float Bs[2][BK][BN + PAD];
  constexpr int A_LOADS = BM * BK / 4 / 256;
  constexpr int B_LOADS = BN * BK / 4 / 256;
  static_assert(A_LOADS >= 1 && B_LOADS >= 1, "tile too small for 256 threads");
  static_assert(BM == 16 * TM && BN == 16 * TN && TM % 4 == 0 && TN % 4 == 0, "bad tile");

  const int tid = threadIdx.x;
  const int tx = tid & 15;
  const int ty = tid >> 4;
  const int bm = blockIdx.y * BM;
  const int bn = blockIdx.x * BN;
  const int kbeg = blockIdx.z * kchunk;
  const int kend = min(K, kbeg + kchunk);
  C += blockIdx.z * split_stride;

  float4 ra[A_LOADS];
  float4 rb[B_LOADS];

  auto load_a = [&](int k0) {
    load_tile<BM, BK, A_LOADS, !TA, VEC>(ra, A, lda, bm, M, k0, kend, tid);
  };
  auto store_a = [&](int buf) { store_tile<BM, BK, A_LOADS, !TA>(As[buf], ra, tid); };
  auto load_b = [&](int k0) {
    load_tile<BN, BK, B_LOADS, TB, VEC>(rb, B, ldb, bn, N, k0, kend, tid);
  };
  auto store_b = [&](int buf) { store_tile<BN, BK, B_LOADS, TB>(Bs[buf], rb, tid); };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++) {
#pragma unroll
    for (int j = 0; j < TN; j++) acc[i][j] = 0.f;
  }

  const int ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
  if (ntiles > 0) {
    load_a(kbeg);
    load_b(kbeg);
    store_a(0);
    store_b(0);
  }
  __syncthreads();

  for (int t = 0; t < ntiles; t++) {
    const int cur = t & 1;
    const bool more = t + 1 < ntiles;
    if (more) {
      load_a(kbeg + (t + 1) * BK);
      load_b(kbeg + (t + 1) * BK);
    }
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      float a[TM];
      float b[TN];
#pragma unroll
      for (int h = 0; h < TM / 4; h++) {
        const float4 v = *reinterpret_cast<const float4*>(&As[cur][kk][h * 64 + ty * 4]);
        a[h * 4 + 0] = v.x;
        a[h * 4 + 1] = v.y;
        a[h * 4 + 2] = v.z;
        a[h * 4 + 3] = v.w;
      }
#pragma unroll
      for (int h = 0; h < TN / 4; h++) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[cur][kk][h * 64 + tx * 4]);
        b[h * 4 + 0] = v.x;
        b[h * 4 + 1] = v.y;
        b[h * 4 + 2] = v.z;
        b[h * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; i++) {
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    if (more) {
      store_a(cur ^ 1);
      store_b(cur ^ 1);
    }
    __syncthreads();
  }

#pragma unroll
  for (int hi = 0; hi < TM / 4; hi++) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int row = bm + hi * 64 + ty * 4 + i;
      if (row >= M) continue;
      float* crow = C + (int64_t)row * ldc;
#pragma unroll
      for (int hj = 0; hj < TN / 4; hj++) {
        const int col = bn + hj * 64 + tx * 4;
        const float* r = &acc[hi * 4 + i][hj * 4];
        if (vec_c && col + 3 < N) {
          float4 o = make_float4(alpha * r[0], alpha * r[1], alpha * r[2], alpha * r[3]);
          if (beta != 0.f) {
            const float4 c = *reinterpret_cast<const float4*>(crow + col);
            o.x += beta * c.x;
            o.y += beta * c.y;
            o.z += beta * c.z;
            o.w += beta * c.w;
          }
          *reinterpret_cast<float4*>(crow + col) = o;
        } else {
#pragma unroll
          for (int j = 0; j < 4; j++) {
            if (col + j < N) {
              const float o = alpha * r[j];
              crow[col + j] = beta != 0.f ? o + beta * crow[col + j] : o;
            }
          }
        }
      }
    }
  }
}

/* C = alpha * sum_z W[z] + beta * C (W is [splits, M, N], C has leading dimension ldc). */
__global__ void k_gemm_splitk_reduce(const float* __restrict__ W, int splits, int64_t M, int64_t N,
                                float alpha, float beta, float* __restrict__ C, int64_t ldc) {
  const int64_t total = M * N;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    float s = 0.f;
    for (int z = 0; z < splits; z++) s += W[z * total + i];
    const int64_t r = i / N;
    const int64_t c = i - r * N;
    float* p = C + r * ldc + c;
    *p = beta != 0.f ? alpha * s + beta * *p : alpha * s;
  }
}

/* C = beta * C (K == 0). */
__global__ void k_gemm_scale_c(float* C, int64_t total, float beta) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    C[i] = beta != 0.f ? beta * C[i] : 0.f;
  }
}

int g_num_sms = 0;

int num_sms() {
  if (g_num_sms == 0) {
    int dev = 0, v = 0;
    cudaGetDevice(&dev);
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || v <= 0) {
      cudaGetLastError();
      v = 80;
    }
    g_num_sms = v;
  }
  return g_num_sms;
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
void launch_t(bool vec, dim3 grid, int M, int N, int K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int kchunk,
              int64_t split_stride, int vec_c) {
  if (vec) {
    k_gemm<BM, BN, BK, TM, TN, TA, TB, true><<<grid, 256, 0, SL_STREAM>>>(
        M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, kchunk, split_stride, vec_c);
  } else {
    k_gemm<BM, BN, BK, TM, TN, TA, TB, false><<<grid, 256, 0, SL_STREAM>>>(
        M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, kchunk, split_stride, vec_c);
  }
}

template <int BM, int BN, int BK, int TM, int TN>
void launch_shape(bool ta, bool tb, bool vec, dim3 grid, int M, int N, int K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc, int kchunk, int64_t split_stride, int vec_c) {
  if (!ta && !tb) {
    launch_t<BM, BN, BK, TM, TN, false, false>(vec, grid, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                               ldc, kchunk, split_stride, vec_c);
  } else if (!ta && tb) {
    launch_t<BM, BN, BK, TM, TN, false, true>(vec, grid, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                              ldc, kchunk, split_stride, vec_c);
  } else if (ta && !tb) {
    launch_t<BM, BN, BK, TM, TN, true, false>(vec, grid, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                              ldc, kchunk, split_stride, vec_c);
  } else {
    launch_t<BM, BN, BK, TM, TN, true, true>(vec, grid, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                             ldc, kchunk, split_stride, vec_c);
  }
}

bool aligned16(const float* p) { return ((uintptr_t)p & 15u) == 0; }

}  // namespace

extern "C" SL_API int sl_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                              float alpha, const float* a, int64_t a_off, const float* b,
                              int64_t b_off, float beta, float* c, int64_t c_off) {
  SL_GUARD();
  SL_ARG(m >= 0 && n >= 0 && k >= 0, "sl_gemm: sizes must be >= 0, got m=%lld n=%lld k=%lld",
         (long long)m, (long long)n, (long long)k);
  SL_ARG(a_off >= 0 && b_off >= 0 && c_off >= 0, "sl_gemm: offsets must be >= 0");
  SL_ARG(m < (1LL << 31) && n < (1LL << 31) && k < (1LL << 31),
         "sl_gemm: each of m, n, k must be < 2^31");
  if (m == 0 || n == 0) return SL_OK;
  SL_TRY(sl_check_buf(c, c_off + m * n, "sl_gemm C"));
  float* C = c + c_off;
  if (k == 0) {
    k_gemm_scale_c<<<sl_blocks(m * n, 256), 256, 0, SL_STREAM>>>(C, m * n, beta);
    return sl_check_launch("sl_gemm (k = 0)");
  }
  SL_TRY(sl_check_buf(a, a_off + m * k, "sl_gemm A"));
  SL_TRY(sl_check_buf(b, b_off + k * n, "sl_gemm B"));
  const float* A = a + a_off;
  const float* B = b + b_off;
  const bool ta = trans_a != 0;
  const bool tb = trans_b != 0;
  const int64_t lda = ta ? m : k;
  const int64_t ldb = tb ? k : n;
  const int64_t ldc = n;
  const bool vec = aligned16(A) && aligned16(B) && lda % 4 == 0 && ldb % 4 == 0;
  const int vec_c = aligned16(C) && ldc % 4 == 0;
  const int M = (int)m, N = (int)n, K = (int)k;
  const int sms = num_sms();

  const int64_t tiles128 = ((m + 127) / 128) * ((n + 127) / 128);
  const bool big = tiles128 >= (int64_t)sms; /* at least one full wave of 128-tiles */
  const int BMs = big ? 128 : 64;
  const int BKs = big ? 8 : 16;
  const int64_t tiles = ((m + BMs - 1) / BMs) * ((n + BMs - 1) / BMs);

  /* split-K for products whose output alone cannot fill the GPU */
  int splits = 1;
  if (!big && tiles < (int64_t)sms) {
    const int64_t want = (2 * (int64_t)sms + tiles - 1) / tiles;
    const int64_t by_k = k / 256; /* at least 256 of K per split */
    int64_t s = want < by_k ? want : by_k;
    if (s > 64) s = 64;
    if (s > 1) splits = (int)s;
  }
  int kchunk = K;
  if (splits > 1) {
    kchunk = (int)(((k + splits - 1) / splits + BKs - 1) / BKs * BKs);
    splits = (int)((k + kchunk - 1) / kchunk);
  }
  dim3 grid((unsigned)((n + BMs - 1) / BMs), (unsigned)((m + BMs - 1) / BMs), (unsigned)splits);
  SL_ARG(grid.y <= 65535, "sl_gemm: m=%lld is too large for the grid", (long long)m);

  if (splits == 1) {
    if (big) {
      launch_shape<128, 128, 8, 8, 8>(ta, tb, vec, grid, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                      ldc, K, 0, vec_c);
    } else {
      launch_shape<64, 64, 16, 4, 4>(ta, tb, vec, grid, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                     ldc, K, 0, vec_c);
    }
    return sl_check_launch("sl_gemm");
  }
  float* work = NULL;
  SL_TRY(sl_workspace((int64_t)splits * m * n, &work));
  launch_shape<64, 64, 16, 4, 4>(ta, tb, vec, grid, M, N, K, 1.f, A, lda, B, ldb, 0.f, work, n,
                                 kchunk, m * n, (int)(n % 4 == 0));
  int st = sl_check_launch("sl_gemm (split-K)");
  if (st == SL_OK) {
    k_gemm_splitk_reduce<<<sl_blocks(m * n, 256), 256, 0, SL_STREAM>>>(work, splits, m, n, alpha, beta,
                                                                  C, ldc);
    st = sl_check_launch("sl_gemm (split-K reduce)");
  }
  sl_workspace_free(work);
  return st;
}
