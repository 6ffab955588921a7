#pragma once
// Probes of this machine's limits, measured in the same process as a benchmark so that
// results can be reported as ratios that survive a noisy, shared machine.
#include <cstddef>
#include <cstdint>

namespace cria {

// Memory read bandwidth in bytes/s reading a buffer of `bytes` with n_threads threads
// (median of `reps` passes).
double measure_read_bandwidth(int n_threads, size_t bytes = size_t{1} << 30, int reps = 5);

// FLOP/s of oneDNN's matmul [m x k] x [k x n] (bf16 inputs or f32), median of `reps`;
// 0 when this CPU has no such matmul (bf16 needs AVX-512).
double measure_gemm_peak(int n_threads, bool bf16, int64_t m = 512, int64_t n = 4096,
                         int64_t k = 4096, int reps = 5);

// Integer ops/s (2 per 8-bit multiply-add) of the CPU's 8-bit dot-product instruction
// (AVX-512 VNNI vpdpbusd) on registers with n_threads threads, median of `reps`: the limit
// of the integer GEMM that regrouped weights use for prompts. 0 without AVX-512 VNNI.
double measure_int8_peak(int n_threads, int reps = 5);

// FLOP/s of AMX bf16 tile multiplies (16 x 16 x 32) on registers with n_threads threads,
// median of `reps`: the limit of the AMX prompt kernel. 0 where AMX is not in use.
double measure_amx_peak(int n_threads, int reps = 5);

// The instruction set the kernels use ("scalar", "avx2", "avx512", "avx512+amx" where
// prompts run on AMX tiles).
const char* kernel_isa();

}  // namespace cria
