// cria synth: a Llama model with random weights in a real shape, written as GGUF, for
// benchmarks (no real weights can be downloaded everywhere). Rows are generated while the
// file is written, so a 13B F16 file needs no more memory than one row.
#include <cmath>
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "file_types.hpp"
#include "cria/io/gguf_writer.hpp"
#include "cria/quant.hpp"
#include "cria/tokenizer/vocabulary.hpp"

namespace {

struct Shape {
  const char* name;
  int64_t dim, hidden, layers, heads, kv_heads, vocab, context;
};
const Shape kShapes[] = {
    {"7b", 4096, 11008, 32, 32, 32, 32000, 4096},
    {"13b", 5120, 13824, 40, 40, 40, 32000, 4096},
    {"70b", 8192, 28672, 80, 64, 8, 32000, 4096},
    {"tinyllama", 2048, 5632, 22, 32, 4, 32000, 2048},
    {"110m", 768, 2048, 12, 12, 12, 32000, 1024},
};

// Deterministic noise per (tensor, row): splitmix64 seeds, a sum of uniforms approximates a
// normal distribution well enough for weights.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void random_row(uint64_t seed, float stddev, float* out, int64_t n) {
  uint64_t s = mix(seed);
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;  // xorshift64
    // Four 16-bit uniforms: mean 2, variance 4/12.
    float u = (s & 0xffff) + ((s >> 16) & 0xffff) + ((s >> 32) & 0xffff) + (s >> 48);
    out[i] = (u / 65536.0f - 2.0f) * 1.7320508f * stddev;
  }
}

// A SentencePiece-style vocabulary of n pieces for a file given no --vocab, so that the file is
// complete (llama.cpp refuses a model without one): <unk>, <s>, </s>, the 256 byte pieces, "▁",
// then every string of a-z by length, alone and after "▁", so that any text tokenizes.
cria::Vocabulary synthetic_vocabulary(int64_t n) {
  cria::Vocabulary v;
  auto add = [&](std::string piece, cria::TokenType type) {
    if (v.size() >= n) return;
    v.scores.push_back(type == cria::TokenType::Normal ? -static_cast<float>(v.size()) : 0.0f);
    v.pieces.push_back(std::move(piece));
    v.types.push_back(type);
  };
  add("<unk>", cria::TokenType::Unknown);
  add("<s>", cria::TokenType::Control);
  add("</s>", cria::TokenType::Control);
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    add(hex, cria::TokenType::Byte);
  }
  const std::string space = "\xE2\x96\x81";  // "▁"
  add(space, cria::TokenType::Normal);
  for (int length = 1; v.size() < n; ++length) {
    std::string word(static_cast<size_t>(length), 'a');
    for (;;) {  // every word of this length, in order
      add(word, cria::TokenType::Normal);
      add(space + word, cria::TokenType::Normal);
      if (v.size() >= n) break;
      int i = length - 1;
      while (i >= 0 && word[static_cast<size_t>(i)] == 'z') word[static_cast<size_t>(i--)] = 'a';
      if (i < 0) break;
      ++word[static_cast<size_t>(i)];
    }
  }
  return v;
}

}  // namespace

