/*
 * CUDA build: axis reductions, row argmax, fused softmax cross-entropy and batch norm.
 * Sums accumulate in double (as the TypeScript reference does) and are combined by a fixed
 * tree, so results are deterministic from run to run.
 */
#include <math.h>

#include "common.cuh"

namespace {

#define GRID_LOOP(i, total)                                                     \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (total); \
       i += (int64_t)gridDim.x * blockDim.x)

struct RedGeom {
  int kr;            /* kept rank */
  int rr;            /* reduced rank */
  int64_t kd[8], ks[8]; /* kept dims and their input strides */
  int64_t rd[8], rs[8]; /* reduced dims and their input strides */
};

/* I: uint32_t when the input has < 2^31 elements (cheaper division), else int64_t */
template <typename I>
__device__ __forceinline__ I kept_offset(const RedGeom& g, I o) {
  I off = 0;
  for (int d = g.kr - 1; d >= 0; d--) {
    const I dim = (I)g.kd[d];
    const I q = o / dim;
    off += (o - q * dim) * (I)g.ks[d];
    o = q;
  }
  return off;
}

template <typename I>
__device__ __forceinline__ I red_offset(const RedGeom& g, I r) {
  if (g.rr == 1) return r * (I)g.rs[0];
  I off = 0;
  for (int d = g.rr - 1; d >= 0; d--) {
    const I dim = (I)g.rd[d];
    const I q = r / dim;
    off += (r - q * dim) * (I)g.rs[d];
    r = q;
  }
  return off;
}

__device__ __forceinline__ float max_nan(float a, float b) {
  if (isnan(a) || isnan(b)) return NAN;
  return a > b ? a : b;
}

/* one thread per output element */
template <int OP, typename I>
__global__ void k_reduce_thread(const float* __restrict__ x, RedGeom g, I O, I R,
                                float* __restrict__ out) {
  for (I o = (I)blockIdx.x * (I)blockDim.x + threadIdx.x; o < O; o += (I)gridDim.x * (I)blockDim.x) {
    const float* base = x + kept_offset<I>(g, o);
    if (OP == SL_REDUCE_MAX) {
      float m = -INFINITY;
      for (I r = 0; r < R; r++) m = max_nan(m, base[red_offset<I>(g, r)]);
      out[o] = m;
    } else {
      double s = 0.0;
      for (I r = 0; r < R; r++) s += base[red_offset<I>(g, r)];
      out[o] = OP == SL_REDUCE_MEAN ? (float)(s / (double)R) : (float)s;
    }
  }
}

/* one block per output element */
template <int OP, typename I>
__global__ void k_reduce_block(const float* __restrict__ x, RedGeom g, I O, I R,
                               float* __restrict__ out) {
  __shared__ double scratch[32];
  __shared__ float fscratch[32];
  for (I o = blockIdx.x; o < O; o += gridDim.x) {
    const float* base = x + kept_offset<I>(g, o);
    if (OP == SL_REDUCE_MAX) {
      float m = -INFINITY;
      for (I r = threadIdx.x; r < R; r += blockDim.x) m = max_nan(m, base[red_offset<I>(g, r)]);
      for (int s = 16; s > 0; s >>= 1) m = max_nan(m, __shfl_down_sync(0xffffffffu, m, s));
      __syncthreads();
      if ((threadIdx.x & 31) == 0) fscratch[threadIdx.x >> 5] = m;
      __syncthreads();
      if (threadIdx.x == 0) {
        float t = -INFINITY;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) t = max_nan(t, fscratch[w]);
        out[o] = t;
      }
    } else {
      double s = 0.0;
      for (I r = threadIdx.x; r < R; r += blockDim.x) s += base[red_offset<I>(g, r)];
      s = sl_block_sum(s, scratch);
      if (threadIdx.x == 0) out[o] = OP == SL_REDUCE_MEAN ? (float)(s / (double)R) : (float)s;
    }
  }
}

__global__ void k_argmax(const float* __restrict__ x, int64_t rows, int64_t cols,
                         float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  for (int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const float* row = x + r * cols;
    float best = -INFINITY;
    int64_t bi = INT64_MAX;
    for (int64_t c = lane; c < cols; c += 32) {
      const float v = row[c];
      if (v > best) {
        best = v;
        bi = c;
      }
    }
    for (int s = 16; s > 0; s >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, best, s);
      const int64_t oi = __shfl_down_sync(0xffffffffu, bi, s);
      if (ov > best || (ov == best && oi < bi)) {
        best = ov;
        bi = oi;
      }
    }
    if (lane == 0) out[r] = (float)(bi == INT64_MAX ? 0 : bi);
  }
}

