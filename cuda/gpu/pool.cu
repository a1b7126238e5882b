/*
 * CUDA build: max and average pooling. Forward: one thread per output; backward
 * gathers: one thread per input element sums the outputs whose window covers it (max pooling:
 * those whose argmax is this element), so no atomics are needed and results are
 * deterministic (ascending output index, as the TypeScript reference).
 */
#include "internal.cuh"

namespace {

template <typename I>
__global__ void k_max_pool_forward(const float* __restrict__ x, Win g, float* __restrict__ y,
                              float* __restrict__ arg) {
  const I total = (I)g.n * g.c * g.oh * g.ow;
  SL_GRID_LOOP_T(I, i, total) {
    const int ox = (int)(i % g.ow);
    const int oy = (int)((i / g.ow) % g.oh);
    const I p = i / ((I)g.ow * g.oh);
    const float* plane = x + p * g.h * g.w;
    float best = -INFINITY;
    int bi = -1;
    for (int ky = 0; ky < g.kh; ky++) {
      const int iy = oy * g.sh - g.ph + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.kw; kx++) {
        const int ix = ox * g.sw - g.pw + kx;
        if (ix < 0 || ix >= g.w) continue;
        const float v = plane[iy * g.w + ix];
        if (v > best || bi < 0) {
          best = v;
          bi = iy * g.w + ix;
        }
      }
    }
    y[i] = best;
    arg[i] = (float)bi;
  }
}

template <typename I>
__global__ void k_max_pool_backward(const float* __restrict__ dy, const float* __restrict__ arg, Win g,
                              float* __restrict__ dx) {
  const I total = (I)g.n * g.c * g.h * g.w;
  SL_GRID_LOOP_T(I, i, total) {
    const int ix = (int)(i % g.w);
    const int iy = (int)((i / g.w) % g.h);
    const I p = i / ((I)g.w * g.h);
    const float me = (float)(iy * g.w + ix);
    int y0, y1, x0, x1;
    cover(iy, g.ph, g.kh, g.sh, g.oh, &y0, &y1);
    cover(ix, g.pw, g.kw, g.sw, g.ow, &x0, &x1);
    const I ob = p * g.oh * g.ow;
    float s = 0.f;
    for (int oy = y0; oy <= y1; oy++) {
      for (int ox = x0; ox <= x1; ox++) {
        const I o = ob + (I)oy * g.ow + ox;
        if (arg[o] == me) s += dy[o];
      }
    }
    dx[i] = s;
  }
}

template <typename I>
__global__ void k_avg_pool_forward(const float* __restrict__ x, Win g, float* __restrict__ y) {
  const I total = (I)g.n * g.c * g.oh * g.ow;
  const float inv = 1.0f / (float)(g.kh * g.kw);
  SL_GRID_LOOP_T(I, i, total) {
    const int ox = (int)(i % g.ow);
    const int oy = (int)((i / g.ow) % g.oh);
    const I p = i / ((I)g.ow * g.oh);
    const float* plane = x + p * g.h * g.w;
    float s = 0.f;
    for (int ky = 0; ky < g.kh; ky++) {
      const int iy = oy * g.sh - g.ph + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.kw; kx++) {
        const int ix = ox * g.sw - g.pw + kx;
        if (ix >= 0 && ix < g.w) s += plane[iy * g.w + ix];
      }
    }
    y[i] = s * inv;
  }
}

template <typename I>
__global__ void k_avg_pool_backward(const float* __restrict__ dy, Win g, float* __restrict__ dx) {
  const I total = (I)g.n * g.c * g.h * g.w;
  const float inv = 1.0f / (float)(g.kh * g.kw);
  SL_GRID_LOOP_T(I, i, total) {
    const int ix = (int)(i % g.w);
    const int iy = (int)((i / g.w) % g.h);
    const I p = i / ((I)g.w * g.h);
    int y0, y1, x0, x1;
    cover(iy, g.ph, g.kh, g.sh, g.oh, &y0, &y1);
    cover(ix, g.pw, g.kw, g.sw, g.ow, &x0, &x1);
    const I ob = p * g.oh * g.ow;
    float s = 0.f;
    for (int oy = y0; oy <= y1; oy++) {
      for (int ox = x0; ox <= x1; ox++) s += dy[ob + (I)oy * g.ow + ox] * inv;
    }
    dx[i] = s;
  }
}

}  // namespace

extern "C" SL_API int sl_max_pool_forward(const float* x, const sl_window* win, float* y, float* argmax) {
  SL_GUARD();
  SL_WINDOW("sl_max_pool_forward", win);
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  if (out == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, (int64_t)n * c * h * w, "sl_max_pool_forward input"));
  SL_TRY(sl_check_buf(y, out, "sl_max_pool_forward output"));
  SL_TRY(sl_check_buf(argmax, out, "sl_max_pool_forward argmax"));
  LAUNCH_IDX((int64_t)n * c * h * w >= SL_SMALL || out >= SL_SMALL, k_max_pool_forward, sl_blocks(out, 256), x, g, y, argmax);
  return sl_check_launch("sl_max_pool_forward");
}

extern "C" SL_API int sl_max_pool_backward(const float* dy, const float* argmax, const sl_window* win,
                                          float* dx) {
  SL_GUARD();
  SL_WINDOW("sl_max_pool_backward", win);
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  const int64_t in = (int64_t)n * c * h * w;
  if (in == 0) return SL_OK;
  SL_TRY(sl_check_buf(dy, out, "sl_max_pool_backward dy"));
  SL_TRY(sl_check_buf(argmax, out, "sl_max_pool_backward argmax"));
  SL_TRY(sl_check_buf(dx, in, "sl_max_pool_backward dx"));
  LAUNCH_IDX(in >= SL_SMALL || out >= SL_SMALL, k_max_pool_backward, sl_blocks(in, 256), dy, argmax, g, dx);
  return sl_check_launch("sl_max_pool_backward");
}

extern "C" SL_API int sl_avg_pool_forward(const float* x, const sl_window* win, float* y) {
  SL_GUARD();
  SL_WINDOW("sl_avg_pool_forward", win);
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  if (out == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, (int64_t)n * c * h * w, "sl_avg_pool_forward input"));
  SL_TRY(sl_check_buf(y, out, "sl_avg_pool_forward output"));
  LAUNCH_IDX((int64_t)n * c * h * w >= SL_SMALL || out >= SL_SMALL, k_avg_pool_forward, sl_blocks(out, 256), x, g, y);
  return sl_check_launch("sl_avg_pool_forward");
}

extern "C" SL_API int sl_avg_pool_backward(const float* dy, const sl_window* win, float* dx) {
  SL_GUARD();
  SL_WINDOW("sl_avg_pool_backward", win);
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  const int64_t in = (int64_t)n * c * h * w;
  if (in == 0) return SL_OK;
  SL_TRY(sl_check_buf(dy, out, "sl_avg_pool_backward dy"));
  SL_TRY(sl_check_buf(dx, in, "sl_avg_pool_backward dx"));
  LAUNCH_IDX(in >= SL_SMALL || out >= SL_SMALL, k_avg_pool_backward, sl_blocks(in, 256), dy, g, dx);
  return sl_check_launch("sl_avg_pool_backward");
}
