// GgufWriter: files it writes read back through GgufFile with every metadata value, tensor
// shape, type, aligned offset and data byte intact; and it refuses what would make a bad file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "cria/error.hpp"
#include "cria/io/gguf.hpp"
#include "cria/io/gguf_writer.hpp"
#include "cria/quant.hpp"
#include "model_file_helpers.hpp"

using namespace cria;
using namespace cria::io;
using cria_test::tmp_path;

namespace {

using V = GgufWriteValue;

struct TensorSpec {
  std::string name;
  DType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> data;
};

std::vector<TensorSpec> sample_tensors() {
  std::vector<TensorSpec> t;
  auto make = [&](const std::string& name, DType type, std::vector<int64_t> ne, uint32_t seed) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    t.push_back({name, type, ne,
                 cria_test::encode_rows(type, cria_test::random_floats(n, seed, 3.0f), ne[0])});
  };
  make("f32.matrix", DType::F32, {8, 3}, 1);
  make("f16.vector", DType::F16, {5}, 2);           // 10 bytes: the next offset needs padding
  make("bf16.matrix", DType::BF16, {7, 3}, 3);      // 42 bytes
  make("q8_0.matrix", DType::Q8_0, {64, 3}, 4);     // 6 blocks of 34 bytes
  make("q4_0.matrix", DType::Q4_0, {32, 5}, 5);     // 5 blocks of 18 bytes
  make("f32.3d", DType::F32, {3, 2, 2}, 6);
  make("f32.4d", DType::F32, {2, 1, 3, 2}, 7);
  make("f32.last", DType::F32, {1}, 8);
  return t;
}

// Every value type, nested arrays and empty arrays/strings.
void set_all_metadata(GgufWriter& w) {
  w.set_u8("t.u8", 255);
  w.set_i8("t.i8", -128);
  w.set_u16("t.u16", 65535);
  w.set_i16("t.i16", -32768);
  w.set_u32("t.u32", 0xffffffffu);
  w.set_i32("t.i32", std::numeric_limits<int32_t>::min());
  w.set_f32("t.f32", -1.5e-7f);
  w.set_bool("t.true", true);
  w.set_bool("t.false", false);
  w.set_string("t.string", std::string("h\xc3\xa9llo\0world", 12));  // UTF-8, embedded NUL
  w.set_string("t.empty_string", "");
  w.set_u64("t.u64", std::numeric_limits<uint64_t>::max());
  w.set_i64("t.i64", std::numeric_limits<int64_t>::min());
  w.set_f64("t.f64", 3.141592653589793);
  w.set_array("t.strings", std::vector<std::string>{"a", "", "<0x0A>", "\xe2\x96\x81the"});
  w.set_array("t.f32s", std::vector<float>{1.0f, -2.5f, 1e30f});
  w.set_array("t.i32s", std::vector<int32_t>{-1, 0, 2147483647});
  w.set("t.u8s", V::array(GgufType::U8, {V::u8(0), V::u8(7), V::u8(255)}));
  w.set("t.i8s", V::array(GgufType::I8, {V::i8(-1), V::i8(127)}));
  w.set("t.u16s", V::array(GgufType::U16, {V::u16(65535)}));
  w.set("t.i16s", V::array(GgufType::I16, {V::i16(-2), V::i16(3)}));
  w.set("t.u32s", V::array(GgufType::U32, {V::u32(1), V::u32(4000000000u)}));
  w.set("t.bools", V::array(GgufType::Bool, {V::boolean(true), V::boolean(false)}));
  w.set("t.u64s", V::array(GgufType::U64, {V::u64(1ull << 63)}));
  w.set("t.i64s", V::array(GgufType::I64, {V::i64(-5), V::i64(1ll << 40)}));
  w.set("t.f64s", V::array(GgufType::F64, {V::f64(0.1), V::f64(-0.0)}));
  w.set("t.empty_i32s", V::i32s({}));
  w.set("t.empty_strings", V::strings({}));
  w.set("t.empty_arrays", V::array(GgufType::Array, {}));
  w.set("t.string_arrays",
        V::array(GgufType::Array, {V::strings({"x", "yy"}), V::strings({}), V::strings({""})}));
  w.set("t.i32_arrays", V::array(GgufType::Array, {V::i32s({1, 2, 3}), V::i32s({}), V::i32s({-4})}));
  w.set("t.deep", V::array(GgufType::Array,
                           {V::array(GgufType::Array, {V::array(GgufType::F32, {V::f32(9.5f)})})}));
}

