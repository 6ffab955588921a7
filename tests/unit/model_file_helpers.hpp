#pragma once
// Helpers for the tests of model files: temporary paths, raw byte builders for hand-made
// (malformed) files, a tiny random Llama written with GgufWriter, and error capture.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/gguf_writer.hpp"
#include "cria/quant.hpp"

namespace cria_test {

inline std::string shared_path(const std::string& rel) {
  return std::string(CRIA_SHARED_DIR) + "/" + rel;
}

inline std::string tmp_path(const std::string& name) {
  return std::string(CRIA_TEST_TMP) + "/" + name;
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE_MESSAGE(f != nullptr, "cannot create " << path);
  size_t n = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
  int closed = std::fclose(f);
  REQUIRE(n == bytes.size());
  REQUIRE(closed == 0);
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Little-endian byte builder for hand-made files.
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  Bytes& put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& i32(int32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& f32(float v) { return put(v); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const std::vector<uint8_t>& v) {
    b.insert(b.end(), v.begin(), v.end());
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
  Bytes& pad_to(size_t alignment) {
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  size_t size() const { return b.size(); }
};

// GGUF value type ids, for hand-made metadata.
enum : uint32_t {
  kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64,
};

// GGUF header: magic, version, tensor count, metadata count.
inline Bytes gguf_header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.u32(0x46554747).u32(version).u64(n_tensors).u64(n_kv);
  return b;
}

// One tensor-table entry.
inline Bytes& tensor_info(Bytes& b, const std::string& name, const std::vector<uint64_t>& ne,
                          uint32_t type, uint64_t offset) {
  b.str(name).u32(static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) b.u64(d);
  return b.u32(type).u64(offset);
}

// Runs f, which must throw cria::Error; returns it (code and message) for checking.
struct Caught {
  bool thrown = false;
  cria::ErrorCode code = cria::ErrorCode::InvalidArgument;
  std::string message;
};
inline Caught catch_error(const std::function<void()>& f) {
  Caught c;
  try {
    f();
  } catch (const cria::Error& e) {
    c.thrown = true;
    c.code = e.code();
    c.message = e.what();
  }
  return c;
}

inline const char* code_name(cria::ErrorCode c) {
  switch (c) {
    case cria::ErrorCode::InvalidArgument: return "InvalidArgument";
    case cria::ErrorCode::InvalidFile: return "InvalidFile";
    case cria::ErrorCode::Unsupported: return "Unsupported";
    case cria::ErrorCode::Io: return "Io";
    case cria::ErrorCode::OutOfMemory: return "OutOfMemory";
    case cria::ErrorCode::ContextFull: return "ContextFull";
    case cria::ErrorCode::Cancelled: return "Cancelled";
  }
  return "?";
}

// Checks that `expr` throws cria::Error with `code` and a message containing every one of
// the given words.
#define CHECK_CRIA_ERROR(expr, expected_code, ...)                                       \
  do {                                                                                   \
    ::cria_test::Caught caught_ = ::cria_test::catch_error([&] { (void)(expr); });       \
    CHECK_MESSAGE(caught_.thrown, "no cria::Error from " #expr);                         \
    if (caught_.thrown) {                                                                \
      CHECK_MESSAGE(caught_.code == (expected_code),                                     \
                    "code " << std::string(::cria_test::code_name(caught_.code)) << ": " \
                            << caught_.message);                                         \
      for (const char* word_ : {__VA_ARGS__})                                            \
        CHECK_MESSAGE(caught_.message.find(word_) != std::string::npos,                  \
                      "'" << std::string(word_) << "' not in: " << caught_.message);     \
    }                                                                                    \
  } while (0)

// Random values, the same on every run.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Encodes rows of f32 values as `type`.
inline std::vector<uint8_t> encode_rows(cria::DType type, const std::vector<float>& values,
                                        int64_t cols) {
  int64_t rows = static_cast<int64_t>(values.size()) / cols;
  size_t rb = cria::row_bytes(type, cols);
  std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    cria::quantize_row(type, values.data() + r * cols, out.data() + r * rb, cols);
  return out;
}

// A small Llama with random weights, as cria::Model::load expects it.
struct TinyLlama {
  int64_t dim = 16, hidden = 40, layers = 2, heads = 4, kv_heads = 2, vocab = 24, context = 64;
  bool tied = false;
  cria::DType matrix_type = cria::DType::F32;
  uint32_t version = 3;

  int64_t kv_dim() const { return dim / heads * kv_heads; }

  // Called for every tensor before it is added: may change its type or shape, or return
  // false to leave it out.
  std::function<bool(const std::string& name, cria::DType& type, std::vector<int64_t>& ne)> edit;

  void add(cria::io::GgufWriter& w, const std::string& name, cria::DType type,
           std::vector<int64_t> ne, uint32_t seed) const {
    if (edit && !edit(name, type, ne)) return;
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    std::vector<float> values = random_floats(static_cast<size_t>(n), seed, 0.5f);
    std::vector<uint8_t> bytes;
    const cria::DTypeTraits* traits = cria::dtype_traits(static_cast<uint32_t>(type));
    if (type == cria::DType::F32 || type == cria::DType::F16 || type == cria::DType::BF16 ||
        type == cria::DType::Q8_0 || type == cria::DType::Q4_0)
      bytes = encode_rows(type, values, ne[0]);
    else if (traits)  // a layout cria knows but cannot encode: bytes of the right size
      bytes.assign(static_cast<size_t>(n / traits->block_elems) * traits->block_bytes, 0x11);
    else  // a type cria does not know: some bytes
      bytes.assign(64, 0x22);
    w.add_tensor(name, type, ne, bytes.data(), bytes.size());
  }

  // Metadata and every tensor; tests edit the result before writing it.
  cria::io::GgufWriter writer() const {
    cria::io::GgufWriter w(version);
    w.set_string("general.architecture", "llama");
    w.set_string("general.name", "tiny test llama");
    w.set_u32("llama.context_length", static_cast<uint32_t>(context));
    w.set_u32("llama.embedding_length", static_cast<uint32_t>(dim));
    w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(hidden));
    w.set_u32("llama.block_count", static_cast<uint32_t>(layers));
    w.set_u32("llama.attention.head_count", static_cast<uint32_t>(heads));
    w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(kv_heads));
    w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    w.set_f32("llama.rope.freq_base", 10000.0f);
    w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(dim / heads));
    uint32_t seed = 1;
    const cria::DType mt = matrix_type, f32 = cria::DType::F32;
    add(w, "token_embd.weight", mt, {dim, vocab}, seed++);
    for (int64_t l = 0; l < layers; ++l) {
      std::string p = "blk." + std::to_string(l) + ".";
      add(w, p + "attn_norm.weight", f32, {dim}, seed++);
      add(w, p + "attn_q.weight", mt, {dim, dim}, seed++);
      add(w, p + "attn_k.weight", mt, {dim, kv_dim()}, seed++);
      add(w, p + "attn_v.weight", mt, {dim, kv_dim()}, seed++);
      add(w, p + "attn_output.weight", mt, {dim, dim}, seed++);
      add(w, p + "ffn_norm.weight", f32, {dim}, seed++);
      add(w, p + "ffn_gate.weight", mt, {dim, hidden}, seed++);
      add(w, p + "ffn_down.weight", mt, {hidden, dim}, seed++);
      add(w, p + "ffn_up.weight", mt, {dim, hidden}, seed++);
    }
    add(w, "output_norm.weight", f32, {dim}, seed++);
    if (!tied) add(w, "output.weight", mt, {dim, vocab}, seed++);
    return w;
  }
};

}  // namespace cria_test
