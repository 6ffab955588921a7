#include "cuda/check.hpp"

namespace cria::cuda {

void fail(cudaError_t e, const std::string& what) {
  const std::string message = what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  switch (e) {
    case cudaErrorMemoryAllocation:
      cudaGetLastError();  // not sticky: clear it so that later calls go on
      throw Error(ErrorCode::OutOfMemory, message);
    case cudaErrorInsufficientDriver:
    case cudaErrorNoDevice:
      throw Error(ErrorCode::Unsupported, "no CUDA device: " + message);
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
      throw Error(ErrorCode::Unsupported,
                  "a CUDA kernel failed: " + message + " (models on this device fail from now on in this process)");
    default:
      throw Error(ErrorCode::Unsupported, message);
  }
}

}  // namespace cria::cuda
