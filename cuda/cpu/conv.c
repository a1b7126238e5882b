/*
 * Host C build: convolution. im2col / col2im and the axis swap that the default
 * composition of the TypeScript side uses, and the fused convolution (sl_conv2d_forward /
 * sl_conv2d_backward) that never builds the whole batch's column matrix; 3x3 stride-1
 * windows go through Winograd (winograd.c).
 */
#include "internal.h"


SL_API int sl_swap_axes01(const float* x, int64_t d0, int64_t d1, int64_t inner, float* out) {
  SL_ARG(x != NULL && out != NULL, "sl_swap_axes01: null pointer");
  SL_ARG(d0 >= 0 && d1 >= 0 && inner >= 0, "sl_swap_axes01: negative size");
#pragma omp parallel for collapse(2) if (d0 * d1 * inner > PAR_MIN)
  for (int64_t i = 0; i < d0; i++) {
    for (int64_t j = 0; j < d1; j++) {
      memcpy(out + (j * d0 + i) * inner, x + (i * d1 + j) * inner, (size_t)inner * 4);
    }
  }
  return SL_OK;
}

/* ---------------------------------------------------------------- im2col, col2im */

/*
 * Both work one input plane (b, ch) at a time through its zero-padded copy split into phase
 * planes: for strides sh, sw the padded plane P ((h + 2 ph) x (w + 2 pw)) becomes sh * sw planes
 * Q[py][px] of qh x qw floats with Q[py][px][r][q] = P[r sh + py][q sw + px], so that the
 * window position (ky, kx) of output row oy reads ow consecutive floats,
 * Q[ky % sh][kx % sw][oy + ky / sh][kx / sw ...]: every row of columns is a short contiguous
 * copy (stride 1: Q is P). Each phase plane is followed by PAD_SLACK floats that the 8-wide
 * loads and stores may touch past a row's end (what is read there is never kept, what is added
 * there is +0). Values are copied, and col2im adds each column value into its input element in
 * (ky, kx) order starting from +0, as the reference does: the results are those of a direct
 * loop over the windows, bit for bit.
 */
#define PAD_SLACK 32

/* The phase-plane geometry of a window. */
typedef struct {
  int32_t sh, sw, hp, wp; /* strides, padded plane size */
  int32_t qh, qw;         /* one phase plane's rows and row length */
  int64_t qs;             /* floats from one phase plane to the next */
} phases_t;

static phases_t phases(int32_t h, int32_t w, int32_t sh, int32_t sw, int32_t ph, int32_t pw) {
  phases_t f = {sh, sw, h + 2 * ph, w + 2 * pw, 0, 0, 0};
  f.qh = (f.hp + sh - 1) / sh;
  f.qw = (f.wp + sw - 1) / sw;
  f.qs = (int64_t)f.qh * f.qw + PAD_SLACK;
  return f;
}

/* Floats of one plane's scratch: its phase planes. */
static int64_t plane_scratch_size(const phases_t* f) {
  return f->qs * f->sh * f->sw;
}

/* An empty asm that makes p opaque to the optimiser: a loop that uses it is not turned into a
 * call to memcpy or memset, which costs more than the short rows here. */
#define KEEP_LOOP(p) __asm__("" : "+r"(p))

/* d[i] = s[i] for i < n, 8, 4, 2, 1 at a time. */
static inline void copy_exact(float* restrict d, const float* restrict s, int32_t n) {
  for (; n >= 8; n -= 8, d += 8, s += 8) {
    *(sl_v8*)d = *(const sl_v8*)s;
    KEEP_LOOP(d);
  }
  if (n >= 4) memcpy(d, s, 16), d += 4, s += 4, n -= 4;
  if (n >= 2) memcpy(d, s, 8), d += 2, s += 2, n -= 2;
  if (n >= 1) *d = *s;
}

/* d[i] = 0 for i < n, 8 at a time: d[n .. n rounded up to 8) is zeroed too. */
static inline void zero_run(float* d, int32_t n) {
  for (; n > 0; n -= 8, d += 8) {
    *(sl_v8*)d = (sl_v8){0};
    KEEP_LOOP(d);
  }
}

/* d[i] = s[i sw] for i < n, 8 at a time while the loads stay within the `avail` floats
 * readable from s; d[n .. n rounded up to 8) may be overwritten too. */
static inline __attribute__((always_inline)) void take_row(float* restrict d,
                                                           const float* restrict s, int32_t n,
                                                           int64_t avail, const int32_t sw) {
  int32_t i = 0;
  if (sw == 1) {
    for (; i < n && i + 8 <= avail; i += 8) {
      *(sl_v8*)(d + i) = *(const sl_v8*)(s + i);
      KEEP_LOOP(d);
    }
  } else if (sw == 2) {
    for (; i < n && 2 * i + 16 <= avail; i += 8) {
      const sl_v8 u = *(const sl_v8*)(s + 2 * i), v = *(const sl_v8*)(s + 2 * i + 8);
      *(sl_v8*)(d + i) = __builtin_shuffle(u, v, SL_EVEN8);
    }
  }
  if (sw == 1) {
    copy_exact(d + i, s + i, n - i);
  } else {
    for (; i < n; i++) d[i] = s[(int64_t)i * sw];
  }
}