void check_all_metadata(const GgufFile& g) {
  auto get = [&](const std::string& key) -> const GgufValue& {
    const GgufValue* v = g.find(key);
    REQUIRE_MESSAGE(v != nullptr, key);
    return *v;
  };
  CHECK(get("t.u8").type == GgufType::U8);
  CHECK(get("t.u8").u == 255);
  CHECK(get("t.i8").type == GgufType::I8);
  CHECK(get("t.i8").i == -128);
  CHECK(get("t.u16").type == GgufType::U16);
  CHECK(get("t.u16").u == 65535);
  CHECK(get("t.i16").type == GgufType::I16);
  CHECK(get("t.i16").i == -32768);
  CHECK(get("t.u32").type == GgufType::U32);
  CHECK(get("t.u32").u == 0xffffffffu);
  CHECK(get("t.i32").type == GgufType::I32);
  CHECK(get("t.i32").i == std::numeric_limits<int32_t>::min());
  CHECK(get("t.f32").type == GgufType::F32);
  CHECK(static_cast<float>(get("t.f32").f) == -1.5e-7f);
  CHECK(get("t.true").type == GgufType::Bool);
  CHECK(get("t.true").u == 1);
  CHECK(get("t.false").u == 0);
  CHECK(get("t.string").type == GgufType::String);
  CHECK(get("t.string").str == std::string_view("h\xc3\xa9llo\0world", 12));
  CHECK(get("t.empty_string").type == GgufType::String);
  CHECK(get("t.empty_string").str.empty());
  CHECK(get("t.u64").type == GgufType::U64);
  CHECK(get("t.u64").u == std::numeric_limits<uint64_t>::max());
  CHECK(get("t.i64").type == GgufType::I64);
  CHECK(get("t.i64").i == std::numeric_limits<int64_t>::min());
  CHECK(get("t.f64").type == GgufType::F64);
  CHECK(get("t.f64").f == 3.141592653589793);

  // Typed lookups.
  CHECK(g.get_int("t.u32", 0) == 0xffffffffll);
  CHECK(g.get_int("t.i8", 0) == -128);
  CHECK(g.get_int("t.absent", 42) == 42);
  CHECK(g.get_double("t.u16", 0) == 65535.0);
  CHECK(g.get_string("t.string", "") == std::string("h\xc3\xa9llo\0world", 12));
  CHECK_CRIA_ERROR(g.get_int("t.u64", 0), ErrorCode::InvalidFile, "t.u64", "out of range");
  CHECK_CRIA_ERROR(g.get_int("t.string", 0), ErrorCode::InvalidFile, "t.string", "integer");
  CHECK_CRIA_ERROR(g.get_string("t.u8", ""), ErrorCode::InvalidFile, "t.u8", "string");

  const GgufValue& strings = get("t.strings");
  CHECK(strings.type == GgufType::Array);
  CHECK(strings.elem_type == GgufType::String);
  REQUIRE(strings.count == 4);
  REQUIRE(strings.items.size() == 4);
  CHECK(strings.items[0].str == "a");
  CHECK(strings.items[1].str.empty());
  CHECK(strings.items[2].str == "<0x0A>");
  CHECK(strings.items[3].str == "\xe2\x96\x81the");
  CHECK(strings.element(3).str == "\xe2\x96\x81the");

  auto numbers = [&](const std::string& key, GgufType elem, uint64_t count) -> const GgufValue& {
    const GgufValue& v = get(key);
    CHECK(v.type == GgufType::Array);
    CHECK(v.elem_type == elem);
    CHECK(v.count == count);
    if (count > 0) CHECK(v.raw != nullptr);
    return v;
  };
  const GgufValue& f32s = numbers("t.f32s", GgufType::F32, 3);
  CHECK(f32s.element(0).f == 1.0);
  CHECK(f32s.element(1).f == -2.5);
  CHECK(static_cast<float>(f32s.element(2).f) == 1e30f);
  CHECK(f32s.element(2).type == GgufType::F32);
  const GgufValue& i32s = numbers("t.i32s", GgufType::I32, 3);
  CHECK(i32s.element(0).i == -1);
  CHECK(i32s.element(1).i == 0);
  CHECK(i32s.element(2).i == 2147483647);
  const GgufValue& u8s = numbers("t.u8s", GgufType::U8, 3);
  CHECK(u8s.element(2).u == 255);
  CHECK(u8s.element(1).u == 7);
  CHECK(numbers("t.i8s", GgufType::I8, 2).element(0).i == -1);
  CHECK(numbers("t.i8s", GgufType::I8, 2).element(1).i == 127);
  CHECK(numbers("t.u16s", GgufType::U16, 1).element(0).u == 65535);
  CHECK(numbers("t.i16s", GgufType::I16, 2).element(0).i == -2);
  CHECK(numbers("t.u32s", GgufType::U32, 2).element(1).u == 4000000000u);
  CHECK(numbers("t.bools", GgufType::Bool, 2).element(0).u == 1);
  CHECK(numbers("t.bools", GgufType::Bool, 2).element(1).u == 0);
  CHECK(numbers("t.u64s", GgufType::U64, 1).element(0).u == (1ull << 63));
  CHECK(numbers("t.i64s", GgufType::I64, 2).element(0).i == -5);
  CHECK(numbers("t.i64s", GgufType::I64, 2).element(1).i == (1ll << 40));
  CHECK(numbers("t.f64s", GgufType::F64, 2).element(0).f == 0.1);
  CHECK(std::signbit(numbers("t.f64s", GgufType::F64, 2).element(1).f));
  CHECK_CRIA_ERROR(f32s.element(3), ErrorCode::InvalidArgument, "out of range");

  numbers("t.empty_i32s", GgufType::I32, 0);
  CHECK(get("t.empty_strings").elem_type == GgufType::String);
  CHECK(get("t.empty_strings").count == 0);
  CHECK(get("t.empty_strings").items.empty());
  CHECK(get("t.empty_arrays").elem_type == GgufType::Array);
  CHECK(get("t.empty_arrays").count == 0);

  const GgufValue& sa = get("t.string_arrays");
  CHECK(sa.elem_type == GgufType::Array);
  REQUIRE(sa.items.size() == 3);
  CHECK(sa.items[0].type == GgufType::Array);
  CHECK(sa.items[0].elem_type == GgufType::String);
  REQUIRE(sa.items[0].items.size() == 2);
  CHECK(sa.items[0].items[0].str == "x");
  CHECK(sa.items[0].items[1].str == "yy");
  CHECK(sa.items[1].count == 0);
  CHECK(sa.items[1].elem_type == GgufType::String);
  REQUIRE(sa.items[2].items.size() == 1);
  CHECK(sa.items[2].items[0].str.empty());

  const GgufValue& ia = get("t.i32_arrays");
  REQUIRE(ia.items.size() == 3);
  CHECK(ia.items[0].elem_type == GgufType::I32);
  REQUIRE(ia.items[0].count == 3);
  CHECK(ia.items[0].element(0).i == 1);
  CHECK(ia.items[0].element(2).i == 3);
  CHECK(ia.items[1].count == 0);
  REQUIRE(ia.items[2].count == 1);
  CHECK(ia.items[2].element(0).i == -4);

  const GgufValue& deep = get("t.deep");
  REQUIRE(deep.items.size() == 1);
  REQUIRE(deep.items[0].items.size() == 1);
  const GgufValue& leaf = deep.items[0].items[0];
  CHECK(leaf.elem_type == GgufType::F32);
  REQUIRE(leaf.count == 1);
  CHECK(leaf.element(0).f == 9.5);
}

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// Writes the sample file with the given version and alignment (0: key absent) and checks
// every value and tensor read back.
void round_trip(uint32_t version, uint32_t alignment) {
  CAPTURE(version);
  CAPTURE(alignment);
  GgufWriter w(version);
  set_all_metadata(w);
  if (alignment) w.set_alignment(alignment);
  std::vector<TensorSpec> specs = sample_tensors();
  for (const TensorSpec& t : specs) w.add_tensor(t.name, t.type, t.ne, t.data.data(), t.data.size());
  const uint64_t expect_alignment = alignment ? alignment : 32;
  CHECK(w.alignment() == expect_alignment);
  CHECK(w.n_tensors() == specs.size());

  std::string path = tmp_path("gguf_round_trip_v" + std::to_string(version) + "_a" +
                              std::to_string(alignment) + ".gguf");
  w.write(path);
  std::vector<uint8_t> bytes = cria_test::read_file(path);
  CHECK(bytes == w.to_bytes());

  std::unique_ptr<GgufFile> g = GgufFile::open(path);
  CHECK(g->version() == version);
  CHECK(g->alignment() == expect_alignment);
  CHECK(g->data_offset() % expect_alignment == 0);
  CHECK(g->path() == path);
  check_all_metadata(*g);

  // Metadata in insertion order, general.alignment last when set.
  const auto& md = g->metadata();
  REQUIRE(md.size() == (alignment ? 33u : 32u));
  CHECK(md.front().first == "t.u8");
  CHECK(md[13].first == "t.f64");
  if (alignment) {
    CHECK(md.back().first == "general.alignment");
    CHECK(md.back().second.type == GgufType::U32);
    CHECK(md.back().second.u == alignment);
  }

  REQUIRE(g->tensors().size() == specs.size());
  uint64_t expect_offset = 0;
  for (size_t k = 0; k < specs.size(); ++k) {
    const TensorSpec& s = specs[k];
    const GgufTensorInfo& t = g->tensors()[k];
    CAPTURE(s.name);
    CHECK(t.name == s.name);
    CHECK(g->find_tensor(s.name) == &t);
    CHECK(t.ggml_type == static_cast<uint32_t>(s.type));
    CHECK(t.dtype == s.type);
    REQUIRE(t.n_dims == s.ne.size());
    int64_t n = 1;
    for (size_t d = 0; d < 4; ++d) {
      int64_t want = d < s.ne.size() ? s.ne[d] : 1;
      CHECK(t.ne[d] == want);
      n *= want;
    }
    CHECK(t.n_elements() == n);
    CHECK(t.offset % expect_alignment == 0);
    CHECK(t.offset == expect_offset);  // packed: each tensor at the next aligned offset
    expect_offset = align_up(t.offset + s.data.size(), expect_alignment);
    CHECK(t.nbytes == s.data.size());
    REQUIRE(t.data != nullptr);
    CHECK(t.data == g->file()->data() + g->data_offset() + t.offset);
    CHECK(std::memcmp(t.data, s.data.data(), s.data.size()) == 0);
  }
  // The file ends with the last tensor; padding between tensors is zero.
  const GgufTensorInfo& last = g->tensors().back();
  CHECK(g->data_offset() + last.offset + last.nbytes == bytes.size());
  const GgufTensorInfo& f16 = *g->find_tensor("f16.vector");
  for (uint64_t p = g->data_offset() + f16.offset + f16.nbytes;
       p < g->data_offset() + g->find_tensor("bf16.matrix")->offset; ++p)
    CHECK(bytes[p] == 0);
  CHECK(g->find_tensor("absent") == nullptr);
  CHECK(g->find("absent") == nullptr);

  // Dequantized values match what was encoded.
  const GgufTensorInfo& q8 = *g->find_tensor("q8_0.matrix");
  std::vector<float> row(64), want(64);
  dequantize_row(DType::Q8_0, q8.data + row_bytes(DType::Q8_0, 64), row.data(), 64);
  dequantize_row(DType::Q8_0, specs[3].data.data() + row_bytes(DType::Q8_0, 64), want.data(), 64);
  CHECK(row == want);
}

}  // namespace

