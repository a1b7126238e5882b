/*
 * ShiftLab native API: one header for the host C build (host.c -> libshiftlab_cpu.so) and the
 * CUDA build (*.cu -> libshiftlab_cuda.so). Both export exactly these names.
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

/* ---- library and device ---- */
SL_API const char* sl_last_error(void);
/* Writes a NUL-terminated description ("cpu: <model>, N threads" or the GPU name) into buf. */
SL_API int sl_device_info(char* buf, int32_t cap);
/* 0 when usable; SL_ERR_DEVICE with message "no CUDA device" when the cuda build finds none. */
SL_API int sl_init(void);
/* Build identification (compiler, flags, source hash) as a static string. */
SL_API const char* sl_build_info(void);

/* ---- memory ---- */
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

/* ---- linear algebra ---- */
/* C = alpha op(A) op(B) + beta C, row-major, M x N x K; with beta == 0, C is not read. */
SL_API int sl_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t a_off, const float* b, int64_t b_off, float beta,
                   float* c, int64_t c_off);
/* [d0, d1, inner] -> [d1, d0, inner] */
SL_API int sl_swap_axes01(const float* x, int64_t d0, int64_t d1, int64_t inner, float* out);

/* ---- convolution helpers and pooling; geometry n c h w kh kw sh sw ph pw ---- */
SL_API int sl_im2col(const float* x, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                     int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, float* col);
SL_API int sl_col2im(const float* col, int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh,
                     int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw, float* x);
/* Convolution as one call, weight [f, c, kh, kw]: y[n, f, oh, ow] = conv(x, w) + bias[f]
 * (bias may be NULL). The host build works on groups of images and takes 3x3 stride-1
 * windows through Winograd (SHIFTLAB_CONV_ALGO=im2col | winograd forces a method); the CUDA
 * build composes im2col and sl_gemm over the whole batch. */
SL_API int sl_conv2d_forward(const float* x, const float* wt, const float* bias, int32_t n,
                             int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw, int32_t sh,
                             int32_t sw, int32_t ph, int32_t pw, int32_t f, float* y);
/* dw += dL/dw; db += dL/db (db may be NULL); dx = dL/dx, overwritten (dx may be NULL). */
SL_API int sl_conv2d_backward(const float* x, const float* wt, const float* dy, int32_t n,
                              int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw,
                              int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t f,
                              float* dw, float* db, float* dx);
SL_API int sl_maxpool_forward(const float* x, int32_t n, int32_t c, int32_t h, int32_t w,
                              int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                              int32_t pw, float* y, float* argmax);
SL_API int sl_maxpool_backward(const float* dy, const float* argmax, int32_t n, int32_t c,
                               int32_t h, int32_t w, int32_t kh, int32_t kw, int32_t sh,
                               int32_t sw, int32_t ph, int32_t pw, float* dx);
SL_API int sl_avgpool_forward(const float* x, int32_t n, int32_t c, int32_t h, int32_t w,
                              int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                              int32_t pw, float* y);
SL_API int sl_avgpool_backward(const float* dy, int32_t n, int32_t c, int32_t h, int32_t w,
                               int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                               int32_t pw, float* dx);

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

/* ---- reductions ---- */
/* Reduces x of shape[rank] (rank <= 8) over the axes flagged in axes_mask (bit i = axis i). */
SL_API int sl_reduce(int32_t op, const float* x, const int32_t* shape, int32_t rank,
                     int32_t axes_mask, float* out);
SL_API int sl_argmax(const float* x, int64_t rows, int64_t cols, float* out);

/* ---- losses ---- */
SL_API int sl_softmax_xent(const float* logits, const float* labels, int64_t n, int64_t k,
                           float* probs, float* losses);
SL_API int sl_softmax_xent_backward(const float* probs, const float* labels, int64_t n, int64_t k,
                                    float scale, float* dlogits);

/* ---- batch normalization over [outer, c, inner] ---- */
SL_API int sl_batchnorm_forward(const float* x, int64_t outer, int64_t c, int64_t inner,
                                const float* gamma, const float* beta, float* running_mean,
                                float* running_var, int32_t training, float momentum, float eps,
                                float* y, float* mean, float* inv_std);
SL_API int sl_batchnorm_backward(const float* x, const float* dy, int64_t outer, int64_t c,
                                 int64_t inner, const float* gamma, const float* mean,
                                 const float* inv_std, float* dx, float* dgamma, float* dbeta);

/* ---- randomness: see src/rng.ts for the generator ---- */
SL_API int sl_dropout_mask(float* out, int64_t outer, int64_t c, int64_t inner, double p,
                           int32_t per_channel, uint32_t seed, uint32_t stream, uint64_t counter);
SL_API int sl_topk_mask(const float* x, int64_t rows, int64_t cols, int64_t k, float* out);

/* ---- optimizer update, in place ----
 * SGD:       g' = g + wd p;            p -= lr g'
 * MOMENTUM:  g' = g + wd p;            v = mu v - lr g';  p += v
 * NESTEROV:  g' = g + wd p;            v = mu v - lr g';  p += mu v - lr g'
 * ADAM:      g' = g + wd p;            m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
 *            p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * ADAMW:     as ADAM with g' = g, then additionally p -= lr wd p (decoupled, using the old p)
 * s0/s1 are the state slots (velocity; m and v); unused ones may be NULL.
 * hyper = {lr, mu_or_beta1, beta2, eps, wd, t} */
SL_API int sl_update(int32_t rule, float* p, const float* g, float* s0, float* s1, int64_t n,
                     const double* hyper);

#ifdef __cplusplus
}
#endif
#endif
