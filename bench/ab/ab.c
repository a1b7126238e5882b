/*
 * Two builds of the host library side by side (for speed work, where results must not change):
 * dlopens A and B, runs the same ops on the same inputs through both, compares every output bit
 * for bit, and times the two interleaved (best of many short rounds each, so that a machine whose
 * speed drifts favours neither). Built and run by bench/ab/run.sh.
 *
 *   ab LIB_A LIB_B
 *
 * Exit status 1 when any output differs.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shiftlab.h"

typedef int (*gemm_t)(int32_t, int32_t, int64_t, int64_t, int64_t, float, const float*, int64_t,
                      const float*, int64_t, float, float*, int64_t);
typedef int (*cols_t)(const sl_window*, int32_t, int64_t*);
typedef int (*fwd_t)(const float*, const float*, const float*, const sl_window*, int32_t, float*,
                     float*);
typedef int (*bwd_t)(const float*, const float*, const float*, const sl_window*, int32_t, float*,
                     float*, float*, const float*);
typedef int (*bnf_t)(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*,
                     float*, int32_t, float, float, float*, float*, float*);
typedef int (*bnb_t)(const float*, const float*, int64_t, int64_t, int64_t, const float*,
                     const float*, const float*, float*, float*, float*);
typedef int (*red_t)(int32_t, const float*, const int32_t*, int32_t, int32_t, float*);

typedef struct {
  gemm_t gemm;
  cols_t cols;
  fwd_t fwd;
  bwd_t bwd;
  bnf_t bnf;
  bnb_t bnb;
  red_t red;
} lib_t;

static void* sym(void* h, const char* name) {
  void* p = dlsym(h, name);
  if (!p) {
    fprintf(stderr, "ab: %s: %s\n", name, dlerror());
    exit(2);
  }
  return p;
}

static lib_t open_lib(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "ab: %s\n", dlerror());
    exit(2);
  }
  lib_t l = {(gemm_t)sym(h, "sl_gemm"), (cols_t)sym(h, "sl_conv2d_columns"),
             (fwd_t)sym(h, "sl_conv2d_forward"), (bwd_t)sym(h, "sl_conv2d_backward"),
             (bnf_t)sym(h, "sl_batch_norm_forward"), (bnb_t)sym(h, "sl_batch_norm_backward"),
             (red_t)sym(h, "sl_reduce")};
  return l;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float* rnd(size_t n, unsigned s, float scale) {
  float* p = malloc(n * sizeof(float) + 64);
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (((s >> 8) / 16777216.0f) - 0.4f) * scale;
  }
  return p;
}

static int differ = 0;

static void same(const char* what, const float* a, const float* b, size_t n) {
  if (memcmp(a, b, n * sizeof(float)) != 0) {
    differ++;
    printf("DIFFERENT  %s\n", what);
  }
}

/* Interleaved best-of timing of op(0) (library A) and op(1) (library B). */
#define TIME(label, reps, op)                                                          \
  do {                                                                                 \
    double best_[2] = {1e30, 1e30};                                                    \
    for (int r_ = 0; r_ < 40; r_++) {                                                  \
      for (int v = 0; v < 2; v++) {                                                    \
        const double t0_ = now();                                                      \
        for (int i_ = 0; i_ < (reps); i_++) op;                                        \
        const double t_ = (now() - t0_) / (reps);                                      \
        if (t_ < best_[v]) best_[v] = t_;                                              \
      }                                                                                \
    }                                                                                  \
    printf("%-44s A %9.1f us  B %9.1f us  B/A %.3f\n", label, best_[0] * 1e6,          \
           best_[1] * 1e6, best_[1] / best_[0]);                                       \
  } while (0)

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ab LIB_A LIB_B\n");
    return 2;
  }
  lib_t L[2] = {open_lib(argv[1]), open_lib(argv[2])};

  /* GEMM: shapes and transposes of small networks and odd sizes, alpha 1, beta 0 or 1 */
  const int ms[] = {1, 2, 5, 6, 7, 9, 16, 17, 32, 33, 64, 144}, ns[] = {1, 9, 16, 17, 64, 441};
  const int ks[] = {1, 9, 32, 255, 257, 600};
  float *A = rnd(144 * 600, 1, 1), *B = rnd(600 * 441, 2, 1), *C0 = rnd(144 * 441, 3, 1);
  float *C[2] = {malloc(sizeof(float) * 144 * 441), malloc(sizeof(float) * 144 * 441)};
  int cases = 0;
  for (int mi = 0; mi < 12; mi++)
    for (int ni = 0; ni < 6; ni++)
      for (int ki = 0; ki < 6; ki++)
        for (int t = 0; t < 4; t++) {
          const int m = ms[mi], n = ns[ni], k = ks[ki];
          const float beta = (mi + ni + ki + t) % 2 ? 1.0f : 0.0f;
          for (int v = 0; v < 2; v++) {
            memcpy(C[v], C0, sizeof(float) * m * n);
            L[v].gemm(t & 1, t >> 1, m, n, k, 1.0f, A, 0, B, 0, beta, C[v], 0);
          }
          char what[96];
          snprintf(what, sizeof what, "gemm %dx%dx%d ta%d tb%d beta %g", m, n, k, t & 1, t >> 1,
                   beta);
          same(what, C[0], C[1], (size_t)m * n);
          cases++;
        }

  /* convolutions: the quick network's two layers at batch 32 and 500, with and without a column
   * cache (which must give the same bits as none) */
  struct {
    const char* name;
    int n, c, h, f, dx;
  } S[] = {{"conv 16x14x14 -> 32 s2", 32, 16, 14, 32, 1}, {"conv 1x28x28 -> 16 s2", 32, 1, 28, 16, 1},
           {"conv 16x14x14 -> 32 s2", 500, 16, 14, 32, 0}, {"conv 1x28x28 -> 16 s2", 500, 1, 28, 16, 0}};
  for (int k = 0; k < 4; k++) {
    const int n = S[k].n, c = S[k].c, h = S[k].h, f = S[k].f;
    sl_window g = {n, c, h, h, 3, 3, 2, 2, 1, 1};
    int32_t oh, ow;
    sl_window_out(&g, &oh, &ow);
    const size_t xs = (size_t)n * c * h * h, ys = (size_t)n * f * oh * ow, ws = (size_t)f * c * 9;
    float *x = rnd(xs, 4, 1), *w = rnd(ws, 5, 0.3f), *b = rnd(f, 6, 1), *dy = rnd(ys, 7, 0.1f);
    float *y[2], *dw[2], *db[2], *dx[2], *cc[2];
    for (int v = 0; v < 2; v++) {
      int64_t cs = 0;
      L[v].cols(&g, f, &cs);
      y[v] = malloc(ys * 4), dw[v] = calloc(ws, 4), db[v] = calloc(f, 4), dx[v] = malloc(xs * 4);
      cc[v] = cs ? malloc(cs * 4) : NULL;
      L[v].fwd(x, w, b, &g, f, y[v], NULL);
      L[v].bwd(x, w, dy, &g, f, dw[v], db[v], S[k].dx ? dx[v] : NULL, NULL);
    }
    char what[96];
    snprintf(what, sizeof what, "%s n%d", S[k].name, n);
    same(what, y[0], y[1], ys);
    same(what, dw[0], dw[1], ws);
    same(what, db[0], db[1], f);
    if (S[k].dx) same(what, dx[0], dx[1], xs);
    if (cc[1]) { /* B through its column cache against A without */
      float *y2 = malloc(ys * 4), *dw2 = calloc(ws, 4), *db2 = calloc(f, 4), *dx2 = malloc(xs * 4);
      L[1].fwd(x, w, b, &g, f, y2, cc[1]);
      L[1].bwd(x, w, dy, &g, f, dw2, db2, S[k].dx ? dx2 : NULL, cc[1]);
      same(what, y[0], y2, ys);
      same(what, dw[0], dw2, ws);
      same(what, db[0], db2, f);
      if (S[k].dx) same(what, dx[0], dx2, xs);
      free(y2), free(dw2), free(db2), free(dx2);
    }
    const int reps = n > 100 ? 2 : 10;
    char label[96];
    snprintf(label, sizeof label, "%s n%d forward", S[k].name, n);
    TIME(label, reps, L[v].fwd(x, w, b, &g, f, y[v], NULL));
    snprintf(label, sizeof label, "%s n%d backward", S[k].name, n);
    TIME(label, reps, L[v].bwd(x, w, dy, &g, f, dw[v], db[v], S[k].dx ? dx[v] : NULL, NULL));
    if (cc[0] && cc[1]) {
      snprintf(label, sizeof label, "%s n%d fwd+bwd, cached", S[k].name, n);
      TIME(label, reps,
           (L[v].fwd(x, w, b, &g, f, y[v], cc[v]),
            L[v].bwd(x, w, dy, &g, f, dw[v], db[v], S[k].dx ? dx[v] : NULL, cc[v])));
    }
    for (int v = 0; v < 2; v++) free(y[v]), free(dw[v]), free(db[v]), free(dx[v]), free(cc[v]);
    free(x), free(w), free(b), free(dy);
  }

  /* batch norm (training, running statistics, backward) and reductions over every axis set */
  const int64_t bn[][3] = {{32, 16, 196}, {32, 32, 49}, {32, 64, 1}, {7, 5, 13}, {3, 9, 17}};
  for (int k = 0; k < 5; k++) {
    const int64_t o = bn[k][0], c = bn[k][1], in = bn[k][2], n = o * c * in;
    float *x = rnd(n, 8, 3), *dy = rnd(n, 9, 0.01f), *g = rnd(c, 10, 1), *b = rnd(c, 11, 1);
    float* out[2][6];
    for (int v = 0; v < 2; v++) {
      float *rm = calloc(c, 4), *rv = malloc(c * 4), *y = malloc(n * 4), *mean = malloc(c * 4);
      float *istd = malloc(c * 4), *dx = malloc(n * 4), *dg = malloc(c * 4), *db = malloc(c * 4);
      for (int64_t i = 0; i < c; i++) rv[i] = 1;
      L[v].bnf(x, o, c, in, g, b, rm, rv, 1, 0.1f, 1e-5f, y, mean, istd);
      L[v].bnb(x, dy, o, c, in, g, mean, istd, dx, dg, db);
      out[v][0] = y, out[v][1] = dx, out[v][2] = dg, out[v][3] = db, out[v][4] = rm,
      out[v][5] = rv;
      free(mean), free(istd);
    }
    const size_t sz[6] = {n, n, c, c, c, c};
    char what[96];
    snprintf(what, sizeof what, "batch norm [%ld, %ld, %ld]", (long)o, (long)c, (long)in);
    for (int j = 0; j < 6; j++) same(what, out[0][j], out[1][j], sz[j]);
    if (k < 2) {
      float *y = out[0][0], *mean = malloc(c * 4), *istd = malloc(c * 4), *rm = out[0][4];
      char label[96];
      snprintf(label, sizeof label, "%s forward + backward", what);
      TIME(label, 5,
           (L[v].bnf(x, o, c, in, g, b, rm, out[0][5], 1, 0.1f, 1e-5f, y, mean, istd),
            L[v].bnb(x, dy, o, c, in, g, mean, istd, out[0][1], out[0][2], out[0][3])));
      free(mean), free(istd);
    }
    for (int v = 0; v < 2; v++)
      for (int j = 0; j < 6; j++) free(out[v][j]);
    free(x), free(dy), free(g), free(b);
  }
  const int32_t rs[][4] = {{32, 16, 14, 14}, {32, 32, 7, 7}, {7, 13, 5, 3}, {3, 8, 2, 2}};
  float* rx = rnd(32 * 16 * 196, 12, 2);
  float *ro[2] = {malloc(sizeof(float) * 32 * 16 * 196), malloc(sizeof(float) * 32 * 16 * 196)};
  for (int k = 0; k < 4; k++)
    for (int op = 0; op < 3; op++)
      for (int mask = 1; mask < 16; mask++) {
        int64_t outn = 1;
        for (int i = 0; i < 4; i++)
          if (!((mask >> i) & 1)) outn *= rs[k][i];
        for (int v = 0; v < 2; v++) L[v].red(op, rx, rs[k], 4, mask, ro[v]);
        char what[96];
        snprintf(what, sizeof what, "reduce op %d [%d,%d,%d,%d] axes 0x%x", op, rs[k][0], rs[k][1],
                 rs[k][2], rs[k][3], mask);
        same(what, ro[0], ro[1], (size_t)outn);
      }
  TIME("reduce sum [32,16,14,14] per channel", 20, L[v].red(0, rx, rs[0], 4, 0xD, ro[v]));
  TIME("reduce sum [32,16,14,14] over everything", 20, L[v].red(0, rx, rs[0], 4, 0xF, ro[v]));

  printf("%d GEMM cases, 4 convolutions, 5 batch norms, 180 reductions: %s\n", cases,
         differ ? "SOME OUTPUTS DIFFER" : "every output bit-identical");
  return differ ? 1 : 0;
}
