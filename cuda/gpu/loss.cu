/*
 * CUDA build: fused softmax cross-entropy, forward and backward, one warp per
 * sample; an invalid label is reported after the kernel.
 */
#include <math.h>

#include "internal.cuh"

namespace {

__device__ int d_bad_sample;  /* 1 + index of the first sample with an invalid label, or 0 */
__device__ float d_bad_label;

__global__ void k_softmax_cross_entropy(const float* __restrict__ logits, const float* __restrict__ labels,
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

__global__ void k_softmax_cross_entropy_backward(const float* __restrict__ probs,
                                   const float* __restrict__ labels, int64_t n, int64_t k,
                                   float scale, float* __restrict__ d) {
  SL_GRID_LOOP(idx, n * k) {
    const int64_t i = idx / k;
    const int64_t j = idx - i * k;
    d[idx] = scale * (probs[idx] - ((float)j == labels[i] ? 1.f : 0.f));
  }
}

}  // namespace

extern "C" SL_API int sl_softmax_cross_entropy(const float* logits, const float* labels, int64_t n,
                                      int64_t k, float* probs, float* losses) {
  SL_GUARD();
  SL_ARG(n >= 0 && k > 0, "sl_softmax_cross_entropy: need n >= 0 and k > 0, got n=%lld k=%lld",
         (long long)n, (long long)k);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(logits, n * k, "sl_softmax_cross_entropy logits"));
  SL_TRY(sl_check_buf(labels, n, "sl_softmax_cross_entropy labels"));
  SL_TRY(sl_check_buf(probs, n * k, "sl_softmax_cross_entropy probs"));
  SL_TRY(sl_check_buf(losses, n, "sl_softmax_cross_entropy losses"));
  k_softmax_cross_entropy<<<sl_blocks(n * 32, 256), 256, 0, SL_STREAM>>>(logits, labels, n, k, probs,
                                                                 losses);
  SL_TRY(sl_check_launch("sl_softmax_cross_entropy"));
  int bad = 0;
  SL_CUDA(cudaMemcpyFromSymbol(&bad, d_bad_sample, sizeof bad), "sl_softmax_cross_entropy label check");
  if (bad != 0) {
    float lab = 0.f;
    const int zero = 0;
    cudaMemcpyFromSymbol(&lab, d_bad_label, sizeof lab);
    SL_CUDA(cudaMemcpyToSymbol(d_bad_sample, &zero, sizeof zero), "sl_softmax_cross_entropy label reset");
    return sl_set_error(SL_ERR_ARG, "sl_softmax_cross_entropy: label %g of sample %d outside [0, %lld)",
                        (double)lab, bad - 1, (long long)k);
  }
  return SL_OK;
}

extern "C" SL_API int sl_softmax_cross_entropy_backward(const float* probs, const float* labels, int64_t n,
                                               int64_t k, float scale, float* dlogits) {
  SL_GUARD();
  SL_ARG(n >= 0 && k > 0, "sl_softmax_cross_entropy_backward: need n >= 0 and k > 0");
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(probs, n * k, "sl_softmax_cross_entropy_backward probs"));
  SL_TRY(sl_check_buf(labels, n, "sl_softmax_cross_entropy_backward labels"));
  SL_TRY(sl_check_buf(dlogits, n * k, "sl_softmax_cross_entropy_backward dlogits"));
  k_softmax_cross_entropy_backward<<<sl_blocks(n * k, 256), 256, 0, SL_STREAM>>>(probs, labels, n, k, scale,
                                                                    dlogits);
  return sl_check_launch("sl_softmax_cross_entropy_backward");
}
