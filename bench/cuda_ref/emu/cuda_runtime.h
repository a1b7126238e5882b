/*
 * CPU emulation of the CUDA runtime subset that cuda/*.cu uses, for checking the kernels' logic
 * on machines without a GPU (see build.sh beside this file). Verification only: never part of
 * the library. Each block runs as blockDim real threads (std::thread), __syncthreads is a block
 * barrier, warp shuffles exchange through per-warp slots behind warp barriers, __shared__
 * variables are statics (blocks run one after another), device memory is host memory filled
 * with a poison pattern. Timing means nothing here; results do.
 */
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
#include <mutex>
using std::isnan;
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define __CUDACC_VER_MAJOR__ 0
#define __CUDACC_VER_MINOR__ 0
#define CUDART_VERSION 0
struct dim3 { unsigned x, y, z; dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {} };
struct uint3 { unsigned x, y, z; };
struct alignas(16) float4 { float x, y, z, w; };
inline float4 make_float4(float a, float b, float c, float d) { return float4{a, b, c, d}; }
namespace emu {
inline thread_local uint3 tid, bid;
inline dim3 bdim, gdim;
inline std::barrier<>* block_bar = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_bars;
inline std::vector<unsigned char> shfl_slots; /* 32 x 16 bytes per warp */
inline std::vector<float> dyn;
inline std::mutex atomic_mu;
}
#define threadIdx emu::tid
#define blockIdx emu::bid
#define blockDim emu::bdim
#define gridDim emu::gdim
inline void __syncthreads() { emu::block_bar->arrive_and_wait(); }
template <typename T>
inline T emu_exchange(T v, int src) {
  const int t = emu::tid.x, w = t >> 5;
  unsigned char* base = emu::shfl_slots.data() + (size_t)w * 32 * 16;
  std::memcpy(base + (t & 31) * 16, &v, sizeof(T));
  emu::warp_bars[w]->arrive_and_wait();
  T r;
  std::memcpy(&r, base + (src & 31) * 16, sizeof(T));
  emu::warp_bars[w]->arrive_and_wait();
  return r;
}
template <typename T>
inline T __shfl_down_sync(unsigned, T v, int d) {
  const int lane = emu::tid.x & 31;
  return emu_exchange(v, lane + d < 32 ? lane + d : lane);
}
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int m) { return emu_exchange(v, (emu::tid.x & 31) ^ m); }
inline int atomicCAS(int* p, int cmp, int v) {
  std::lock_guard<std::mutex> lk(emu::atomic_mu);
  int old = *p;
  if (old == cmp) *p = v;
  return old;
}
typedef int cudaError_t;
typedef void* cudaStream_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount };
struct cudaDeviceProp { char name[256]; int major, minor, multiProcessorCount; size_t totalGlobalMem; };
inline cudaError_t cudaGetDeviceCount(int* c) { *c = 1; return 0; }
inline cudaError_t cudaSetDevice(int) { return 0; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return 0; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "CPU emulator"); p->major = 9; p->minor = 0; p->multiProcessorCount = 132;
  p->totalGlobalMem = (size_t)8 << 30; return 0;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 132; return 0; }
inline cudaError_t cudaFree(void* p) { std::free(p); return 0; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  if (n > ((size_t)16 << 30)) return cudaErrorMemoryAllocation;
  *p = std::aligned_alloc(256, (n + 255) / 256 * 256);
  /* poison: kernels must not rely on fresh memory */
  std::memset(*p, 0x7f, n);
  return *p ? 0 : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaMemGetInfo(size_t* f, size_t* t) { *f = (size_t)8 << 30; *t = (size_t)16 << 30; return 0; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memmove(d, s, n); return 0; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) { std::memmove(d, s, n); return 0; }
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { std::memset(d, v, n); return 0; }
#define cudaMemcpyFromSymbol(dst, sym, n) (std::memcpy((dst), &(sym), (n)), 0)
#define cudaMemcpyToSymbol(sym, src, n) (std::memcpy(&(sym), (src), (n)), 0)
inline cudaError_t cudaDeviceSynchronize() { return 0; }
inline cudaError_t cudaGetLastError() { return 0; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
inline const char* cudaGetErrorName(cudaError_t) { return "cudaErrorEmulated"; }
namespace emu {
struct Cfg { dim3 g, b; size_t smem; };
inline Cfg cfg(dim3 g, dim3 b, size_t smem = 0, cudaStream_t = nullptr) { return Cfg{g, b, smem}; }
template <typename F, typename... A>
void launch(F f, Cfg c, A... args) {
  gdim = c.g; bdim = c.b;
  const unsigned nt = c.b.x * c.b.y * c.b.z;
  std::barrier<> bar(nt);
  block_bar = &bar;
  warp_bars.clear();
  for (unsigned w = 0; w < (nt + 31) / 32; w++) warp_bars.emplace_back(new std::barrier<>(32));
  shfl_slots.assign((size_t)((nt + 31) / 32) * 32 * 16, 0);
  dyn.assign(c.smem / sizeof(float) + 1, 0.f);
  for (unsigned bz = 0; bz < c.g.z; bz++)
    for (unsigned by = 0; by < c.g.y; by++)
      for (unsigned bx = 0; bx < c.g.x; bx++) {
        std::vector<std::thread> ts;
        ts.reserve(nt);
        for (unsigned tz = 0; tz < c.b.z; tz++)
          for (unsigned ty = 0; ty < c.b.y; ty++)
            for (unsigned tx = 0; tx < c.b.x; tx++)
              ts.emplace_back([=] {
                tid = uint3{tx, ty, tz};
                bid = uint3{bx, by, bz};
                f(args...);
              });
        for (auto& t : ts) t.join();
      }
}
}
