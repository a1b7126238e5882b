/*
 * CUDA build: dropout masks from the counter-based generator of src/rng.ts (bit-exact with the
 * TypeScript and host builds), k-winners-take-all masks, and in-place optimizer updates.
 */
#include <math.h>

#include "common.cuh"

namespace {

#define GRID_LOOP(i, total)                                                     \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (total); \
       i += (int64_t)gridDim.x * blockDim.x)

__global__ void k_dropout(float* __restrict__ out, int64_t total, int64_t inner, int per_channel,
                          uint32_t thr, float keep, uint32_t seed, uint32_t stream,
                          uint64_t counter) {
  GRID_LOOP(i, total) {
    const uint64_t unit = per_channel ? (uint64_t)(i / inner) : (uint64_t)i;
    out[i] = sl_random_u32(seed, stream, counter + unit) >= thr ? keep : 0.f;
  }
}

/* one block per row: rank(j) = #{i : x_i > x_j} + #{i < j : x_i == x_j}; kept iff rank < k */
__global__ void k_topk(const float* __restrict__ x, int64_t cols, int64_t k, int use_smem,
                       float* __restrict__ out) {
  extern __shared__ float srow[];
  const int64_t r = blockIdx.x;
  const float* row = x + r * cols;
  if (use_smem) {
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) srow[j] = row[j];
    __syncthreads();
    row = srow;
  }
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = row[j];
    int64_t rank = 0;
    for (int64_t i = 0; i < cols && rank < k; i++) {
      const float u = row[i];
      rank += (u > v || (u == v && i < j)) ? 1 : 0;
    }
    out[r * cols + j] = rank < k ? 1.f : 0.f;
  }
}

struct Hyper {
  double lr, mu, beta2, eps, wd, c1, c2;
};

template <int RULE>
__global__ void k_update(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ s0,
                         float* __restrict__ s1, int64_t n, Hyper h) {
  GRID_LOOP(i, n) {
    const double pv = p[i];
    const double gv = g[i];
    if (RULE == SL_RULE_SGD) {
      p[i] = (float)(pv - h.lr * (gv + h.wd * pv));
    } else if (RULE == SL_RULE_MOMENTUM || RULE == SL_RULE_NESTEROV) {
      const double gg = gv + h.wd * pv;
      const double v = h.mu * (double)s0[i] - h.lr * gg;
      s0[i] = (float)v;
      p[i] = (float)(RULE == SL_RULE_NESTEROV ? pv + (h.mu * v - h.lr * gg) : pv + v);
    } else {
      const bool decoupled = RULE == SL_RULE_ADAMW;
      const double gg = decoupled ? gv : gv + h.wd * pv;
      const double m = h.mu * (double)s0[i] + (1.0 - h.mu) * gg;
      const double v = h.beta2 * (double)s1[i] + (1.0 - h.beta2) * gg * gg;
      s0[i] = (float)m;
      s1[i] = (float)v;
      const double upd = (m / h.c1) / (sqrt(v / h.c2) + h.eps);
      p[i] = (float)(pv - h.lr * (upd + (decoupled ? h.wd * pv : 0.0)));
    }
  }
}

}  // namespace

extern "C" SL_API int sl_dropout_mask(float* out, int64_t outer, int64_t c, int64_t inner, double p,
                                      int32_t per_channel, uint32_t seed, uint32_t stream,
                                      uint64_t counter) {
  SL_GUARD();
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_dropout_mask: sizes must be >= 0");
  SL_ARG(p >= 0.0 && p < 1.0, "sl_dropout_mask: p must be in [0, 1), got %g", p);
  const int64_t total = outer * c * inner;
  if (total == 0) return SL_OK;
  SL_TRY(sl_check_buf(out, total, "sl_dropout_mask output"));
  /* floor(p * 2^32) clamped, and 1/(1-p), computed in double as src/rng.ts does */
  const double pd = p;
  double t = floor(pd * 4294967296.0);
  if (t > 4294967295.0) t = 4294967295.0;
  const uint32_t thr = (uint32_t)t;
  const float keep = (float)(1.0 / (1.0 - pd));
  k_dropout<<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(out, total, inner, per_channel != 0, thr,
                                                          keep, seed, stream, counter);
  return sl_check_launch("sl_dropout_mask");
}

