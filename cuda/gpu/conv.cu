/*
 * CUDA build: convolution. im2col writes one column element per thread (coalesced along the
 * output pixels); col2im gathers: one thread per input element sums the window outputs that
 * cover it, so no atomics are needed and results are deterministic (summation in ascending
 * ky, kx as the TypeScript reference). The axis swap goes through a padded shared tile when
 * the inner size is 1. The fused convolution composes these with sl_gemm.
 */
#include "internal.cuh"

namespace {

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

template <typename I>
__global__ void k_col2im(const float* __restrict__ col, Win g, float* __restrict__ x) {
  const I cols = (I)g.n * g.oh * g.ow;
  const I total = (I)g.n * g.c * g.h * g.w;
  SL_GRID_LOOP_T(I, i, total) {
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

/* [d0, d1, inner] -> [d1, d0, inner] */
template <typename I>
__global__ void k_swap_axes01(const float* __restrict__ x, I d0, I d1, I inner,
                         float* __restrict__ out) {
  const I total = d0 * d1 * inner;
  SL_GRID_LOOP_T(I, o, total) {
    const I t = o % inner;
    const I r = o / inner; /* = j * d0 + i */
    const I i = r % d0;
    const I j = r / d0;
    out[o] = x[(i * d1 + j) * inner + t];
  }
}

/* inner == 1: a 2-D transpose through a padded shared tile (coalesced both ways) */
__global__ void k_swap_axes01_tile(const float* __restrict__ x, int64_t rows, int64_t cols,
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

}  // namespace

extern "C" SL_API int sl_im2col(const float* x, const sl_window* win, float* col) {
  SL_GUARD();
  SL_WINDOW("sl_im2col", win);
  const int64_t in = (int64_t)n * c * h * w;
  const int64_t total = (int64_t)c * kh * kw * n * g.oh * g.ow;
  if (total == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, in, "sl_im2col input"));
  SL_TRY(sl_check_buf(col, total, "sl_im2col output"));
  SL_ARG((int64_t)c * kh * kw < (1LL << 31), "sl_im2col: c*kh*kw is too large");
  const int64_t cols = (int64_t)n * g.oh * g.ow;
  const int64_t rows = (int64_t)c * kh * kw;
  const dim3 grid(sl_blocks(cols, 256), (unsigned)(rows < 65535 ? rows : 65535));
  LAUNCH_IDX(total >= SL_SMALL || in >= SL_SMALL, k_im2col, grid, x, g, col);
  return sl_check_launch("sl_im2col");
}

extern "C" SL_API int sl_col2im(const float* col, const sl_window* win, float* x) {
  SL_GUARD();
  SL_WINDOW("sl_col2im", win);
  const int64_t in = (int64_t)n * c * h * w;
  const int64_t total = (int64_t)c * kh * kw * n * g.oh * g.ow;
  if (in == 0) return SL_OK;
  SL_TRY(sl_check_buf(col, total, "sl_col2im input"));
  SL_TRY(sl_check_buf(x, in, "sl_col2im output"));
  LAUNCH_IDX(total >= SL_SMALL || in >= SL_SMALL, k_col2im, sl_blocks(in, 256), col, g, x);
  return sl_check_launch("sl_col2im");
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
    k_swap_axes01_tile<<<grid, dim3(32, 8), 0, SL_STREAM>>>(x, d0, d1, out);
  } else {
    if (total >= SL_SMALL) {
      k_swap_axes01<int64_t><<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(x, d0, d1, inner, out);
    } else {
      k_swap_axes01<uint32_t><<<sl_blocks(total, 256), 256, 0, SL_STREAM>>>(x, (uint32_t)d0, (uint32_t)d1,
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
__global__ void k_conv2d_forward_output(const float* __restrict__ t, const float* __restrict__ bias, int64_t n,
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
__global__ void k_conv2d_backward_bias(const float* __restrict__ d, int64_t cols, float* __restrict__ db) {
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

/* This build keeps no column cache: its workspace holds the columns for the duration of one
 * call (see shiftlab.h). */
extern "C" SL_API int sl_conv2d_columns(const sl_window* win, int32_t f, int64_t* floats) {
  SL_ARG(floats != NULL, "sl_conv2d_columns: null pointer");
  *floats = 0;
  SL_ARG(f > 0, "sl_conv2d_columns: filters must be positive, got %d", (int)f);
  SL_WINDOW("sl_conv2d_columns", win);
  return SL_OK;
}

extern "C" SL_API int sl_conv2d_forward(const float* x, const float* wt, const float* bias,
                                        const sl_window* win, int32_t f, float* y, float* cache) {
  SL_GUARD();
  SL_ARG(f > 0, "sl_conv2d_forward: filters must be positive, got %d", (int)f);
  SL_ARG(cache == NULL, "sl_conv2d_forward: a column cache was given for a convolution that "
                       "does not use one (sl_conv2d_columns gives 0 floats)");
  SL_WINDOW("sl_conv2d_forward", win);
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
  if (st == SL_OK) st = sl_im2col(x, win, col);
  if (st == SL_OK) st = sl_gemm(0, 0, f, cols, ckk, 1.f, wt, 0, col, 0, 0.f, t, 0);
  if (st == SL_OK) {
    k_conv2d_forward_output<<<sl_blocks(f * cols, 256), 256, 0, SL_STREAM>>>(t, bias, n, f, s, y);
    st = sl_check_launch("sl_conv2d_forward");
  }
  if (col) sl_workspace_free(col);
  if (t) sl_workspace_free(t);
  return st;
}

extern "C" SL_API int sl_conv2d_backward(const float* x, const float* wt, const float* dy,
                                         const sl_window* win, int32_t f, float* dw, float* db, float* dx,
                                         const float* cache) {
  SL_GUARD();
  SL_ARG(f > 0, "sl_conv2d_backward: filters must be positive, got %d", (int)f);
  SL_ARG(cache == NULL, "sl_conv2d_backward: a column cache was given for a convolution that "
                       "does not use one (sl_conv2d_columns gives 0 floats)");
  SL_WINDOW("sl_conv2d_backward", win);
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
  if (st == SL_OK) st = sl_im2col(x, win, col);
  if (st == SL_OK) st = sl_swap_axes01(dy, n, f, s, d);
  if (st == SL_OK) st = sl_gemm(0, 1, f, ckk, cols, 1.f, d, 0, col, 0, 1.f, dw, 0);
  if (st == SL_OK && db) {
    k_conv2d_backward_bias<<<(unsigned)f, 256, 0, SL_STREAM>>>(d, cols, db);
    st = sl_check_launch("sl_conv2d_backward (bias)");
  }
  if (st == SL_OK && dx) st = sl_gemm(1, 0, ckk, cols, f, 1.f, wt, 0, d, 0, 0.f, col, 0);
  if (st == SL_OK && dx) st = sl_col2im(col, win, dx);
  if (col) sl_workspace_free(col);
  if (d) sl_workspace_free(d);
  return st;
}
