/*
 * Host C build: Winograd F(2x2, 3x3) convolution for 3x3 windows with stride 1
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
 *
 * Every 2x2 output tile is A^T [ sum_c (G g_fc G^T) . (B^T d_c B) ] A, with d_c the 4x4 input
 * patch of channel c under the tile: 16 products per tile instead of 36. Over a group of
 * images the sum over c is, for each of the 16 positions e of the 4x4 transform, one GEMM
 * U_e [F x C] x V_e [C x T] (T tiles), so the work is 16 GEMMs of 4/9 the direct
 * convolution's arithmetic plus the transforms.
 *
 * Backward: dL/dx is the same forward algorithm applied to dy with the kernels rotated by
 * 180 degrees, channels swapped and padding 2 - p; dL/dw follows from the adjoints of the
 * forward's linear maps: dU_e = sum over tiles (A dY A^T)_e V_e^T, then dw += G^T dU G.
 *
 * Called by conv.c; shares conv_plan_t and the convolution helpers of internal.h
 * (conv_thread_range, conv_group, conv_bias_sums, conv_reduce_partials). Each thread takes
 * whole groups of images; the weight gradient is summed per thread and added in thread order
 * (deterministic for a given thread count).
 */
#include "internal.h"

/* Tiles a group aims for (the GEMMs' N). */
#define WINO_GROUP_TILES 256

/*
 * Whether the Winograd path takes this convolution. It can take a 3x3 window with stride 1
 * and padding at most 2 (dL/dx uses padding 2 - p). SHIFTLAB_CONV_ALGO=winograd sends every
 * such convolution through it and =im2col none (tests run both ways on the same shapes);
 * otherwise it takes those where it measured faster: threads over groups of images (the
 * `outer` mode), at least 16 channels in and out (the GEMMs' K), and outputs of at least 64
 * pixels (All-CNN-C's 6x6 layer was slower: few tiles per image, more waste at the edges).
 */
int wino_applies(const conv_plan_t* p) {
  if (p->kh != 3 || p->kw != 3 || p->sh != 1 || p->sw != 1 || p->ph > 2 || p->pw > 2) return 0;
  const char* algo = getenv("SHIFTLAB_CONV_ALGO");
  if (algo && strcmp(algo, "im2col") == 0) return 0;
  if (algo && strcmp(algo, "winograd") == 0) return 1;
  return p->outer && p->c >= 16 && p->f >= 16 && p->s >= 64;
}

/* u[e][o][i] = (G g G^T)[e] for the kernel g of output channel o, input channel i. Forward:
 * g = wt[o][i] (o < f, i < c). Rotated (for dL/dx): o runs over c, i over f, and g is
 * wt[i][o] turned by 180 degrees. */
