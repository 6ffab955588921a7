#include <cmath>
#include <cstdio>
#include <string>

#include "cria/error.hpp"
#include "cria/model/config.hpp"

namespace cria {

ConfigFieldNames ConfigFieldNames::gguf() {
  ConfigFieldNames n;
  n.dim = "llama.embedding_length";
  n.hidden_dim = "llama.feed_forward_length";
  n.n_layers = "llama.block_count";
  n.n_heads = "llama.attention.head_count";
  n.n_kv_heads = "llama.attention.head_count_kv";
  n.vocab_size = "the vocabulary size (llama.vocab_size or token_embd.weight's rows)";
  n.context_length = "llama.context_length";
  n.rms_eps = "llama.attention.layer_norm_rms_epsilon";
  n.rope_base = "llama.rope.freq_base";
  return n;
}

void LlamaConfig::validate(const std::string& source, const ConfigFieldNames& names) const {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorCode::InvalidFile, source + ": invalid hyper-parameters: " + what);
  };
  auto check_range = [&](const char* name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      fail(std::string(name) + " = " + std::to_string(v) + " is outside [" +
           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  auto number = [](float v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(v));
    return std::string(text);
  };
  // Bounds far above any Llama (70B: dim 8192, hidden 28672, 80 layers) that keep every
  // product of two of them inside 64 bits.
  check_range(names.dim, dim, 1, 1 << 16);
  check_range(names.hidden_dim, hidden_dim, 1, 1 << 18);
  check_range(names.n_layers, n_layers, 1, 4096);
  check_range(names.n_heads, n_heads, 1, 4096);
  check_range(names.n_kv_heads, n_kv_heads, 1, n_heads);
  check_range(names.vocab_size, vocab_size, 1, 1 << 24);
  check_range(names.context_length, context_length, 1, 1 << 24);
  if (dim % n_heads != 0)
    fail(std::string(names.dim) + " " + std::to_string(dim) + " is not a multiple of " +
         names.n_heads + " " + std::to_string(n_heads));
  if (n_heads % n_kv_heads != 0)
    fail(std::string(names.n_heads) + " " + std::to_string(n_heads) + " is not a multiple of " +
         names.n_kv_heads + " " + std::to_string(n_kv_heads));
  if (head_dim() % 2 != 0)
    fail("head size " + std::to_string(head_dim()) + " (" + names.dim + " / " + names.n_heads +
         ") is odd; RoPE rotates pairs");
  if (!(rms_eps > 0.0f) || !std::isfinite(rms_eps) || rms_eps > 1.0f)
    fail(std::string(names.rms_eps) + " " + number(rms_eps) + " is not a small positive number");
  if (!(rope_base > 1.0f) || !std::isfinite(rope_base))
    fail(std::string(names.rope_base) + " " + number(rope_base) + " is not a finite number above 1");
}

}  // namespace cria