/* d[i] = s[i] for i < n, 8 at a time: s read and d overwritten up to n rounded up to 8. */
static inline void copy_spill(float* restrict d, const float* restrict s, int32_t n) {
  for (; n > 0; n -= 8, d += 8, s += 8) {
    *(sl_v8*)d = *(const sl_v8*)s;
    KEEP_LOOP(d);
  }
}

/* d[i] += s[i] for i < n, 8 at a time; when `over`, s is read up to n rounded up to 8 and
 * d[n ..] of that gets + 0, which leaves it as it is (no element of a plane that starts at +0
 * and only has values added is ever -0); else the tail goes one by one. */
static inline void add_row(float* restrict d, const float* restrict s, int32_t n, int over) {
  const sl_i8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) *(sl_v8*)(d + i) += *(const sl_v8*)(s + i);
  if (i < n && over) {
    *(sl_v8*)(d + i) += (sl_v8)((sl_i8) * (const sl_v8*)(s + i) & (lane < n - i));
  } else {
    for (; i < n; i++) d[i] += s[i];
  }
}

/* d[2 i] = a[i] and d[2 i + 1] = b[i] for 2 i + 1 < n (d[n - 1] = a[n / 2] when n is odd); when
 * `spill`, d[n .. n rounded up to 16) may be overwritten too, and a, b read up to n / 2
 * rounded up to 8. */
static inline void interleave2(float* restrict d, const float* restrict a, const float* restrict b,
                               int32_t n, int spill) {
  int32_t t = 0;
  for (; 2 * t + 16 <= n || (spill && 2 * t < n); t += 8) {
    const sl_v8 u = *(const sl_v8*)(a + t), v = *(const sl_v8*)(b + t);
    *(sl_v8*)(d + 2 * t) = __builtin_shuffle(u, v, ((sl_i8){0, 8, 1, 9, 2, 10, 3, 11}));
    *(sl_v8*)(d + 2 * t + 8) = __builtin_shuffle(u, v, ((sl_i8){4, 12, 5, 13, 6, 14, 7, 15}));
  }
  for (int32_t j = 2 * t; j < n; j++) d[j] = (j & 1) ? b[j >> 1] : a[j >> 1];
}

/* Rows of an oh x ow block, counted from the top, whose 8-wide copies may run past their end:
 * those that stay inside the block. */
static inline int32_t spill_rows(int32_t oh, int32_t ow) {
  const int64_t past = ((ow + 7) & ~7) - ow, room = (int64_t)(oh - 1) * ow;
  if (past == 0) return oh;
  return room < past ? 0 : (int32_t)((room - past) / ow + 1);
}

/*
 * The per-plane work below is written once with the strides as parameters and instantiated for
 * the common strides as constants (BY_STRIDES), so that the phase arithmetic is shifts, not
 * divisions, in the inner loops.
 */

/* The phase planes of plane `src` (h x w) into scratch S (plane_scratch_size floats). */
static inline __attribute__((always_inline)) void split_plane(const float* src, int32_t h,
                                                              int32_t w, int32_t ph, int32_t pw,
                                                              const phases_t* f, float* S,
                                                              const int32_t sh, const int32_t sw) {
  const int32_t qh = f->qh, qw = f->qw;
  /* rows of at most 8 floats with at most 8 of padding on either side */
  const int short_rows = qw <= 8 && pw <= 8;
  for (int32_t px = 0; px < sw; px++) {
    /* q[t] = src row [t sw + px - pw] for t in [lo, hi); zeros (the padding) elsewhere */
    const int32_t lo = pw > px ? (pw - px + sw - 1) / sw : 0;
    int32_t hi = (w + pw - px + sw - 1) / sw;
    if (hi > qw) hi = qw;
    for (int32_t py = 0; py < sh; py++) {
      float* q = S + ((int64_t)py * sw + px) * f->qs;
      for (int32_t r = 0; r < qh; r++, q += qw) {
        /* stores may run up to 7 floats past the row, into the next row (written after this
         * one) or the plane's slack */
        const int32_t iy = r * sh + py - ph;
        if (iy < 0 || iy >= h) {
          zero_run(q, qw);
          continue;
        }
        const int64_t at = (int64_t)iy * w + (int64_t)lo * sw + px - pw;
        if (short_rows && (int64_t)h * w - at >= 8 * sw) {
          /* one vector each: the padding before, the row, the padding after */
          *(sl_v8*)q = (sl_v8){0};
          take_row(q + lo, src + at, 8, 8 * sw, sw);
          *(sl_v8*)(q + hi) = (sl_v8){0};
          continue;
        }
        zero_run(q, lo);
        take_row(q + lo, src + at, hi - lo, (int64_t)h * w - at, sw);
        zero_run(q + hi, qw - hi);
      }
    }
  }
}

