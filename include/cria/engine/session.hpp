#pragma once
// cria::Session: the state of one sequence over a shared model: the KV cache, scratch
// buffers, the thread pool and the logits of the last evaluated position. A session is used
// by one thread at a time; many sessions may share one Model.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cria/model/model.hpp"

namespace cria {

namespace cpu {
class ThreadPool;
class MatmulInput;
}  // namespace cpu

// How prompts (many positions per pass) multiply weights: Kernels uses cria's own kernels,
// the dot-product kernels of single tokens or, on CPUs with AMX, bf16 tiles from 24
// positions (16 for F16/BF16; every type but F32); OneDnnF32 and OpenBlas compute in f32;
// OneDnnBf16 rounds weights and activations to bf16 and accumulates in f32 (twice the f32
// speed, about 3 significant digits per operand). Auto picks per weight type and batch size:
// the AMX tiles wherever they apply.
enum class GemmBackend { Auto, Kernels, OneDnnF32, OneDnnBf16, OpenBlas };
const char* gemm_backend_name(GemmBackend b);
// Parses "auto", "kernels", "onednn-f32", "onednn-bf16", "openblas"; throws InvalidArgument.
GemmBackend parse_gemm_backend(const std::string& name);

// Positions evaluated together by default: long prompts gain from large batches (a matrix's
// weights are read, and on AMX decoded, once per batch; 7B Q4_0 on AMX: pp64 48, pp256 64
// tok/s); the session's activations for 256 positions of a 7B model take 48 MB.
constexpr int64_t kDefaultMaxBatch = 256;

struct SessionOptions {
  int64_t context_length = 0;  // KV cache positions; 0: the model's context length
  int n_threads = 0;           // 0: one per available core
  int64_t max_batch = kDefaultMaxBatch;  // positions evaluated together in one pass
  GemmBackend gemm = GemmBackend::Auto;
  // Element type of the KV cache: F16 (half the memory and bandwidth) or F32.
  DType kv_type = DType::F16;
};

class Session {
 public:
  explicit Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends n tokens at positions n_past() .. n_past()+n-1, evaluated in batches. Afterwards
  // logits() holds the last position's logits; when all_logits is given it receives every
  // position's logits ([n][vocab]). Throws cria::Error (ContextFull, InvalidArgument).
  void eval(const int32_t* tokens, int64_t n, float* all_logits = nullptr);
  void eval(const std::vector<int32_t>& tokens) { eval(tokens.data(), static_cast<int64_t>(tokens.size())); }

  const std::vector<float>& logits() const { return logits_; }
  int64_t n_past() const { return n_past_; }
  int64_t context_length() const { return context_length_; }
  int n_threads() const;
  const Model& model() const { return model_; }
  // Forgets every position (the cache is reused, not freed).
  void reset() { n_past_ = 0; }

 private:
  void forward_batch(const int32_t* tokens, int64_t n, float* logits_out, bool all_positions);

  const Model& model_;
  int64_t context_length_;
  int64_t max_batch_;
  GemmBackend gemm_;
  int64_t n_past_ = 0;
  std::unique_ptr<cpu::ThreadPool> pool_;
  std::unique_ptr<cpu::MatmulInput> matmul_input_;  // converted activations, reused per projection
  DType kv_type_;
  std::unique_ptr<uint8_t[]> key_cache_;    // [layer][kv head][position][head_dim] of kv_type_
  std::unique_ptr<uint8_t[]> value_cache_;  // [layer][kv head][position][head_dim] of kv_type_
  std::vector<float> logits_;       // [vocab]
  // Activations for one batch, [max_batch][width] each.
  std::vector<float> x_, xb_, q_, k_, v_, attn_out_, gate_, up_;
  std::vector<float> scores_;  // [thread][context_length] attention weights
};

}  // namespace cria