TEST_CASE("gguf writer: every metadata type and tensor type round-trips, v3 default alignment") {
  round_trip(3, 0);
}

TEST_CASE("gguf writer: round trip with general.alignment 32, 64, 256 and 1") {
  for (uint32_t a : {32u, 64u, 256u, 1u}) round_trip(3, a);
}

TEST_CASE("gguf writer: round trip as GGUF v2") {
  round_trip(2, 0);
  round_trip(2, 64);
}

TEST_CASE("gguf writer: header layout is the GGUF specification's") {
  GgufWriter w;
  w.set_u32("k", 7);
  float x = 1.0f;
  w.add_tensor("t", DType::F32, {1}, &x, 4);
  std::vector<uint8_t> b = w.to_bytes();
  cria_test::Bytes want;
  want.u32(0x46554747).u32(3).u64(1).u64(1);  // "GGUF", version, tensor and kv counts
  want.str("k").u32(cria_test::kU32).u32(7);
  cria_test::tensor_info(want, "t", {1}, 0, 0);
  want.pad_to(32).f32(1.0f);
  CHECK(b == want.b);
  CHECK(std::memcmp(b.data(), "GGUF", 4) == 0);
}

TEST_CASE("gguf writer: setting a key again replaces its value in place; remove drops it") {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_string("b", "x");
  w.set_string("a", "now a string");
  CHECK(w.remove("b"));
  CHECK_FALSE(w.remove("b"));
  std::string path = tmp_path("gguf_replace.gguf");
  w.write(path);
  auto g = GgufFile::open(path);
  REQUIRE(g->metadata().size() == 1);
  CHECK(g->metadata()[0].first == "a");
  CHECK(g->get_string("a", "") == "now a string");
  CHECK(g->tensors().empty());
}