/* Plane `dst` (h x w, overwritten) from the phase planes in scratch S. */
static inline __attribute__((always_inline)) void join_plane(const phases_t* f, int32_t h,
                                                             int32_t w, int32_t ph, int32_t pw,
                                                             const float* S, float* dst,
                                                             const int32_t sh, const int32_t sw) {
  for (int32_t iy = 0; iy < h; iy++) {
    const int32_t y = iy + ph, py = y % sh, r = y / sh;
    const float* q0 = S + (int64_t)py * sw * f->qs + (int64_t)r * f->qw;
    float* d = dst + (int64_t)iy * w;
    if (sw == 1) {
      copy_exact(d, q0 + pw, w);
    } else if (sw == 2) {
      /* d[x] = phase (x + pw) % 2 at (x + pw) / 2; may spill into this plane's next rows,
       * which are written after this one */
      const float* a = (pw & 1) ? q0 + f->qs + pw / 2 : q0 + pw / 2;
      const float* b = (pw & 1) ? q0 + (pw + 1) / 2 : q0 + f->qs + pw / 2;
      interleave2(d, a, b, w, (int64_t)iy * w + ((w + 15) & ~15) <= (int64_t)h * w);
    } else {
      for (int32_t x = 0; x < w; x++) d[x] = q0[((x + pw) % sw) * f->qs + (x + pw) / sw];
    }
  }
}

/* Where window position (ky, kx) starts in a plane's phase planes. */
static inline __attribute__((always_inline)) int64_t phase_at(const phases_t* f, int32_t ky,
                                                              int32_t kx, const int32_t sh,
                                                              const int32_t sw) {
  return ((int64_t)(ky % sh) * sw + kx % sw) * f->qs + (int64_t)(ky / sh) * f->qw + kx / sw;
}

/* The columns of plane pl = (b, ch): col[(ch, ky, kx), (b, oy, ox)], rows of ldcol floats; S is
 * a plane scratch buffer. */
static inline __attribute__((always_inline)) void im2col_plane(
    const float* x, int64_t ldcol, int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw,
    int32_t ph, int32_t pw, int32_t oh, int32_t ow, const phases_t* f, int64_t pl, float* col,
    float* S, const int32_t sh, const int32_t sw) {
  const int32_t b = (int32_t)(pl / c), ch = (int32_t)(pl % c);
  const int32_t spill = spill_rows(oh, ow);
  split_plane(x + pl * h * w, h, w, ph, pw, f, S, sh, sw);
  for (int32_t ky = 0; ky < kh; ky++) {
    for (int32_t kx = 0; kx < kw; kx++) {
      float* d = col + (((int64_t)ch * kh + ky) * kw + kx) * ldcol + (int64_t)b * oh * ow;
      const float* s = S + phase_at(f, ky, kx, sh, sw);
      int32_t oy = 0;
      /* the first rows may spill into this block's next rows, which are written after; rows
       * of at most 8 as one vector each without copy_spill's loop (1.04-1.06x slower through it
       * for the 7x7 outputs of the quick network's second convolution) */
      if (ow <= 8) {
        for (; oy < spill; oy++, d += ow, s += f->qw) *(sl_v8*)d = *(const sl_v8*)s;
      } else {
        for (; oy < spill; oy++, d += ow, s += f->qw) copy_spill(d, s, ow);
      }
      for (; oy < oh; oy++, d += ow, s += f->qw) copy_exact(d, s, ow);
    }
  }
}

/* Plane pl = (b, ch) of x from the column matrix (rows of ldcol floats; overwritten, not
 * added); S is a plane scratch buffer. */
static inline __attribute__((always_inline)) void col2im_plane(
    const float* col, int64_t ldcol, int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw,
    int32_t ph, int32_t pw, int32_t oh, int32_t ow, const phases_t* f, int64_t pl, float* x,
    float* S, const int32_t sh, const int32_t sw) {
  const int32_t b = (int32_t)(pl / c), ch = (int32_t)(pl % c);
  const int32_t over = spill_rows(oh, ow);
  memset(S, 0, sizeof(float) * (size_t)(f->qs * sh * sw));
  for (int32_t ky = 0; ky < kh; ky++) {
    for (int32_t kx = 0; kx < kw; kx++) {
      const float* s = col + (((int64_t)ch * kh + ky) * kw + kx) * ldcol + (int64_t)b * oh * ow;
      float* d = S + phase_at(f, ky, kx, sh, sw);
      int32_t oy = 0;
      /* the first rows may read this block's next rows (never past the block) */
      for (; oy < over; oy++, s += ow, d += f->qw) add_row(d, s, ow, 1);
      for (; oy < oh; oy++, s += ow, d += f->qw) add_row(d, s, ow, 0);
    }
  }
  join_plane(f, h, w, ph, pw, S, x + pl * h * w, sh, sw);
}

/* Plane pl of im2col (adjoint 0: src = x, dst = col) or of col2im (adjoint 1: src = col,
 * dst = x) at strides sh, sw; S is a plane scratch buffer. */
static inline __attribute__((always_inline)) void plane_op_at(
    int adjoint, const float* src, float* dst, int64_t ldcol, int32_t c, int32_t h, int32_t w,
    int32_t kh, int32_t kw, int32_t ph, int32_t pw, int32_t oh, int32_t ow, const phases_t* f,
    int64_t pl, float* S, const int32_t sh, const int32_t sw) {
  if (adjoint) {
    col2im_plane(src, ldcol, c, h, w, kh, kw, ph, pw, oh, ow, f, pl, dst, S, sh, sw);
  } else {
    im2col_plane(src, ldcol, c, h, w, kh, kw, ph, pw, oh, ow, f, pl, dst, S, sh, sw);
  }
}

