#include "cria/probes.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/cpu_features.hpp"
#include "cpu/gemm.hpp"
#include "cpu/thread_pool.hpp"
#include "cria/error.hpp"
#include "cria/quant.hpp"

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
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
  cpu::ThreadPool pool(n_threads);
  // Touch every page from the threads that will read it.
  pool.parallel_for(static_cast<int64_t>(words), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buffer[i] = static_cast<uint64_t>(i);
  });
  std::vector<uint64_t> sinks(static_cast<size_t>(n_threads) * 8);
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    double s = seconds_of([&] {
      pool.parallel_for(static_cast<int64_t>(words), [&](int64_t b, int64_t e, int t) {
        // Four streams per thread, as the decode kernels read four weight rows at once: one
        // stream alone leaves bandwidth unused.
        const int64_t quarter = (e - b) / 4 & ~int64_t{1};  // even: the loop reads pairs
        const uint64_t* s0 = &buffer[b];
        const uint64_t* s1 = s0 + quarter;
        const uint64_t* s2 = s1 + quarter;
        const uint64_t* s3 = s2 + quarter;
        uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int64_t i = 0; i < quarter; i += 2) {
          a0 += s0[i] + s0[i + 1];
          a1 += s1[i] + s1[i + 1];
          a2 += s2[i] + s2[i + 1];
          a3 += s3[i] + s3[i + 1];
        }
        sinks[static_cast<size_t>(t) * 8] = a0 + a1 + a2 + a3;  // keeps the loads alive
      });
    });
    rates.push_back(static_cast<double>(words / 4 * 4 * sizeof(uint64_t)) / s);
  }
  return median(rates);
}

double measure_gemm_peak(int n_threads, bool bf16, int64_t m, int64_t n, int64_t k, int reps) {
  std::vector<float> x(static_cast<size_t>(m * k), 0.5f), out(static_cast<size_t>(m * n));
  std::vector<uint16_t> w16;
  std::vector<float> w32;
  TensorView w;
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
  const GemmBackend backend = bf16 ? GemmBackend::OneDnnBf16 : GemmBackend::OneDnnF32;
  try {
    cpu::gemm(backend, w, x.data(), m, k, out.data(), n, pool);  // warm-up: creates the primitive
  } catch (const Error&) {
    return 0;  // no such matmul on this CPU
  }
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    double s = seconds_of([&] { cpu::gemm(backend, w, x.data(), m, k, out.data(), n, pool); });
    rates.push_back(2.0 * m * n * k / s);
  }
  return median(rates);
}

const char* kernel_isa() { return cpu::isa_name(cpu::active_isa()); }

}  // namespace cria
