/*
 * Host C build: broadcasting binary ops, unary ops, activation derivatives, axpby.
 */
#include "internal.h"

static inline float bin_apply(int op, float a, float b) {
  switch (op) {
    case SL_ADD: return a + b;
    case SL_SUB: return a - b;
    case SL_MUL: return a * b;
    case SL_DIV: return a / b;
    case SL_MAX: return (a >= b || isnan(a)) ? a : b;
    default: return (a <= b || isnan(a)) ? a : b;
  }
}

/* out[i] = a[i*sa] op b[i*sb] for i < len (sa, sb in {0, 1}); specialised per op so the
 * compiler vectorises the common cases. */
#define BIN_LOOP(EXPR)                                                           \
  if (sa && sb) {                                                                \
    for (int64_t i = 0; i < len; i++) { const float x = a[i], y = b[i]; o[i] = EXPR; } \
  } else if (sa) {                                                               \
    const float y = b[0];                                                        \
    for (int64_t i = 0; i < len; i++) { const float x = a[i]; o[i] = EXPR; }     \
  } else if (sb) {                                                               \
    const float x = a[0];                                                        \
    for (int64_t i = 0; i < len; i++) { const float y = b[i]; o[i] = EXPR; }     \
  } else {                                                                       \
    const float x = a[0], y = b[0];                                              \
    const float v = EXPR;                                                        \
    for (int64_t i = 0; i < len; i++) o[i] = v;                                  \
  }

static void bin_row(int op, const float* a, int sa, const float* b, int sb, float* o,
                    int64_t len) {
  switch (op) {
    case SL_ADD: BIN_LOOP(x + y) break;
    case SL_SUB: BIN_LOOP(x - y) break;
    case SL_MUL: BIN_LOOP(x * y) break;
    case SL_DIV: BIN_LOOP(x / y) break;
    case SL_MAX: BIN_LOOP((x >= y || x != x) ? x : y) break;
    default: BIN_LOOP((x <= y || x != x) ? x : y) break;
  }
}

SL_API int sl_binary(int32_t op, const float* a, const int32_t* a_shape, const float* b,
                     const int32_t* b_shape, float* out, const int32_t* out_shape, int32_t rank) {
  SL_ARG(op >= SL_ADD && op <= SL_MIN, "sl_binary: unknown op code %d (expected 0..5)", op);
  SL_ARG(rank >= 0 && rank <= 8, "sl_binary: rank %d outside [0, 8]", rank);
  SL_ARG(a != NULL && b != NULL && out != NULL, "sl_binary: null pointer");
  SL_ARG(rank == 0 || (a_shape != NULL && b_shape != NULL && out_shape != NULL),
         "sl_binary: null shape");
  /* Coalesce: drop size-1 output axes, merge neighbours with the same broadcast pattern. */
  int64_t dims[8];
  int fa[8], fb[8];
  int r = 0;
  int64_t total = 1;
  for (int i = 0; i < rank; i++) {
    const int32_t d = out_shape[i];
    SL_ARG(d >= 0, "sl_binary: negative output dimension %d", d);
    SL_ARG((a_shape[i] == d || a_shape[i] == 1) && (b_shape[i] == d || b_shape[i] == 1),
           "sl_binary: axis %d: sizes %d and %d do not broadcast to %d", i, a_shape[i],
           b_shape[i], d);
    total *= d;
    if (d == 1) continue;
    const int ia = a_shape[i] == d, ib = b_shape[i] == d;
    if (r > 0 && fa[r - 1] == ia && fb[r - 1] == ib) {
      dims[r - 1] *= d;
    } else {
      dims[r] = d;
      fa[r] = ia;
      fb[r] = ib;
      r++;
    }
  }
  if (total == 0) return SL_OK;
  if (r == 0) {
    out[0] = bin_apply(op, a[0], b[0]);
    return SL_OK;
  }
  /* strides of the coalesced operands */
  int64_t sa[8], sb[8];
  int64_t acc_a = 1, acc_b = 1;
  for (int i = r - 1; i >= 0; i--) {
    sa[i] = fa[i] ? acc_a : 0;
    sb[i] = fb[i] ? acc_b : 0;
    if (fa[i]) acc_a *= dims[i];
    if (fb[i]) acc_b *= dims[i];
  }
  const int64_t len = dims[r - 1];
  const int64_t rows = total / len;
  const int la = fa[r - 1], lb = fb[r - 1];
  if (rows == 1 && len <= PAR_MIN) {
    bin_row(op, a, la, b, lb, out, len);
    return SL_OK;
  }
  if (rows == 1) {
    /* a single long row: split it between threads */
#pragma omp parallel
    {
      int64_t lo = 0, hi = len;
#ifdef _OPENMP
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      lo = len * t / nt;
      hi = len * (t + 1) / nt;
#endif
      bin_row(op, la ? a + lo : a, la, lb ? b + lo : b, lb, out + lo, hi - lo);
    }
    return SL_OK;
  }
#define BIN_ROWS_BODY                                                   \
  for (int64_t row = 0; row < rows; row++) {                            \
    int64_t rem = row, oa = 0, ob = 0;                                  \
    for (int i = r - 2; i >= 0; i--) {                                  \
      const int64_t idx = rem % dims[i];                                \
      rem /= dims[i];                                                   \
      oa += idx * sa[i];                                                \
      ob += idx * sb[i];                                                \
    }                                                                   \
    bin_row(op, a + oa, la, b + ob, lb, out + row * len, len);          \
  }
  if (total > PAR_MIN) {
#pragma omp parallel for schedule(static)
    BIN_ROWS_BODY
  } else {
    BIN_ROWS_BODY
  }
#undef BIN_ROWS_BODY
  return SL_OK;
}

