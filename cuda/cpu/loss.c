/*
 * Host C build: fused softmax cross-entropy, forward and backward.
 */
#include "internal.h"

SL_API int sl_softmax_cross_entropy(const float* logits, const float* labels, int64_t n, int64_t k,
                                    float* probs, float* losses) {
  SL_ARG(logits != NULL && labels != NULL && probs != NULL && losses != NULL,
         "sl_softmax_cross_entropy: null pointer");
  SL_ARG(n >= 0 && k > 0, "sl_softmax_cross_entropy: need n >= 0 and k > 0, got n=%lld k=%lld",
         (long long)n, (long long)k);
  for (int64_t i = 0; i < n; i++) {
    const float l = labels[i];
    SL_ARG(l >= 0 && l < (float)k && l == floorf(l),
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

SL_API int sl_softmax_cross_entropy_backward(const float* probs, const float* labels, int64_t n,
                                             int64_t k, float scale, float* dlogits) {
  SL_ARG(probs != NULL && labels != NULL && dlogits != NULL,
         "sl_softmax_cross_entropy_backward: null pointer");
  SL_ARG(n >= 0 && k > 0, "sl_softmax_cross_entropy_backward: need n >= 0 and k > 0");
  for (int64_t i = 0; i < n; i++) {
    const float l = labels[i];
    SL_ARG(l >= 0 && l < (float)k && l == floorf(l),
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