/* CALL(SH, SW) with the strides of the phase geometry f as constants where they are 1 or 2, else
 * as they are. */
#define BY_STRIDES(f, CALL)                      \
  do {                                           \
    if ((f)->sh == 1 && (f)->sw == 1) {          \
      CALL(1, 1);                                \
    } else if ((f)->sh == 2 && (f)->sw == 2) {   \
      CALL(2, 2);                                \
    } else {                                     \
      CALL((f)->sh, (f)->sw);                    \
    }                                            \
  } while (0)

/* plane_op_at, BY_STRIDES. */
static void plane_op(int adjoint, const float* src, float* dst, int64_t ldcol, int32_t c, int32_t h,
                     int32_t w, int32_t kh, int32_t kw, int32_t ph, int32_t pw, int32_t oh,
                     int32_t ow, const phases_t* f, int64_t pl, float* S) {
#define PLANE_AT(SH, SW) \
  plane_op_at(adjoint, src, dst, ldcol, c, h, w, kh, kw, ph, pw, oh, ow, f, pl, S, SH, SW)
  BY_STRIDES(f, PLANE_AT);
#undef PLANE_AT
}

/*
 * im2col (adjoint 0: x [n, c, h, w] -> col [c*kh*kw, n*oh*ow], rows of ldcol >= n*oh*ow floats)
 * or col2im (adjoint 1: col -> x, overwritten) of images [0, n), one input plane at a time:
 * over the team, each thread with its own plane scratch, when `par` and the columns are many
 * (planes are disjoint in x and in col, so no two threads write one value), else without
 * entering OpenMP. Returns 0, or -1 when a buffer could not be allocated.
 */
static int planes_run(int adjoint, const float* src, float* dst, int32_t n, int32_t c, int32_t h,
                      int32_t w, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                      int32_t pw, int32_t oh, int32_t ow, int64_t ldcol, int par) {
  const int64_t planes = (int64_t)n * c;
  const phases_t f = phases(h, w, sh, sw, ph, pw);
  const size_t ssz = sizeof(float) * (size_t)plane_scratch_size(&f);
  int oom = 0;
  if (par && planes * kh * kw * oh * ow > PAR_MIN) {
#pragma omp parallel
    {
      float* S = (float*)malloc(ssz);
      if (!S) oom = 1;
#pragma omp for schedule(static)
      for (int64_t pl = 0; pl < planes; pl++) {
        if (S) plane_op(adjoint, src, dst, ldcol, c, h, w, kh, kw, ph, pw, oh, ow, &f, pl, S);
      }
      free(S);
    }
  } else {
    float* S = (float*)malloc(ssz);
    if (!S) return -1;
    for (int64_t pl = 0; pl < planes; pl++) {
      plane_op(adjoint, src, dst, ldcol, c, h, w, kh, kw, ph, pw, oh, ow, &f, pl, S);
    }
    free(S);
  }
  return oom ? -1 : 0;
}

/* The C API's im2col (adjoint 0) or col2im (adjoint 1) of the whole batch, `op` naming it. */
static int planes_api(int adjoint, const float* src, float* dst, const sl_window* g,
                      const char* op) {
  SL_ARG(src != NULL && dst != NULL, "%s: null pointer", op);
  WINDOW(op, g);
  if (planes_run(adjoint, src, dst, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow,
                 (int64_t)n * oh * ow, 1)) {
    return sl_set_error(SL_ERR_MEMORY, "%s: out of memory for a plane's scratch", op);
  }
  return SL_OK;
}

SL_API int sl_im2col(const float* x, const sl_window* g, float* col) {
  return planes_api(0, x, col, g, "sl_im2col");
}

SL_API int sl_col2im(const float* col, const sl_window* g, float* x) {
  return planes_api(1, col, x, g, "sl_col2im");
}

/* ---------------------------------------------------------------- fused convolution */

/*
 * Convolution without the whole batch's column matrix. The batch is cut into groups of
 * images; a group's columns [c*kh*kw, g*oh*ow] are built in a buffer that stays in cache,
 * multiplied, and dropped. With enough images, threads take whole groups and run serial GEMMs
 * (no column matrix of hundreds of MB goes through memory, no transpose of the output); with
 * few images the groups run in turn and each GEMM uses the whole team. The plan is
 * conv_plan_t (internal.h).
 */

/* Columns a group aims for: enough for the GEMM's N to fill several micro-panels. */
#define CONV_GROUP_COLS 512
/* Cap on a serial-mode group's column buffer (floats). */
#define CONV_MAX_COL 16777216LL
/* A single-thread forward group's column buffer (floats), to stay in L2. */
#define CONV_SERIAL_COL 65536LL

