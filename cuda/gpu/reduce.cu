/*
 * CUDA build: axis reductions, row argmax and top-k masks. Sums accumulate in
 * double (as the TypeScript reference does) and are combined by a fixed tree, so results are
 * deterministic from run to run.
 */
#include <math.h>

#include "internal.cuh"

namespace {

struct RedGeom {
  int kr;            /* kept rank */
  int rr;            /* reduced rank */
  int64_t kd[8], ks[8]; /* kept dims and their input strides */
  int64_t rd[8], rs[8]; /* reduced dims and their input strides */
};

/* I: uint32_t when the input has < 2^31 elements (cheaper division), else int64_t */
template <typename I>
__device__ __forceinline__ I kept_offset(const RedGeom& g, I o) {
  I off = 0;
  for (int d = g.kr - 1; d >= 0; d--) {
    const I dim = (I)g.kd[d];
    const I q = o / dim;
    off += (o - q * dim) * (I)g.ks[d];
    o = q;
  }
  return off;
}

template <typename I>
__device__ __forceinline__ I red_offset(const RedGeom& g, I r) {
  if (g.rr == 1) return r * (I)g.rs[0];
  I off = 0;
  for (int d = g.rr - 1; d >= 0; d--) {
    const I dim = (I)g.rd[d];
    const I q = r / dim;
    off += (r - q * dim) * (I)g.rs[d];
    r = q;
  }
  return off;
}

__device__ __forceinline__ float max_nan(float a, float b) {
  if (isnan(a) || isnan(b)) return NAN;
  return a > b ? a : b;
}

/* one thread per output element */
template <int OP, typename I>
__global__ void k_reduce_thread(const float* __restrict__ x, RedGeom g, I O, I R,
                                float* __restrict__ out) {
  for (I o = (I)blockIdx.x * (I)blockDim.x + threadIdx.x; o < O; o += (I)gridDim.x * (I)blockDim.x) {
    const float* base = x + kept_offset<I>(g, o);
    if (OP == SL_REDUCE_MAX) {
      float m = -INFINITY;
      for (I r = 0; r < R; r++) m = max_nan(m, base[red_offset<I>(g, r)]);
      out[o] = m;
    } else {
      double s = 0.0;
      for (I r = 0; r < R; r++) s += base[red_offset<I>(g, r)];
      out[o] = OP == SL_REDUCE_MEAN ? (float)(s / (double)R) : (float)s;
    }
  }
}

/* one block per output element */
template <int OP, typename I>
__global__ void k_reduce_block(const float* __restrict__ x, RedGeom g, I O, I R,
                               float* __restrict__ out) {
  __shared__ double scratch[32];
  __shared__ float fscratch[32];
  for (I o = blockIdx.x; o < O; o += gridDim.x) {
    const float* base = x + kept_offset<I>(g, o);
    if (OP == SL_REDUCE_MAX) {
      float m = -INFINITY;
      for (I r = threadIdx.x; r < R; r += blockDim.x) m = max_nan(m, base[red_offset<I>(g, r)]);
      for (int s = 16; s > 0; s >>= 1) m = max_nan(m, __shfl_down_sync(0xffffffffu, m, s));
      __syncthreads();
      if ((threadIdx.x & 31) == 0) fscratch[threadIdx.x >> 5] = m;
      __syncthreads();
      if (threadIdx.x == 0) {
        float t = -INFINITY;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) t = max_nan(t, fscratch[w]);
        out[o] = t;
      }
    } else {
      double s = 0.0;
      for (I r = threadIdx.x; r < R; r += blockDim.x) s += base[red_offset<I>(g, r)];
      s = sl_block_sum(s, scratch);
      if (threadIdx.x == 0) out[o] = OP == SL_REDUCE_MEAN ? (float)(s / (double)R) : (float)s;
    }
  }
}

__global__ void k_argmax(const float* __restrict__ x, int64_t rows, int64_t cols,
                         float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  for (int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const float* row = x + r * cols;
    float best = -INFINITY;
    int64_t bi = INT64_MAX;
    for (int64_t c = lane; c < cols; c += 32) {
      const float v = row[c];
      if (v > best) {
        best = v;
        bi = c;
      }
    }
    for (int s = 16; s > 0; s >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, best, s);
      const int64_t oi = __shfl_down_sync(0xffffffffu, bi, s);
      if (ov > best || (ov == best && oi < bi)) {
        best = ov;
        bi = oi;
      }
    }
    if (lane == 0) out[r] = (float)(bi == INT64_MAX ? 0 : bi);
  }
}