__device__ int d_bad_sample;  /* 1 + index of the first sample with an invalid label, or 0 */
__device__ float d_bad_label;

__global__ void k_softmax_xent(const float* __restrict__ logits, const float* __restrict__ labels,
                               int64_t n, int64_t k, float* __restrict__ probs,
                               float* __restrict__ losses) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5; i < n; i += warps) {
    const float* L = logits + i * k;
    float* P = probs + i * k;
    float m = -INFINITY;
    for (int64_t j = lane; j < k; j += 32) m = fmaxf(m, L[j]);
    for (int s = 16; s > 0; s >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
    float s = 0.f;
    for (int64_t j = lane; j < k; j += 32) s += expf(L[j] - m);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    const float logS = logf(s);
    for (int64_t j = lane; j < k; j += 32) P[j] = expf(L[j] - m - logS);
    if (lane == 0) {
      const float lab = labels[i];
      if (!(lab >= 0.f && lab < (float)k && lab == floorf(lab))) {
        if (atomicCAS(&d_bad_sample, 0, (int)(i + 1)) == 0) d_bad_label = lab;
        losses[i] = NAN;
      } else {
        losses[i] = logS - (L[(int64_t)lab] - m);
      }
    }
  }
}

__global__ void k_softmax_xent_bwd(const float* __restrict__ probs,
                                   const float* __restrict__ labels, int64_t n, int64_t k,
                                   float scale, float* __restrict__ d) {
  GRID_LOOP(idx, n * k) {
    const int64_t i = idx / k;
    const int64_t j = idx - i * k;
    d[idx] = scale * (probs[idx] - ((float)j == labels[i] ? 1.f : 0.f));
  }
}

/* ---- batch norm: one block per channel ---- */

/* I: uint32_t when the tensor has < 2^31 elements (cheaper division), else uint64_t */
template <typename I>
__device__ __forceinline__ I bn_addr(I j, I inner, I c, I ch) {
  const I o = j / inner;
  const I t = j - o * inner;
  return (o * c + ch) * inner + t;
}

template <typename I>
__global__ void k_bn_forward_train(const float* __restrict__ x, int64_t outer, int64_t c,
                                   int64_t inner, const float* __restrict__ gamma,
                                   const float* __restrict__ beta, float* __restrict__ rmean,
                                   float* __restrict__ rvar, float momentum, float eps,
                                   float* __restrict__ y, float* __restrict__ mean,
                                   float* __restrict__ inv_std) {
  __shared__ double scratch[32];
  const int64_t ch = blockIdx.x;
  const I count = (I)outer * (I)inner;
  const I cc = (I)c, chh = (I)ch, inn = (I)inner;
  double s = 0.0;
  for (I j = threadIdx.x; j < count; j += blockDim.x) s += x[bn_addr<I>(j, inn, cc, chh)];
  const double mu = sl_block_sum(s, scratch) / (double)count;
  double v = 0.0;
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const double q = (double)x[bn_addr<I>(j, inn, cc, chh)] - mu;
    v += q * q;
  }
  const double var_b = sl_block_sum(v, scratch) / (double)count;
  const double istd = 1.0 / sqrt(var_b + (double)eps);
  if (threadIdx.x == 0) {
    mean[ch] = (float)mu;
    inv_std[ch] = (float)istd;
    const double unbiased = count > 1 ? var_b * (double)count / (double)(count - 1) : var_b;
    const double mom = momentum;
    rmean[ch] = (float)((1.0 - mom) * rmean[ch] + mom * mu);
    rvar[ch] = (float)((1.0 - mom) * rvar[ch] + mom * unbiased);
  }
  const float g = gamma[ch], b = beta[ch], fmu = (float)mu, fistd = (float)istd;
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const I a = bn_addr<I>(j, inn, cc, chh);
    y[a] = g * (x[a] - fmu) * fistd + b;
  }
}

__global__ void k_bn_forward_eval(const float* __restrict__ x, int64_t total, int64_t c,
                                  int64_t inner, const float* __restrict__ gamma,
                                  const float* __restrict__ beta, const float* __restrict__ rmean,
                                  const float* __restrict__ rvar, float eps,
                                  float* __restrict__ y) {
  GRID_LOOP(i, total) {
    const int64_t ch = (i / inner) % c;
    const float istd = 1.0f / sqrtf(rvar[ch] + eps);
    y[i] = gamma[ch] * (x[i] - rmean[ch]) * istd + beta[ch];
  }
}

