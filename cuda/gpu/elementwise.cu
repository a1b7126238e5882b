/*
 * CUDA build: broadcasting binary ops, unary ops and activation derivatives, axpby.
 *
 * Broadcasting: the host drops size-1 output axes and merges neighbouring axes that broadcast
 * the same way in both operands, so the usual cases become 1-3 dimensional; fast paths handle
 * equal shapes and a scalar operand, the general kernel decomposes the output index.
 */
#include "internal.cuh"

namespace {


__device__ __forceinline__ float bin(int op, float a, float b) {
  switch (op) {
    case SL_ADD: return a + b;
    case SL_SUB: return a - b;
    case SL_MUL: return a * b;
    case SL_DIV: return a / b;
    case SL_MAX: return (a >= b || isnan(a)) ? a : b;
    default: return (a <= b || isnan(a)) ? a : b; /* SL_MIN */
  }
}

template <int OP>
__global__ void k_binary_same(const float* a, const float* b, float* out, int64_t n) {
  SL_GRID_LOOP(i, n) out[i] = bin(OP, a[i], b[i]);
}

template <int OP>
__global__ void k_binary_scalar_b(const float* a, const float* b, float* out, int64_t n) {
  const float bv = b[0];
  SL_GRID_LOOP(i, n) out[i] = bin(OP, a[i], bv);
}

template <int OP>
__global__ void k_binary_scalar_a(const float* a, const float* b, float* out, int64_t n) {
  const float av = a[0];
  SL_GRID_LOOP(i, n) out[i] = bin(OP, av, b[i]);
}

struct Bcast {
  int rank;
  int64_t dims[8];
  int64_t sa[8];
  int64_t sb[8];
};

/* I: uint32_t when every operand has < 2^31 elements (cheaper division), else int64_t */
template <int OP, typename I>
__global__ void k_binary_bcast(const float* a, const float* b, float* out, I n, Bcast s) {
  for (I i = (I)blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * (I)blockDim.x) {
    I r = i, ia = 0, ib = 0;
    for (int d = s.rank - 1; d >= 0; d--) {
      const I dim = (I)s.dims[d];
      const I q = r / dim;
      const I x = r - q * dim;
      ia += x * (I)s.sa[d];
      ib += x * (I)s.sb[d];
      r = q;
    }
    out[i] = bin(OP, a[ia], b[ib]);
  }
}

template <int OP>
void launch_binary(int kind, const float* a, const float* b, float* out, int64_t n,
                   const Bcast& s) {
  const unsigned g = sl_blocks(n, 256);
  switch (kind) {
    case 0: k_binary_same<OP><<<g, 256, 0, SL_STREAM>>>(a, b, out, n); break;
    case 1: k_binary_scalar_b<OP><<<g, 256, 0, SL_STREAM>>>(a, b, out, n); break;
    case 2: k_binary_scalar_a<OP><<<g, 256, 0, SL_STREAM>>>(a, b, out, n); break;
    default:
      if (n < ((int64_t)1 << 31)) {
        k_binary_bcast<OP, uint32_t><<<g, 256, 0, SL_STREAM>>>(a, b, out, (uint32_t)n, s);
      } else {
        k_binary_bcast<OP, int64_t><<<g, 256, 0, SL_STREAM>>>(a, b, out, n, s);
      }
      break;
  }
}

__device__ __forceinline__ float sigmoidf_(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}

__device__ __forceinline__ float softplusf_(float x) {
  return x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

__device__ __forceinline__ float un(int op, float x, float a) {
  switch (op) {
    case SL_RELU: return x > 0.f ? x : 0.f;
    case SL_LEAKY_RELU: return x > 0.f ? x : a * x;
    case SL_SIGMOID: return sigmoidf_(x);
    case SL_TANH: return tanhf(x);
    case SL_SOFTPLUS: return softplusf_(x);
    case SL_EXP: return expf(x);
    case SL_LOG: return logf(x);
    case SL_SQRT: return sqrtf(x);
    case SL_SQUARE: return x * x;
    case SL_ABS: return fabsf(x);
    case SL_NEG: return -x;
    case SL_SIGN: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    case SL_SCALE: return a * x;
    case SL_ADD_SCALAR: return x + a;
    case SL_POW: return powf(x, a);
    default: return 1.f / x; /* SL_RECIPROCAL */
  }
}

template <int OP>
__global__ void k_unary(const float* x, float* out, int64_t n, float a) {
  SL_GRID_LOOP(i, n) out[i] = un(OP, x[i], a);
}

template <int OP>
__global__ void k_unary_backward(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                            float a) {
  SL_GRID_LOOP(i, n) {
    const float g = dy[i];
    float r;
    switch (OP) {
      case SL_RELU: r = x[i] > 0.f ? g : 0.f; break;
      case SL_LEAKY_RELU: r = x[i] > 0.f ? g : a * g; break;
      case SL_SIGMOID: r = g * y[i] * (1.f - y[i]); break;
      case SL_TANH: r = g * (1.f - y[i] * y[i]); break;
      default: r = g * sigmoidf_(x[i]); break; /* SL_SOFTPLUS */
    }
    dx[i] = r;
  }
}

__global__ void k_axpby(float alpha, const float* a, float beta, const float* b, float* out,
                        int64_t n) {
  SL_GRID_LOOP(i, n) out[i] = alpha * a[i] + beta * b[i];
}

}  // namespace

extern "C" SL_API int sl_binary(int32_t op, const float* a, const int32_t* a_shape, const float* b,
                                const int32_t* b_shape, float* out, const int32_t* out_shape,
                                int32_t rank) {
  SL_GUARD();
  SL_ARG(op >= SL_ADD && op <= SL_MIN, "sl_binary: unknown op code %d (expected 0..5)", op);
  SL_ARG(rank >= 0 && rank <= 8, "sl_binary: rank must be in [0, 8], got %d", rank);
  SL_ARG(rank == 0 || (a_shape && b_shape && out_shape), "sl_binary: shape pointers are null");
  int64_t na = 1, nb = 1, n = 1;
  for (int i = 0; i < rank; i++) {
    const int32_t o = out_shape[i], x = a_shape[i], y = b_shape[i];
    SL_ARG(o >= 0 && x >= 0 && y >= 0, "sl_binary: negative dimension on axis %d", i);
    SL_ARG((x == o || x == 1) && (y == o || y == 1),
           "sl_binary: axis %d: a has %d and b has %d, which do not broadcast to %d", i, x, y, o);
    na *= x;
    nb *= y;
    n *= o;
  }
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(a, na, "sl_binary a"));
  SL_TRY(sl_check_buf(b, nb, "sl_binary b"));
  SL_TRY(sl_check_buf(out, n, "sl_binary out"));
  Bcast s{};
  int kind;
  if (na == n && nb == n) {
    kind = 0;
  } else if (nb == 1 && na == n) {
    kind = 1;
  } else if (na == 1 && nb == n) {
    kind = 2;
  } else {
    kind = 3;
    /* drop size-1 output axes, merge neighbours that broadcast alike in both operands */
    int64_t dims[8];
    bool fa[8], fb[8]; /* operand is full (not broadcast) on this axis */
    int r = 0;
    for (int i = 0; i < rank; i++) {
      if (out_shape[i] == 1) continue;
      const bool xa = a_shape[i] != 1, xb = b_shape[i] != 1;
      if (r > 0 && fa[r - 1] == xa && fb[r - 1] == xb) {
        dims[r - 1] *= out_shape[i];
      } else {
        dims[r] = out_shape[i];
        fa[r] = xa;
        fb[r] = xb;
        r++;
      }
    }
    s.rank = r;
    int64_t stA = 1, stB = 1;
    for (int d = r - 1; d >= 0; d--) {
      s.dims[d] = dims[d];
      s.sa[d] = fa[d] ? stA : 0;
      s.sb[d] = fb[d] ? stB : 0;
      if (fa[d]) stA *= dims[d];
      if (fb[d]) stB *= dims[d];
    }
  }
  switch (op) {
    case SL_ADD: launch_binary<SL_ADD>(kind, a, b, out, n, s); break;
    case SL_SUB: launch_binary<SL_SUB>(kind, a, b, out, n, s); break;
    case SL_MUL: launch_binary<SL_MUL>(kind, a, b, out, n, s); break;
    case SL_DIV: launch_binary<SL_DIV>(kind, a, b, out, n, s); break;
    case SL_MAX: launch_binary<SL_MAX>(kind, a, b, out, n, s); break;
    default: launch_binary<SL_MIN>(kind, a, b, out, n, s); break;
  }
  return sl_check_launch("sl_binary");
}

