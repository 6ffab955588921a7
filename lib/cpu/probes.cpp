#include "cria/probes.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "cpu/cpu_features.hpp"
#include "cpu/gemm.hpp"
#include "cpu/kernels.hpp"
#include "cpu/packed.hpp"
#include "cpu/thread_pool.hpp"
#include "cria/error.hpp"
#include "cria/quant.hpp"
#include "platform/memory.hpp"

namespace cria {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_of(const std::function<void()>& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double measure_read_bandwidth(int n_threads, size_t bytes, int reps) {
  const size_t words = bytes / sizeof(uint64_t);
  // Huge pages where the system grants them, as for weights read into memory: the probe
  // measures the memory, not TLB misses.
  const size_t alloc = (words * sizeof(uint64_t) + (size_t{2} << 20) - 1) & ~((size_t{2} << 20) - 1);
  void* raw = platform::allocate_pages(alloc);
  if (!raw) throw Error(ErrorCode::OutOfMemory, "bandwidth probe: cannot allocate its buffer");
  std::unique_ptr<uint64_t, std::function<void(uint64_t*)>> buffer(
      static_cast<uint64_t*>(raw), [alloc](uint64_t* p) { platform::free_pages(p, alloc); });
  cpu::ThreadPool pool(n_threads);
  // Touch every page from the threads that will read it.
  pool.parallel_for(static_cast<int64_t>(words), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buffer.get()[i] = static_cast<uint64_t>(i);
  });
  std::vector<uint64_t> sinks(static_cast<size_t>(n_threads) * 8);
  const cpu::Kernels& kernels = cpu::active_kernels();
  // Each thread sums its share with the widest loads the CPU has (256-byte pieces).
  const int64_t pieces = static_cast<int64_t>(words * sizeof(uint64_t) / 256);
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    double s = seconds_of([&] {
      pool.parallel_for(pieces, [&](int64_t b, int64_t e, int t) {
        sinks[static_cast<size_t>(t) * 8] =
            kernels.read_sum(reinterpret_cast<const uint8_t*>(buffer.get()) + b * 256,
                             static_cast<size_t>(e - b) * 256);  // kept, so the loads stay
      });
    });
    rates.push_back(static_cast<double>(pieces * 256) / s);
  }
  return median(rates);
}

double measure_gemm_peak(int n_threads, bool bf16, int64_t m, int64_t n, int64_t k, int reps) {
  std::vector<float> x(static_cast<size_t>(m * k), 0.5f), out(static_cast<size_t>(m * n));
  std::vector<uint16_t> w16;
  std::vector<float> w32;
  cpu::Matrix w;
  w.rows = n;
  w.cols = k;
  if (bf16) {
    w16.assign(static_cast<size_t>(n * k), fp32_to_bf16(0.25f));
    w.data = w16.data();
    w.dtype = DType::BF16;
    w.row_bytes = static_cast<size_t>(k) * 2;
  } else {
    w32.assign(static_cast<size_t>(n * k), 0.25f);
    w.data = w32.data();
    w.dtype = DType::F32;
    w.row_bytes = static_cast<size_t>(k) * 4;
  }
  cpu::ThreadPool pool(n_threads);
  const cpu::GemmBackend backend = bf16 ? cpu::GemmBackend::OneDnnBf16 : cpu::GemmBackend::OneDnnF32;
  try {
    cpu::gemm(backend, w, x.data(), m, m, k, out.data(), n, pool);  // warm-up: creates the primitive
  } catch (const Error&) {
    return 0;  // no such matmul on this CPU
  }
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    double s = seconds_of([&] { cpu::gemm(backend, w, x.data(), m, m, k, out.data(), n, pool); });
    rates.push_back(2.0 * m * n * k / s);
  }
  return median(rates);
}

namespace {

// Operations/s of `loop(iterations)` run on each of n_threads threads, `ops` per iteration,
// median of `reps`.
double measure_register_peak(int n_threads, int reps, uint64_t (*loop)(int64_t), int64_t iterations,
                             double ops) {
  cpu::ThreadPool pool(n_threads);
  std::vector<uint64_t> sinks(static_cast<size_t>(n_threads) * 8);  // kept, so the loops stay
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    double s = seconds_of([&] {
      pool.parallel_for(n_threads, [&](int64_t b, int64_t e, int t) {
        for (int64_t i = b; i < e; ++i) sinks[static_cast<size_t>(t) * 8] += loop(iterations);
      });
    });
    rates.push_back(ops * static_cast<double>(iterations) * n_threads / s);
  }
  return median(rates);
}

}  // namespace

double measure_int8_peak(int n_threads, int reps) {
  const cpu::Kernels& kernels = cpu::active_kernels();
  if (!kernels.int8_peak_loop) return 0;
  // 16 vpdpbusd of 64 multiply-adds per iteration; about 0.1 s per thread.
  return measure_register_peak(n_threads, reps, kernels.int8_peak_loop, 20'000'000, 2.0 * 64 * 16);
}

double measure_amx_peak(int n_threads, int reps) {
  if (!cpu::amx_active()) return 0;
  // 4 tile multiplies of 16 x 16 x 32 per iteration; about 0.1 s per thread.
  return measure_register_peak(n_threads, reps, cpu::amx_bf16_peak_loop, 4'000'000, 2.0 * 4 * 16 * 16 * 32);
}

const char* kernel_isa() {
  return cpu::amx_active() ? "avx512+amx" : cpu::isa_name(cpu::active_isa());
}

}  // namespace cria