static void wino_filter(const float* wt, int32_t f, int32_t c, int rotated, float* u) {
  const int64_t no = rotated ? c : f, ni = rotated ? f : c;
  const int64_t plane = no * ni;
#pragma omp parallel for schedule(static) if (plane * 16 > PAR_MIN)
  for (int64_t oi = 0; oi < plane; oi++) {
    const int64_t o = oi / ni, i = oi % ni;
    float g[3][3];
    const float* src = rotated ? wt + (i * c + o) * 9 : wt + (o * c + i) * 9;
    for (int r = 0; r < 3; r++) {
      for (int s = 0; s < 3; s++) g[r][s] = rotated ? src[(2 - r) * 3 + (2 - s)] : src[r * 3 + s];
    }
    float t[4][3]; /* G g */
    for (int s = 0; s < 3; s++) {
      t[0][s] = g[0][s];
      t[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
      t[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
      t[3][s] = g[2][s];
    }
    for (int r = 0; r < 4; r++) { /* (G g) G^T */
      float* d = u + (int64_t)(r * 4) * plane + oi;
      d[0] = t[r][0];
      d[plane] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
      d[2 * plane] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
      d[3 * plane] = t[r][2];
    }
  }
}

/*
 * The transforms work on 8 tiles of a tile row at once (sl_v8, GCC vector extensions: AVX2
 * on x86, pairs of 4-wide vectors elsewhere). The input rows under a tile row are first copied into
 * zero-padded rows, so the 8 patches are the even / odd columns of 16 consecutive floats and
 * no tile needs a bounds check.
 */
typedef sl_v8 wino_v8;
typedef sl_i8 wino_i8;

#define WINO_EVEN SL_EVEN8
#define WINO_ODD SL_ODD8

static inline wino_v8 wino_load(const float* p) { return *(const wino_v8*)p; }

/* Stores k <= 8 lanes of v at p. */
static inline void wino_store(float* p, wino_v8 v, int k) {
  if (k == 8) {
    *(wino_v8*)p = v;
  } else {
    for (int i = 0; i < k; i++) p[i] = v[i];
  }
}

/* Room for a padded row of `tiles` tiles of width 2 plus the 4-wide window and vector slack. */
#define WINO_ROW(tiles) (2 * (int64_t)(tiles) + 24)

/* dst[j] = src[j - off] for 0 <= j - off < len, else 0, for j < n. src NULL: all zero. */
static void wino_pad_row(const float* src, int32_t off, int32_t len, float* dst, int64_t n) {
  if (!src) {
    memset(dst, 0, sizeof(float) * (size_t)n);
    return;
  }
  /* valid j: off <= j < off + len, clipped to [0, n) */
  const int64_t lo = off < n ? off : n;
  const int64_t hi = off + len < n ? off + len : n;
  memset(dst, 0, sizeof(float) * (size_t)lo);
  if (hi > lo) memcpy(dst + lo, src, sizeof(float) * (size_t)(hi - lo));
  if (n > hi) memset(dst + (hi > lo ? hi : lo), 0, sizeof(float) * (size_t)(n - (hi > lo ? hi : lo)));
}

/* v[e][ch][t] = (B^T d B)[e] for tile t = (b, ty, tx) of gn images of c channels, d the 4x4
 * patch of x at (2 ty - ph, 2 tx - pw), zero outside the image. `rows` has room for
 * 4 * WINO_ROW(tw) floats. */
static void wino_input(const float* x, int64_t gn, int32_t c, int32_t h, int32_t w, int32_t ph,
                       int32_t pw, int32_t th, int32_t tw, float* v, int64_t T, float* rows) {
  const int64_t stride_e = (int64_t)c * T;
  const int64_t rl = WINO_ROW(tw);
  for (int64_t ch = 0; ch < c; ch++) {
    for (int64_t b = 0; b < gn; b++) {
      const float* plane = x + (b * c + ch) * h * w;
      for (int32_t ty = 0; ty < th; ty++) {
        for (int r = 0; r < 4; r++) {
          const int32_t yy = 2 * ty - ph + r;
          wino_pad_row(yy >= 0 && yy < h ? plane + (int64_t)yy * w : NULL, pw, w, rows + r * rl,
                       rl);
        }
        float* o = v + ch * T + (b * th + ty) * tw;
        for (int32_t tx = 0; tx < tw; tx += 8) {
          const int k = tw - tx < 8 ? tw - tx : 8;
          wino_v8 d[4][4];
          for (int r = 0; r < 4; r++) {
            const float* q = rows + r * rl + 2 * tx;
            const wino_v8 a0 = wino_load(q), a1 = wino_load(q + 8);
            const wino_v8 b0 = wino_load(q + 2), b1 = wino_load(q + 10);
            d[r][0] = __builtin_shuffle(a0, a1, WINO_EVEN);
            d[r][1] = __builtin_shuffle(a0, a1, WINO_ODD);
            d[r][2] = __builtin_shuffle(b0, b1, WINO_EVEN);
            d[r][3] = __builtin_shuffle(b0, b1, WINO_ODD);
          }
          wino_v8 t[4][4]; /* B^T d */
          for (int q = 0; q < 4; q++) {
            t[0][q] = d[0][q] - d[2][q];
            t[1][q] = d[1][q] + d[2][q];
            t[2][q] = d[2][q] - d[1][q];
            t[3][q] = d[1][q] - d[3][q];
          }
          for (int r = 0; r < 4; r++) { /* (B^T d) B */
            wino_store(o + (r * 4 + 0) * stride_e + tx, t[r][0] - t[r][2], k);
            wino_store(o + (r * 4 + 1) * stride_e + tx, t[r][1] + t[r][2], k);
            wino_store(o + (r * 4 + 2) * stride_e + tx, t[r][2] - t[r][1], k);
            wino_store(o + (r * 4 + 3) * stride_e + tx, t[r][1] - t[r][3], k);
          }
        }
      }
    }
  }
}

/* y[b][ch][2ty + i][2tx + j] = (A^T M A)[i][j] + bias[ch] for the outputs inside oh x ow;
 * M[e] = m[e][ch][t]. m has 8 floats of slack at its end. */
static void wino_output(const float* m, int64_t gn, int32_t c, int32_t oh, int32_t ow,
                        int32_t th, int32_t tw, int64_t T, const float* bias, float* y) {
  const int64_t stride_e = (int64_t)c * T;
  for (int64_t ch = 0; ch < c; ch++) {
    const float bv = bias ? bias[ch] : 0.0f;
    for (int64_t b = 0; b < gn; b++) {
      float* plane = y + (b * c + ch) * oh * ow;
      for (int32_t ty = 0; ty < th; ty++) {
        const float* src = m + ch * T + (b * th + ty) * tw;
        for (int32_t tx = 0; tx < tw; tx += 8) {
          wino_v8 mm[16];
          for (int e = 0; e < 16; e++) mm[e] = wino_load(src + e * stride_e + tx);
          for (int i = 0; i < 2; i++) {
            const int32_t yy = 2 * ty + i;
            if (yy >= oh) break;
            wino_v8 s[4]; /* row i of A^T M */
            for (int q = 0; q < 4; q++) {
              s[q] = i == 0 ? mm[q] + mm[4 + q] + mm[8 + q] : mm[4 + q] - mm[8 + q] - mm[12 + q];
            }
            const wino_v8 o0 = s[0] + s[1] + s[2] + bv;
            const wino_v8 o1 = s[1] - s[2] - s[3] + bv;
            const wino_v8 lo = __builtin_shuffle(o0, o1, ((wino_i8){0, 8, 1, 9, 2, 10, 3, 11}));
            const wino_v8 hi = __builtin_shuffle(o0, o1, ((wino_i8){4, 12, 5, 13, 6, 14, 7, 15}));
            float* dst = plane + (int64_t)yy * ow + 2 * tx;
            const int32_t n = ow - 2 * tx < 16 ? ow - 2 * tx : 16;
            if (n == 16) {
              *(wino_v8*)dst = lo;
              *(wino_v8*)(dst + 8) = hi;
            } else {
              wino_store(dst, lo, n < 8 ? n : 8);
              if (n > 8) wino_store(dst + 8, hi, n - 8);
            }
          }
        }
      }
    }
  }
}

/* dm[e][ch][t] = (A dY A^T)[e], dY the 2x2 tile of dy (zero outside oh x ow): the adjoint of
 * wino_output. `rows` has room for 2 * WINO_ROW(tw) floats. */
static void wino_output_adjoint(const float* dy, int64_t gn, int32_t c, int32_t oh, int32_t ow,
                                int32_t th, int32_t tw, int64_t T, float* dm, float* rows) {
  const int64_t stride_e = (int64_t)c * T;
  const int64_t rl = WINO_ROW(tw);
  for (int64_t ch = 0; ch < c; ch++) {
    for (int64_t b = 0; b < gn; b++) {
      const float* plane = dy + (b * c + ch) * oh * ow;
      for (int32_t ty = 0; ty < th; ty++) {
        for (int i = 0; i < 2; i++) {
          const int32_t yy = 2 * ty + i;
          wino_pad_row(yy < oh ? plane + (int64_t)yy * ow : NULL, 0, ow, rows + i * rl, rl);
        }
        float* o = dm + ch * T + (b * th + ty) * tw;
        for (int32_t tx = 0; tx < tw; tx += 8) {
          const int k = tw - tx < 8 ? tw - tx : 8;
          wino_v8 g[2][2];
          for (int i = 0; i < 2; i++) {
            const float* q = rows + i * rl + 2 * tx;
            const wino_v8 a0 = wino_load(q), a1 = wino_load(q + 8);
            g[i][0] = __builtin_shuffle(a0, a1, WINO_EVEN);
            g[i][1] = __builtin_shuffle(a0, a1, WINO_ODD);
          }
          wino_v8 t[4][2]; /* A dY */
          for (int j = 0; j < 2; j++) {
            t[0][j] = g[0][j];
            t[1][j] = g[0][j] + g[1][j];
            t[2][j] = g[0][j] - g[1][j];
            t[3][j] = -g[1][j];
          }
          for (int r = 0; r < 4; r++) { /* (A dY) A^T */
            wino_store(o + (r * 4 + 0) * stride_e + tx, t[r][0], k);
            wino_store(o + (r * 4 + 1) * stride_e + tx, t[r][0] + t[r][1], k);
            wino_store(o + (r * 4 + 2) * stride_e + tx, t[r][0] - t[r][1], k);
            wino_store(o + (r * 4 + 3) * stride_e + tx, -t[r][1], k);
          }
        }
      }
    }
  }
}

/* dw[o][i][3][3] += (G^T dU G) with dU[e] = du[e][o][i] (f x c): the adjoint of wino_filter. */
static void wino_filter_adjoint(const float* du, int32_t f, int32_t c, float* dw) {
  const int64_t plane = (int64_t)f * c;
#pragma omp parallel for schedule(static) if (plane * 16 > PAR_MIN)
  for (int64_t oi = 0; oi < plane; oi++) {
    float u[4][4];
    for (int e = 0; e < 16; e++) u[e / 4][e % 4] = du[e * plane + oi];
    float t[3][4]; /* G^T dU */
    for (int s = 0; s < 4; s++) {
      t[0][s] = u[0][s] + 0.5f * (u[1][s] + u[2][s]);
      t[1][s] = 0.5f * (u[1][s] - u[2][s]);
      t[2][s] = 0.5f * (u[1][s] + u[2][s]) + u[3][s];
    }
    float* d = dw + oi * 9;
    for (int r = 0; r < 3; r++) { /* (G^T dU) G */
      d[r * 3 + 0] += t[r][0] + 0.5f * (t[r][1] + t[r][2]);
      d[r * 3 + 1] += 0.5f * (t[r][1] - t[r][2]);
      d[r * 3 + 2] += 0.5f * (t[r][1] + t[r][2]) + t[r][3];
    }
  }
}

/* How a call is cut up: tiles per image and images per group. */
typedef struct {
  int32_t c, f;
  int32_t th, tw; /* forward tiles per image: ceil(oh / 2) x ceil(ow / 2) */
  int32_t btw;    /* dL/dx tiles per image row: ceil(w / 2) */
  int64_t gsz, groups;
  int64_t tmax; /* tiles of the largest group, forward or dL/dx */
} wino_plan_t;

static wino_plan_t wino_plan(int32_t n, int32_t c, int32_t h, int32_t w, int32_t f, int32_t oh,
                             int32_t ow, int nt) {
  wino_plan_t p = {c, f, (oh + 1) / 2, (ow + 1) / 2, (w + 1) / 2, 1, 1, 0};
  const int64_t per = (int64_t)p.th * p.tw;
  int64_t g = (WINO_GROUP_TILES + per - 1) / per;
  const int64_t cap = n / (2 * nt) > 0 ? n / (2 * nt) : 1; /* two groups per thread */
  if (g > cap) g = cap;
  p.gsz = g < 1 ? 1 : g;
  p.groups = (n + p.gsz - 1) / p.gsz;
  const int64_t back = (int64_t)((h + 1) / 2) * p.btw;
  p.tmax = p.gsz * (per > back ? per : back);
  return p;
}

/* Per-thread buffers: two transform planes of 16 x max(c, f) x tmax, GEMM packing. */
typedef struct {
  float* v;
  float* m;
  float* rows;
  float* pa;
  float* pb;
} wino_scratch_t;

static int wino_scratch_init(const wino_plan_t* p, wino_scratch_t* s) {
  const size_t ch = (size_t)(p->c > p->f ? p->c : p->f);
  const size_t n = 16 * ch * (size_t)p->tmax + 8; /* + slack for 8-wide loads */
  const int32_t tiles = p->tw > p->btw ? p->tw : p->btw;
  s->v = (float*)malloc(sizeof(float) * n);
  s->m = (float*)malloc(sizeof(float) * n);
  s->rows = (float*)malloc(sizeof(float) * 4 * (size_t)WINO_ROW(tiles));
  const int packed = slg_serial_buffers(&s->pa, &s->pb);
  return s->v && s->m && s->rows && packed;
}

static void wino_scratch_free(wino_scratch_t* s) {
  free(s->v);
  free(s->m);
  free(s->rows);
  free(s->pa);
  free(s->pb);
}

/* One forward pass over gn images: out (co channels, oh x ow) = conv3x3(in (ci channels,
 * h x w), padding ph/pw) with the transformed kernels u [16][co][ci], plus bias. */
static void wino_pass(const float* in, int64_t gn, int32_t ci, int32_t h, int32_t w, int32_t ph,
                      int32_t pw, const float* u, int32_t co, int32_t oh, int32_t ow,
                      const float* bias, float* out, const wino_scratch_t* s) {
  const int32_t th = (oh + 1) / 2, tw = (ow + 1) / 2;
  const int64_t T = gn * th * tw;
  wino_input(in, gn, ci, h, w, ph, pw, th, tw, s->v, T, s->rows);
  for (int e = 0; e < 16; e++) {
    slg_gemm_serial(0, 0, co, T, ci, 1.0f, u + (int64_t)e * co * ci, ci,
                    s->v + (int64_t)e * ci * T, T, 0.0f, s->m + (int64_t)e * co * T, T, s->pa,
                    s->pb);
  }
  wino_output(s->m, gn, co, oh, ow, th, tw, T, bias, out);
}

/* Returns 0, or -1 when out of memory. */
int wino_conv_forward(const float* x, const float* wt, const float* bias, int32_t n,
                             int32_t c, int32_t h, int32_t w, int32_t ph, int32_t pw, int32_t f,
                             int32_t oh, int32_t ow, float* y, int nt) {
  const wino_plan_t p = wino_plan(n, c, h, w, f, oh, ow, nt);
  float* u = (float*)malloc(sizeof(float) * 16 * (size_t)f * (size_t)c);
  if (!u) return -1;
  wino_filter(wt, f, c, 0, u);
  int oom = 0;
#pragma omp parallel num_threads(nt)
  {
    wino_scratch_t s;
    const int ok = wino_scratch_init(&p, &s);
    if (!ok) oom = 1;
#pragma omp for schedule(dynamic, 1)
    for (int64_t gi = 0; gi < p.groups; gi++) {
      if (!ok) continue;
      int64_t gn;
      const int64_t b0 = conv_group(n, p.gsz, gi, &gn);
      wino_pass(x + b0 * c * h * w, gn, c, h, w, ph, pw, u, f, oh, ow, bias,
                y + b0 * f * oh * ow, &s);
    }
    wino_scratch_free(&s);
  }
  free(u);
  return oom ? -1 : 0;
}

/* dw += dL/dw, db += dL/db (db may be NULL), dx = dL/dx (dx may be NULL). Returns 0, or -1
 * when out of memory. */
int wino_conv_backward(const float* x, const float* wt, const float* dy, int32_t n,
                              int32_t c, int32_t h, int32_t w, int32_t ph, int32_t pw, int32_t f,
                              int32_t oh, int32_t ow, float* dw, float* db, float* dx, int nt) {
  const wino_plan_t p = wino_plan(n, c, h, w, f, oh, ow, nt);
  const int64_t usize = 16 * (int64_t)f * c;
  float* ur = dx ? (float*)malloc(sizeof(float) * (size_t)usize) : NULL;
  float* du = (float*)calloc((size_t)(nt * usize), sizeof(float));
  double* db_t = (double*)calloc((size_t)nt * (size_t)f, sizeof(double));
  if ((dx && !ur) || !du || !db_t) {
    free(ur);
    free(du);
    free(db_t);
    return -1;
  }
  if (dx) wino_filter(wt, f, c, 1, ur);
  int oom = 0;
#pragma omp parallel num_threads(nt)
  {
    int team;
    int64_t lo, hi;
    const int t = conv_thread_range(p.groups, &team, &lo, &hi);
    wino_scratch_t s;
    const int ok = wino_scratch_init(&p, &s);
    if (!ok) oom = 1;
    float* du_t = du + t * usize;
    for (int64_t gi = lo; gi < hi && ok; gi++) {
      int64_t gn;
      const int64_t b0 = conv_group(n, p.gsz, gi, &gn);
      const float* xg = x + b0 * c * h * w;
      const float* dyg = dy + b0 * f * oh * ow;
      if (db) conv_bias_sums(dyg, gn, f, (int64_t)oh * ow, db_t + t * f);
      /* dU_e += (A dY A^T)_e V_e^T over this group's tiles */
      const int64_t T = gn * p.th * p.tw;
      wino_input(xg, gn, c, h, w, ph, pw, p.th, p.tw, s.v, T, s.rows);
      wino_output_adjoint(dyg, gn, f, oh, ow, p.th, p.tw, T, s.m, s.rows);
      for (int e = 0; e < 16; e++) {
        slg_gemm_serial(0, 1, f, c, T, 1.0f, s.m + (int64_t)e * f * T, T,
                        s.v + (int64_t)e * c * T, T, 1.0f, du_t + (int64_t)e * f * c, c, s.pa,
                        s.pb);
      }
      if (dx) {
        wino_pass(dyg, gn, f, oh, ow, 2 - ph, 2 - pw, ur, c, h, w, NULL, dx + b0 * c * h * w,
                  &s);
      }
    }
    wino_scratch_free(&s);
#pragma omp barrier
    if (!oom) conv_reduce_partials(du, 0, du, usize, team, db, db_t, f);
  }
  if (!oom) wino_filter_adjoint(du, f, c, dw);
  free(ur);
  free(du);
  free(db_t);
  return oom ? -1 : 0;
}