extern "C" SL_API int sl_unary(int32_t op, const float* x, float* out, int64_t n, float alpha) {
  SL_GUARD();
  SL_ARG(op >= SL_RELU && op <= SL_RECIPROCAL, "sl_unary: unknown op code %d (expected 0..15)", op);
  SL_ARG(n >= 0, "sl_unary: count must be >= 0, got %lld", (long long)n);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, n, "sl_unary input"));
  SL_TRY(sl_check_buf(out, n, "sl_unary output"));
  const unsigned g = sl_blocks(n, 256);
#define UN_CASE(OPC) \
  case OPC: k_unary<OPC><<<g, 256, 0, SL_STREAM>>>(x, out, n, alpha); break;
  switch (op) {
    UN_CASE(SL_RELU)
    UN_CASE(SL_LEAKY_RELU)
    UN_CASE(SL_SIGMOID)
    UN_CASE(SL_TANH)
    UN_CASE(SL_SOFTPLUS)
    UN_CASE(SL_EXP)
    UN_CASE(SL_LOG)
    UN_CASE(SL_SQRT)
    UN_CASE(SL_SQUARE)
    UN_CASE(SL_ABS)
    UN_CASE(SL_NEG)
    UN_CASE(SL_SIGN)
    UN_CASE(SL_SCALE)
    UN_CASE(SL_ADD_SCALAR)
    UN_CASE(SL_POW)
    UN_CASE(SL_RECIPROCAL)
  }
