#pragma once
// Pieces shared by the CLI commands.
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "args.hpp"
#include "cria/engine/session.hpp"
#include "cria/model/model.hpp"
#include "platform/files.hpp"  // fopen with UTF-8 paths

namespace cli {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline cria::io::MappedFile::Mode parse_load_mode(const std::string& name) {
  if (name == "map" || name == "map-shared") return cria::io::MappedFile::Mode::Map;
  if (name == "read") return cria::io::MappedFile::Mode::Read;
  throw std::invalid_argument("--load is read, map or map-shared, not '" + name + "'");
}

inline cria::DType parse_kv_type(const std::string& name) {
  if (name == "f16" || name == "F16") return cria::DType::F16;
  if (name == "f32" || name == "F32") return cria::DType::F32;
  throw std::invalid_argument("--kv-type is f16 or f32, not '" + name + "'");
}

// Loads a model and insists that it has a tokenizer when `need_tokenizer`.
inline std::unique_ptr<cria::Model> load_model(const std::string& path, const std::string& tokenizer_path,
                                               bool need_tokenizer, cria::LoadOptions options = {}) {
  if (path.empty()) throw std::invalid_argument("no model given (-m MODEL)");
  options.tokenizer_path = tokenizer_path;
  auto model = cria::Model::load(path, options);
  if (need_tokenizer && !model->tokenizer())
    throw std::invalid_argument(path + " has no vocabulary: give one with --tokenizer FILE");
  return model;
}

// Options every command that runs the model accepts: --backend, --device, -c, -t, --gemm,
// --kv-type, --context-shift, --keep, --load.
struct EngineOptions {
  cria::LoadOptions load;
  cria::SessionOptions session;

  static constexpr const char* kHelp =
      "  --backend NAME  auto (default), cpu, reference (plain f32, slow), cuda, vulkan where built:\n"
      "                  see 'cria devices'\n"
      "  --device N      the backend's device (default 0)\n"
      "  -ngl, --gpu-layers N  with a GPU backend, the first N layers on the device and the\n"
      "                  rest on the CPU (default: all)\n"
      "  -c CTX          context length (default: the model's)\n"
      "  -t THREADS      threads (default: all cores)\n"
      "  --load read|map|map-shared  weights read into memory (default), mapped and copied\n"
      "                  during the first evaluations (instant load), or used in place (pages\n"
      "                  shared, slower)\n"
      "  --kv-type f16|f32  KV cache type (default f16)\n"
      "  --context-shift  when the context is full, drop the oldest half of it (after --keep\n"
      "                  positions) and go on, instead of stopping\n"
      "  --keep N        positions at the start that a context shift keeps (default 0)\n"
      "  --gemm auto|kernels|onednn-f32|onednn-bf16|openblas  how the cpu backend runs prompts\n";

  // Consumes the current argument when it is one of these options.
  bool parse(Args& a) {
    if (a.is("-c", "--ctx-size")) {
      session.context_length = a.int_value();
      if (session.context_length < 0) throw std::invalid_argument("-c must not be negative");
    } else if (a.is("-t", "--threads")) {
      load.n_threads = static_cast<int>(a.int_value());
      if (load.n_threads < 0) throw std::invalid_argument("-t must not be negative");
    } else if (a.is("--backend")) {
      load.backend = a.value();
    } else if (a.is("--device")) {
      load.device = static_cast<int>(a.int_value());
    } else if (a.is("-ngl", "--gpu-layers") || a.is("--n-gpu-layers")) {
      load.gpu_layers = static_cast<int>(a.int_value());
      if (load.gpu_layers < -1) throw std::invalid_argument("-ngl is -1 (all layers), 0 or a count of layers");
    } else if (a.is("--gemm")) {
      load.gemm = a.value();
    } else if (a.is("--kv-type")) {
      session.kv_type = parse_kv_type(a.value());
    } else if (a.is("--context-shift")) {
      session.when_full = cria::ContextPolicy::Shift;
    } else if (a.is("--keep")) {
      session.shift_keep = a.int_value();
      if (session.shift_keep < 0) throw std::invalid_argument("--keep must not be negative");
    } else if (a.is("--load")) {
      const std::string mode = a.value();
      load.load_mode = parse_load_mode(mode);
      load.repack = mode != "map-shared";
    } else {
      return false;
    }
    return true;
  }
};

inline std::string read_file(const std::string& path) {
  std::FILE* f = cria::platform::open_file(path, "rb");
  if (!f) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  std::string data;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw std::runtime_error(path + ": read error");
  return data;
}

}  // namespace cli