TEST_CASE("gguf writer: a file without tensors or metadata is valid") {
  GgufWriter w;
  std::string path = tmp_path("gguf_empty.gguf");
  w.write(path);
  auto g = GgufFile::open(path);
  CHECK(g->metadata().empty());
  CHECK(g->tensors().empty());
  CHECK(g->version() == 3);
}

TEST_CASE("gguf writer: a type id cria does not know is written with the bytes given") {
  GgufWriter w;
  std::vector<uint8_t> bytes(40, 0xab);
  w.add_tensor("odd", static_cast<DType>(99), {10, 4}, bytes.data(), bytes.size());
  float x = 2.0f;
  w.add_tensor("after", DType::F32, {1}, &x, 4);
  std::string path = tmp_path("gguf_unknown_type.gguf");
  w.write(path);
  auto g = GgufFile::open(path);
  const GgufTensorInfo* t = g->find_tensor("odd");
  REQUIRE(t != nullptr);
  CHECK(t->ggml_type == 99);
  CHECK(t->dtype == DType::Unknown);
  CHECK(t->data == nullptr);
  CHECK(t->nbytes == 0);
  const GgufTensorInfo* after = g->find_tensor("after");
  REQUIRE(after != nullptr);
  CHECK(after->offset == 64);  // 40 bytes, padded to 32
  float y;
  std::memcpy(&y, after->data, 4);
  CHECK(y == 2.0f);
}

