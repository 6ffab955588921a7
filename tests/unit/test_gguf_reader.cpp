// GgufFile on hand-made malformed files: each defect gives its own error (code and words),
// every prefix of a valid file is rejected without crashing, and the shared fixtures parse.
#include <doctest/doctest.h>

#include <cstring>
#include <limits>

#include "cria/error.hpp"
#include "cria/io/gguf.hpp"
#include "cria/io/gguf_writer.hpp"
#include "model_file_helpers.hpp"

using namespace cria;
using namespace cria::io;
using cria_test::Bytes;
using cria_test::gguf_header;
using cria_test::tensor_info;
using cria_test::tmp_path;
using namespace cria_test;  // value type ids kU8...

namespace {

std::unique_ptr<GgufFile> open_bytes(const std::string& name, const Bytes& b) {
  std::string path = tmp_path("gguf_reader_" + name + ".gguf");
  cria_test::write_file(path, b.b);
  return GgufFile::open(path);
}

// A file with one metadata pair whose value is `value` (type tag included).
Bytes one_kv(const Bytes& value) {
  Bytes b = gguf_header(0, 1);
  b.str("key");
  return b.raw(value.b);
}

// A file with one tensor entry (and `extra` bytes of data after the aligned header).
Bytes one_tensor(const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset,
                 size_t data_bytes) {
  Bytes b = gguf_header(1, 0);
  tensor_info(b, "weight", ne, type, offset);
  return b.pad_to(32).zeros(data_bytes);
}

constexpr uint64_t kHuge = 1ull << 62;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

}  // namespace

TEST_CASE("gguf reader: a well-formed hand-made file parses") {
  Bytes b = gguf_header(1, 2);
  b.str("general.architecture").u32(kString).str("llama");
  b.str("n").u32(kI32).i32(-3);
  tensor_info(b, "w", {2, 2}, 0, 0);
  b.pad_to(32).f32(1).f32(2).f32(3).f32(4);
  auto g = open_bytes("good", b);
  CHECK(g->get_string("general.architecture", "") == "llama");
  CHECK(g->get_int("n", 0) == -3);
  REQUIRE(g->tensors().size() == 1);
  CHECK(g->data_offset() == 128);  // 127 bytes of header, padded
  float x;
  std::memcpy(&x, g->tensors()[0].data + 12, 4);
  CHECK(x == 4.0f);
}

TEST_CASE("gguf reader: bad magic") {
  Bytes b = gguf_header(0, 0);
  b.b[3] = 'X';
  CHECK_CRIA_ERROR(open_bytes("magic", b), ErrorCode::InvalidFile, "not a GGUF file",
                   "bad magic");
  Bytes tiny;
  tiny.b = {'G', 'G', 'U'};
  CHECK_CRIA_ERROR(open_bytes("magic3", tiny), ErrorCode::InvalidFile, "bad magic");
  CHECK_CRIA_ERROR(open_bytes("empty", Bytes{}), ErrorCode::InvalidFile, "bad magic");
}

TEST_CASE("gguf reader: unsupported versions") {
  for (uint32_t v : {0u, 1u, 4u, 0xffffffffu}) {
    CAPTURE(v);
    std::string word = "version " + std::to_string(v);
    CHECK_CRIA_ERROR(open_bytes("version", gguf_header(0, 0, v)), ErrorCode::Unsupported,
                     word.c_str(), "not supported");
  }
  auto g2 = open_bytes("version2", gguf_header(0, 0, 2));
  CHECK(g2->version() == 2);
}

TEST_CASE("gguf reader: missing file is an Io error naming it") {
  std::string path = tmp_path("gguf_reader_does_not_exist.gguf");
  CHECK_CRIA_ERROR(GgufFile::open(path), ErrorCode::Io, path.c_str());
}

