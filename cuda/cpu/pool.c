/*
 * Host C build: max and average pooling, forward and backward.
 */
#include "internal.h"

SL_API int sl_max_pool_forward(const float* x, const sl_window* g, float* y, float* argmax) {
  SL_ARG(x != NULL && y != NULL && argmax != NULL, "sl_max_pool_forward: null pointer");
  WINDOW("sl_max_pool_forward", g);
  const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    const float* plane = x + p * h * w;
    for (int32_t oy = 0; oy < oh; oy++) {
      for (int32_t ox = 0; ox < ow; ox++) {
        float best = -INFINITY;
        int32_t bi = -1;
        const int32_t iy0 = oy * sh - ph, ix0 = ox * sw - pw;
        if (iy0 >= 0 && iy0 + kh <= h && ix0 >= 0 && ix0 + kw <= w) {
          /* window inside the plane: no bounds checks, and selects instead of branches (the
           * winner is unpredictable); same rule: first element, then strictly greater */
          const int32_t base = iy0 * w + ix0;
          best = plane[base];
          bi = base;
          for (int32_t ky = 0; ky < kh; ky++) {
            for (int32_t kx = 0; kx < kw; kx++) {
              const int32_t i = base + ky * w + kx;
              const float v = plane[i];
              const int take = v > best;
              best = take ? v : best;
              bi = take ? i : bi;
            }
          }
        } else {
          for (int32_t ky = 0; ky < kh; ky++) {
            const int32_t iy = iy0 + ky;
            if (iy < 0 || iy >= h) continue;
            for (int32_t kx = 0; kx < kw; kx++) {
              const int32_t ix = ix0 + kx;
              if (ix < 0 || ix >= w) continue;
              const float v = plane[iy * w + ix];
              if (v > best || bi < 0) {
                best = v;
                bi = iy * w + ix;
              }
            }
          }
        }
        const int64_t o = (p * oh + oy) * ow + ox;
        y[o] = best;
        argmax[o] = (float)bi;
      }
    }
  }
  return SL_OK;
}

SL_API int sl_max_pool_backward(const float* dy, const float* argmax, const sl_window* g,
                                float* dx) {
  SL_ARG(dy != NULL && argmax != NULL && dx != NULL, "sl_max_pool_backward: null pointer");
  WINDOW("sl_max_pool_backward", g);
  const int64_t planes = (int64_t)n * c;
  const int64_t hw = (int64_t)h * w;
  int bad = 0;
  float bad_value = 0;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    float* d = dx + p * hw;
    memset(d, 0, (size_t)hw * 4);
    const float* g = dy + p * oh * ow;
    const float* ia = argmax + p * oh * ow;
    for (int64_t o = 0; o < (int64_t)oh * ow; o++) {
      const float idx = ia[o];
      if (idx < 0) continue;
      if (!(idx < (float)hw) || idx != floorf(idx)) {
        bad = 1;
        bad_value = idx;
        continue;
      }
      d[(int64_t)idx] += g[o];
    }
  }
  if (bad) {
    return sl_set_error(SL_ERR_ARG, "sl_max_pool_backward: argmax index %g outside the %dx%d plane",
                        (double)bad_value, h, w);
  }
  return SL_OK;
}

SL_API int sl_avg_pool_forward(const float* x, const sl_window* g, float* y) {
  SL_ARG(x != NULL && y != NULL, "sl_avg_pool_forward: null pointer");
  WINDOW("sl_avg_pool_forward", g);
  const int64_t planes = (int64_t)n * c;
  const double inv = 1.0 / ((double)kh * kw);
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    const float* plane = x + p * h * w;
    for (int32_t oy = 0; oy < oh; oy++) {
      for (int32_t ox = 0; ox < ow; ox++) {
        double s = 0;
        for (int32_t ky = 0; ky < kh; ky++) {
          const int32_t iy = oy * sh - ph + ky;
          if (iy < 0 || iy >= h) continue;
          for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t ix = ox * sw - pw + kx;
            if (ix >= 0 && ix < w) s += plane[iy * w + ix];
          }
        }
        y[(p * oh + oy) * ow + ox] = (float)(s * inv);
      }
    }
  }
  return SL_OK;
}

SL_API int sl_avg_pool_backward(const float* dy, const sl_window* g, float* dx) {
  SL_ARG(dy != NULL && dx != NULL, "sl_avg_pool_backward: null pointer");
  WINDOW("sl_avg_pool_backward", g);
  const int64_t planes = (int64_t)n * c;
  const float inv = (float)(1.0 / ((double)kh * kw));
#pragma omp parallel for schedule(static) if (planes * oh * ow * kh * kw > PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    float* plane = dx + p * h * w;
    memset(plane, 0, (size_t)h * w * 4);
    for (int32_t oy = 0; oy < oh; oy++) {
      for (int32_t ox = 0; ox < ow; ox++) {
        const float v = dy[(p * oh + oy) * ow + ox] * inv;
        for (int32_t ky = 0; ky < kh; ky++) {
          const int32_t iy = oy * sh - ph + ky;
          if (iy < 0 || iy >= h) continue;
          for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t ix = ox * sw - pw + kx;
            if (ix >= 0 && ix < w) plane[iy * w + ix] += v;
          }
        }
      }
    }
  }
  return SL_OK;
}
