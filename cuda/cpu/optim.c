/*
 * Host C build: optimizer updates in place (SGD, momentum, Nesterov, Adam, AdamW).
 *
 * Precision policy (the same in the TypeScript and CUDA builds, pinned by the conformance
 * suite): the state (velocity; m and v) is stored as float; its new value is computed in double
 * from the stored values and rounded once to float, and the parameter then moves by the stored
 * (rounded) state: the state has one value, the one in memory.
 */
#include "internal.h"

SL_API int sl_update(int32_t rule, const sl_optim_params* h, float* p, const float* g, float* s0,
                     float* s1, int64_t n) {
  SL_ARG(rule >= SL_RULE_SGD && rule <= SL_RULE_ADAMW,
         "sl_update: unknown rule code %d (expected 0..4)", rule);
  SL_ARG(p != NULL && g != NULL && h != NULL, "sl_update: null pointer");
  SL_ARG(n >= 0, "sl_update: negative count %lld", (long long)n);
  const int adam = rule == SL_RULE_ADAM || rule == SL_RULE_ADAMW;
  /* mu: the momentum, or Adam's beta1 */
  const double lr = h->lr, mu = adam ? h->beta1 : h->momentum, b2 = h->beta2, eps = h->eps,
               wd = h->weight_decay, t = h->step;
  switch (rule) {
    case SL_RULE_SGD: {
      ELEMENTWISE(n, p[i] = (float)(p[i] - lr * (g[i] + wd * p[i])));
      break;
    }
    case SL_RULE_MOMENTUM:
    case SL_RULE_NESTEROV: {
      SL_ARG(s0 != NULL, "sl_update: momentum needs a velocity slot");
      const int nesterov = rule == SL_RULE_NESTEROV;
      ELEMENTWISE(n, const double gi = g[i] + wd * p[i]; const float v = (float)(mu * s0[i] - lr * gi);
                  s0[i] = v; p[i] = (float)(p[i] + (nesterov ? mu * v - lr * gi : (double)v)));
      break;
    }
    default: {
      SL_ARG(s0 != NULL && s1 != NULL, "sl_update: adam needs m and v slots");
      SL_ARG(t >= 1, "sl_update: adam step must be >= 1, got %g", t);
      const int decoupled = rule == SL_RULE_ADAMW;
      const double c1 = 1.0 - pow(mu, t), c2 = 1.0 - pow(b2, t);
      ELEMENTWISE(n, const double gi = decoupled ? (double)g[i] : g[i] + wd * p[i];
                  const float m = (float)(mu * s0[i] + (1.0 - mu) * gi);
                  const float v = (float)(b2 * s1[i] + (1.0 - b2) * gi * gi); s0[i] = m;
                  s1[i] = v; const double upd = ((double)m / c1) / (sqrt((double)v / c2) + eps);
                  p[i] = (float)(p[i] - lr * (upd + (decoupled ? wd * p[i] : 0.0))));
      break;
    }
  }
  return SL_OK;
}