TEST_CASE("gguf reader: every prefix of a valid file is rejected, never a crash") {
  // Every kind of value and a few tensors, so truncation lands in every field type.
  GgufWriter w;
  w.set_u8("a.u8", 1);
  w.set_i16("a.i16", -2);
  w.set_f64("a.f64", 0.5);
  w.set_bool("a.bool", true);
  w.set_string("a.string", "some text");
  w.set_array("a.strings", std::vector<std::string>{"one", "", "three"});
  w.set_array("a.f32s", std::vector<float>{1, 2, 3});
  w.set("a.nested", GgufWriteValue::array(GgufType::Array, {GgufWriteValue::i32s({1, 2}),
                                                            GgufWriteValue::i32s({})}));
  w.set_alignment(64);
  std::vector<float> f(40, 1.5f);
  w.add_tensor("t.f32", DType::F32, {8, 5}, f.data(), 160);
  std::vector<uint8_t> q = cria_test::encode_rows(DType::Q8_0, f, 32);  // [32, 1] + 8 left
  w.add_tensor("t.q8_0", DType::Q8_0, {32}, q.data(), 34);
  w.add_tensor("t.f16", DType::F16, {3}, f.data(), 6);
  const std::vector<uint8_t> full = w.to_bytes();
  const std::string path = tmp_path("gguf_reader_prefix.gguf");
  cria_test::write_file(path, full);
  size_t header_end;
  {  // closed before the file is rewritten: Windows refuses to truncate a mapped file
    auto g = GgufFile::open(path);
    header_end = g->data_offset();
  }
  REQUIRE(header_end < full.size());

  size_t rejected = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    cria_test::write_file(path, std::vector<uint8_t>(full.begin(), full.begin() + n));
    Caught c = catch_error([&] { GgufFile::open(path); });
    CHECK_MESSAGE(c.thrown, "prefix of " << n << " bytes accepted");
    CHECK_MESSAGE(c.code == ErrorCode::InvalidFile, "prefix " << n << ": " << c.message);
    if (n >= 4)  // past the magic, the problem is named: truncated or too small
      CHECK_MESSAGE((c.message.find("truncated") != std::string::npos ||
                     c.message.find("past the end") != std::string::npos ||
                     c.message.find("larger than the file") != std::string::npos),
                    "prefix " << n << ": " << c.message);
    rejected += c.thrown;
  }
  CHECK(rejected == full.size());
}

TEST_CASE("gguf reader: counts larger than the file can hold") {
  Bytes kv = gguf_header(0, kHuge);
  kv.zeros(64);
  CHECK_CRIA_ERROR(open_bytes("kv_count", kv), ErrorCode::InvalidFile, "metadata count",
                   "larger than the file");
  Bytes kv_max = gguf_header(0, kMax);
  CHECK_CRIA_ERROR(open_bytes("kv_count_max", kv_max), ErrorCode::InvalidFile, "metadata count");
  Bytes tensors = gguf_header(kHuge, 0);
  tensors.zeros(64);
  CHECK_CRIA_ERROR(open_bytes("tensor_count", tensors), ErrorCode::InvalidFile, "tensor count",
                   "larger than the file");
  Bytes tensors_max = gguf_header(kMax, 0);
  CHECK_CRIA_ERROR(open_bytes("tensor_count_max", tensors_max), ErrorCode::InvalidFile,
                   "tensor count");
}

TEST_CASE("gguf reader: array lengths larger than the file can hold") {
  Bytes strings;
  strings.u32(kArray).u32(kString).u64(kHuge).str("x");
  CHECK_CRIA_ERROR(open_bytes("array_strings", one_kv(strings)), ErrorCode::InvalidFile, "'key'",
                   "array of", "past the end");
  Bytes numbers;
  numbers.u32(kArray).u32(kU32).u64(kHuge).u32(1);
  CHECK_CRIA_ERROR(open_bytes("array_u32", one_kv(numbers)), ErrorCode::InvalidFile, "'key'",
                   "past the end");
  Bytes wrap;  // count * 8 wraps around 2^64
  wrap.u32(kArray).u32(kF64).u64((kMax / 8) + 2).zeros(16);
  CHECK_CRIA_ERROR(open_bytes("array_f64_wrap", one_kv(wrap)), ErrorCode::InvalidFile, "'key'",
                   "past the end");
  Bytes arrays;
  arrays.u32(kArray).u32(kArray).u64(kMax).zeros(24);
  CHECK_CRIA_ERROR(open_bytes("array_arrays", one_kv(arrays)), ErrorCode::InvalidFile,
                   "past the end");
  Bytes one_more;  // three elements declared, two present
  one_more.u32(kArray).u32(kI32).u64(3).i32(1).i32(2);
  CHECK_CRIA_ERROR(open_bytes("array_short", one_kv(one_more)), ErrorCode::InvalidFile,
                   "past the end");
}