static conv_plan_t conv_plan(int32_t n, int32_t c, int32_t h, int32_t w, int32_t kh, int32_t kw,
                             int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t oh,
                             int32_t ow, int32_t f) {
  conv_plan_t p = {n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, f, 0, 0, 1, 0, 1, 1};
  p.s = (int64_t)oh * ow;
  p.ckk = (int64_t)c * kh * kw;
#ifdef _OPENMP
  if ((double)f * (double)p.ckk * (double)n * (double)p.s >= (double)SLG_PARALLEL_MIN_FLOPS) {
    p.nt = omp_get_max_threads();
  }
#endif
  if (p.nt > 1 && n >= 2 * p.nt) {
    p.outer = 1;
    int64_t g = (CONV_GROUP_COLS + p.s - 1) / p.s;
    const int64_t cap = n / (2 * p.nt); /* at least two groups per thread */
    if (g > cap) g = cap;
    p.gsz = g < 1 ? 1 : g;
  } else {
    int64_t g = CONV_MAX_COL / (p.ckk * p.s);
    if (g > n) g = n;
    p.gsz = g < 1 ? 1 : g;
  }
  p.groups = (n + p.gsz - 1) / p.gsz;
  return p;
}

/* Per-thread scratch: the group's columns, its output or dL/dy in [f, g*s] order, and the
 * GEMM packing buffers (serial mode only). */
typedef struct {
  float* col;
  float* mat;
  float* pa;
  float* pb;
} conv_scratch_t;

/* need_col 0: the columns live in a column cache and no dL/dcol is wanted, so no column
 * scratch. */
static int conv_scratch_init(const conv_plan_t* p, int serial_gemm, int need_col,
                             conv_scratch_t* sc) {
  const int64_t cols = p->gsz * p->s;
  sc->col = need_col ? (float*)malloc(sizeof(float) * (size_t)(p->ckk * cols)) : NULL;
  sc->mat = p->gsz > 1 ? (float*)malloc(sizeof(float) * (size_t)(p->f * cols)) : NULL;
  sc->pa = sc->pb = NULL;
  const int packed = !serial_gemm || slg_serial_buffers(&sc->pa, &sc->pb);
  return (sc->col || !need_col) && (p->gsz == 1 || sc->mat) && packed;
}

static void conv_scratch_free(conv_scratch_t* sc) {
  free(sc->col);
  free(sc->mat);
  free(sc->pa);
  free(sc->pb);
}

/* Row-major GEMM, B with leading dimension ldb (C and A contiguous), over the team
 * (sc->pa == NULL) or on this thread alone. */
static int conv_gemm(const conv_scratch_t* sc, int ta, int tb, int64_t m, int64_t n, int64_t k,
                     const float* a, const float* b, int64_t ldb, float beta, float* c) {
  if (!sc->pa) return slg_sgemm_ld(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, ldb, beta, c, n);
  slg_gemm_serial(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, ldb, beta, c, n, sc->pa, sc->pb);
  return 0;
}

/*
 * The columns of images [b0, b0 + gn) for a group: built in the scratch (cache NULL), or in the
 * column cache (the whole batch's [ckk, n*s] matrix, whose slab of this group they are), or,
 * when `built`, already there. Sets *ld to their row length. Returns them, or NULL when a
 * buffer could not be allocated.
 */
static const float* conv_group_columns(const conv_plan_t* p, const float* x, float* cache,
                                       int built, int64_t b0, int64_t gn, const conv_scratch_t* sc,
                                       int64_t* ld) {
  float* col = cache ? cache + b0 * p->s : sc->col;
  *ld = cache ? (int64_t)p->n * p->s : gn * p->s;
  if (built) return col;
  if (planes_run(0, x + b0 * p->c * p->h * p->w, col, (int32_t)gn, p->c, p->h, p->w, p->kh,
                 p->kw, p->sh, p->sw, p->ph, p->pw, p->oh, p->ow, *ld, sc->pa == NULL)) {
    return NULL;
  }
  return col;
}

/* Images [b0, b0 + gn) forward: y[b, f, :] = W col + bias (the columns in the cache when it is
 * given, see conv_group_columns). */
static int conv_forward_group(const conv_plan_t* p, const float* x, const float* wt,
                              const float* bias, float* y, float* cache, int64_t b0, int64_t gn,
                              const conv_scratch_t* sc) {
  const int par = sc->pa == NULL;
  const int64_t cols = gn * p->s;
  int64_t ld;
  const float* col = conv_group_columns(p, x, cache, 0, b0, gn, sc, &ld);
  if (!col) return -1;
  float* out = gn == 1 ? y + b0 * p->f * p->s : sc->mat;
  if (conv_gemm(sc, 0, 0, p->f, cols, p->ckk, wt, col, ld, 0.0f, out)) return -1;
  if (gn == 1 && !bias) return 0;
  const int64_t rows = gn * p->f;
#pragma omp parallel for schedule(static) if (par && rows * p->s > PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t i = r / p->f, ff = r % p->f;
    float* dst = y + ((b0 + i) * p->f + ff) * p->s;
    const float* src = gn == 1 ? dst : out + ff * cols + i * p->s;
    const float bv = bias ? bias[ff] : 0.0f;
    for (int64_t j = 0; j < p->s; j++) dst[j] = src[j] + bv;
  }
  return 0;
}