extern "C" SL_API int sl_topk_mask(const float* x, int64_t rows, int64_t cols, int64_t k,
                                   float* out) {
  SL_GUARD();
  SL_ARG(rows >= 0 && cols >= 0, "sl_topk_mask: rows and cols must be >= 0");
  SL_ARG(k >= 0 && k <= cols, "sl_topk_mask: k=%lld outside [0, %lld]", (long long)k,
         (long long)cols);
  SL_ARG(rows <= 2147483647LL, "sl_topk_mask: too many rows");
  if (rows == 0 || cols == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, rows * cols, "sl_topk_mask input"));
  SL_TRY(sl_check_buf(out, rows * cols, "sl_topk_mask output"));
  const bool smem = cols <= 12288;
  k_topk<<<(unsigned)rows, 256, smem ? (size_t)cols * sizeof(float) : 0, SL_STREAM>>>(
      x, cols, k, smem ? 1 : 0, out);
  return sl_check_launch("sl_topk_mask");
}

extern "C" SL_API int sl_update(int32_t rule, float* p, const float* g, float* s0, float* s1,
                                int64_t n, const double* hyper) {
  SL_GUARD();
  SL_ARG(rule >= SL_RULE_SGD && rule <= SL_RULE_ADAMW,
         "sl_update: unknown rule %d (expected 0 sgd, 1 momentum, 2 nesterov, 3 adam, 4 adamw)",
         rule);
  SL_ARG(hyper != NULL, "sl_update: hyper pointer is null");
  SL_ARG(n >= 0, "sl_update: count must be >= 0, got %lld", (long long)n);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(p, n, "sl_update param"));
  SL_TRY(sl_check_buf(g, n, "sl_update grad"));
  Hyper h{hyper[0], hyper[1], hyper[2], hyper[3], hyper[4], 1.0, 1.0};
  if (rule == SL_RULE_MOMENTUM || rule == SL_RULE_NESTEROV) {
    SL_ARG(s0 != NULL, "sl_update: momentum needs a velocity slot (s0 is null)");
    SL_TRY(sl_check_buf(s0, n, "sl_update velocity"));
  }
  if (rule == SL_RULE_ADAM || rule == SL_RULE_ADAMW) {
    SL_ARG(s0 != NULL && s1 != NULL, "sl_update: adam needs m and v slots (s0/s1 null)");
    SL_TRY(sl_check_buf(s0, n, "sl_update adam m"));
    SL_TRY(sl_check_buf(s1, n, "sl_update adam v"));
    const double t = hyper[5];
    SL_ARG(t >= 1, "sl_update: adam step must be >= 1, got %g", t);
    h.c1 = 1.0 - pow(h.mu, t);
    h.c2 = 1.0 - pow(h.beta2, t);
  }
  const unsigned grid = sl_blocks(n, 256);
  switch (rule) {
    case SL_RULE_SGD: k_update<SL_RULE_SGD><<<grid, 256, 0, SL_STREAM>>>(p, g, s0, s1, n, h); break;
    case SL_RULE_MOMENTUM:
      k_update<SL_RULE_MOMENTUM><<<grid, 256, 0, SL_STREAM>>>(p, g, s0, s1, n, h);
      break;
    case SL_RULE_NESTEROV:
      k_update<SL_RULE_NESTEROV><<<grid, 256, 0, SL_STREAM>>>(p, g, s0, s1, n, h);
      break;
    case SL_RULE_ADAM: k_update<SL_RULE_ADAM><<<grid, 256, 0, SL_STREAM>>>(p, g, s0, s1, n, h); break;
    default: k_update<SL_RULE_ADAMW><<<grid, 256, 0, SL_STREAM>>>(p, g, s0, s1, n, h); break;
  }
  return sl_check_launch("sl_update");
}
