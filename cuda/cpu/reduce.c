/*
 * Host C build: reductions over chosen axes, row argmax and top-k masks.
 */
#include "internal.h"

/* out[k] = sum over t < rows of x[t * k_n + k] (in double, t in order), / div. */
static void reduce_rows(const float* x, int64_t rows, int64_t k_n, double div, float* out) {
  enum { CHUNK = 256 };
#pragma omp parallel for schedule(static) if (rows * k_n > PAR_MIN && k_n > CHUNK)
  for (int64_t k0 = 0; k0 < k_n; k0 += CHUNK) {
    const int64_t len = k_n - k0 < CHUNK ? k_n - k0 : CHUNK;
    double acc[CHUNK];
    for (int64_t u = 0; u < len; u++) acc[u] = 0.0;
    for (int64_t t = 0; t < rows; t++) {
      const float* p = x + t * k_n + k0;
      for (int64_t u = 0; u < len; u++) acc[u] += p[u];
    }
    for (int64_t u = 0; u < len; u++) out[k0 + u] = (float)(div == 1.0 ? acc[u] : acc[u] / div);
  }
}

/* Outputs per group in reduce_planes: their sums advance together. */
#define PLANES_GROUP 8

/* out[k] = sum over t < a_n, u < b_n of x[(t * k_n + k) * b_n + u] (in double, in that order),
 * / div; PLANES_GROUP outputs at a time, so that many sums advance together. */
static void reduce_planes(const float* x, int64_t a_n, int64_t k_n, int64_t b_n, double div,
                          float* out) {
#pragma omp parallel for schedule(static) if (a_n * k_n * b_n > PAR_MIN && k_n > PLANES_GROUP)
  for (int64_t k0 = 0; k0 < k_n; k0 += PLANES_GROUP) {
    const int64_t m = k_n - k0 < PLANES_GROUP ? k_n - k0 : PLANES_GROUP;
    double s[PLANES_GROUP] = {0};
    for (int64_t t = 0; t < a_n; t++) {
      const float* p = x + (t * k_n + k0) * b_n;
      if (m == PLANES_GROUP) {
        for (int64_t u = 0; u < b_n; u++) {
          for (int q = 0; q < PLANES_GROUP; q++) s[q] += p[q * b_n + u];
        }
      } else {
        for (int64_t q = 0; q < m; q++)
          for (int64_t u = 0; u < b_n; u++) s[q] += p[q * b_n + u];
      }
    }
    for (int64_t q = 0; q < m; q++) out[k0 + q] = (float)(div == 1.0 ? s[q] : s[q] / div);
  }
}

SL_API int sl_reduce(int32_t op, const float* x, const int32_t* shape, int32_t rank,
                     int32_t axes_mask, float* out) {
  SL_ARG(op >= SL_REDUCE_SUM && op <= SL_REDUCE_MAX,
         "sl_reduce: unknown op code %d (expected 0..2)", op);
  SL_ARG(rank >= 0 && rank <= 8, "sl_reduce: rank %d outside [0, 8]", rank);
  SL_ARG(x != NULL && out != NULL && (shape != NULL || rank == 0), "sl_reduce: null pointer");
  SL_ARG((axes_mask & ~((1 << rank) - 1)) == 0, "sl_reduce: axes mask 0x%x names an axis >= %d",
         (unsigned)axes_mask, rank);
  /* Coalesce into alternating kept / reduced groups (size-1 axes dropped). */
  int64_t dims[8];
  int red[8];
  int r = 0;
  int64_t total = 1, out_total = 1;
  for (int i = 0; i < rank; i++) {
    SL_ARG(shape[i] >= 0, "sl_reduce: negative dimension %d", shape[i]);
    const int isr = (axes_mask >> i) & 1;
    total *= shape[i];
    if (!isr) out_total *= shape[i];
    if (shape[i] == 1) continue;
    if (r > 0 && red[r - 1] == isr) {
      dims[r - 1] *= shape[i];
    } else {
      dims[r] = shape[i];
      red[r] = isr;
      r++;
    }
  }
  if (out_total == 0) return SL_OK;
  int64_t stride[8];
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    stride[i] = acc;
    acc *= dims[i];
  }
  const int64_t red_count = out_total > 0 ? total / out_total : 0;
  const double div = (double)total / (double)(out_total > 1 ? out_total : 1);
  /* kept and reduced axis lists */
  int kept[8], reds[8];
  int nk = 0, nr = 0;
  for (int i = 0; i < r; i++) {
    if (red[i]) reds[nr++] = i;
    else kept[nk++] = i;
  }
  const int inner_contig = nr > 0 && reds[nr - 1] == r - 1;
  /* Sums of the shapes shift and scale layers reduce, each output still summed in the order
   * of the general loop below (in double, one value at a time), only several outputs at once:
   * [R, K] -> [K] (elementwise sharing) and [A, K, B] -> [K] (channelwise). */
  if (op != SL_REDUCE_MAX && red_count > 0) {
    if (r == 2 && red[0] && !red[1]) {
      reduce_rows(x, dims[0], dims[1], op == SL_REDUCE_MEAN ? div : 1.0, out);
      return SL_OK;
    }
    if (r == 3 && red[0] && !red[1] && red[2]) {
      reduce_planes(x, dims[0], dims[1], dims[2], op == SL_REDUCE_MEAN ? div : 1.0, out);
      return SL_OK;
    }
  }