TEST_CASE("gguf reader: string lengths larger than the file") {
  Bytes value;
  value.u32(kString).u64(1ull << 63).zeros(8);
  CHECK_CRIA_ERROR(open_bytes("string_len", one_kv(value)), ErrorCode::InvalidFile, "truncated",
                   "string value");
  Bytes key = gguf_header(0, 1);
  key.u64(kMax).zeros(16);
  CHECK_CRIA_ERROR(open_bytes("key_len", key), ErrorCode::InvalidFile, "truncated",
                   "metadata key");
  Bytes name = gguf_header(1, 0);
  name.u64(kHuge).zeros(40);
  CHECK_CRIA_ERROR(open_bytes("tensor_name_len", name), ErrorCode::InvalidFile, "truncated",
                   "tensor name");
  Bytes in_array;
  in_array.u32(kArray).u32(kString).u64(2).str("ok").u64(kHuge).zeros(8);
  CHECK_CRIA_ERROR(open_bytes("string_in_array", one_kv(in_array)), ErrorCode::InvalidFile,
                   "truncated");
}

TEST_CASE("gguf reader: unknown value and element types") {
  for (uint32_t t : {13u, 99u, 0xffffffffu}) {
    CAPTURE(t);
    std::string word = "unknown value type " + std::to_string(t);
    Bytes v;
    v.u32(t).u64(0);
    CHECK_CRIA_ERROR(open_bytes("value_type", one_kv(v)), ErrorCode::InvalidFile, "'key'",
                     word.c_str());
    std::string elem_word = "unknown array element type " + std::to_string(t);
    Bytes a;
    a.u32(kArray).u32(t).u64(0);
    CHECK_CRIA_ERROR(open_bytes("elem_type", one_kv(a)), ErrorCode::InvalidFile, "'key'",
                     elem_word.c_str());
  }
}

TEST_CASE("gguf reader: arrays nested too deeply are rejected, a few levels are fine") {
  auto nested = [](int levels) {
    Bytes v;
    v.u32(kArray);
    for (int k = 1; k < levels; ++k) v.u32(kArray).u64(1);
    v.u32(kU8).u64(1).u8(7);
    return v;
  };
  auto g = open_bytes("nested4", one_kv(nested(4)));
  const GgufValue* v = g->find("key");
  REQUIRE(v != nullptr);
  for (int k = 1; k < 4; ++k) {
    REQUIRE(v->items.size() == 1);
    v = &v->items[0];
  }
  CHECK(v->element(0).u == 7);
  CHECK_CRIA_ERROR(open_bytes("nested64", one_kv(nested(64))), ErrorCode::InvalidFile, "'key'",
                   "nested too deeply");
  CHECK_CRIA_ERROR(open_bytes("nested100k", one_kv(nested(100000))), ErrorCode::InvalidFile,
                   "nested too deeply");
}

TEST_CASE("gguf reader: bool values other than 0 and 1") {
  Bytes v;
  v.u32(kBool).u8(2);
  CHECK_CRIA_ERROR(open_bytes("bool", one_kv(v)), ErrorCode::InvalidFile, "'key'", "bool value 2");
  Bytes a;
  a.u32(kArray).u32(kBool).u64(3).u8(0).u8(1).u8(255);
  CHECK_CRIA_ERROR(open_bytes("bool_array", one_kv(a)), ErrorCode::InvalidFile, "'key'",
                   "bool element");
}

TEST_CASE("gguf reader: duplicate metadata key and duplicate tensor name") {
  Bytes kv = gguf_header(0, 3);
  kv.str("a").u32(kU32).u32(1);
  kv.str("b").u32(kU32).u32(2);
  kv.str("a").u32(kString).str("again");
  CHECK_CRIA_ERROR(open_bytes("dup_key", kv), ErrorCode::InvalidFile, "'a'", "appears twice");

  Bytes t = gguf_header(2, 0);
  tensor_info(t, "w", {4}, 0, 0);
  tensor_info(t, "w", {4}, 0, 32);
  t.pad_to(32).zeros(64);
  CHECK_CRIA_ERROR(open_bytes("dup_tensor", t), ErrorCode::InvalidFile, "tensor 'w'",
                   "appears twice");
}

