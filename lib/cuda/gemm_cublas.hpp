#pragma once
// Prompts (batches larger than kMatvecEntries): weights decoded to f16 a tile of rows at a
// time and multiplied by the f16-rounded inputs with cublasGemmEx (tensor cores, f32
// accumulation). F16 weights are multiplied in place.
#include <cstdint>

#include "cuda/cublas.hpp"
#include "cuda/device.hpp"
#include "cuda/kernels.hpp"

namespace cria::cuda {

class PromptGemm {
 public:
  // Scratch for inputs of up to `entries` rows of `widest_input` values and for one tile.
  PromptGemm(cudaStream_t stream, const DeviceSummary& device, int64_t entries, int64_t widest_input);
  ~PromptGemm();
  PromptGemm(const PromptGemm&) = delete;
  PromptGemm& operator=(const PromptGemm&) = delete;

  // Rounds n rows of x (x_stride floats apart) to f16 once for the projections that follow.
  void prepare(const float* x, int64_t x_stride, int64_t n);
  // y rows (y_stride floats apart) = the prepared rows x w^T.
  void multiply(const Matrix& w, float* y, int64_t y_stride);

 private:
  cudaStream_t stream_;
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer input_, tile_;
  int64_t n_ = 0, x_stride_ = 0;
};

}  // namespace cria::cuda
