/*
 * CUDA build: layout and window ops. im2col writes one column element per thread (coalesced
 * along the output pixels); col2im, pooling backward and average-pool backward gather: one
 * thread per input element sums the window outputs that cover it, so no atomics are needed and
 * results are deterministic. Summation order matches the TypeScript reference (ascending ky,
 * kx resp. ascending output index).
 */
#include "common.cuh"

namespace {

struct Win {
  int n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
};

int make_win(const char* what, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw,
             int32_t sh, int32_t sw, int32_t ph, int32_t pw, Win* g) {
  SL_ARG(n >= 0 && c >= 0 && h >= 0 && w >= 0 && ph >= 0 && pw >= 0,
         "%s: window sizes must be >= 0 (n=%d c=%d h=%d w=%d ph=%d pw=%d)", what, n, c, h, w, ph,
         pw);
  SL_ARG(kh > 0 && kw > 0 && sh > 0 && sw > 0,
         "%s: kernel and stride must be positive (kh=%d kw=%d sh=%d sw=%d)", what, kh, kw, sh, sw);
  const int oh = (h + 2 * ph - kh) >= 0 ? (h + 2 * ph - kh) / sh + 1 : 0;
  const int ow = (w + 2 * pw - kw) >= 0 ? (w + 2 * pw - kw) / sw + 1 : 0;
  SL_ARG(oh > 0 && ow > 0, "%s: window %dx%d does not fit input %dx%d", what, kh, kw, h, w);
  *g = Win{n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow};
  return SL_OK;
}

/* I is the index type: uint32_t when every buffer involved has < 2^31 elements (32-bit
 * division is several times cheaper), else int64_t. */
#define GRID_LOOP(i, total)                                                \
  for (I i = (I)blockIdx.x * (I)blockDim.x + threadIdx.x; i < (total); \
       i += (I)gridDim.x * (I)blockDim.x)

/* col[(c,ky,kx), (n,oy,ox)]: blockIdx.y walks the rows (c, ky, kx), threads the columns, so
 * writes are coalesced and only the column index needs decomposing */
template <typename I>
__global__ void k_im2col(const float* __restrict__ x, Win g, float* __restrict__ col) {
  const I cols = (I)g.n * g.oh * g.ow;
  const int rows = g.c * g.kh * g.kw;
  for (int row = blockIdx.y; row < rows; row += gridDim.y) {
    const int kx = row % g.kw;
    const int ky = (row / g.kw) % g.kh;
    const int c = row / (g.kw * g.kh);
    float* out = col + (I)row * cols;
    for (I cc = (I)blockIdx.x * (I)blockDim.x + threadIdx.x; cc < cols;
         cc += (I)gridDim.x * (I)blockDim.x) {
      const I t = cc / (I)g.ow;
      const int ox = (int)(cc - t * (I)g.ow);
      const I n = t / (I)g.oh;
      const int oy = (int)(t - n * (I)g.oh);
      const int iy = oy * g.sh - g.ph + ky;
      const int ix = ox * g.sw - g.pw + kx;
      float v = 0.f;
      if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
        v = x[((n * (I)g.c + (I)c) * (I)g.h + (I)iy) * (I)g.w + (I)ix];
      }
      out[cc] = v;
    }
  }
}

/* first and last output index (inclusive) whose window covers input position i */
__device__ __forceinline__ void cover(int i, int p, int k, int s, int o, int* lo, int* hi) {
  const int t = i + p;                      /* o*s <= t and t < o*s + k */
  int l = t - k + 1 <= 0 ? 0 : (t - k + 1 + s - 1) / s;
  int h = t / s;
  if (h > o - 1) h = o - 1;
  *lo = l;
  *hi = h;
}

