/*
 * ShiftLab native API: one header for the host C build (cuda/cpu/<family>.c ->
 * libshiftlab_cpu.so) and the CUDA build (cuda/gpu/<family>.cu -> libshiftlab_cuda.so). Both
 * export exactly these names, and both keep each op family in a file of the same name
 * (cpu/pool.c, gpu/pool.cu); the family of each function is named in its section below.
 * Naming: the TypeScript Backend method maxPoolBackward is sl_max_pool_backward here and its
 * CUDA kernel k_max_pool_backward.
 *
 * Conventions
 * - float32 only, row-major, images NCHW. Buffers are `float*` owned by the library that
 *   allocated them (host memory for the cpu build, device memory for the cuda build); the
 *   caller never dereferences them except through sl_upload / sl_download.
 * - Every function returns a status: SL_OK (0) or an error code; sl_last_error() returns the
 *   message of the most recent failure of the calling thread (valid until the next call).
 * - Semantics of every op are those of the TypeScript `Backend` interface in src/backend.ts;
 *   the tests check both builds against the TypeScript reference.
 * - Sizes are int64_t element counts; small dimensions are int32_t.
 */
#ifndef SHIFTLAB_H
#define SHIFTLAB_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SL_API __declspec(dllexport)
#else
#define SL_API __attribute__((visibility("default")))
#endif

enum {
  SL_OK = 0,
  SL_ERR_ARG = 1,     /* invalid argument (null pointer, negative size, bad op code) */
  SL_ERR_MEMORY = 2,  /* allocation failed */
  SL_ERR_DEVICE = 3,  /* no device, or a CUDA runtime/launch failure */
  SL_ERR_INTERNAL = 4
};

/* Op codes (the TS side maps its string names onto these). */
enum { SL_ADD = 0, SL_SUB = 1, SL_MUL = 2, SL_DIV = 3, SL_MAX = 4, SL_MIN = 5 };
enum {
  SL_RELU = 0, SL_LEAKY_RELU = 1, SL_SIGMOID = 2, SL_TANH = 3, SL_SOFTPLUS = 4, SL_EXP = 5,
  SL_LOG = 6, SL_SQRT = 7, SL_SQUARE = 8, SL_ABS = 9, SL_NEG = 10, SL_SIGN = 11, SL_SCALE = 12,
  SL_ADD_SCALAR = 13, SL_POW = 14, SL_RECIPROCAL = 15
};
enum { SL_REDUCE_SUM = 0, SL_REDUCE_MEAN = 1, SL_REDUCE_MAX = 2 };
enum { SL_RULE_SGD = 0, SL_RULE_MOMENTUM = 1, SL_RULE_NESTEROV = 2, SL_RULE_ADAM = 3, SL_RULE_ADAMW = 4 };

/* ---- library and device (device) ---- */
SL_API const char* sl_last_error(void);
/* Writes a NUL-terminated description ("cpu: <model>, N threads" or the GPU name) into buf. */
SL_API int sl_device_info(char* buf, int32_t cap);
/* 0 when usable; SL_ERR_DEVICE with message "no CUDA device" when the cuda build finds none. */
SL_API int sl_init(void);
/* Build identification (compiler, flags, source hash) as a static string. */
SL_API const char* sl_build_info(void);

/* ---- memory (device) ---- */
/* Allocates n zero-filled floats; *out receives the pointer. */
SL_API int sl_alloc(int64_t n, float** out);
/* Allocates n floats whose contents are unspecified, for outputs an op overwrites in full.
 * With the environment variable SHIFTLAB_POISON_EMPTY set (to anything but "0") they are
 * filled with NaN instead, so a test can prove no op reads them before writing. */
SL_API int sl_alloc_empty(int64_t n, float** out);
SL_API int sl_free(float* p);
SL_API int sl_upload(float* dst, int64_t dst_off, const float* host, int64_t n);
SL_API int sl_download(const float* src, int64_t src_off, float* host, int64_t n);
SL_API int sl_fill(float* p, int64_t n, float value);
SL_API int sl_copy(const float* src, int64_t src_off, float* dst, int64_t dst_off, int64_t n);
SL_API int sl_synchronize(void);
/* Bytes held by the allocator (live + cached). */
SL_API int sl_memory_in_use(int64_t* out);

/* ---- structured arguments ---- */

/* A 2-D window over NCHW input [n, c, h, w]: kernel kh x kw, stride sh x sw, zero padding ph
 * rows and pw columns on each side (convolution, im2col / col2im, pooling). */
typedef struct sl_window {
  int32_t n, c, h, w;
  int32_t kh, kw;
  int32_t sh, sw;
  int32_t ph, pw;
} sl_window;

