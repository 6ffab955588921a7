#include "cuda/device.hpp"

#include <utility>

#include "cuda/check.hpp"

namespace cria::cuda {

std::string DeviceSummary::describe() const {
  return name + " (compute capability " + std::to_string(major) + "." + std::to_string(minor) + ", " +
         std::to_string(memory_bytes >> 20) + " MiB, " + std::to_string(multiprocessors) + " multiprocessors)";
}

std::vector<DeviceSummary> list_devices() {
  int count = 0;
  // The runtime is linked statically; it opens libcuda.so.1 here, and says so when it cannot.
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (e == cudaErrorInsufficientDriver)
      throw Error(ErrorCode::Unsupported, std::string("no CUDA device: no NVIDIA driver (libcuda.so.1) or one too old "
                                                      "for CUDA 13 (") + cudaGetErrorString(e) + ")");
    throw Error(ErrorCode::Unsupported, std::string("no CUDA device: ") + cudaGetErrorName(e) + " (" +
                                            cudaGetErrorString(e) + ")");
  }
  std::vector<DeviceSummary> devices;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, i), "cudaGetDeviceProperties");
    DeviceSummary d;
    d.name = p.name;
    d.major = p.major;
    d.minor = p.minor;
    d.memory_bytes = p.totalGlobalMem;
    d.multiprocessors = p.multiProcessorCount;
    devices.push_back(d);
  }
  return devices;
}

void use_device(int index) { check(cudaSetDevice(index), "cudaSetDevice"); }

DeviceBuffer::DeviceBuffer(size_t bytes, const std::string& what, const DeviceSummary& device) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    ptr_ = nullptr;
    throw Error(ErrorCode::OutOfMemory, device.name + ": no device memory for " + what + " (" + std::to_string(bytes) +
                                            " bytes; " + std::to_string(free >> 20) + " of its " +
                                            std::to_string(total >> 20) + " MiB are free)");
  }
  check(e, "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);  // a failure here (a lost context) leaves nothing to release
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  std::swap(ptr_, o.ptr_);
  std::swap(bytes_, o.bytes_);
  return *this;
}

PinnedBuffer::PinnedBuffer(size_t bytes, const std::string& what) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMallocHost(&ptr_, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    ptr_ = nullptr;
    throw Error(ErrorCode::OutOfMemory,
                "no pinned host memory for " + what + " (" + std::to_string(bytes) + " bytes)");
  }
  check(e, "cudaMallocHost");
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_) cudaFreeHost(ptr_);
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  std::swap(ptr_, o.ptr_);
  std::swap(bytes_, o.bytes_);
  return *this;
}

Stream::Stream() { check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"); }

Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}

void Stream::synchronize(const char* what) const { check(cudaStreamSynchronize(stream_), what); }

}  // namespace cria::cuda
