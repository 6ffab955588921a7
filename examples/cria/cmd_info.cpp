// cria info: format, hyper-parameters, metadata and the tensor table of a model file.
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"

namespace {

std::string scalar_text(const cria::io::GgufValue& v) {
  using cria::io::GgufType;
  switch (v.type) {
    case GgufType::String: {
      std::string s(v.str.substr(0, 80));
      for (char& ch : s)
        if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
      return "\"" + s + (v.str.size() > 80 ? "...\"" : "\"");
    }
    case GgufType::Bool: return v.u ? "true" : "false";
    case GgufType::F32: case GgufType::F64: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", v.f);
      return buf;
    }
    case GgufType::U8: case GgufType::U16: case GgufType::U32: case GgufType::U64:
      return std::to_string(v.u);
    case GgufType::Array:
      return std::string("[") + cria::io::gguf_type_name(v.elem_type) + " x " + std::to_string(v.count) + "]";
    default: return std::to_string(v.i);
  }
}

}  // namespace

int cmd_info(int argc, char** argv) {
  std::string model_path, tokenizer_path;
  for (cli::Args a(argc, argv); !a.done();) {
    if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("--tokenizer", "-z")) tokenizer_path = a.value();
    else if (a.is("-h", "--help")) {
      std::fputs("usage: cria info -m MODEL [--tokenizer FILE]\n", stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  cria::LoadOptions options;
  options.inspect_only = true;
  options.load_mode = cria::io::MappedFile::Mode::Map;
  auto model = cli::load_model(model_path, tokenizer_path, false, options);
  const cria::LlamaConfig& c = model->config();
  std::printf("file: %s (%llu bytes)\n", model->path().c_str(),
              static_cast<unsigned long long>(model->file_size()));
  if (const cria::io::GgufFile* g = model->gguf())
    std::printf("format: GGUF v%u, alignment %llu\n", g->version(),
                static_cast<unsigned long long>(g->alignment()));
  else
    std::printf("format: llama2.c checkpoint\n");
  std::printf("architecture: llama\n");
  std::printf("dim: %lld\nhidden_dim: %lld\nn_layers: %lld\nn_heads: %lld\nn_kv_heads: %lld\n"
              "head_dim: %lld\nvocab_size: %lld\ncontext_length: %lld\nrms_eps: %g\nrope_base: %g\n"
              "output: %s\n",
              (long long)c.dim, (long long)c.hidden_dim, (long long)c.n_layers, (long long)c.n_heads,
              (long long)c.n_kv_heads, (long long)c.head_dim(), (long long)c.vocab_size,
              (long long)c.context_length, c.rms_eps, c.rope_base,
              model->weights().tied_output ? "tied to token_embd" : "separate");
  if (!model->runnable()) std::printf("runnable: no (some weight types are not supported)\n");
  if (const cria::Tokenizer* t = model->tokenizer())
    std::printf("vocabulary: %d tokens, bos %d, eos %d\n", t->n_vocab(), t->bos_id(), t->eos_id());
  else
    std::printf("vocabulary: none\n");

  if (const cria::io::GgufFile* g = model->gguf()) {
    std::printf("\nmetadata (%zu keys):\n", g->metadata().size());
    for (const auto& [key, value] : g->metadata())
      std::printf("  %-45s %s\n", key.c_str(), scalar_text(value).c_str());
  }

  std::printf("\ntensors (%zu):\n  %-32s %-6s %-22s %12s %12s\n", model->tensors().size(), "name",
              "type", "shape", "offset", "bytes");
  for (const cria::TensorDescription& t : model->tensors()) {
    std::string shape = "[";
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
    shape += "]";
    std::printf("  %-32s %-6s %-22s %12llu %12llu\n", t.name.c_str(), t.type.c_str(), shape.c_str(),
                static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.nbytes));
  }
  return 0;
}