TEST_CASE("gguf reader: tensor dimension counts and dimensions") {
  CHECK_CRIA_ERROR(open_bytes("ndims0", one_tensor({}, 0, 0, 32)), ErrorCode::InvalidFile,
                   "'weight'", "0 dimensions");
  CHECK_CRIA_ERROR(open_bytes("ndims5", one_tensor({1, 1, 1, 1, 1}, 0, 0, 32)),
                   ErrorCode::InvalidFile, "'weight'", "5 dimensions");
  Bytes n_dims_huge = gguf_header(1, 0);
  n_dims_huge.str("weight").u32(0xffffffffu).zeros(64);
  CHECK_CRIA_ERROR(open_bytes("ndims_huge", n_dims_huge), ErrorCode::InvalidFile, "dimensions");
  auto four = open_bytes("ndims4", one_tensor({1, 2, 1, 2}, 0, 0, 16));
  CHECK(four->tensors()[0].n_dims == 4);

  CHECK_CRIA_ERROR(open_bytes("dim0", one_tensor({4, 0}, 0, 0, 32)), ErrorCode::InvalidFile,
                   "'weight'", "invalid shape", "dimension 1 = 0");
  CHECK_CRIA_ERROR(open_bytes("dim_overflow", one_tensor({1ull << 32, 1ull << 32}, 0, 0, 32)),
                   ErrorCode::InvalidFile, "'weight'", "invalid shape");
  CHECK_CRIA_ERROR(open_bytes("dim_2p63", one_tensor({1ull << 31, 1ull << 32}, 0, 0, 32)),
                   ErrorCode::InvalidFile, "invalid shape");
  CHECK_CRIA_ERROR(open_bytes("dim_negative", one_tensor({kMax}, 0, 0, 32)),
                   ErrorCode::InvalidFile, "invalid shape");
  CHECK_CRIA_ERROR(open_bytes("dim_3d_overflow", one_tensor({1ull << 21, 1ull << 21, 1ull << 21},
                                                            0, 0, 32)),
                   ErrorCode::InvalidFile, "invalid shape");
  // 2^62 f32 elements: the element count fits int64, the byte count does not fit 64 bits.
  CHECK_CRIA_ERROR(open_bytes("bytes_overflow", one_tensor({1ull << 31, 1ull << 31}, 0, 0, 32)),
                   ErrorCode::InvalidFile, "'weight'", "too large");
}

TEST_CASE("gguf reader: tensor offsets") {
  CHECK_CRIA_ERROR(open_bytes("offset_unaligned", one_tensor({4}, 0, 4, 64)),
                   ErrorCode::InvalidFile, "'weight'", "offset 4",
                   "not a multiple of the alignment 32");
  CHECK_CRIA_ERROR(open_bytes("offset_past_end", one_tensor({4}, 0, 1024, 64)),
                   ErrorCode::InvalidFile, "'weight'", "runs past the end");
  CHECK_CRIA_ERROR(open_bytes("size_past_end", one_tensor({64}, 0, 0, 255)),
                   ErrorCode::InvalidFile, "'weight'", "runs past the end");
  CHECK_CRIA_ERROR(open_bytes("offset_wrap", one_tensor({4}, 0, kMax - 31, 64)),
                   ErrorCode::InvalidFile, "'weight'", "runs past the end");
  // offset + size wraps: a tensor of ~2^62 bytes at an offset near 2^64.
  CHECK_CRIA_ERROR(open_bytes("size_wrap", one_tensor({1ull << 30, 1ull << 30}, 0,
                                                      (kMax - (1ull << 61)) & ~31ull, 64)),
                   ErrorCode::InvalidFile, "'weight'", "runs past the end");
  // The header ends unaligned and the file ends with it: no room for the data section.
  Bytes no_data = gguf_header(1, 0);
  tensor_info(no_data, "weight", {1}, 0, 0);
  REQUIRE(no_data.size() % 32 != 0);
  CHECK_CRIA_ERROR(open_bytes("no_data", no_data), ErrorCode::InvalidFile, "past the end");
  // Exactly fitting is fine.
  auto ok = open_bytes("offset_fits", one_tensor({4}, 0, 32, 48));
  CHECK(ok->tensors()[0].offset == 32);
}