template <typename I>
__global__ void k_bn_backward(const float* __restrict__ x, const float* __restrict__ dy,
                              int64_t outer, int64_t c, int64_t inner,
                              const float* __restrict__ gamma, const float* __restrict__ mean,
                              const float* __restrict__ inv_std, float* __restrict__ dx,
                              float* __restrict__ dgamma, float* __restrict__ dbeta) {
  __shared__ double scratch[32];
  const int64_t ch = blockIdx.x;
  const I count = (I)outer * (I)inner;
  const I cc = (I)c, chh = (I)ch, inn = (I)inner;
  const float mu = mean[ch], istd = inv_std[ch];
  double sdy = 0.0, sdyx = 0.0;
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const I a = bn_addr<I>(j, inn, cc, chh);
    const float g = dy[a];
    sdy += g;
    sdyx += (double)g * (double)((x[a] - mu) * istd);
  }
  sdy = sl_block_sum(sdy, scratch);
  sdyx = sl_block_sum(sdyx, scratch);
  if (threadIdx.x == 0) {
    dbeta[ch] = (float)sdy;
    dgamma[ch] = (float)sdyx;
  }
  const float k = gamma[ch] * istd / (float)count;
  const float fcount = (float)count, fsdy = (float)sdy, fsdyx = (float)sdyx;
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const I a = bn_addr<I>(j, inn, cc, chh);
    const float xh = (x[a] - mu) * istd;
    dx[a] = k * (fcount * dy[a] - fsdy - xh * fsdyx);
  }
}

int bn_threads(int64_t count) {
  int64_t t = (count + 31) / 32 * 32;
  if (t > 512) t = 512;
  if (t < 32) t = 32;
  return (int)t;
}

template <typename I>
int launch_reduce(int op, bool block, const float* x, const RedGeom& g, I O, I R, float* out) {
  if (block) {
    const unsigned grid = (unsigned)(O < (I)(65535 * 16) ? O : (I)(65535 * 16));
    switch (op) {
      case SL_REDUCE_SUM: k_reduce_block<SL_REDUCE_SUM, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      case SL_REDUCE_MEAN: k_reduce_block<SL_REDUCE_MEAN, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      default: k_reduce_block<SL_REDUCE_MAX, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
    }
  } else {
    const unsigned grid = sl_blocks((int64_t)O, 256);
    switch (op) {
      case SL_REDUCE_SUM: k_reduce_thread<SL_REDUCE_SUM, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      case SL_REDUCE_MEAN: k_reduce_thread<SL_REDUCE_MEAN, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      default: k_reduce_thread<SL_REDUCE_MAX, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
    }
  }
  return SL_OK;
}

}  // namespace

extern "C" SL_API int sl_reduce(int32_t op, const float* x, const int32_t* shape, int32_t rank,
                                int32_t axes_mask, float* out) {
  SL_GUARD();
  SL_ARG(op >= SL_REDUCE_SUM && op <= SL_REDUCE_MAX,
         "sl_reduce: unknown op code %d (expected 0 sum, 1 mean, 2 max)", op);
  SL_ARG(rank >= 0 && rank <= 8, "sl_reduce: rank must be in [0, 8], got %d", rank);
  SL_ARG(rank == 0 || shape != NULL, "sl_reduce: shape pointer is null");
  SL_ARG((axes_mask & ~((1 << rank) - 1)) == 0,
         "sl_reduce: axes mask 0x%x names an axis >= rank %d", axes_mask, rank);
  int64_t total = 1, O = 1;
  for (int i = 0; i < rank; i++) {
    SL_ARG(shape[i] >= 0, "sl_reduce: negative dimension %d on axis %d", shape[i], i);
    total *= shape[i];
    if (!(axes_mask & (1 << i))) O *= shape[i];
  }
  if (O == 0) return SL_OK;
  const int64_t R = total / O;
  SL_TRY(sl_check_buf(out, O, "sl_reduce output"));
  if (R == 0) {
    /* an empty reduction: sum 0, mean 0/0, max -inf (as the reference) */
    const float v = op == SL_REDUCE_SUM ? 0.f : (op == SL_REDUCE_MEAN ? NAN : -INFINITY);
    return sl_fill(out, O, v);
  }
  SL_TRY(sl_check_buf(x, total, "sl_reduce input"));

  /* merge neighbouring axes of the same kind, drop size-1 axes */
  int64_t dims[8];
  bool red[8];
  int r = 0;
  for (int i = 0; i < rank; i++) {
    if (shape[i] == 1) continue;
    const bool rd = (axes_mask >> i) & 1;
    if (r > 0 && red[r - 1] == rd) {
      dims[r - 1] *= shape[i];
    } else {
      dims[r] = shape[i];
      red[r] = rd;
      r++;
    }
  }
  RedGeom g{};
  int64_t stride = 1;
  int64_t strides[8];
  for (int d = r - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= dims[d];
  }
  for (int d = 0; d < r; d++) {
    if (red[d]) {
      g.rd[g.rr] = dims[d];
      g.rs[g.rr++] = strides[d];
    } else {
      g.kd[g.kr] = dims[d];
      g.ks[g.kr++] = strides[d];
    }
  }
  const bool block = R > 64 && (O < 32768 || R >= 1024);
  if (total < ((int64_t)1 << 31)) {
    SL_TRY(launch_reduce<uint32_t>(op, block, x, g, (uint32_t)O, (uint32_t)R, out));
  } else {
    SL_TRY(launch_reduce<int64_t>(op, block, x, g, O, R, out));
  }
  return sl_check_launch("sl_reduce");
}