/* Images [b0, b0 + gn) backward: dw (+)= dy col^T (beta 1), db += row sums of dy (in double),
 * dx = col2im(W^T dy) when dx is given; the columns from the cache when it is given (built by
 * the forward), else rebuilt. */
static int conv_backward_group(const conv_plan_t* p, const float* x, const float* wt,
                               const float* dy, float* dw, double* db, float* dx,
                               const float* cache, int64_t b0, int64_t gn,
                               const conv_scratch_t* sc) {
  const int par = sc->pa == NULL;
  const int64_t cols = gn * p->s;
  const int64_t img = (int64_t)p->c * p->h * p->w;
  int64_t ld;
  const float* col = conv_group_columns(p, x, (float*)cache, cache != NULL, b0, gn, sc, &ld);
  if (!col) return -1;
  const float* d = dy + b0 * p->f * p->s;
  if (gn > 1) {
    const int64_t rows = gn * p->f;
#pragma omp parallel for schedule(static) if (par && rows * p->s > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t i = r / p->f, ff = r % p->f;
      copy_exact(sc->mat + ff * cols + i * p->s, d + r * p->s, (int32_t)p->s);
    }
    d = sc->mat;
  }
  if (db) conv_bias_sums(dy + b0 * p->f * p->s, gn, p->f, p->s, db);
  if (conv_gemm(sc, 0, 1, p->f, p->ckk, cols, d, col, ld, 1.0f, dw)) return -1;
  if (!dx) return 0;
  /* dcol = W^T dy into the scratch (the columns there, if any, are no longer needed) */
  if (conv_gemm(sc, 1, 0, p->ckk, cols, p->f, wt, d, cols, 0.0f, sc->col)) return -1;
  return planes_run(1, sc->col, dx + b0 * img, (int32_t)gn, p->c, p->h, p->w, p->kh, p->kw, p->sh,
                    p->sw, p->ph, p->pw, p->oh, p->ow, cols, par);
}

/* ---------------------------------------------------------------- forward without columns */

/* The phase planes of one image's c input planes (h x w each, consecutive in x) into S, one
 * plane's after another, pstride floats apart. */
static void split_image(const float* x, int32_t c, int32_t h, int32_t w, int32_t ph, int32_t pw,
                        const phases_t* f, int64_t pstride, float* S) {
#define SPLIT_AT(SH, SW)                                                                \
  for (int32_t ch = 0; ch < c; ch++) {                                                  \
    split_plane(x + (int64_t)ch * h * w, h, w, ph, pw, f, S + ch * pstride, SH, SW); \
  }
  BY_STRIDES(f, SPLIT_AT);
#undef SPLIT_AT
}

/* One output plane (oh x ow) from rows of qw floats of the product, plus bv when `add`; the
 * first `spill` rows as whole 8-float vectors (the excess lands in the plane's next row,
 * written after). */
static inline void direct_rows(float* restrict dst, const float* restrict src, int32_t oh,
                               int32_t ow, int32_t qw, int32_t spill, float bv, int add) {
  const sl_v8 b8 = {bv, bv, bv, bv, bv, bv, bv, bv};
  int32_t oy = 0;
  if (ow <= 8) {
    for (; oy < spill; oy++, dst += ow, src += qw) {
      *(sl_v8*)dst = add ? *(const sl_v8*)src + b8 : *(const sl_v8*)src;
    }
  }
  for (; oy < oh; oy++, dst += ow, src += qw) {
    if (add) {
      for (int32_t ox = 0; ox < ow; ox++) dst[ox] = src[ox] + bv;
    } else {
      copy_exact(dst, src, ow);
    }
  }
}

/*
 * The forward without a column matrix (used when no column cache is given). Per image, the
 * input planes are split into phase planes as im2col splits them; read with output rows qw
 * floats long (the phase planes' row length, so the qw - ow extra outputs of each row are
 * computed and dropped), row (ch, ky, kx) of the image's column matrix is then one window of
 * those planes at a fixed offset, and slg_gemm_rows multiplies the weights by the windows in
 * place: no column matrix, no B packing. Every output is the same products summed in the same
 * order as the GEMM on the columns, so the bits are those of the im2col path. Threads take
 * images. Returns 0, or -1 when a buffer could not be allocated.
 */
