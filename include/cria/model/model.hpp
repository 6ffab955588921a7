#pragma once
// cria::Model: one entry point that loads a Llama model from GGUF or a llama2.c checkpoint and
// places its weights on a backend. A loaded model is immutable and may be shared by any number
// of sessions and threads.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cria/backend.hpp"
#include "cria/io/gguf.hpp"
#include "cria/io/mapped_file.hpp"
#include "cria/io/truncation_guard.hpp"
#include "cria/model/config.hpp"
#include "cria/model/weights.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace cria {

enum class ModelFormat { Gguf, Llama2c };

struct LoadOptions {
  // Vocabulary file (tokenizer.bin, tokenizer.model or GGUF). Required for llama2.c
  // checkpoints, which carry none; overrides a GGUF's own vocabulary when given.
  std::string tokenizer_path;
  // Load only to inspect (cria info): tensors of types the engine cannot run are accepted.
  // A Session refuses such a model.
  bool inspect_only = false;
  // Called with the fraction loaded (0 to 1) a few times during load; returning false
  // cancels the load, which then throws Error(ErrorCode::Cancelled).
  std::function<bool(float)> progress;
  // Read (default): the file is read into anonymous memory advised for huge pages, where the
  // backend may rearrange weights for its kernels (see `repack`): a full read at load.
  // Map: the file is mapped (near-instant load); with `repack`, the CPU backend copies each
  // weight matrix into private memory on huge pages, rearranged as in Read mode (a part per
  // pass after the first where its kernels read the file's layout with the same results,
  // else when a pass first reads it), so that generation is as fast as in Read mode, with
  // the same results; without, weights are used in place (pages shared with other processes, at the
  // file layout's and small pages' speed). A file larger than 90% of the memory available
  // (MemAvailable) is used in place from the mapping in either mode.
  io::MappedFile::Mode load_mode = io::MappedFile::Mode::Read;
  // The backend that runs the model, by name: "auto" (the best one built that has a
  // device), "cpu", "reference" (plain scalar f32: the oracle, slow), or a GPU backend where
  // one is built. built_backends() and list_devices() (cria/backend.hpp) tell what exists.
  std::string backend = "auto";
  int device = 0;   // index among the backend's devices
  // GPU backends: how many layers, from the first, run on the device (with the token
  // embedding); the rest, the final norm and the classifier run on the CPU backend, for
  // models larger than the device's memory. -1 (default, or the model's layer count or
  // more): all. 0: none. Ignored by the CPU and reference backends.
  int gpu_layers = -1;
  int n_threads = 0;  // threads of a pass (CPU backend); 0: one per available core
  // CPU backend: how prompts multiply weights ("auto", "kernels", "onednn-f32",
  // "onednn-bf16", "openblas"; see docs/design.md).
  std::string gemm = "auto";
  // The backend may rearrange weights for its kernels: the CPU backend regroups Q4_0, Q8_0,
  // Q4_K, Q5_K and Q6_K matrices where the CPU has the integer kernels for them (AVX-512
  // VNNI: all five; AVX2: all but Q8_0): in place in Read mode, in the private copies in Map mode.
  // false keeps the file's layout, and in Map mode the weights in the mapping.
  bool repack = true;
};

struct TensorDescription {
  std::string name;
  std::string type;
  std::vector<int64_t> shape;  // contiguous dimension first, as GGUF lists it
  uint64_t offset = 0;         // in the file
  uint64_t nbytes = 0;
};

class Model {
 public:
  // Detects the format from the file's first bytes. Throws cria::Error naming the file.
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options = {});

  const LlamaConfig& config() const { return config_; }
  // The tensors as the file describes them. In Read mode with `repack`, the backend may have
  // rearranged the bytes of some matrices in place for its kernels: the views keep their
  // types and shapes, but only the backend reads their bytes.
  const LlamaWeights& weights() const { return weights_; }
  // The backend the weights were placed on. Throws InvalidState for a model loaded with
  // inspect_only, which has none.
  Backend& backend() const;
  ModelFormat format() const { return format_; }
  const std::string& path() const { return path_; }
  // The tokenizer; nullptr when the file has no vocabulary and none was given.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  // The GGUF metadata when the model came from GGUF.
  const io::GgufFile* gguf() const { return gguf_.get(); }
  const std::vector<TensorDescription>& tensors() const { return tensors_; }
  uint64_t file_size() const { return file_ ? file_->size() : 0; }
  // Before each pass: throws Io when the mapped file was truncated in place since load (see
  // io::TruncationGuard). Nothing to check for a file read into memory.
  void check_file() const { file_guard_.check(); }
  // False when loaded with inspect_only and some weight has a type the engine cannot run.
  bool runnable() const { return runnable_; }

 private:
  Model() = default;
  void load_gguf(const LoadOptions& options);
  void load_llama2c(const LoadOptions& options);
  void validate_weights(bool check_types) const;
  // Fills weights_ from a lookup by GGUF tensor name (both formats use those names); the
  // output matrix falls back to the token embedding when the lookup has none.
  void assign_weights(const std::function<TensorView(const std::string& name)>& tensor);

  std::string path_;
  ModelFormat format_ = ModelFormat::Gguf;
  std::shared_ptr<const io::MappedFile> file_;
  io::TruncationGuard file_guard_;
  std::unique_ptr<io::GgufFile> gguf_;
  LlamaConfig config_;
  LlamaWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Backend> backend_;
  std::vector<TensorDescription> tensors_;
  bool runnable_ = true;
};

}  // namespace cria