/* The one rule for a valid window, used by both builds: sizes and padding >= 0, kernel and
 * stride > 0, and the kernel fits the padded input. Returns 1 and the output size
 * oh = (h + 2 ph - kh) / sh + 1 (likewise ow) when valid, else 0. */
static inline int sl_window_out(const sl_window* g, int32_t* oh, int32_t* ow) {
  if (g->n < 0 || g->c < 0 || g->h < 0 || g->w < 0 || g->ph < 0 || g->pw < 0) return 0;
  if (g->kh <= 0 || g->kw <= 0 || g->sh <= 0 || g->sw <= 0) return 0;
  const int64_t ry = (int64_t)g->h + 2 * (int64_t)g->ph - g->kh;
  const int64_t rx = (int64_t)g->w + 2 * (int64_t)g->pw - g->kw;
  if (ry < 0 || rx < 0 || ry / g->sh + 1 > INT32_MAX || rx / g->sw + 1 > INT32_MAX) return 0;
  *oh = (int32_t)(ry / g->sh + 1);
  *ow = (int32_t)(rx / g->sw + 1);
  return 1;
}

/* The message of an invalid window: "<op>: " SL_WINDOW_INVALID with SL_WINDOW_FIELDS(g). */
#define SL_WINDOW_INVALID                                                                   \
  "invalid window: input [%d, %d, %d, %d], kernel %dx%d, stride %dx%d, padding %d,%d "     \
  "(expected sizes and padding >= 0, kernel and stride > 0, kernel <= input + 2 padding)"
#define SL_WINDOW_FIELDS(g) \
  (g)->n, (g)->c, (g)->h, (g)->w, (g)->kh, (g)->kw, (g)->sh, (g)->sw, (g)->ph, (g)->pw

/* Optimizer hyperparameters of sl_update; a rule reads only its own fields. */
typedef struct sl_optim_params {
  double lr;           /* learning rate (already times the parameter's multiplier) */
  double momentum;     /* MOMENTUM, NESTEROV */
  double beta1, beta2; /* ADAM, ADAMW */
  double eps;          /* ADAM, ADAMW */
  double weight_decay; /* L2 (added to the gradient), or decoupled for ADAMW */
  double step;         /* ADAM, ADAMW: 1-based step count, for bias correction */
} sl_optim_params;

/* ---- linear algebra (gemm) ---- */
/* C = alpha op(A) op(B) + beta C, row-major, M x N x K; with beta == 0, C is not read. */
SL_API int sl_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t a_off, const float* b, int64_t b_off, float beta,
                   float* c, int64_t c_off);

/* ---- convolution (conv) ---- */
/* [d0, d1, inner] -> [d1, d0, inner] */
SL_API int sl_swap_axes01(const float* x, int64_t d0, int64_t d1, int64_t inner, float* out);
/* x [n, c, h, w] -> col [c*kh*kw, n*oh*ow], rows (c, ky, kx), columns (n, oy, ox). */
SL_API int sl_im2col(const float* x, const sl_window* g, float* col);
/* The adjoint: sums col back into x (overwritten). */
SL_API int sl_col2im(const float* col, const sl_window* g, float* x);
/* Convolution as one call, weight [f, c, kh, kw]: y[n, f, oh, ow] = conv(x, w) + bias[f]
 * (bias may be NULL). The host build works on groups of images and takes 3x3 stride-1
 * windows through Winograd (SHIFTLAB_CONV_ALGO=im2col | winograd forces a method); the CUDA
 * build composes im2col and sl_gemm over the whole batch.
 * Column cache: *floats = the size of the column matrix (im2col of x) when this build's
 * convolution of this window builds one, else 0 (Winograd; the CUDA build). Given such a buffer
 * as `cols`, sl_conv2d_forward leaves x's columns there and sl_conv2d_backward of the same x
 * reads them instead of building them again (results are the same bits with or without); NULL:
 * no cache. */
SL_API int sl_conv2d_columns(const sl_window* g, int32_t f, int64_t* floats);
SL_API int sl_conv2d_forward(const float* x, const float* wt, const float* bias,
                             const sl_window* g, int32_t f, float* y, float* cols);
/* dw += dL/dw; db += dL/db (db may be NULL); dx = dL/dx, overwritten (dx may be NULL); cols:
 * the forward's column cache of this x, or NULL. */
SL_API int sl_conv2d_backward(const float* x, const float* wt, const float* dy,
                              const sl_window* g, int32_t f, float* dw, float* db, float* dx,
                              const float* cols);