/* one block per row: rank(j) = #{i : x_i > x_j} + #{i < j : x_i == x_j}; kept iff rank < k */
__global__ void k_topk_mask(const float* __restrict__ x, int64_t cols, int64_t k, int use_smem,
                       float* __restrict__ out) {
  extern __shared__ float srow[];
  const int64_t r = blockIdx.x;
  const float* row = x + r * cols;
  if (use_smem) {
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) srow[j] = row[j];
    __syncthreads();
    row = srow;
  }
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = row[j];
    int64_t rank = 0;
    for (int64_t i = 0; i < cols && rank < k; i++) {
      const float u = row[i];
      rank += (u > v || (u == v && i < j)) ? 1 : 0;
    }
    out[r * cols + j] = rank < k ? 1.f : 0.f;
  }
}

template <typename I>
int launch_reduce(int op, bool block, const float* x, const RedGeom& g, I O, I R, float* out) {
  if (block) {
    const unsigned grid = (unsigned)(O < (I)(65535 * 16) ? O : (I)(65535 * 16));
    switch (op) {
      case SL_REDUCE_SUM: k_reduce_block<SL_REDUCE_SUM, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      case SL_REDUCE_MEAN: k_reduce_block<SL_REDUCE_MEAN, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      default: k_reduce_block<SL_REDUCE_MAX, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
    }
  } else {
    const unsigned grid = sl_blocks((int64_t)O, 256);
    switch (op) {
      case SL_REDUCE_SUM: k_reduce_thread<SL_REDUCE_SUM, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      case SL_REDUCE_MEAN: k_reduce_thread<SL_REDUCE_MEAN, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
      default: k_reduce_thread<SL_REDUCE_MAX, I><<<grid, 256, 0, SL_STREAM>>>(x, g, O, R, out); break;
    }
  }
  return SL_OK;
}

}  // namespace

extern "C" SL_API int sl_reduce(int32_t op, const float* x, const int32_t* shape, int32_t rank,
                                int32_t axes_mask, float* out) {
  SL_GUARD();
  SL_ARG(op >= SL_REDUCE_SUM && op <= SL_REDUCE_MAX,
         "sl_reduce: unknown op code %d (expected 0 sum, 1 mean, 2 max)", op);
  SL_ARG(rank >= 0 && rank <= 8, "sl_reduce: rank must be in [0, 8], got %d", rank);
  SL_ARG(rank == 0 || shape != NULL, "sl_reduce: shape pointer is null");
  SL_ARG((axes_mask & ~((1 << rank) - 1)) == 0,
         "sl_reduce: axes mask 0x%x names an axis >= rank %d", axes_mask, rank);
  int64_t total = 1, O = 1;
  for (int i = 0; i < rank; i++) {
    SL_ARG(shape[i] >= 0, "sl_reduce: negative dimension %d on axis %d", shape[i], i);
    total *= shape[i];
    if (!(axes_mask & (1 << i))) O *= shape[i];
  }
  if (O == 0) return SL_OK;
  const int64_t R = total / O;
  SL_TRY(sl_check_buf(out, O, "sl_reduce output"));
  if (R == 0) {
    /* an empty reduction: sum 0, mean 0/0, max -inf (as the reference) */
    const float v = op == SL_REDUCE_SUM ? 0.f : (op == SL_REDUCE_MEAN ? NAN : -INFINITY);
    return sl_fill(out, O, v);
  }
  SL_TRY(sl_check_buf(x, total, "sl_reduce input"));

  /* merge neighbouring axes of the same kind, drop size-1 axes */
  int64_t dims[8];
  bool red[8];
  int r = 0;
  for (int i = 0; i < rank; i++) {
    if (shape[i] == 1) continue;
    const bool rd = (axes_mask >> i) & 1;
    if (r > 0 && red[r - 1] == rd) {
      dims[r - 1] *= shape[i];
    } else {
      dims[r] = shape[i];
      red[r] = rd;
      r++;
    }
  }
  RedGeom g{};
  int64_t stride = 1;
  int64_t strides[8];
  for (int d = r - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= dims[d];
  }
  for (int d = 0; d < r; d++) {
    if (red[d]) {
      g.rd[g.rr] = dims[d];
      g.rs[g.rr++] = strides[d];
    } else {
      g.kd[g.kr] = dims[d];
      g.ks[g.kr++] = strides[d];
    }
  }
  const bool block = R > 64 && (O < 32768 || R >= 1024);
  if (total < ((int64_t)1 << 31)) {
    SL_TRY(launch_reduce<uint32_t>(op, block, x, g, (uint32_t)O, (uint32_t)R, out));
  } else {
    SL_TRY(launch_reduce<int64_t>(op, block, x, g, O, R, out));
  }
  return sl_check_launch("sl_reduce");
}

