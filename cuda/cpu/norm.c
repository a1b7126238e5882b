/*
 * Host C build: batch normalization over [outer, c, inner], forward and backward.
 */
#include "internal.h"

SL_API int sl_batch_norm_forward(const float* x, int64_t outer, int64_t c, int64_t inner,
                                 const float* gamma, const float* beta, float* running_mean,
                                 float* running_var, int32_t training, float momentum, float eps,
                                 float* y, float* mean, float* inv_std) {
  SL_ARG(x && gamma && beta && running_mean && running_var && y && mean && inv_std,
         "sl_batch_norm_forward: null pointer");
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batch_norm_forward: negative size");
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

SL_API int sl_batch_norm_backward(const float* x, const float* dy, int64_t outer, int64_t c,
                                  int64_t inner, const float* gamma, const float* mean,
                                  const float* inv_std, float* dx, float* dgamma, float* dbeta) {
  SL_ARG(x && dy && gamma && mean && inv_std && dx && dgamma && dbeta,
         "sl_batch_norm_backward: null pointer");
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batch_norm_backward: negative size");
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
