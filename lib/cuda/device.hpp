#pragma once
// CUDA devices as the backend uses them: listing, the current device of a thread, and the
// memory it owns (device buffers, pinned host buffers, a stream), each released by its owner.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cria::cuda {

// What `cria devices` and the backend tell of a device.
struct DeviceSummary {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  uint64_t memory_bytes = 0;
  int multiprocessors = 0;
  std::string describe() const;
};

// Every CUDA device, in CUDA's order (the index `device` picks). Throws Unsupported ("no CUDA
// device: ...", with the runtime's reason) without a driver (no libcuda.so.1) or a device.
std::vector<DeviceSummary> list_devices();
// Makes device `index` the calling thread's current one: every entry point of the backend
// calls it, since the current device belongs to the host thread.
void use_device(int index);

// Device memory; `what` names it in the error when there is none.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t bytes, const std::string& what, const DeviceSummary& device);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory: what the device copies to and from asynchronously.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(size_t bytes, const std::string& what);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A non-blocking stream: a backend's work runs on its own, in order.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  // Waits for what was queued; a kernel's failure shows here as an error.
  void synchronize(const char* what) const;

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace cria::cuda
