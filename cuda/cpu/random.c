/*
 * Host C build: dropout masks from the counter-based generator of src/rng.ts.
 */
#include "internal.h"

static inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

static inline uint32_t random_u32(uint32_t seed, uint32_t stream, uint64_t counter) {
  uint32_t h = mix32(seed ^ 0x9e3779b9U);
  h = mix32(h ^ stream);
  h = mix32(h ^ (uint32_t)(counter >> 32));
  return mix32(h ^ (uint32_t)counter);
}

SL_API int sl_dropout_mask(float* out, int64_t outer, int64_t c, int64_t inner, double p,
                           int32_t per_channel, uint32_t seed, uint32_t stream, uint64_t counter) {
  SL_ARG(out != NULL, "sl_dropout_mask: null pointer");
  SL_ARG(outer >= 0 && c >= 0 && inner >= 0, "sl_dropout_mask: negative size");
  SL_ARG(p >= 0 && p < 1, "sl_dropout_mask: dropout p must be in [0, 1), got %g", p);
  double thr_d = floor(p * 4294967296.0);
  if (thr_d > 4294967295.0) thr_d = 4294967295.0;
  const uint32_t thr = (uint32_t)thr_d;
  const float keep = (float)(1.0 / (1.0 - p));
  if (per_channel) {
    const int64_t units = outer * c;
#pragma omp parallel for schedule(static) if (units * inner > PAR_MIN)
    for (int64_t u = 0; u < units; u++) {
      const float v = random_u32(seed, stream, counter + (uint64_t)u) >= thr ? keep : 0.0f;
      float* o = out + u * inner;
      for (int64_t t = 0; t < inner; t++) o[t] = v;
    }
  } else {
    const int64_t total = outer * c * inner;
#pragma omp parallel for simd schedule(static) if (total > PAR_MIN)
    for (int64_t i = 0; i < total; i++) {
      out[i] = random_u32(seed, stream, counter + (uint64_t)i) >= thr ? keep : 0.0f;
    }
  }
  return SL_OK;
}