#pragma omp parallel for schedule(static) if (total > PAR_MIN && out_total > 1)
  for (int64_t o = 0; o < out_total; o++) {
    int64_t rem = o, base = 0;
    for (int q = nk - 1; q >= 0; q--) {
      const int i = kept[q];
      base += (rem % dims[i]) * stride[i];
      rem /= dims[i];
    }
    double s = op == SL_REDUCE_MAX ? -INFINITY : 0.0;
    if (red_count > 0) {
      const int64_t inner = inner_contig ? dims[r - 1] : 1;
      const int64_t outer_n = red_count / inner;
      for (int64_t t = 0; t < outer_n; t++) {
        int64_t rr = t, off = base;
        for (int q = (inner_contig ? nr - 2 : nr - 1); q >= 0; q--) {
          const int i = reds[q];
          off += (rr % dims[i]) * stride[i];
          rr /= dims[i];
        }
        const float* p = x + off;
        if (op == SL_REDUCE_MAX) {
          for (int64_t u = 0; u < inner; u++) {
            const double v = p[u];
            if (v > s || isnan(v)) s = v;
          }
        } else {
          for (int64_t u = 0; u < inner; u++) s += p[u];
        }
      }
    }
    out[o] = (float)(op == SL_REDUCE_MEAN ? s / div : s);
  }
  return SL_OK;
}

SL_API int sl_argmax(const float* x, int64_t rows, int64_t cols, float* out) {
  SL_ARG(x != NULL && out != NULL, "sl_argmax: null pointer");
  SL_ARG(rows >= 0 && cols >= 0, "sl_argmax: negative size");
#pragma omp parallel for schedule(static) if (rows * cols > PAR_MIN)
  for (int64_t i = 0; i < rows; i++) {
    float best = -INFINITY;
    int64_t bi = 0;
    for (int64_t j = 0; j < cols; j++) {
      const float v = x[i * cols + j];
      if (v > best) {
        best = v;
        bi = j;
      }
    }
    out[i] = (float)bi;
  }
  return SL_OK;
}

typedef struct {
  float v;
  int64_t i;
} topk_item;

static int topk_cmp(const void* pa, const void* pb) {
  const topk_item* a = (const topk_item*)pa;
  const topk_item* b = (const topk_item*)pb;
  if (a->v > b->v) return -1;
  if (a->v < b->v) return 1;
  return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
}

SL_API int sl_topk_mask(const float* x, int64_t rows, int64_t cols, int64_t k, float* out) {
  SL_ARG(x != NULL && out != NULL, "sl_topk_mask: null pointer");
  SL_ARG(rows >= 0 && cols >= 0, "sl_topk_mask: negative size");
  SL_ARG(k >= 0 && k <= cols, "top-k: k=%lld outside [0, %lld]", (long long)k, (long long)cols);
  int oom = 0;
#pragma omp parallel if (rows * cols > PAR_MIN)
  {
    topk_item* items = (topk_item*)malloc(sizeof(topk_item) * (size_t)(cols > 0 ? cols : 1));
    if (!items) {
      oom = 1;
    } else {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * cols;
        float* o = out + r * cols;
        for (int64_t j = 0; j < cols; j++) {
          items[j].v = xr[j];
          items[j].i = j;
          o[j] = 0.0f;
        }
        qsort(items, (size_t)cols, sizeof(topk_item), topk_cmp);
        for (int64_t j = 0; j < k; j++) o[items[j].i] = 1.0f;
      }
    }
    free(items);
  }
  if (oom) return sl_set_error(SL_ERR_MEMORY, "sl_topk_mask: out of memory");
  return SL_OK;
}