TEST_CASE("gguf reader: general.alignment must be a power-of-two u32") {
  auto with_alignment = [](const Bytes& value) {
    Bytes b = gguf_header(1, 1);
    b.str("general.alignment").raw(value.b);
    tensor_info(b, "weight", {4}, 0, 0);
    return b.pad_to(64).zeros(64);
  };
  Bytes v48;
  v48.u32(kU32).u32(48);
  CHECK_CRIA_ERROR(open_bytes("align48", with_alignment(v48)), ErrorCode::InvalidFile,
                   "general.alignment 48", "not a power of two");
  Bytes v0;
  v0.u32(kU32).u32(0);
  CHECK_CRIA_ERROR(open_bytes("align0", with_alignment(v0)), ErrorCode::InvalidFile,
                   "general.alignment 0", "not a power of two");
  Bytes v64;
  v64.u32(kU64).u64(32);
  CHECK_CRIA_ERROR(open_bytes("align_u64", with_alignment(v64)), ErrorCode::InvalidFile,
                   "general.alignment must be u32", "u64");
  Bytes vs;
  vs.u32(kString).str("32");
  CHECK_CRIA_ERROR(open_bytes("align_string", with_alignment(vs)), ErrorCode::InvalidFile,
                   "general.alignment must be u32", "string");
  Bytes v16;
  v16.u32(kU32).u32(16);
  auto g = open_bytes("align16", with_alignment(v16));
  CHECK(g->alignment() == 16);
  CHECK(g->data_offset() % 16 == 0);
}

TEST_CASE("gguf reader: block types need whole blocks per row") {
  CHECK_CRIA_ERROR(open_bytes("q8_0_row", one_tensor({33, 2}, 8, 0, 256)),
                   ErrorCode::InvalidFile, "'weight'", "Q8_0", "33 elements",
                   "not a multiple of the block size 32");
  CHECK_CRIA_ERROR(open_bytes("q4_0_row", one_tensor({16}, 2, 0, 256)), ErrorCode::InvalidFile,
                   "Q4_0", "block size 32");
  CHECK_CRIA_ERROR(open_bytes("q6_k_row", one_tensor({128}, 14, 0, 256)), ErrorCode::InvalidFile,
                   "Q6_K", "block size 256");
  auto ok = open_bytes("q8_0_ok", one_tensor({32, 2}, 8, 0, 68));
  CHECK(ok->tensors()[0].nbytes == 68);
  CHECK(ok->tensors()[0].dtype == DType::Q8_0);
}

TEST_CASE("gguf reader: a tensor of a type cria does not know is kept, without data") {
  auto g = open_bytes("type99", one_tensor({4}, 99, 0, 0));
  const GgufTensorInfo& t = g->tensors()[0];
  CHECK(t.ggml_type == 99);
  CHECK(t.dtype == DType::Unknown);
  CHECK(t.data == nullptr);
  CHECK(ggml_type_name(99) == "unknown type 99");
}

TEST_CASE("gguf reader: shared fixtures parse") {
  auto g = GgufFile::open(shared_path("models/stories260K.gguf"));
  CHECK(g->version() == 3);
  CHECK(g->get_string("general.architecture", "") == "llama");
  CHECK(g->get_int("llama.context_length", 0) == 2048);
  CHECK(g->get_int("llama.embedding_length", 0) == 64);
  const GgufValue* tokens = g->find("tokenizer.ggml.tokens");
  REQUIRE(tokens != nullptr);
  CHECK(tokens->elem_type == GgufType::String);
  CHECK(tokens->count == 512);
  CHECK(g->tensors().size() == 3 + 9 * 5);
  for (const GgufTensorInfo& t : g->tensors()) {
    CHECK(t.dtype == DType::F32);
    CHECK(t.offset % g->alignment() == 0);
  }
  const GgufTensorInfo* q = g->find_tensor("blk.0.attn_k.weight");
  REQUIRE(q != nullptr);
  CHECK(q->ne[0] == 64);
  CHECK(q->ne[1] == 32);  // kv_dim: 4 kv heads of 8

  auto f16 = GgufFile::open(shared_path("models/stories260K.f16.gguf"));
  CHECK(f16->find_tensor("blk.0.attn_q.weight")->dtype == DType::F16);
  CHECK(f16->find_tensor("blk.0.attn_norm.weight")->dtype == DType::F32);

  auto vocab = GgufFile::open(shared_path("models/llama2-vocab.gguf"));
  CHECK(vocab->find("tokenizer.ggml.tokens")->count == 32000);

  auto q4km = GgufFile::open(shared_path("models/synth256.q4_k_m.gguf"));
  bool has_q4_k = false, has_q6_k = false;
  for (const GgufTensorInfo& t : q4km->tensors()) {
    has_q4_k |= t.dtype == DType::Q4_K;
    has_q6_k |= t.dtype == DType::Q6_K;
  }
  CHECK(has_q4_k);
  CHECK(has_q6_k);
}