extern "C" SL_API int sl_argmax(const float* x, int64_t rows, int64_t cols, float* out) {
  SL_GUARD();
  SL_ARG(rows >= 0 && cols >= 0, "sl_argmax: rows and cols must be >= 0");
  if (rows == 0) return SL_OK;
  SL_TRY(sl_check_buf(out, rows, "sl_argmax output"));
  if (cols == 0) {
    return sl_fill(out, rows, 0.f);
  }
  SL_TRY(sl_check_buf(x, rows * cols, "sl_argmax input"));
  k_argmax<<<sl_blocks(rows * 32, 256), 256, 0, SL_STREAM>>>(x, rows, cols, out);
  return sl_check_launch("sl_argmax");
}

extern "C" SL_API int sl_softmax_xent(const float* logits, const float* labels, int64_t n,
                                      int64_t k, float* probs, float* losses) {
  SL_GUARD();
  SL_ARG(n >= 0 && k > 0, "sl_softmax_xent: need n >= 0 and k > 0, got n=%lld k=%lld",
         (long long)n, (long long)k);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(logits, n * k, "sl_softmax_xent logits"));
  SL_TRY(sl_check_buf(labels, n, "sl_softmax_xent labels"));
  SL_TRY(sl_check_buf(probs, n * k, "sl_softmax_xent probs"));
  SL_TRY(sl_check_buf(losses, n, "sl_softmax_xent losses"));
  k_softmax_xent<<<sl_blocks(n * 32, 256), 256, 0, SL_STREAM>>>(logits, labels, n, k, probs,
                                                                 losses);
  SL_TRY(sl_check_launch("sl_softmax_xent"));
  int bad = 0;
  SL_CUDA(cudaMemcpyFromSymbol(&bad, d_bad_sample, sizeof bad), "sl_softmax_xent label check");
  if (bad != 0) {
    float lab = 0.f;
    const int zero = 0;
    cudaMemcpyFromSymbol(&lab, d_bad_label, sizeof lab);
    SL_CUDA(cudaMemcpyToSymbol(d_bad_sample, &zero, sizeof zero), "sl_softmax_xent label reset");
    return sl_set_error(SL_ERR_ARG, "sl_softmax_xent: label %g of sample %d outside [0, %lld)",
                        (double)lab, bad - 1, (long long)k);
  }
  return SL_OK;
}

extern "C" SL_API int sl_softmax_xent_backward(const float* probs, const float* labels, int64_t n,
                                               int64_t k, float scale, float* dlogits) {
  SL_GUARD();
  SL_ARG(n >= 0 && k > 0, "sl_softmax_xent_backward: need n >= 0 and k > 0");
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(probs, n * k, "sl_softmax_xent_backward probs"));
  SL_TRY(sl_check_buf(labels, n, "sl_softmax_xent_backward labels"));
  SL_TRY(sl_check_buf(dlogits, n * k, "sl_softmax_xent_backward dlogits"));
  k_softmax_xent_bwd<<<sl_blocks(n * k, 256), 256, 0, SL_STREAM>>>(probs, labels, n, k, scale,
                                                                    dlogits);
  return sl_check_launch("sl_softmax_xent_backward");
}

