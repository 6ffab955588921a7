#include <cmath>
#include <string>

#include "cria/error.hpp"
#include "cria/model/config.hpp"

namespace cria {

void LlamaConfig::validate(const std::string& source) const {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorCode::InvalidFile, source + ": invalid hyper-parameters: " + what);
  };
  auto check_range = [&](const char* name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      fail(std::string(name) + " = " + std::to_string(v) + " is outside [" +
           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  // Bounds far above any Llama (70B: dim 8192, hidden 28672, 80 layers) that keep every
  // product of two of them inside 64 bits.
  check_range("dim", dim, 1, 1 << 16);
  check_range("hidden_dim", hidden_dim, 1, 1 << 18);
  check_range("n_layers", n_layers, 1, 4096);
  check_range("n_heads", n_heads, 1, 4096);
  check_range("n_kv_heads", n_kv_heads, 1, n_heads);
  check_range("vocab_size", vocab_size, 1, 1 << 24);
  check_range("context_length", context_length, 1, 1 << 24);
  if (dim % n_heads != 0)
    fail("dim " + std::to_string(dim) + " is not a multiple of n_heads " + std::to_string(n_heads));
  if (n_heads % n_kv_heads != 0)
    fail("n_heads " + std::to_string(n_heads) + " is not a multiple of n_kv_heads " +
         std::to_string(n_kv_heads));
  if (head_dim() % 2 != 0)
    fail("head size " + std::to_string(head_dim()) + " is odd; RoPE rotates pairs");
  if (!(rms_eps > 0.0f) || !std::isfinite(rms_eps) || rms_eps > 1.0f)
    fail("rms epsilon " + std::to_string(rms_eps) + " is not a small positive number");
  if (!(rope_base > 1.0f) || !std::isfinite(rope_base))
    fail("rope base frequency " + std::to_string(rope_base) + " is not above 1");
}

}  // namespace cria