template <typename I>
__global__ void k_col2im(const float* __restrict__ col, Win g, float* __restrict__ x) {
  const I cols = (I)g.n * g.oh * g.ow;
  const I total = (I)g.n * g.c * g.h * g.w;
  GRID_LOOP(i, total) {
    const int ix = (int)(i % g.w);
    const int iy = (int)((i / g.w) % g.h);
    const int c = (int)((i / ((I)g.w * g.h)) % g.c);
    const int n = (int)(i / ((I)g.w * g.h * g.c));
    float s = 0.f;
    for (int ky = 0; ky < g.kh; ky++) {
      const int ty = iy + g.ph - ky;
      if (ty < 0 || ty % g.sh != 0) continue;
      const int oy = ty / g.sh;
      if (oy >= g.oh) continue;
      for (int kx = 0; kx < g.kw; kx++) {
        const int tx = ix + g.pw - kx;
        if (tx < 0 || tx % g.sw != 0) continue;
        const int ox = tx / g.sw;
        if (ox >= g.ow) continue;
        const I row = ((I)c * g.kh + ky) * g.kw + kx;
        s += col[row * cols + ((I)n * g.oh + oy) * g.ow + ox];
      }
    }
    x[i] = s;
  }
}

template <typename I>
__global__ void k_maxpool_fwd(const float* __restrict__ x, Win g, float* __restrict__ y,
                              float* __restrict__ arg) {
  const I total = (I)g.n * g.c * g.oh * g.ow;
  GRID_LOOP(i, total) {
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
__global__ void k_maxpool_bwd(const float* __restrict__ dy, const float* __restrict__ arg, Win g,
                              float* __restrict__ dx) {
  const I total = (I)g.n * g.c * g.h * g.w;
  GRID_LOOP(i, total) {
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
__global__ void k_avgpool_fwd(const float* __restrict__ x, Win g, float* __restrict__ y) {
  const I total = (I)g.n * g.c * g.oh * g.ow;
  const float inv = 1.0f / (float)(g.kh * g.kw);
  GRID_LOOP(i, total) {
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
__global__ void k_avgpool_bwd(const float* __restrict__ dy, Win g, float* __restrict__ dx) {
  const I total = (I)g.n * g.c * g.h * g.w;
  const float inv = 1.0f / (float)(g.kh * g.kw);
  GRID_LOOP(i, total) {
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

/* [d0, d1, inner] -> [d1, d0, inner] */
template <typename I>
__global__ void k_swap01(const float* __restrict__ x, I d0, I d1, I inner,
                         float* __restrict__ out) {
  const I total = d0 * d1 * inner;
  GRID_LOOP(o, total) {
    const I t = o % inner;
    const I r = o / inner; /* = j * d0 + i */
    const I i = r % d0;
    const I j = r / d0;
    out[o] = x[(i * d1 + j) * inner + t];
  }
}

/* inner == 1: a 2-D transpose through a padded shared tile (coalesced both ways) */
__global__ void k_transpose(const float* __restrict__ x, int64_t rows, int64_t cols,
                            float* __restrict__ out) {
  __shared__ float tile[32][33];
  const int64_t bx = (int64_t)blockIdx.x * 32, by = (int64_t)blockIdx.y * 32;
  for (int j = threadIdx.y; j < 32; j += 8) {
    const int64_t r = by + j, c = bx + threadIdx.x;
    if (r < rows && c < cols) tile[j][threadIdx.x] = x[r * cols + c];
  }
  __syncthreads();
  for (int j = threadIdx.y; j < 32; j += 8) {
    const int64_t r = bx + j, c = by + threadIdx.x; /* out is [cols, rows] */
    if (r < cols && c < rows) out[r * rows + c] = tile[threadIdx.x][j];
  }
}

constexpr int64_t SMALL = (int64_t)1 << 31;

}  // namespace

/* Launches KERNEL<uint32_t> when every size in the pack is < 2^31, else KERNEL<int64_t>. */
#define LAUNCH_IDX(big, kernel, grid, ...)                                   \
  do {                                                                      \
    if (big) {                                                              \
      kernel<int64_t><<<(grid), 256, 0, SL_STREAM>>>(__VA_ARGS__);          \
    } else {                                                                \
      kernel<uint32_t><<<(grid), 256, 0, SL_STREAM>>>(__VA_ARGS__);         \
    }                                                                       \
  } while (0)

#define WIN_ARGS n, c, h, w, kh, kw, sh, sw, ph, pw
#define WIN_PARAMS                                                                           \
  int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw, int32_t sh, int32_t sw, \
      int32_t ph, int32_t pw

extern "C" SL_API int sl_im2col(const float* x, WIN_PARAMS, float* col) {
  SL_GUARD();
  Win g;
  SL_TRY(make_win("sl_im2col", WIN_ARGS, &g));
  const int64_t in = (int64_t)n * c * h * w;
  const int64_t total = (int64_t)c * kh * kw * n * g.oh * g.ow;
  if (total == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, in, "sl_im2col input"));
  SL_TRY(sl_check_buf(col, total, "sl_im2col output"));
  SL_ARG((int64_t)c * kh * kw < (1LL << 31), "sl_im2col: c*kh*kw is too large");
  const int64_t cols = (int64_t)n * g.oh * g.ow;
  const int64_t rows = (int64_t)c * kh * kw;
  const dim3 grid(sl_blocks(cols, 256), (unsigned)(rows < 65535 ? rows : 65535));
  LAUNCH_IDX(total >= SMALL || in >= SMALL, k_im2col, grid, x, g, col);
  return sl_check_launch("sl_im2col");
}

extern "C" SL_API int sl_col2im(const float* col, WIN_PARAMS, float* x) {
  SL_GUARD();
  Win g;
  SL_TRY(make_win("sl_col2im", WIN_ARGS, &g));
  const int64_t in = (int64_t)n * c * h * w;
  const int64_t total = (int64_t)c * kh * kw * n * g.oh * g.ow;
  if (in == 0) return SL_OK;
  SL_TRY(sl_check_buf(col, total, "sl_col2im input"));
  SL_TRY(sl_check_buf(x, in, "sl_col2im output"));
  LAUNCH_IDX(total >= SMALL || in >= SMALL, k_col2im, sl_blocks(in, 256), col, g, x);
  return sl_check_launch("sl_col2im");
}

extern "C" SL_API int sl_maxpool_forward(const float* x, WIN_PARAMS, float* y, float* argmax) {
  SL_GUARD();
  Win g;
  SL_TRY(make_win("sl_maxpool_forward", WIN_ARGS, &g));
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  if (out == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, (int64_t)n * c * h * w, "sl_maxpool_forward input"));
  SL_TRY(sl_check_buf(y, out, "sl_maxpool_forward output"));
  SL_TRY(sl_check_buf(argmax, out, "sl_maxpool_forward argmax"));
  LAUNCH_IDX((int64_t)n * c * h * w >= SMALL || out >= SMALL, k_maxpool_fwd, sl_blocks(out, 256), x, g, y, argmax);
  return sl_check_launch("sl_maxpool_forward");
}

extern "C" SL_API int sl_maxpool_backward(const float* dy, const float* argmax, WIN_PARAMS,
                                          float* dx) {
  SL_GUARD();
  Win g;
  SL_TRY(make_win("sl_maxpool_backward", WIN_ARGS, &g));
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  const int64_t in = (int64_t)n * c * h * w;
  if (in == 0) return SL_OK;
  SL_TRY(sl_check_buf(dy, out, "sl_maxpool_backward dy"));
  SL_TRY(sl_check_buf(argmax, out, "sl_maxpool_backward argmax"));
  SL_TRY(sl_check_buf(dx, in, "sl_maxpool_backward dx"));
  LAUNCH_IDX(in >= SMALL || out >= SMALL, k_maxpool_bwd, sl_blocks(in, 256), dy, argmax, g, dx);
  return sl_check_launch("sl_maxpool_backward");
}

extern "C" SL_API int sl_avgpool_forward(const float* x, WIN_PARAMS, float* y) {
  SL_GUARD();
  Win g;
  SL_TRY(make_win("sl_avgpool_forward", WIN_ARGS, &g));
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  if (out == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, (int64_t)n * c * h * w, "sl_avgpool_forward input"));
  SL_TRY(sl_check_buf(y, out, "sl_avgpool_forward output"));
  LAUNCH_IDX((int64_t)n * c * h * w >= SMALL || out >= SMALL, k_avgpool_fwd, sl_blocks(out, 256), x, g, y);
  return sl_check_launch("sl_avgpool_forward");
}

extern "C" SL_API int sl_avgpool_backward(const float* dy, WIN_PARAMS, float* dx) {
  SL_GUARD();
  Win g;
  SL_TRY(make_win("sl_avgpool_backward", WIN_ARGS, &g));
  const int64_t out = (int64_t)n * c * g.oh * g.ow;
  const int64_t in = (int64_t)n * c * h * w;
  if (in == 0) return SL_OK;
  SL_TRY(sl_check_buf(dy, out, "sl_avgpool_backward dy"));
  SL_TRY(sl_check_buf(dx, in, "sl_avgpool_backward dx"));
  LAUNCH_IDX(in >= SMALL || out >= SMALL, k_avgpool_bwd, sl_blocks(in, 256), dy, g, dx);
  return sl_check_launch("sl_avgpool_backward");
}

extern "C" SL_API int sl_swap_axes01(const float* x, int64_t d0, int64_t d1, int64_t inner,
                                     float* out) {
  SL_GUARD();
  SL_ARG(d0 >= 0 && d1 >= 0 && inner >= 0, "sl_swap_axes01: sizes must be >= 0");
  const int64_t total = d0 * d1 * inner;
  if (total == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, total, "sl_swap_axes01 input"));
  SL_TRY(sl_check_buf(out, total, "sl_swap_axes01 output"));
  if (inner == 1 && d0 < 65535LL * 32 && d1 < 65535LL * 32) {
    dim3 grid((unsigned)((d1 + 31) / 32), (unsigned)((d0 + 31) / 32));
    k_transpose<<<grid, dim3(32, 8), 0, SL_STREAM>>>(x, d0, d1, out);
  } else {
    if (total >= SMALL) {
      k_swap01<int64_t><<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(x, d0, d1, inner, out);
    } else {
      k_swap01<uint32_t><<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(x, (uint32_t)d0, (uint32_t)d1,
                                                                      (uint32_t)inner, out);
    }
  }
  return sl_check_launch("sl_swap_axes01");
}

/* ---------------------------------------------------------------- convolution
 * The CUDA build composes the fused convolution from the ops above: the column matrix of the
 * whole batch is a workspace of the caching allocator, the GEMM is sl_gemm, and two small
 * kernels move between [f, n*s] and [n, f, s] (with the bias) and sum the bias gradient. */

namespace {

/* y[b, f, j] = t[f, b*s + j] + bias[f] */
__global__ void k_conv_out(const float* __restrict__ t, const float* __restrict__ bias, int64_t n,
                           int64_t f, int64_t s, float* __restrict__ y) {
  const int64_t total = n * f * s;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = i % s;
    const int64_t r = i / s;
    const int64_t ff = r % f;
    const int64_t b = r / f;
    y[i] = t[ff * n * s + b * s + j] + (bias ? bias[ff] : 0.f);
  }
}

/* db[f] += sum of row f of d [f, cols]; one block per row, fixed-order tree: deterministic */
__global__ void k_bias_grad(const float* __restrict__ d, int64_t cols, float* __restrict__ db) {
  __shared__ float part[256];
  const float* row = d + (int64_t)blockIdx.x * cols;
  float acc = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) acc += row[j];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[blockIdx.x] += part[0];
}

}  // namespace

extern "C" SL_API int sl_conv2d_forward(const float* x, const float* wt, const float* bias,
                                        WIN_PARAMS, int32_t f, float* y) {
  SL_GUARD();
  SL_ARG(f > 0, "sl_conv2d_forward: filters must be positive, got %d", (int)f);
  Win g;
  SL_TRY(make_win("sl_conv2d_forward", WIN_ARGS, &g));
  if (n == 0) return SL_OK;
  const int64_t s = (int64_t)g.oh * g.ow, ckk = (int64_t)c * kh * kw, cols = (int64_t)n * s;
  SL_TRY(sl_check_buf(x, (int64_t)n * c * h * w, "sl_conv2d_forward input"));
  SL_TRY(sl_check_buf(wt, f * ckk, "sl_conv2d_forward weight"));
  if (bias) SL_TRY(sl_check_buf(bias, f, "sl_conv2d_forward bias"));
  SL_TRY(sl_check_buf(y, f * cols, "sl_conv2d_forward output"));
  float* col = nullptr;
  float* t = nullptr;
  int st = sl_workspace(ckk * cols, &col);
  if (st == SL_OK) st = sl_workspace(f * cols, &t);
  if (st == SL_OK) st = sl_im2col(x, WIN_ARGS, col);
  if (st == SL_OK) st = sl_gemm(0, 0, f, cols, ckk, 1.f, wt, 0, col, 0, 0.f, t, 0);
  if (st == SL_OK) {
    k_conv_out<<<sl_blocks(f * cols, 256), 256, 0, SL_STREAM>>>(t, bias, n, f, s, y);
    st = sl_check_launch("sl_conv2d_forward");
  }
  if (col) sl_workspace_free(col);
  if (t) sl_workspace_free(t);
  return st;
}

extern "C" SL_API int sl_conv2d_backward(const float* x, const float* wt, const float* dy,
                                         WIN_PARAMS, int32_t f, float* dw, float* db, float* dx) {
  SL_GUARD();
  SL_ARG(f > 0, "sl_conv2d_backward: filters must be positive, got %d", (int)f);
  Win g;
  SL_TRY(make_win("sl_conv2d_backward", WIN_ARGS, &g));
  if (n == 0) return SL_OK;
  const int64_t s = (int64_t)g.oh * g.ow, ckk = (int64_t)c * kh * kw, cols = (int64_t)n * s;
  SL_TRY(sl_check_buf(x, (int64_t)n * c * h * w, "sl_conv2d_backward input"));
  SL_TRY(sl_check_buf(wt, f * ckk, "sl_conv2d_backward weight"));
  SL_TRY(sl_check_buf(dy, f * cols, "sl_conv2d_backward dy"));
  SL_TRY(sl_check_buf(dw, f * ckk, "sl_conv2d_backward dw"));
  if (db) SL_TRY(sl_check_buf(db, f, "sl_conv2d_backward db"));
  if (dx) SL_TRY(sl_check_buf(dx, (int64_t)n * c * h * w, "sl_conv2d_backward dx"));
  float* col = nullptr;
  float* d = nullptr;
  int st = sl_workspace(ckk * cols, &col);
  if (st == SL_OK) st = sl_workspace(f * cols, &d);
  if (st == SL_OK) st = sl_im2col(x, WIN_ARGS, col);
  if (st == SL_OK) st = sl_swap_axes01(dy, n, f, s, d);
  if (st == SL_OK) st = sl_gemm(0, 1, f, ckk, cols, 1.f, d, 0, col, 0, 1.f, dw, 0);
  if (st == SL_OK && db) {
    k_bias_grad<<<(unsigned)f, 256, 0, SL_STREAM>>>(d, cols, db);
    st = sl_check_launch("sl_conv2d_backward (bias)");
  }
  if (st == SL_OK && dx) st = sl_gemm(1, 0, ckk, cols, f, 1.f, wt, 0, d, 0, 0.f, col, 0);
  if (st == SL_OK && dx) st = sl_col2im(col, WIN_ARGS, dx);
  if (col) sl_workspace_free(col);
  if (d) sl_workspace_free(d);
  return st;
}