TEST_CASE("gguf writer: refuses bad tensors, alignments, arrays and versions") {
  GgufWriter w;
  std::vector<uint8_t> data(4096);
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {}, data.data(), 0), ErrorCode::InvalidArgument,
                   "'t'", "dimensions");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {1, 1, 1, 1, 1}, data.data(), 4),
                   ErrorCode::InvalidArgument, "dimensions");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {4, 0}, data.data(), 0),
                   ErrorCode::InvalidArgument, "shape");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {-4}, data.data(), 16),
                   ErrorCode::InvalidArgument, "shape");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {1ll << 40, 1ll << 40}, data.data(), 16),
                   ErrorCode::InvalidArgument, "shape");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {4}, data.data(), 12),
                   ErrorCode::InvalidArgument, "needs 16 bytes", "12 given");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::Q8_0, {48}, data.data(), 51),
                   ErrorCode::InvalidArgument, "Q8_0", "block size");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::Q4_0, {32}, data.data(), 34),
                   ErrorCode::InvalidArgument, "needs 18 bytes");
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {4}, nullptr, 16), ErrorCode::InvalidArgument,
                   "no data");
  w.add_tensor("t", DType::F32, {4}, data.data(), 16);
  CHECK_CRIA_ERROR(w.add_tensor("t", DType::F32, {4}, data.data(), 16),
                   ErrorCode::InvalidArgument, "'t'", "twice");
  CHECK(w.n_tensors() == 1);

  CHECK_CRIA_ERROR(w.set_alignment(48), ErrorCode::InvalidArgument, "48", "power of two");
  CHECK_CRIA_ERROR(w.set_alignment(0), ErrorCode::InvalidArgument, "power of two");
  w.set_u32("general.alignment", 24);  // set by hand: refused when written
  CHECK_CRIA_ERROR(w.write(tmp_path("gguf_bad_alignment.gguf")), ErrorCode::InvalidArgument,
                   "general.alignment");
  w.set_u64("general.alignment", 32);  // the specification says u32
  CHECK_CRIA_ERROR(w.to_bytes(), ErrorCode::InvalidArgument, "general.alignment");
  w.set_alignment(16);
  CHECK(w.alignment() == 16);

  CHECK_CRIA_ERROR(V::array(GgufType::I32, {V::i32(1), V::u32(2)}), ErrorCode::InvalidArgument,
                   "i32", "u32");
  CHECK_CRIA_ERROR(V::array(static_cast<GgufType>(13), {}), ErrorCode::InvalidArgument,
                   "element type 13");
  CHECK_CRIA_ERROR(GgufWriter(1), ErrorCode::Unsupported, "version 1");
  CHECK_CRIA_ERROR(GgufWriter(4), ErrorCode::Unsupported, "version 4");
}

TEST_CASE("gguf writer: I/O failures are Io errors naming the path") {
  GgufWriter w;
  w.set_u32("k", 1);
  std::string dir_missing = tmp_path("no_such_directory/x.gguf");
  CHECK_CRIA_ERROR(w.write(dir_missing), ErrorCode::Io, dir_missing.c_str());
  // A path that cannot be replaced: the temporary file is removed again.
  std::string dir = tmp_path("gguf_dir_target");
  std::filesystem::create_directories(dir);
  CHECK_CRIA_ERROR(w.write(dir), ErrorCode::Io, dir.c_str());
  for (const auto& entry : std::filesystem::directory_iterator(CRIA_TEST_TMP))
    CHECK_MESSAGE(entry.path().filename().string().find("gguf_dir_target.tmp") ==
                      std::string::npos,
                  entry.path());
  // A refused write keeps the old file.
  std::string keep = tmp_path("gguf_keep.gguf");
  w.write(keep);
  std::vector<uint8_t> before = cria_test::read_file(keep);
  w.set_u32("general.alignment", 3);
  CHECK_THROWS_AS(w.write(keep), cria::Error);
  CHECK(cria_test::read_file(keep) == before);
}
