// Model loading: format detection, then one validation of every tensor against the
// hyper-parameters, whatever the format.
#include "cria/model/model.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/llama2c.hpp"
#include "platform/files.hpp"
#include "platform/memory.hpp"

namespace cria {

namespace {

bool starts_with_gguf_magic(const io::MappedFile& f) {
  return f.size() >= 4 && std::memcmp(f.data(), "GGUF", 4) == 0;
}

std::string supported_types() {
  std::string s;
  for (uint32_t id = 0; id < 64; ++id) {
    const DTypeTraits* t = dtype_traits(id);
    if (t && t->runs) s += (s.empty() ? "" : ", ") + std::string(t->name);
  }
  return s;
}

// Checks a 2-D weight: `rows` outputs of `cols` inputs, of a type the engine runs.
void check_matrix(const std::string& path, const char* name, const TensorView& t, int64_t rows,
                  int64_t cols, bool check_type) {
  if (t.empty() && (check_type || t.dtype != DType::Unknown)) throw Error(ErrorCode::InvalidFile, path + ": tensor '" + name + "' is missing");
  if (t.rows != rows || t.cols != cols)
    throw Error(ErrorCode::InvalidFile,
                path + ": tensor '" + name + "' has shape [" + std::to_string(t.cols) + ", " +
                    std::to_string(t.rows) + "], the hyper-parameters need [" +
                    std::to_string(cols) + ", " + std::to_string(rows) + "]");
  const DTypeTraits* traits = dtype_traits(static_cast<uint32_t>(t.dtype));
  if (check_type && (!traits || !traits->runs))
    throw Error(ErrorCode::Unsupported,
                path + ": tensor '" + name + "' has type " + dtype_name(t.dtype) +
                    ", which cria cannot run yet (supported: " + supported_types() + ")");
}

void check_norm(const std::string& path, const char* name, const TensorView& t, int64_t dim) {
  if (t.empty()) throw Error(ErrorCode::InvalidFile, path + ": tensor '" + name + "' is missing");
  if (t.rows != 1 || t.cols != dim)
    throw Error(ErrorCode::InvalidFile, path + ": tensor '" + name + "' has " +
                                            std::to_string(t.rows * t.cols) +
                                            " elements, the model width is " + std::to_string(dim));
  if (t.dtype != DType::F32)
    throw Error(ErrorCode::Unsupported, path + ": norm tensor '" + name + "' has type " +
                                            dtype_name(t.dtype) + "; cria expects F32 norms");
}

// A non-finite norm weight turns every activation after it into NaN; norms are small enough
// to check at load (the matrices are not scanned: see docs/robustness.md).
void check_norm_values(const std::string& path, const char* name, const TensorView& t) {
  for (int64_t i = 0; i < t.cols; ++i) {
    float v;
    std::memcpy(&v, static_cast<const char*>(t.data) + 4 * i, 4);
    if (!std::isfinite(v))
      throw Error(ErrorCode::InvalidFile, path + ": tensor '" + name + "' has a non-finite value (" +
                                              (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf") +
                                              ") at element " + std::to_string(i));
  }
}

// Whether a private copy of the whole file fits: 90% of the memory available.
bool fits_in_memory(const std::string& path) {
  uint64_t size = 0;
  if (!platform::file_size(path, &size)) return true;  // MappedFile reports the error
  const uint64_t available = platform::available_memory();
  return available == 0 || size <= available / 10 * 9;
}

// Read mode needs a private copy of the whole file; when that would not fit in memory (a model
// larger than RAM, or a huge bogus file), the mapping is used instead: slower, but it pages.
io::MappedFile::Mode load_mode_for(const std::string& path, io::MappedFile::Mode requested) {
  if (requested == io::MappedFile::Mode::Read && !fits_in_memory(path)) return io::MappedFile::Mode::Map;
  return requested;
}

void report_progress(const LoadOptions& options, float fraction) {
  if (options.progress && !options.progress(fraction))
    throw Error(ErrorCode::Cancelled, "loading was cancelled by the progress callback");
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  report_progress(options, 0.0f);
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  // Reading the file (Read mode) is 0 .. 0.4 of the load.
  std::function<bool(float)> reading;
  if (options.progress) reading = [&options](float f) { return options.progress(0.4f * f); };
  // Writable until the model is returned: regrouping edits the read copy in place.
  auto file = std::make_shared<io::MappedFile>(path, load_mode_for(path, options.load_mode), reading);
  m->file_ = file;
  if (file->mode() == io::MappedFile::Mode::Map) m->file_guard_ = io::TruncationGuard(path, file->size());
  report_progress(options, 0.4f);
  if (starts_with_gguf_magic(*m->file_)) {
    m->format_ = ModelFormat::Gguf;
    m->load_gguf(options);
  } else if (io::looks_like_llama2c(*m->file_)) {
    m->format_ = ModelFormat::Llama2c;
    m->load_llama2c(options);
  } else if (m->file_->size() == 0) {
    throw Error(ErrorCode::InvalidFile, path + ": the file is empty");
  } else if (m->file_->size() < 28) {
    throw Error(ErrorCode::InvalidFile, path + ": " + std::to_string(m->file_->size()) +
                                            " bytes are too few for a model file");
  } else {
    throw Error(ErrorCode::InvalidFile,
                path + ": unknown model format (neither GGUF nor a llama2.c checkpoint)");
  }
  report_progress(options, 0.5f);
  m->validate_weights(!options.inspect_only);
  if (options.inspect_only) {
    try {
      m->validate_weights(true);
    } catch (const Error&) {
      m->runnable_ = false;
    }
  }
  if (!options.tokenizer_path.empty()) {
    m->tokenizer_ = std::make_unique<Tokenizer>(load_vocabulary(options.tokenizer_path));
    if (m->tokenizer_->n_vocab() != m->config_.vocab_size)
      throw Error(ErrorCode::InvalidArgument,
                  "the vocabulary " + options.tokenizer_path + " has " +
                      std::to_string(m->tokenizer_->n_vocab()) + " tokens but the model " + path +
                      " has " + std::to_string(m->config_.vocab_size));
  } else if (m->tokenizer_ && m->tokenizer_->n_vocab() != m->config_.vocab_size) {
    throw Error(ErrorCode::InvalidFile,
                path + ": the vocabulary has " + std::to_string(m->tokenizer_->n_vocab()) +
                    " tokens but the model has " + std::to_string(m->config_.vocab_size) +
                    " (token_embd.weight)");
  }
  if (!options.inspect_only) {
    BackendOptions b;
    b.name = options.backend;
    b.device = options.device;
    b.gpu_layers = options.gpu_layers;
    b.n_threads = options.n_threads;
    b.gemm = options.gemm;
    b.repack = options.repack;
    // Mapped weights are copied during the first passes where a copy fits: not for a file that Read mode
    // maps because it is too large for memory.
    b.copy_mapped = options.load_mode == io::MappedFile::Mode::Map && options.repack &&
                    fits_in_memory(path);
    if (options.progress)  // placing is 0.5 .. 0.8 of the load
      b.progress = [&options](float f) { return options.progress(0.5f + 0.3f * f); };
    m->backend_ = create_backend(b);
    m->backend_->place(m->config_, m->weights_,
                       m->file_->mode() == io::MappedFile::Mode::Read ? file.get() : nullptr);
  }
  report_progress(options, 1.0f);
  return m;
}

void Model::assign_weights(const std::function<TensorView(const std::string&)>& tensor) {
  weights_.token_embd = tensor("token_embd.weight");
  weights_.layers.resize(static_cast<size_t>(config_.n_layers));
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    w.attn_norm = tensor(p + "attn_norm.weight");
    w.wq = tensor(p + "attn_q.weight");
    w.wk = tensor(p + "attn_k.weight");
    w.wv = tensor(p + "attn_v.weight");
    w.wo = tensor(p + "attn_output.weight");
    w.ffn_norm = tensor(p + "ffn_norm.weight");
    w.w_gate = tensor(p + "ffn_gate.weight");
    w.w_down = tensor(p + "ffn_down.weight");
    w.w_up = tensor(p + "ffn_up.weight");
  }
  weights_.output_norm = tensor("output_norm.weight");
  weights_.output = tensor("output.weight");
  weights_.tied_output = weights_.output.empty();
  if (weights_.tied_output) weights_.output = weights_.token_embd;
}

void Model::validate_weights(bool check_types) const {
  const LlamaConfig& c = config_;
  check_matrix(path_, "token_embd.weight", weights_.token_embd, c.vocab_size, c.dim, check_types);
  if ((int64_t)weights_.layers.size() != c.n_layers)
    throw Error(ErrorCode::InvalidFile, path_ + ": layer count mismatch");
  for (size_t l = 0; l < weights_.layers.size(); ++l) {
    const LlamaLayerWeights& w = weights_.layers[l];
    std::string p = "blk." + std::to_string(l) + ".";
    check_norm(path_, (p + "attn_norm.weight").c_str(), w.attn_norm, c.dim);
    if (check_types) check_norm_values(path_, (p + "attn_norm.weight").c_str(), w.attn_norm);
    check_matrix(path_, (p + "attn_q.weight").c_str(), w.wq, c.dim, c.dim, check_types);
    check_matrix(path_, (p + "attn_k.weight").c_str(), w.wk, c.kv_dim(), c.dim, check_types);
    check_matrix(path_, (p + "attn_v.weight").c_str(), w.wv, c.kv_dim(), c.dim, check_types);
    check_matrix(path_, (p + "attn_output.weight").c_str(), w.wo, c.dim, c.dim, check_types);
    check_norm(path_, (p + "ffn_norm.weight").c_str(), w.ffn_norm, c.dim);
    if (check_types) check_norm_values(path_, (p + "ffn_norm.weight").c_str(), w.ffn_norm);
    check_matrix(path_, (p + "ffn_gate.weight").c_str(), w.w_gate, c.hidden_dim, c.dim, check_types);
    check_matrix(path_, (p + "ffn_down.weight").c_str(), w.w_down, c.dim, c.hidden_dim, check_types);
    check_matrix(path_, (p + "ffn_up.weight").c_str(), w.w_up, c.hidden_dim, c.dim, check_types);
  }
  check_norm(path_, "output_norm.weight", weights_.output_norm, c.dim);
  if (check_types) check_norm_values(path_, "output_norm.weight", weights_.output_norm);
  check_matrix(path_, "output.weight", weights_.output, c.vocab_size, c.dim, check_types);
}

}  // namespace cria

namespace cria {

Backend& Model::backend() const {
  if (!backend_)
    throw Error(ErrorCode::InvalidState, path_ + ": the model was loaded for inspection and has no backend");
  return *backend_;
}

}  // namespace cria