#undef UN_CASE
  return sl_check_launch("sl_unary");
}

extern "C" SL_API int sl_unary_backward(int32_t op, const float* x, const float* y, const float* dy,
                                        float* dx, int64_t n, float alpha) {
  SL_GUARD();
  SL_ARG(op >= SL_RELU && op <= SL_SOFTPLUS,
         "sl_unary_backward: op code %d has no derivative (expected 0..4: relu, leaky_relu, "
         "sigmoid, tanh, softplus)",
         op);
  SL_ARG(n >= 0, "sl_unary_backward: count must be >= 0, got %lld", (long long)n);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(x, n, "sl_unary_backward x"));
  SL_TRY(sl_check_buf(y, n, "sl_unary_backward y"));
  SL_TRY(sl_check_buf(dy, n, "sl_unary_backward dy"));
  SL_TRY(sl_check_buf(dx, n, "sl_unary_backward dx"));
  const unsigned g = sl_blocks(n, 256);
  switch (op) {
    case SL_RELU: k_unary_backward<SL_RELU><<<g, 256, 0, SL_STREAM>>>(x, y, dy, dx, n, alpha); break;
    case SL_LEAKY_RELU:
      k_unary_backward<SL_LEAKY_RELU><<<g, 256, 0, SL_STREAM>>>(x, y, dy, dx, n, alpha);
      break;
    case SL_SIGMOID: k_unary_backward<SL_SIGMOID><<<g, 256, 0, SL_STREAM>>>(x, y, dy, dx, n, alpha); break;
    case SL_TANH: k_unary_backward<SL_TANH><<<g, 256, 0, SL_STREAM>>>(x, y, dy, dx, n, alpha); break;
    default: k_unary_backward<SL_SOFTPLUS><<<g, 256, 0, SL_STREAM>>>(x, y, dy, dx, n, alpha); break;
  }
  return sl_check_launch("sl_unary_backward");
}

extern "C" SL_API int sl_axpby(float alpha, const float* a, float beta, const float* b, float* out,
                               int64_t n) {
  SL_GUARD();
  SL_ARG(n >= 0, "sl_axpby: count must be >= 0, got %lld", (long long)n);
  if (n == 0) return SL_OK;
  SL_TRY(sl_check_buf(a, n, "sl_axpby a"));
  SL_TRY(sl_check_buf(b, n, "sl_axpby b"));
  SL_TRY(sl_check_buf(out, n, "sl_axpby out"));
  k_axpby<<<sl_blocks(n, 256), 256, 0, SL_STREAM>>>(alpha, a, beta, b, out, n);
  return sl_check_launch("sl_axpby");
}