static int conv_direct_forward(const conv_plan_t* p, const float* x, const float* wt,
                               const float* bias, float* y) {
  const phases_t ph = phases(p->h, p->w, p->sh, p->sw, p->ph, p->pw);
  const int64_t pstride = plane_scratch_size(&ph);
  const int64_t npos = (int64_t)p->oh * ph.qw;
  const int64_t ldc = (npos + SLG_NR - 1) / SLG_NR * SLG_NR;
  /* the windows of the last plane may be read up to kw / sw + SLG_NR floats past its rows */
  const size_t sbytes = sizeof(float) * (size_t)(p->c * pstride + p->kw + SLG_NR);
  const size_t cbytes = (sizeof(float) * (size_t)(p->f * ldc) + 63) / 64 * 64;
  const size_t abytes = (sizeof(float) * (size_t)slg_rows_a_floats(p->f, p->ckk) + 63) / 64 * 64;
  int64_t* off = (int64_t*)malloc(sizeof(int64_t) * (size_t)p->ckk);
  float* pa = (float*)aligned_alloc(64, abytes);
  if (!off || !pa) {
    free(off);
    free(pa);
    return -1;
  }
  for (int32_t ch = 0; ch < p->c; ch++) {
    for (int32_t ky = 0; ky < p->kh; ky++) {
      for (int32_t kx = 0; kx < p->kw; kx++) {
        off[((int64_t)ch * p->kh + ky) * p->kw + kx] =
            ch * pstride + phase_at(&ph, ky, kx, p->sh, p->sw);
      }
    }
  }
  slg_rows_pack_a(wt, p->ckk, p->f, p->ckk, pa);
  const int64_t img = (int64_t)p->c * p->h * p->w;
  const int32_t spill = spill_rows(p->oh, p->ow);
  int oom = 0;
#pragma omp parallel num_threads(p->nt) if (p->nt > 1 && p->n > 1)
  {
    /* zeroed once: what the windows read past the planes' rows is never kept, but is a
     * defined number */
    float* S = (float*)calloc(1, sbytes);
    float* C = (float*)aligned_alloc(64, cbytes);
    if (!S || !C) oom = 1;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < p->n; b++) {
      if (!S || !C) continue;
      split_image(x + b * img, p->c, p->h, p->w, p->ph, p->pw, &ph, pstride, S);
      slg_gemm_rows(p->f, npos, p->ckk, pa, S, off, C, ldc);
      for (int32_t ff = 0; ff < p->f; ff++) {
        direct_rows(y + (b * p->f + ff) * p->s, C + ff * ldc, p->oh, p->ow, ph.qw, spill,
                    bias ? bias[ff] : 0.0f, bias != NULL);
      }
    }
    free(S);
    free(C);
  }
  free(off);
  free(pa);
  return oom ? -1 : 0;
}

/* Weights (floats) up to which the forward without columns is taken at any output size. */
#define CONV_DIRECT_MAX_A 65536
/* Outputs an image must have (counted in rows of qw) for it to be taken with more weights. */
#define CONV_DIRECT_MIN_POS 256

/*
 * Whether the forward goes without columns: when none are cached, not through Winograd, and
 * the weights stay in cache beside the windows or each image has outputs enough to amortise
 * reading them once per image (the column path reads them once per group of images: measured
 * 1.1x faster for 192 3x3x192 filters on 6x6 outputs at 2 threads, the direct path 0.6-0.95x of
 * it on the quick network's and All-CNN-C's other shapes). SHIFTLAB_CONV_ALGO=im2col keeps the
 * column path, for tests that compare the two.
 */
static int conv_direct_applies(const conv_plan_t* p, const float* cols) {
  if (cols != NULL || wino_applies(p)) return 0;
  const char* algo = getenv("SHIFTLAB_CONV_ALGO");
  if (algo && strcmp(algo, "im2col") == 0) return 0;
  const phases_t f = phases(p->h, p->w, p->sh, p->sw, p->ph, p->pw);
  return (int64_t)p->f * p->ckk <= CONV_DIRECT_MAX_A ||
         (int64_t)p->oh * f.qw >= CONV_DIRECT_MIN_POS;
}

/* Whether a column cache applies to the plan: whenever the columns are built (not through
 * Winograd). Each group reads its slab of the cached matrix in place. */
static int conv_caches(const conv_plan_t* p) {
  return !wino_applies(p);
}

#define CONV_WINDOW(op)                                                               \
  SL_ARG(f > 0, "%s: filters must be positive, got %d", op, (int)f);                 \
  WINDOW(op, g);                                                                      \
  const conv_plan_t plan = conv_plan(n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, f);  \
  if (n == 0) return SL_OK

SL_API int sl_conv2d_columns(const sl_window* g, int32_t f, int64_t* floats) {
  SL_ARG(floats != NULL, "sl_conv2d_columns: null pointer");
  *floats = 0;
  CONV_WINDOW("sl_conv2d_columns");
  *floats = conv_caches(&plan) ? plan.ckk * n * plan.s : 0;
  return SL_OK;
}

#define CONV_CACHE(op)                                                                      \
  SL_ARG(cols == NULL || conv_caches(&plan),                                                \
         "%s: a column cache was given for a convolution that does not use one "            \
         "(sl_conv2d_columns gives 0 floats)", op)

