#pragma once
// Llama hyper-parameters, read from a file and validated before any weight is touched.
#include <cstdint>
#include <string>

namespace cria {

// What a file format calls each hyper-parameter, for messages: llama2.c's header fields by
// default; gguf() gives GGUF's metadata keys.
struct ConfigFieldNames {
  const char* dim = "dim";
  const char* hidden_dim = "hidden_dim";
  const char* n_layers = "n_layers";
  const char* n_heads = "n_heads";
  const char* n_kv_heads = "n_kv_heads";
  const char* vocab_size = "vocab_size";
  const char* context_length = "seq_len";
  const char* rms_eps = "rms epsilon";
  const char* rope_base = "rope base frequency";

  static ConfigFieldNames gguf();
};

struct LlamaConfig {
  int64_t dim = 0;             // embedding width
  int64_t hidden_dim = 0;      // feed-forward width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;      // < n_heads: grouped-query attention
  int64_t vocab_size = 0;
  int64_t context_length = 0;  // the model's trained context
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;

  int64_t head_dim() const { return dim / n_heads; }
  int64_t kv_dim() const { return head_dim() * n_kv_heads; }

  // Throws cria::Error (InvalidFile) naming `source` and the file's field when the values are
  // inconsistent.
  void validate(const std::string& source, const ConfigFieldNames& names = ConfigFieldNames()) const;
};

}  // namespace cria
