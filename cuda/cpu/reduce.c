/*
 * Host C build: reductions over chosen axes, row argmax and top-k masks.
 */
#include "internal.h"

/*
 * The sums below serve sl_reduce and sl_scale_backward. For sl_scale_backward a term is the
 * product x[i] * y[i] rounded to float (what sl_binary's SL_MUL stores), so its sums are those of
 * sl_binary then sl_reduce, bit for bit; and when dx is given, dx[i] = x[i] * w[o] is written in
 * the same pass, o being the output element the term goes to (sl_binary's x * broadcast w).
 * Each helper is instantiated twice (y, w, dx NULL for sl_reduce), so the plain sums keep their
 * loops.
 */
#define TERM(x, y, i) ((y) ? (float)((x)[i] * (y)[i]) : (x)[i])

/* out[k] = sum over t < rows of term[t * k_n + k] (in double, t in order), / div. */
static inline __attribute__((always_inline)) void reduce_rows(const float* x, const float* y,
                                                               const float* w, float* dx,
                                                               int64_t rows, int64_t k_n,
                                                               double div, float* out) {
  enum { CHUNK = 256 };
#pragma omp parallel for schedule(static) if (rows * k_n > PAR_MIN && k_n > CHUNK)
  for (int64_t k0 = 0; k0 < k_n; k0 += CHUNK) {
    const int64_t len = k_n - k0 < CHUNK ? k_n - k0 : CHUNK;
    double acc[CHUNK];
    for (int64_t u = 0; u < len; u++) acc[u] = 0.0;
    for (int64_t t = 0; t < rows; t++) {
      const int64_t at = t * k_n + k0;
      const float* p = x + at;
      const float* q = y ? y + at : NULL;
      for (int64_t u = 0; u < len; u++) acc[u] += TERM(p, q, u);
      if (dx) {
        for (int64_t u = 0; u < len; u++) dx[at + u] = p[u] * w[k0 + u];
      }
    }
    for (int64_t u = 0; u < len; u++) out[k0 + u] = (float)(div == 1.0 ? acc[u] : acc[u] / div);
  }
}

/* Outputs per group in reduce_planes: their sums advance together. */
#define PLANES_GROUP 8

/* out[k] = sum over t < a_n, u < b_n of term[(t * k_n + k) * b_n + u] (in double, in that
 * order), / div; PLANES_GROUP outputs at a time, so that many sums advance together. */
static inline __attribute__((always_inline)) void reduce_planes(const float* x, const float* y,
                                                                 const float* w, float* dx,
                                                                 int64_t a_n, int64_t k_n,
                                                                 int64_t b_n, double div,
                                                                 float* out) {
#pragma omp parallel for schedule(static) if (a_n * k_n * b_n > PAR_MIN && k_n > PLANES_GROUP)
  for (int64_t k0 = 0; k0 < k_n; k0 += PLANES_GROUP) {
    const int64_t m = k_n - k0 < PLANES_GROUP ? k_n - k0 : PLANES_GROUP;
    double s[PLANES_GROUP] = {0};
    for (int64_t t = 0; t < a_n; t++) {
      const int64_t at = (t * k_n + k0) * b_n;
      const float* p = x + at;
      const float* q = y ? y + at : NULL;
      if (m == PLANES_GROUP) {
        for (int64_t u = 0; u < b_n; u++) {
          for (int g = 0; g < PLANES_GROUP; g++) s[g] += TERM(p, q, g * b_n + u);
        }
      } else {
        for (int64_t g = 0; g < m; g++)
          for (int64_t u = 0; u < b_n; u++) s[g] += TERM(p, q, g * b_n + u);
      }
      if (dx) {
        for (int64_t g = 0; g < m; g++) {
          const float wk = w[k0 + g];
          for (int64_t u = 0; u < b_n; u++) dx[at + g * b_n + u] = p[g * b_n + u] * wk;
        }
      }
    }
    for (int64_t g = 0; g < m; g++) out[k0 + g] = (float)(div == 1.0 ? s[g] : s[g] / div);
  }
}

/* A reduction's axes after coalescing: alternating kept / reduced groups, size-1 axes dropped. */
typedef struct {
  int r, nk, nr;
  int64_t dims[8], stride[8];
  int red[8], kept[8], reds[8];
  int64_t total, out_total, red_count;
  double div;
} red_plan_t;

/* Checks the arguments of a reduction of shape[rank] over axes_mask (messages name `op`) and
 * plans it. */