extern "C" SL_API int sl_batchnorm_forward(const float* x, int64_t outer, int64_t c, int64_t inner,
                                           const float* gamma, const float* beta,
                                           float* running_mean, float* running_var,
                                           int32_t training, float momentum, float eps, float* y,
                                           float* mean, float* inv_std) {
  SL_GUARD();
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batchnorm_forward: sizes must be >= 0");
  SL_ARG(c <= 2147483647LL, "sl_batchnorm_forward: too many channels");
  const int64_t total = outer * c * inner;
  if (c == 0) return SL_OK;
  SL_TRY(sl_check_buf(gamma, c, "sl_batchnorm_forward gamma"));
  SL_TRY(sl_check_buf(beta, c, "sl_batchnorm_forward beta"));
  SL_TRY(sl_check_buf(running_mean, c, "sl_batchnorm_forward running mean"));
  SL_TRY(sl_check_buf(running_var, c, "sl_batchnorm_forward running var"));
  if (total > 0) {
    SL_TRY(sl_check_buf(x, total, "sl_batchnorm_forward x"));
    SL_TRY(sl_check_buf(y, total, "sl_batchnorm_forward y"));
  }
  if (training) {
    SL_ARG(total > 0, "sl_batchnorm_forward: training needs at least one element per channel");
    SL_TRY(sl_check_buf(mean, c, "sl_batchnorm_forward mean"));
    SL_TRY(sl_check_buf(inv_std, c, "sl_batchnorm_forward invStd"));
    if (total < ((int64_t)1 << 31)) {
      k_bn_forward_train<uint32_t><<<(unsigned)c, bn_threads(outer * inner), 0, SL_STREAM>>>(
          x, outer, c, inner, gamma, beta, running_mean, running_var, momentum, eps, y, mean,
          inv_std);
    } else {
      k_bn_forward_train<uint64_t><<<(unsigned)c, bn_threads(outer * inner), 0, SL_STREAM>>>(
          x, outer, c, inner, gamma, beta, running_mean, running_var, momentum, eps, y, mean,
          inv_std);
    }
  } else {
    if (total == 0) return SL_OK;
    k_bn_forward_eval<<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(
        x, total, c, inner, gamma, beta, running_mean, running_var, eps, y);
  }
  return sl_check_launch("sl_batchnorm_forward");
}

extern "C" SL_API int sl_batchnorm_backward(const float* x, const float* dy, int64_t outer,
                                            int64_t c, int64_t inner, const float* gamma,
                                            const float* mean, const float* inv_std, float* dx,
                                            float* dgamma, float* dbeta) {
  SL_GUARD();
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batchnorm_backward: sizes must be >= 0");
  SL_ARG(c <= 2147483647LL, "sl_batchnorm_backward: too many channels");
  const int64_t total = outer * c * inner;
  if (c == 0) return SL_OK;
  SL_TRY(sl_check_buf(gamma, c, "sl_batchnorm_backward gamma"));
  SL_TRY(sl_check_buf(mean, c, "sl_batchnorm_backward mean"));
  SL_TRY(sl_check_buf(inv_std, c, "sl_batchnorm_backward invStd"));
  SL_TRY(sl_check_buf(dgamma, c, "sl_batchnorm_backward dgamma"));
  SL_TRY(sl_check_buf(dbeta, c, "sl_batchnorm_backward dbeta"));
  SL_ARG(total > 0, "sl_batchnorm_backward: needs at least one element per channel");
  SL_TRY(sl_check_buf(x, total, "sl_batchnorm_backward x"));
  SL_TRY(sl_check_buf(dy, total, "sl_batchnorm_backward dy"));
  SL_TRY(sl_check_buf(dx, total, "sl_batchnorm_backward dx"));
  if (total < ((int64_t)1 << 31)) {
    k_bn_backward<uint32_t><<<(unsigned)c, bn_threads(outer * inner), 0, SL_STREAM>>>(
        x, dy, outer, c, inner, gamma, mean, inv_std, dx, dgamma, dbeta);
  } else {
    k_bn_backward<uint64_t><<<(unsigned)c, bn_threads(outer * inner), 0, SL_STREAM>>>(
        x, dy, outer, c, inner, gamma, mean, inv_std, dx, dgamma, dbeta);
  }
  return sl_check_launch("sl_batchnorm_backward");
}