extern "C" SL_API int sl_argmax(const float* x, int64_t rows, int64_t cols, float* out) {
  SL_GUARD();
  SL_ARG(rows >= 0 && cols >= 0, "sl_argmax: rows and cols must be >= 0");
  if (rows == 0) return SL_OK;
  SL_TRY(sl_check_buf(out, rows, "sl_argmax output"));
  if (cols == 0) {
    return sl_fill(out, rows, 0.f);
  }
  SL_TRY(sl_check_buf(x, rows * cols, "sl_argmax input"));
  k_argmax<<<sl_blocks(rows * 32, 256), 256, 0, SL_STREAM>>>(x, rows, cols, out);
  return sl_check_launch("sl_argmax");
}

extern "C" SL_API int sl_topk_mask(const float* x, int64_t rows, int64_t cols, int64_t k,
                                   float* out) {
  SL_GUARD();
  SL_ARG(rows >= 0 && cols >= 0, "sl_topk_mask: rows and cols must be >= 0");
  SL_ARG(k >= 0 && k <= cols, "sl_topk_mask: k=%lld outside [0, %lld]", (long long)k,
         (long long)cols);
  SL_ARG(rows <= 2147483647LL, "sl_topk_mask: too many rows");
  if (rows == 0 || cols == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, rows * cols, "sl_topk_mask input"));
  SL_TRY(sl_check_buf(out, rows * cols, "sl_topk_mask output"));
  const bool smem = cols <= 12288;
  k_topk_mask<<<(unsigned)rows, 256, smem ? (size_t)cols * sizeof(float) : 0, SL_STREAM>>>(
      x, cols, k, smem ? 1 : 0, out);
  return sl_check_launch("sl_topk_mask");
}

/* A scaling layer's backward as its composition: sl_binary(SL_MUL, dy, x) into a buffer of the
 * caching allocator, sl_reduce(SL_REDUCE_SUM) of it over the axes w is shared across, and
 * sl_binary(SL_MUL, dy, w) for dx (the host build does the three in one pass). */
extern "C" SL_API int sl_scale_backward(const float* dy, const float* x, const int32_t* shape,
                                        int32_t rank, const float* w, const int32_t* w_shape,
                                        float* dx, float* dw) {
  SL_GUARD();
  SL_ARG(rank >= 0 && rank <= 8, "sl_scale_backward: rank must be in [0, 8], got %d", rank);
  SL_ARG(dy != NULL && x != NULL && w != NULL && dw != NULL &&
             (rank == 0 || (shape != NULL && w_shape != NULL)),
         "sl_scale_backward: null pointer");
  int32_t mask = 0;
  int64_t total = 1;
  for (int i = 0; i < rank; i++) {
    SL_ARG(shape[i] >= 0, "sl_scale_backward: negative dimension %d on axis %d", shape[i], i);
    SL_ARG(w_shape[i] == 1 || w_shape[i] == shape[i],
           "sl_scale_backward: w's axis %d has %d entries (expected 1 or %d)", i, w_shape[i],
           shape[i]);
    if (w_shape[i] == 1) mask |= 1 << i;
    total *= shape[i];
  }
  float* prod = NULL;
  SL_TRY(sl_alloc_empty(total > 0 ? total : 1, &prod));
  int rc = sl_binary(SL_MUL, dy, shape, x, shape, prod, shape, rank);
  if (rc == SL_OK) rc = sl_reduce(SL_REDUCE_SUM, prod, shape, rank, mask, dw);
  if (rc == SL_OK && dx != NULL) rc = sl_binary(SL_MUL, dy, shape, w, w_shape, dx, shape, rank);
  const int rf = sl_free(prod);
  return rc != SL_OK ? rc : rf;
}