static inline float sigmoidf_(float x) {
  return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}
static inline float softplusf_(float x) {
  return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

#define UNARY_LOOP(EXPR)                    \
  ELEMENTWISE(n, const float v = x[i]; out[i] = (EXPR)); \
  break;

SL_API int sl_unary(int32_t op, const float* x, float* out, int64_t n, float alpha) {
  SL_ARG(op >= SL_RELU && op <= SL_RECIPROCAL, "sl_unary: unknown op code %d (expected 0..15)",
         op);
  SL_ARG(x != NULL && out != NULL, "sl_unary: null pointer");
  SL_ARG(n >= 0, "sl_unary: negative count %lld", (long long)n);
  switch (op) {
    case SL_RELU: UNARY_LOOP(v > 0 ? v : 0.0f)
    case SL_LEAKY_RELU: UNARY_LOOP(v > 0 ? v : alpha * v)
    case SL_SIGMOID: UNARY_LOOP(sigmoidf_(v))
    case SL_TANH: UNARY_LOOP(tanhf(v))
    case SL_SOFTPLUS: UNARY_LOOP(softplusf_(v))
    case SL_EXP: UNARY_LOOP(expf(v))
    case SL_LOG: UNARY_LOOP(logf(v))
    case SL_SQRT: UNARY_LOOP(sqrtf(v))
    case SL_SQUARE: UNARY_LOOP(v * v)
    case SL_ABS: UNARY_LOOP(fabsf(v))
    case SL_NEG: UNARY_LOOP(-v)
    case SL_SIGN: UNARY_LOOP(v > 0 ? 1.0f : (v < 0 ? -1.0f : 0.0f))
    case SL_SCALE: UNARY_LOOP(alpha * v)
    case SL_ADD_SCALAR: UNARY_LOOP(v + alpha)
    case SL_POW: UNARY_LOOP((float)pow((double)v, (double)alpha))
    case SL_RECIPROCAL: UNARY_LOOP(1.0f / v)
  }
  return SL_OK;
}

#define UNARY_BW_LOOP(EXPR)                                                           \
  ELEMENTWISE(n, const float xv = x[i]; const float yv = y[i]; const float g = dy[i]; \
              (void)xv; (void)yv; dx[i] = (EXPR));                                      \
  break;

SL_API int sl_unary_backward(int32_t op, const float* x, const float* y, const float* dy,
                             float* dx, int64_t n, float alpha) {
  SL_ARG(op >= SL_RELU && op <= SL_SOFTPLUS,
         "sl_unary_backward: op code %d has no derivative (expected 0..4)", op);
  SL_ARG(x != NULL && y != NULL && dy != NULL && dx != NULL, "sl_unary_backward: null pointer");
  SL_ARG(n >= 0, "sl_unary_backward: negative count %lld", (long long)n);
  switch (op) {
    case SL_RELU: UNARY_BW_LOOP(xv > 0 ? g : 0.0f)
    case SL_LEAKY_RELU: UNARY_BW_LOOP(xv > 0 ? g : alpha * g)
    case SL_SIGMOID: UNARY_BW_LOOP(g * yv * (1.0f - yv))
    case SL_TANH: UNARY_BW_LOOP(g * (1.0f - yv * yv))
    case SL_SOFTPLUS: UNARY_BW_LOOP(g * sigmoidf_(xv))
  }
  return SL_OK;
}

SL_API int sl_axpby(float alpha, const float* a, float beta, const float* b, float* out,
                    int64_t n) {
  SL_ARG(a != NULL && b != NULL && out != NULL, "sl_axpby: null pointer");
  SL_ARG(n >= 0, "sl_axpby: negative count %lld", (long long)n);
  ELEMENTWISE(n, out[i] = alpha * a[i] + beta * b[i]);
  return SL_OK;
}
