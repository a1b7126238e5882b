/*
 * CUDA build: dropout masks from the counter-based generator of src/rng.ts
 * (bit-exact with the TypeScript and host builds).
 */
#include <math.h>

#include "internal.cuh"

namespace {


__global__ void k_dropout_mask(float* __restrict__ out, int64_t total, int64_t inner, int per_channel,
                          uint32_t thr, float keep, uint32_t seed, uint32_t stream,
                          uint64_t counter) {
  SL_GRID_LOOP(i, total) {
    const uint64_t unit = per_channel ? (uint64_t)(i / inner) : (uint64_t)i;
    out[i] = sl_random_u32(seed, stream, counter + unit) >= thr ? keep : 0.f;
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
  k_dropout_mask<<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(out, total, inner, per_channel != 0, thr,
                                                          keep, seed, stream, counter);
  return sl_check_launch("sl_dropout_mask");
}