SL_API int sl_conv2d_forward(const float* x, const float* wt, const float* bias,
                             const sl_window* g, int32_t f, float* y, float* cols) {
  SL_ARG(x != NULL && wt != NULL && y != NULL, "sl_conv2d_forward: null pointer");
  CONV_WINDOW("sl_conv2d_forward");
  CONV_CACHE("sl_conv2d_forward");
  int oom = 0;
  if (wino_applies(&plan)) {
    oom = wino_conv_forward(x, wt, bias, n, c, h, w, ph, pw, f, oh, ow, y, plan.nt) != 0;
  } else if (conv_direct_applies(&plan, cols)) {
    oom = conv_direct_forward(&plan, x, wt, bias, y) != 0;
  } else if (plan.outer) {
#pragma omp parallel num_threads(plan.nt)
    {
      conv_scratch_t sc;
      const int ok = conv_scratch_init(&plan, 1, cols == NULL, &sc);
      if (!ok) oom = 1;
#pragma omp for schedule(dynamic, 1)
      for (int64_t gi = 0; gi < plan.groups; gi++) {
        if (!ok) continue;
        int64_t gn;
        const int64_t b0 = conv_group(n, plan.gsz, gi, &gn);
        if (conv_forward_group(&plan, x, wt, bias, y, cols, b0, gn, &sc)) oom = 1;
      }
      conv_scratch_free(&sc);
    }
  } else {
    /* On one thread, groups whose columns stay in cache (an output element sums the same
     * products in the same order however the images are grouped, so the bits do not change). */
    conv_plan_t p = plan;
    if (p.nt == 1) {
      const int64_t gs = CONV_SERIAL_COL / (p.ckk * p.s);
      p.gsz = gs < 1 ? 1 : gs > n ? n : gs;
      p.groups = (n + p.gsz - 1) / p.gsz;
    }
    conv_scratch_t sc = {0};
    if (!conv_scratch_init(&p, 0, cols == NULL, &sc)) oom = 1;
    for (int64_t gi = 0; gi < p.groups && !oom; gi++) {
      int64_t gn;
      const int64_t b0 = conv_group(n, p.gsz, gi, &gn);
      if (conv_forward_group(&p, x, wt, bias, y, cols, b0, gn, &sc)) oom = 1;
    }
    conv_scratch_free(&sc);
  }
  return oom ? sl_set_error(SL_ERR_MEMORY, "sl_conv2d_forward: out of memory for the work buffers")
             : SL_OK;
}

/*
 * In the threaded mode each thread owns a contiguous run of groups and sums its dL/dw and
 * dL/db into its own buffers, which are then added to dw and db in thread order: for a given
 * thread count the result is the same on every run.
 */
SL_API int sl_conv2d_backward(const float* x, const float* wt, const float* dy,
                              const sl_window* g, int32_t f, float* dw, float* db, float* dx,
                              const float* cols) {
  SL_ARG(x != NULL && wt != NULL && dy != NULL && dw != NULL,
         "sl_conv2d_backward: null pointer");
  CONV_WINDOW("sl_conv2d_backward");
  CONV_CACHE("sl_conv2d_backward");
  const int64_t wsize = (int64_t)f * plan.ckk;
  const int need_col = cols == NULL || dx != NULL;
  int oom = 0;
  if (wino_applies(&plan)) {
    oom = wino_conv_backward(x, wt, dy, n, c, h, w, ph, pw, f, oh, ow, dw, db, dx, plan.nt) != 0;
  } else if (plan.outer) {
    const int nt = plan.nt;
    float* dw_t = (float*)calloc((size_t)(nt * wsize), sizeof(float));
    double* db_t = (double*)calloc((size_t)(nt * f), sizeof(double));
    if (!dw_t || !db_t) {
      free(dw_t);
      free(db_t);
      return sl_set_error(SL_ERR_MEMORY, "sl_conv2d_backward: out of memory for the work buffers");
    }
#pragma omp parallel num_threads(nt)
    {
      int team;
      int64_t lo, hi;
      const int t = conv_thread_range(plan.groups, &team, &lo, &hi);
      conv_scratch_t sc;
      const int ok = conv_scratch_init(&plan, 1, need_col, &sc);
      if (!ok) oom = 1;
      for (int64_t gi = lo; gi < hi && ok; gi++) {
        int64_t gn;
        const int64_t b0 = conv_group(n, plan.gsz, gi, &gn);
        if (conv_backward_group(&plan, x, wt, dy, dw_t + t * wsize, db ? db_t + t * f : NULL, dx,
                                cols, b0, gn, &sc)) {
          oom = 1;
        }
      }
      conv_scratch_free(&sc);
#pragma omp barrier
      if (!oom) conv_reduce_partials(dw, 1, dw_t, wsize, team, db, db_t, f);
    }
    free(dw_t);
    free(db_t);
  } else {
    conv_scratch_t sc = {0};
    double* db_acc = (double*)calloc((size_t)f, sizeof(double));
    if (!db_acc || !conv_scratch_init(&plan, 0, need_col, &sc)) oom = 1;
    for (int64_t gi = 0; gi < plan.groups && !oom; gi++) {
      int64_t gn;
      const int64_t b0 = conv_group(n, plan.gsz, gi, &gn);
      if (conv_backward_group(&plan, x, wt, dy, dw, db ? db_acc : NULL, dx, cols, b0, gn, &sc)) {
        oom = 1;
      }
    }
    if (!oom && db) {
      for (int32_t ff = 0; ff < f; ff++) db[ff] += (float)db_acc[ff];
    }
    conv_scratch_free(&sc);
    free(db_acc);
  }
  return oom ? sl_set_error(SL_ERR_MEMORY, "sl_conv2d_backward: out of memory for the work buffers")
             : SL_OK;
}
