/*
 * Reference-only SGEMM timer for bench/cuda_bench.ts: cuBLAS float32 (default math mode, which
 * does not use TF32 or tensor cores for cublasSgemm). Never linked into libshiftlab_cuda.so.
 *
 * Build: nvcc -O3 -o build/cublas_sgemm bench/cuda_ref/cublas_sgemm.cu -lcublas
 * Usage: cublas_sgemm SHAPE...   SHAPE = MxNxK[:nn|nt|tn|tt] (row-major op(A) op(B), as sl_gemm)
 * Prints one JSON object per shape: {"shape":..,"m":..,"n":..,"k":..,"ms":..,"gflops":..}.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x)                                                                     \
  do {                                                                            \
    cudaError_t e = (x);                                                          \
    if (e != cudaSuccess) {                                                       \
      fprintf(stderr, "cublas_sgemm: %s: %s\n", #x, cudaGetErrorString(e));       \
      exit(2);                                                                    \
    }                                                                             \
  } while (0)
#define CB(x)                                                                     \
  do {                                                                            \
    cublasStatus_t s = (x);                                                       \
    if (s != CUBLAS_STATUS_SUCCESS) {                                             \
      fprintf(stderr, "cublas_sgemm: %s failed with status %d\n", #x, (int)s);    \
      exit(2);                                                                    \
    }                                                                             \
  } while (0)

__global__ void fill_rand(float* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    unsigned x = (unsigned)i * 2654435761u ^ seed;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    p[i] = (float)(x & 0xffffff) / 16777216.0f - 0.5f;
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: cublas_sgemm MxNxK[:nn|nt|tn|tt]...\n");
    return 1;
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    fprintf(stderr, "cublas_sgemm: no CUDA device\n");
    return 3;
  }
  cublasHandle_t h;
  CB(cublasCreate(&h));
  CB(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  for (int a = 1; a < argc; a++) {
    long long m, n, k;
    char ops[3] = "nn";
    if (sscanf(argv[a], "%lldx%lldx%lld", &m, &n, &k) != 3) {
      fprintf(stderr, "cublas_sgemm: bad shape '%s' (expected MxNxK[:nt])\n", argv[a]);
      return 1;
    }
    const char* colon = strchr(argv[a], ':');
    if (colon && strlen(colon + 1) == 2) memcpy(ops, colon + 1, 2);
    const bool ta = ops[0] == 't', tb = ops[1] == 't';
    float *A, *B, *C;
    CK(cudaMalloc(&A, sizeof(float) * m * k));
    CK(cudaMalloc(&B, sizeof(float) * k * n));
    CK(cudaMalloc(&C, sizeof(float) * m * n));
    fill_rand<<<1024, 256>>>(A, (size_t)(m * k), 1);
    fill_rand<<<1024, 256>>>(B, (size_t)(k * n), 2);
    CK(cudaGetLastError());
    const float alpha = 1.f, beta = 0.f;
    /* row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T */
    auto run = [&]() {
      CB(cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n,
                     (int)m, (int)k, &alpha, B, tb ? (int)k : (int)n, A, ta ? (int)m : (int)k,
                     &beta, C, (int)n));
    };
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 3; i++) run();
    CK(cudaEventRecord(e0));
    run();
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float one = 0.f;
    CK(cudaEventElapsedTime(&one, e0, e1));
    int iters = one > 0.f ? (int)(300.f / one) : 100;
    if (iters < 3) iters = 3;
    if (iters > 1000) iters = 1000;
    CK(cudaEventRecord(e0));
    for (int i = 0; i < iters; i++) run();
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float total = 0.f;
    CK(cudaEventElapsedTime(&total, e0, e1));
    const double ms = total / iters;
    const double gflops = 2.0 * m * n * k / (ms * 1e6);
    printf("{\"shape\":\"%s\",\"m\":%lld,\"n\":%lld,\"k\":%lld,\"ops\":\"%s\",\"ms\":%.5f,\"gflops\":%.1f}\n",
           argv[a], m, n, k, ops, ms, gflops);
    fflush(stdout);
    cudaFree(A);
    cudaFree(B);
    cudaFree(C);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }
  cublasDestroy(h);
  return 0;
}