int cmd_synth(int argc, char** argv) {
  std::string shape_name = "110m", type_name = "F32", out_path, vocab_path;
  uint64_t seed = 1;
  int64_t layers = 0;
  for (cli::Args a(argc, argv); !a.done();) {
    if (a.is("--shape")) shape_name = a.value();
    else if (a.is("--type")) type_name = a.value();
    else if (a.is("-o", "--output")) out_path = a.value();
    else if (a.is("--vocab")) vocab_path = a.value();
    else if (a.is("--seed")) seed = static_cast<uint64_t>(a.int_value());
    else if (a.is("--layers")) layers = a.int_value();
    else if (a.is("-h", "--help")) {
      std::fputs("usage: cria synth --shape 7b|13b|70b|tinyllama|110m --type TYPE (F32, F16, Q4_0, Q4_K, ...)\n"
                 "                  -o OUT.gguf [--vocab VOCAB] [--seed S] [--layers N]\n"
                 "Random weights in a Llama shape (norms in F32, all matrices in TYPE). With\n"
                 "--vocab (tokenizer.model, tokenizer.bin or GGUF) the file carries that vocabulary;\n"
                 "without, a generated one (byte pieces and the strings of a-z). --layers N keeps the\n"
                 "shape's layers but N of them (a 7B layer's speed without a 7B file).\n",
                 stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  if (out_path.empty()) throw std::invalid_argument("no output file (-o OUT.gguf)");
  const Shape* shape = nullptr;
  for (const Shape& s : kShapes)
    if (shape_name == s.name) shape = &s;
  if (!shape) throw std::invalid_argument("unknown shape '" + shape_name + "'");
  Shape layered = *shape;
  if (layers != 0) {
    if (layers < 1 || layers > 1024) throw std::invalid_argument("--layers is 1 to 1024");
    layered.layers = layers;
    shape = &layered;
  }
  cria::DType type = cria::DType::Unknown;
  for (uint32_t id = 0; id < 64; ++id) {
    const cria::DTypeTraits* t = cria::dtype_traits(id);
    if (t && t->runs && type_name == t->name) type = static_cast<cria::DType>(id);
  }
  if (type == cria::DType::Unknown)
    throw std::invalid_argument("synth writes one of the types cria runs (F32, F16, BF16, Q8_0, "
                                "Q4_0, ..., Q6_K), not '" + type_name + "'; for mixes such as "
                                "Q4_K_M, synth F16 and use cria quantize");

  cria::io::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", std::string("cria synth ") + shape->name + " random weights");
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(shape->dim));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(shape->hidden));
  w.set_u32("llama.block_count", static_cast<uint32_t>(shape->layers));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(shape->heads));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(shape->kv_heads));
  w.set_u32("llama.context_length", static_cast<uint32_t>(shape->context));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(shape->dim / shape->heads));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  if (const cli::FileType* ft = cli::find_file_type(cria::dtype_name(type)))
    w.set_u32("general.file_type", ft->llama_ftype);
  {
    const cria::Vocabulary v = vocab_path.empty() ? synthetic_vocabulary(shape->vocab) : cria::load_vocabulary(vocab_path);
    if (v.size() != shape->vocab)
      throw std::invalid_argument(vocab_path + " has " + std::to_string(v.size()) +
                                  " tokens; the shape needs " + std::to_string(shape->vocab));
    std::vector<int32_t> types;
    for (cria::TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_array("tokenizer.ggml.tokens", v.pieces);
    w.set_array("tokenizer.ggml.scores", v.scores);
    w.set_array("tokenizer.ggml.token_type", types);
    w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
    w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
    w.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk_id));
  }

  const int64_t dim = shape->dim, hidden = shape->hidden;
  const int64_t kv_dim = dim / shape->heads * shape->kv_heads;
  uint64_t tensor_index = 0;
  // A matrix of `rows` outputs over `cols` inputs, weights ~ N(0, 1/cols) so activations keep
  // their scale through the layers.
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows) {
    const uint64_t id = seed * 1000003 + tensor_index++;
    const float stddev = 1.0f / std::sqrt(static_cast<float>(cols));
    w.add_tensor_rows(name, type, {cols, rows}, [=](int64_t r, uint8_t* dst) {
      thread_local std::vector<float> values;
      values.resize(static_cast<size_t>(cols));
      random_row(id * 0x100000001b3ull + static_cast<uint64_t>(r), stddev, values.data(), cols);
      cria::quantize_row(type, values.data(), dst, cols);
    });
  };
  auto norm = [&](const std::string& name) {
    std::vector<float> ones(static_cast<size_t>(dim), 1.0f);
    w.add_tensor(name, cria::DType::F32, {dim}, ones.data(), ones.size() * sizeof(float));
  };
  matrix("token_embd.weight", dim, shape->vocab);
  for (int64_t l = 0; l < shape->layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight");
    matrix(p + "attn_q.weight", dim, dim);
    matrix(p + "attn_k.weight", dim, kv_dim);
    matrix(p + "attn_v.weight", dim, kv_dim);
    matrix(p + "attn_output.weight", dim, dim);
    norm(p + "ffn_norm.weight");
    matrix(p + "ffn_gate.weight", dim, hidden);
    matrix(p + "ffn_up.weight", dim, hidden);
    matrix(p + "ffn_down.weight", hidden, dim);
  }
  norm("output_norm.weight");
  matrix("output.weight", dim, shape->vocab);
  w.write(out_path);
  std::fprintf(stderr, "wrote %s: %s shape, %s weights\n", out_path.c_str(), shape->name,
               cria::dtype_name(type));
  return 0;
}
