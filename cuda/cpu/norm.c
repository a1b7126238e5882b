/*
 * Host C build: batch normalization over [outer, c, inner], forward and backward.
 */
#include "internal.h"

/* Channels per group of the loops below: their sums advance together (each channel's own sum
 * still adds its values in order, one at a time), so the double additions of one channel do not
 * wait on each other's latency alone. */
#define BN_GROUP 8

/* Training statistics of channels [ch0, ch0 + m), m <= BN_GROUP: the mean and the biased variance
 * (the sum of squared deviations from that mean), each summed in order in double. */
static void bn_stats(const float* x, int64_t outer, int64_t c, int64_t inner, int64_t ch0, int m,
                     double* mu, double* var_b) {
  const int64_t count = outer * inner;
  double s[BN_GROUP] = {0}, v[BN_GROUP] = {0};
  for (int64_t o = 0; o < outer; o++) {
    const float* p = x + (o * c + ch0) * inner;
    for (int64_t t = 0; t < inner; t++) {
      for (int q = 0; q < m; q++) s[q] += p[q * inner + t];
    }
  }
  for (int q = 0; q < m; q++) mu[q] = s[q] / (double)count;
  for (int64_t o = 0; o < outer; o++) {
    const float* p = x + (o * c + ch0) * inner;
    for (int64_t t = 0; t < inner; t++) {
      for (int q = 0; q < m; q++) {
        const double d = p[q * inner + t] - mu[q];
        v[q] += d * d;
      }
    }
  }
  for (int q = 0; q < m; q++) var_b[q] = v[q] / (double)count;
}

SL_API int sl_batch_norm_forward(const float* x, int64_t outer, int64_t c, int64_t inner,
                                 const float* gamma, const float* beta, float* running_mean,
                                 float* running_var, int32_t training, float momentum, float eps,
                                 float* y, float* mean, float* inv_std) {
  SL_ARG(x && gamma && beta && running_mean && running_var && y && mean && inv_std,
         "sl_batch_norm_forward: null pointer");
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batch_norm_forward: negative size");
  const int64_t count = outer * inner;
#pragma omp parallel for schedule(static) if (outer * c * inner > PAR_MIN)
  for (int64_t ch0 = 0; ch0 < c; ch0 += BN_GROUP) {
    const int m = c - ch0 < BN_GROUP ? (int)(c - ch0) : BN_GROUP;
    double mus[BN_GROUP], vars[BN_GROUP];
    if (training) bn_stats(x, outer, c, inner, ch0, m, mus, vars);
    for (int q = 0; q < m; q++) {
      const int64_t ch = ch0 + q;
      double mu, istd;
      if (training) {
        mu = mus[q];
        const double var_b = vars[q];
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
        float* r = y + (o * c + ch) * inner;
        for (int64_t t = 0; t < inner; t++) r[t] = (p[t] - muf) * g + b;
      }
    }
  }
  return SL_OK;
}

/* Channel ch of the backward from its sums: dbeta, dgamma and dx. */
static void bn_backward_channel(const float* x, const float* dy, int64_t outer, int64_t c,
                                int64_t inner, const float* gamma, int64_t ch, double mu,
                                double istd, double sdy, double sdyx, float* dx, float* dgamma,
                                float* dbeta) {
  const int64_t count = outer * inner;
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

SL_API int sl_batch_norm_backward(const float* x, const float* dy, int64_t outer, int64_t c,
                                  int64_t inner, const float* gamma, const float* mean,
                                  const float* inv_std, float* dx, float* dgamma, float* dbeta) {
  SL_ARG(x && dy && gamma && mean && inv_std && dx && dgamma && dbeta,
         "sl_batch_norm_backward: null pointer");
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_batch_norm_backward: negative size");
#pragma omp parallel for schedule(static) if (outer * c * inner > PAR_MIN)
  for (int64_t ch0 = 0; ch0 < c; ch0 += BN_GROUP) {
    const int m = c - ch0 < BN_GROUP ? (int)(c - ch0) : BN_GROUP;
    double mus[BN_GROUP], istds[BN_GROUP], sdys[BN_GROUP] = {0}, sdyxs[BN_GROUP] = {0};
    for (int q = 0; q < m; q++) {
      mus[q] = mean[ch0 + q];
      istds[q] = inv_std[ch0 + q];
    }
    for (int64_t o = 0; o < outer; o++) {
      const float* p = x + (o * c + ch0) * inner;
      const float* g = dy + (o * c + ch0) * inner;
      for (int64_t t = 0; t < inner; t++) {
        for (int q = 0; q < m; q++) {
          sdys[q] += g[q * inner + t];
          sdyxs[q] += (double)g[q * inner + t] * ((p[q * inner + t] - mus[q]) * istds[q]);
        }
      }
    }
    for (int q = 0; q < m; q++) bn_backward_channel(x, dy, outer, c, inner, gamma, ch0 + q,
                                                    mus[q], istds[q], sdys[q], sdyxs[q], dx,
                                                    dgamma, dbeta);
  }
  return SL_OK;
}
