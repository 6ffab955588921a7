#pragma once
// A weight matrix as the CPU backend placed it: the model's rows, either as the file stores
// them or regrouped for the integer kernels (packed.hpp). The layout is the CPU
// backend's own: neither the model nor the engine sees it.
#include <cstdint>

#include "cria/tensor.hpp"

namespace cria::cpu {

// Plain: blocks as in the file. Grouped16: blocks regrouped in sixteens (same size).
enum class RowLayout : uint8_t { Plain, Grouped16 };

struct Matrix : TensorView {
  RowLayout layout = RowLayout::Plain;
  // >= 0: the rows are still in the file mapping, to be copied to private memory
  // (CpuBackend::settle, CpuBackend::copy_deferred); the index of the copy's slot.
  int32_t copy_slot = -1;

  Matrix() = default;
  explicit Matrix(const TensorView& view, RowLayout row_layout = RowLayout::Plain)
      : TensorView(view), layout(row_layout) {}
};

}  // namespace cria::cpu