static int red_plan(const char* op, const int32_t* shape, int32_t rank, int32_t axes_mask,
                    red_plan_t* P) {
  SL_ARG(rank >= 0 && rank <= 8, "%s: rank %d outside [0, 8]", op, rank);
  SL_ARG(shape != NULL || rank == 0, "%s: null pointer", op);
  SL_ARG((axes_mask & ~((1 << rank) - 1)) == 0, "%s: axes mask 0x%x names an axis >= %d", op,
         (unsigned)axes_mask, rank);
  int r = 0;
  P->total = 1;
  P->out_total = 1;
  for (int i = 0; i < rank; i++) {
    SL_ARG(shape[i] >= 0, "%s: negative dimension %d", op, shape[i]);
    const int isr = (axes_mask >> i) & 1;
    P->total *= shape[i];
    if (!isr) P->out_total *= shape[i];
    if (shape[i] == 1) continue;
    if (r > 0 && P->red[r - 1] == isr) {
      P->dims[r - 1] *= shape[i];
    } else {
      P->dims[r] = shape[i];
      P->red[r] = isr;
      r++;
    }
  }
  P->r = r;
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    P->stride[i] = acc;
    acc *= P->dims[i];
  }
  P->red_count = P->out_total > 0 ? P->total / P->out_total : 0;
  P->div = (double)P->total / (double)(P->out_total > 1 ? P->out_total : 1);
  P->nk = P->nr = 0;
  for (int i = 0; i < r; i++) {
    if (P->red[i]) P->reds[P->nr++] = i;
    else P->kept[P->nk++] = i;
  }
  return SL_OK;
}

/* Runs a planned reduction (see the comment on TERM for y, w and dx). */
static inline __attribute__((always_inline)) void red_run(int32_t op, const red_plan_t* P,
                                                          const float* x, const float* y,
                                                          const float* w, float* dx, float* out) {
  const int r = P->r, nk = P->nk, nr = P->nr;
  const int64_t* dims = P->dims;
  const int64_t* stride = P->stride;
  const int* red = P->red;
  const int* kept = P->kept;
  const int* reds = P->reds;
  const int64_t red_count = P->red_count, out_total = P->out_total;
  const double div = P->div;
  const int inner_contig = nr > 0 && reds[nr - 1] == r - 1;
  /* Sums of the shapes shift and scale layers reduce, each output still summed in the order
   * of the general loop below (in double, one value at a time), only several outputs at once:
   * [R, K] -> [K] (elementwise sharing) and [A, K, B] -> [K] (channelwise). */
  if (op != SL_REDUCE_MAX && red_count > 0) {
    if (r == 2 && red[0] && !red[1]) {
      reduce_rows(x, y, w, dx, dims[0], dims[1], op == SL_REDUCE_MEAN ? div : 1.0, out);
      return;
    }
    if (r == 3 && red[0] && !red[1] && red[2]) {
      reduce_planes(x, y, w, dx, dims[0], dims[1], dims[2], op == SL_REDUCE_MEAN ? div : 1.0,
                    out);
      return;
    }
  }
#pragma omp parallel for schedule(static) if (P->total > PAR_MIN && out_total > 1)
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
        const float* pq = y ? y + off : NULL;
        if (op == SL_REDUCE_MAX) {
          for (int64_t u = 0; u < inner; u++) {
            const double v = p[u];
            if (v > s || isnan(v)) s = v;
          }
        } else {
          for (int64_t u = 0; u < inner; u++) s += TERM(p, pq, u);
        }
        if (dx) {
          for (int64_t u = 0; u < inner; u++) dx[off + u] = p[u] * w[o];
        }
      }
    }
    out[o] = (float)(op == SL_REDUCE_MEAN ? s / div : s);
  }
}

SL_API int sl_reduce(int32_t op, const float* x, const int32_t* shape, int32_t rank,
                     int32_t axes_mask, float* out) {
  SL_ARG(op >= SL_REDUCE_SUM && op <= SL_REDUCE_MAX,
         "sl_reduce: unknown op code %d (expected 0..2)", op);
  SL_ARG(x != NULL && out != NULL, "sl_reduce: null pointer");
  red_plan_t P;
  const int rc = red_plan("sl_reduce", shape, rank, axes_mask, &P);
  if (rc != SL_OK) return rc;
  if (P.out_total == 0) return SL_OK;
  red_run(op, &P, x, NULL, NULL, NULL, out);
  return SL_OK;
}

SL_API int sl_scale_backward(const float* dy, const float* x, const int32_t* shape, int32_t rank,
                             const float* w, const int32_t* w_shape, float* dx, float* dw) {
  SL_ARG(rank >= 0 && rank <= 8, "sl_scale_backward: rank %d outside [0, 8]", rank);
  SL_ARG(dy != NULL && x != NULL && w != NULL && dw != NULL &&
             ((shape != NULL && w_shape != NULL) || rank == 0),
         "sl_scale_backward: null pointer");
  int32_t mask = 0;
  for (int i = 0; i < rank; i++) {
    SL_ARG(w_shape[i] == 1 || w_shape[i] == shape[i],
           "sl_scale_backward: w's axis %d has %d entries (expected 1 or %d)", i, w_shape[i],
           shape[i]);
    if (w_shape[i] == 1) mask |= 1 << i;
  }
  red_plan_t P;
  const int rc = red_plan("sl_scale_backward", shape, rank, mask, &P);
  if (rc != SL_OK) return rc;
  if (P.out_total == 0) return SL_OK;
  /* two instantiations, so that dw alone keeps loops without the dx stores */
  if (dx) red_run(SL_REDUCE_SUM, &P, dy, x, w, dx, dw);
  else red_run(SL_REDUCE_SUM, &P, dy, x, NULL, NULL, dw);
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