/* ---- pooling (pool) ---- */
/* argmax receives the flat index iy * w + ix of each output's winner in its channel plane. */
SL_API int sl_max_pool_forward(const float* x, const sl_window* g, float* y, float* argmax);
SL_API int sl_max_pool_backward(const float* dy, const float* argmax, const sl_window* g,
                                float* dx);
SL_API int sl_avg_pool_forward(const float* x, const sl_window* g, float* y);
SL_API int sl_avg_pool_backward(const float* dy, const sl_window* g, float* dx);

/* ---- elementwise ---- */
/* Broadcasting binary op; shapes are aligned to `rank` (<= 8) dims, size-1 dims broadcast. */
SL_API int sl_binary(int32_t op, const float* a, const int32_t* a_shape, const float* b,
                     const int32_t* b_shape, float* out, const int32_t* out_shape, int32_t rank);
SL_API int sl_unary(int32_t op, const float* x, float* out, int64_t n, float alpha);
/* dx = dy * f'(x) for op in {RELU, LEAKY_RELU, SIGMOID, TANH, SOFTPLUS}; y = f(x). */
SL_API int sl_unary_backward(int32_t op, const float* x, const float* y, const float* dy,
                             float* dx, int64_t n, float alpha);
SL_API int sl_axpby(float alpha, const float* a, float beta, const float* b, float* out,
                    int64_t n);

/* ---- reductions and row selections (reduce) ---- */
/* Reduces x of shape[rank] (rank <= 8) over the axes flagged in axes_mask (bit i = axis i). */
SL_API int sl_reduce(int32_t op, const float* x, const int32_t* shape, int32_t rank,
                     int32_t axes_mask, float* out);
/* A scaling layer's backward, y = x * w with w [w_shape] (1 on the axes w is shared across,
 * else shape's size) broadcast to shape[rank]: dw = sum of dy * x over the shared axes and, when
 * dx is not NULL, dx = dy * w; the bits of sl_binary(SL_MUL, dy, x), sl_reduce(SL_REDUCE_SUM) of
 * that over the shared axes, and sl_binary(SL_MUL, dy, w), in one pass on the host. */
SL_API int sl_scale_backward(const float* dy, const float* x, const int32_t* shape, int32_t rank,
                             const float* w, const int32_t* w_shape, float* dx, float* dw);
SL_API int sl_argmax(const float* x, int64_t rows, int64_t cols, float* out);
/* 1 for the k largest entries of each row (ties: the lower index), else 0. */
SL_API int sl_topk_mask(const float* x, int64_t rows, int64_t cols, int64_t k, float* out);

/* ---- losses (loss) ---- */
SL_API int sl_softmax_cross_entropy(const float* logits, const float* labels, int64_t n,
                                    int64_t k, float* probs, float* losses);
SL_API int sl_softmax_cross_entropy_backward(const float* probs, const float* labels, int64_t n,
                                             int64_t k, float scale, float* dlogits);

/* ---- batch normalization over [outer, c, inner] (norm) ---- */
SL_API int sl_batch_norm_forward(const float* x, int64_t outer, int64_t c, int64_t inner,
                                 const float* gamma, const float* beta, float* running_mean,
                                 float* running_var, int32_t training, float momentum, float eps,
                                 float* y, float* mean, float* inv_std);
SL_API int sl_batch_norm_backward(const float* x, const float* dy, int64_t outer, int64_t c,
                                  int64_t inner, const float* gamma, const float* mean,
                                  const float* inv_std, float* dx, float* dgamma, float* dbeta);

/* ---- randomness (random): see src/rng.ts for the generator ---- */
SL_API int sl_dropout_mask(float* out, int64_t outer, int64_t c, int64_t inner, double p,
                           int32_t per_channel, uint32_t seed, uint32_t stream, uint64_t counter);

/* ---- optimizer update, in place (optim) ----
 * SGD:       g' = g + wd p;            p -= lr g'
 * MOMENTUM:  g' = g + wd p;            v = mu v - lr g';  p += v
 * NESTEROV:  g' = g + wd p;            v = mu v - lr g';  p += mu v - lr g'
 * ADAM:      g' = g + wd p;            m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
 *            p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * ADAMW:     as ADAM with g' = g, then additionally p -= lr wd p (decoupled, using the old p)
 * s0/s1 are the state slots (velocity; m and v); unused ones may be NULL. Precision: the new
 * state is computed in double from the stored values and rounded once to float; p then moves
 * by the stored (rounded) state. */
SL_API int sl_update(int32_t rule, const sl_optim_params* h, float* p, const float* g, float* s0,
                     float* s1, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
