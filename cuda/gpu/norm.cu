/*
 * CUDA build: batch normalization over [outer, c, inner]: one block per channel;
 * statistics accumulate in double and are combined by a fixed tree.
 */
#include <math.h>

#include "internal.cuh"

namespace {

/* I: uint32_t when the tensor has < 2^31 elements (cheaper division), else uint64_t */
template <typename I>
__device__ __forceinline__ I batch_norm_addr(I j, I inner, I c, I ch) {
  const I o = j / inner;
  const I t = j - o * inner;
  return (o * c + ch) * inner + t;
}

template <typename I>
__global__ void k_batch_norm_forward_train(const float* __restrict__ x, int64_t outer, int64_t c,
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
  for (I j = threadIdx.x; j < count; j += blockDim.x) s += x[batch_norm_addr<I>(j, inn, cc, chh)];
  const double mu = sl_block_sum(s, scratch) / (double)count;
  double v = 0.0;
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const double q = (double)x[batch_norm_addr<I>(j, inn, cc, chh)] - mu;
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
    const I a = batch_norm_addr<I>(j, inn, cc, chh);
    y[a] = g * (x[a] - fmu) * fistd + b;
  }
}

__global__ void k_batch_norm_forward_eval(const float* __restrict__ x, int64_t total, int64_t c,
                                  int64_t inner, const float* __restrict__ gamma,
                                  const float* __restrict__ beta, const float* __restrict__ rmean,
                                  const float* __restrict__ rvar, float eps,
                                  float* __restrict__ y) {
  SL_GRID_LOOP(i, total) {
    const int64_t ch = (i / inner) % c;
    const float istd = 1.0f / sqrtf(rvar[ch] + eps);
    y[i] = gamma[ch] * (x[i] - rmean[ch]) * istd + beta[ch];
  }
}

template <typename I>
__global__ void k_batch_norm_backward(const float* __restrict__ x, const float* __restrict__ dy,
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
    const I a = batch_norm_addr<I>(j, inn, cc, chh);
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
    const I a = batch_norm_addr<I>(j, inn, cc, chh);
    const float xh = (x[a] - mu) * istd;
    dx[a] = k * (fcount * dy[a] - fsdy - xh * fsdyx);
  }
}

int batch_norm_threads(int64_t count) {
  int64_t t = (count + 31) / 32 * 32;
  if (t > 512) t = 512;
  if (t < 32) t = 32;
  return (int)t;
}

}  // namespace

extern "C" SL_API int sl_batch_norm_forward(const float* x, int64_t outer, int64_t c, int64_t inner,
                                           const float* gamma, const float* beta,
                                           float* running_mean, float* running_var,
                                           int32_t training, float momentum, float eps, float* y,
                                           float* mean, float* inv_std) {
  SL_GUARD();
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batch_norm_forward: sizes must be >= 0");
  SL_ARG(c <= 2147483647LL, "sl_batch_norm_forward: too many channels");
  const int64_t total = outer * c * inner;
  if (c == 0) return SL_OK;
  SL_TRY(sl_check_buf(gamma, c, "sl_batch_norm_forward gamma"));
  SL_TRY(sl_check_buf(beta, c, "sl_batch_norm_forward beta"));
  SL_TRY(sl_check_buf(running_mean, c, "sl_batch_norm_forward running mean"));
  SL_TRY(sl_check_buf(running_var, c, "sl_batch_norm_forward running var"));
  if (total > 0) {
    SL_TRY(sl_check_buf(x, total, "sl_batch_norm_forward x"));
    SL_TRY(sl_check_buf(y, total, "sl_batch_norm_forward y"));
  }
  if (training) {
    SL_ARG(total > 0, "sl_batch_norm_forward: training needs at least one element per channel");
    SL_TRY(sl_check_buf(mean, c, "sl_batch_norm_forward mean"));
    SL_TRY(sl_check_buf(inv_std, c, "sl_batch_norm_forward invStd"));
    if (total < ((int64_t)1 << 31)) {
      k_batch_norm_forward_train<uint32_t><<<(unsigned)c, batch_norm_threads(outer * inner), 0, SL_STREAM>>>(
          x, outer, c, inner, gamma, beta, running_mean, running_var, momentum, eps, y, mean,
          inv_std);
    } else {
      k_batch_norm_forward_train<uint64_t><<<(unsigned)c, batch_norm_threads(outer * inner), 0, SL_STREAM>>>(
          x, outer, c, inner, gamma, beta, running_mean, running_var, momentum, eps, y, mean,
          inv_std);
    }
  } else {
    if (total == 0) return SL_OK;
    k_batch_norm_forward_eval<<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(
        x, total, c, inner, gamma, beta, running_mean, running_var, eps, y);
  }
  return sl_check_launch("sl_batch_norm_forward");
}

extern "C" SL_API int sl_batch_norm_backward(const float* x, const float* dy, int64_t outer,
                                            int64_t c, int64_t inner, const float* gamma,
                                            const float* mean, const float* inv_std, float* dx,
                                            float* dgamma, float* dbeta) {
  SL_GUARD();
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batch_norm_backward: sizes must be >= 0");
  SL_ARG(c <= 2147483647LL, "sl_batch_norm_backward: too many channels");
  const int64_t total = outer * c * inner;
  if (c == 0) return SL_OK;
  SL_TRY(sl_check_buf(gamma, c, "sl_batch_norm_backward gamma"));
  SL_TRY(sl_check_buf(mean, c, "sl_batch_norm_backward mean"));
  SL_TRY(sl_check_buf(inv_std, c, "sl_batch_norm_backward invStd"));
  SL_TRY(sl_check_buf(dgamma, c, "sl_batch_norm_backward dgamma"));
  SL_TRY(sl_check_buf(dbeta, c, "sl_batch_norm_backward dbeta"));
  SL_ARG(total > 0, "sl_batch_norm_backward: needs at least one element per channel");
  SL_TRY(sl_check_buf(x, total, "sl_batch_norm_backward x"));
  SL_TRY(sl_check_buf(dy, total, "sl_batch_norm_backward dy"));
  SL_TRY(sl_check_buf(dx, total, "sl_batch_norm_backward dx"));
  if (total < ((int64_t)1 << 31)) {
    k_batch_norm_backward<uint32_t><<<(unsigned)c, batch_norm_threads(outer * inner), 0, SL_STREAM>>>(
        x, dy, outer, c, inner, gamma, mean, inv_std, dx, dgamma, dbeta);
  } else {
    k_batch_norm_backward<uint64_t><<<(unsigned)c, batch_norm_threads(outer * inner), 0, SL_STREAM>>>(
        x, dy, outer, c, inner, gamma, mean, inv_std, dx, dgamma, dbeta);
  }
  return sl_check_launch("sl_batch_norm_backward");
}
