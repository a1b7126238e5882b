/*
 * CUDA build: optimizer updates in place (SGD, momentum, Nesterov, Adam, AdamW).
 *
 * Precision policy (the same in the TypeScript and host builds, pinned by the conformance
 * suite): the state (velocity; m and v) is stored as float; its new value is computed in double
 * from the stored values and rounded once to float, and the parameter then moves by the stored
 * (rounded) state: the state has one value, the one in memory.
 */
#include <math.h>

#include "internal.cuh"

namespace {

/* sl_optim_params resolved for the kernel: mu is the momentum or Adam's beta1, c1 and c2 the
 * bias corrections 1 - beta1^t and 1 - beta2^t. */
struct Hyper {
  double lr, mu, beta2, eps, wd, c1, c2;
};

template <int RULE>
__global__ void k_update(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ s0,
                         float* __restrict__ s1, int64_t n, Hyper h) {
  SL_GRID_LOOP(i, n) {
    const double pv = p[i];
    const double gv = g[i];
    if (RULE == SL_RULE_SGD) {
      p[i] = (float)(pv - h.lr * (gv + h.wd * pv));
    } else if (RULE == SL_RULE_MOMENTUM || RULE == SL_RULE_NESTEROV) {
      const double gg = gv + h.wd * pv;
      const float v = (float)(h.mu * (double)s0[i] - h.lr * gg);
      s0[i] = v;
      p[i] = (float)(RULE == SL_RULE_NESTEROV ? pv + (h.mu * v - h.lr * gg) : pv + v);
    } else {
      const bool decoupled = RULE == SL_RULE_ADAMW;
      const double gg = decoupled ? gv : gv + h.wd * pv;
      const float m = (float)(h.mu * (double)s0[i] + (1.0 - h.mu) * gg);
      const float v = (float)(h.beta2 * (double)s1[i] + (1.0 - h.beta2) * gg * gg);
      s0[i] = m;
      s1[i] = v;
      const double upd = ((double)m / h.c1) / (sqrt((double)v / h.c2) + h.eps);
      p[i] = (float)(pv - h.lr * (upd + (decoupled ? h.wd * pv : 0.0)));
    }
  }
}

}  // namespace

extern "C" SL_API int sl_update(int32_t rule, const sl_optim_params* hp, float* p, const float* g,
                                float* s0, float* s1, int64_t n) {
  SL_GUARD();
  SL_ARG(rule >= SL_RULE_SGD && rule <= SL_RULE_ADAMW,
         "sl_update: unknown rule %d (expected 0 sgd, 1 momentum, 2 nesterov, 3 adam, 4 adamw)",
         rule);
  SL_ARG(hp != NULL, "sl_update: params pointer is null");
  SL_ARG(n >= 0, "sl_update: count must be >= 0, got %lld", (long long)n);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(p, n, "sl_update param"));
  SL_TRY(sl_check_buf(g, n, "sl_update grad"));
  const bool adam = rule == SL_RULE_ADAM || rule == SL_RULE_ADAMW;
  Hyper h{hp->lr, adam ? hp->beta1 : hp->momentum, hp->beta2, hp->eps, hp->weight_decay, 1.0, 1.0};
  if (rule == SL_RULE_MOMENTUM || rule == SL_RULE_NESTEROV) {
    SL_ARG(s0 != NULL, "sl_update: momentum needs a velocity slot (s0 is null)");
    SL_TRY(sl_check_buf(s0, n, "sl_update velocity"));
  }
  if (adam) {
    SL_ARG(s0 != NULL && s1 != NULL, "sl_update: adam needs m and v slots (s0/s1 null)");
    SL_TRY(sl_check_buf(s0, n, "sl_update adam m"));
    SL_TRY(sl_check_buf(s1, n, "sl_update adam v"));
    const double t = hp->step;
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
