#pragma once
// CUDA runtime statuses turned into cria errors: every runtime call of the backend goes
// through check(), so that a failure is a status with a message, never a crash or a silent
// wrong result.
#include <cuda_runtime_api.h>

#include <string>

#include "cria/error.hpp"

namespace cria::cuda {

// Throws for `e`: OutOfMemory for an allocation, Unsupported for a missing driver or device
// and for a failed kernel (after which the device's context is lost to this process).
[[noreturn]] void fail(cudaError_t e, const std::string& what);

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(e, what);
}

// Checks the launch of the kernel just started (a bad configuration shows here; a fault
// while it runs shows at the next synchronization).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace cria::cuda
