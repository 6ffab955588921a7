// GGUF reader: every read goes through a bounds-checked cursor, every size is checked
// against the bytes left before anything is allocated.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "cria/error.hpp"
#include "cria/io/utf8.hpp"
#include "cria/io/gguf.hpp"

namespace cria::io {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxArrayDepth = 8;         // nested arrays deeper than this are rejected
constexpr uint64_t kMaxDims = 4;

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::InvalidFile,
                path_ + ": invalid GGUF: " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      fail(std::string("file truncated: ") + what + " needs " + std::to_string(n) +
           " bytes, " + std::to_string(remaining()) + " left");
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view string(const char* what) {
    uint64_t len = read<uint64_t>(what);
    need(len, what);
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }
  const uint8_t* skip(uint64_t n, const char* what) {
    need(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

void read_value(Cursor& in, GgufType type, GgufValue& out, const std::string& key, int depth) {
  out.type = type;
  switch (type) {
    case GgufType::U8: out.u = in.read<uint8_t>("u8 value"); break;
    case GgufType::I8: out.i = in.read<int8_t>("i8 value"); break;
    case GgufType::U16: out.u = in.read<uint16_t>("u16 value"); break;
    case GgufType::I16: out.i = in.read<int16_t>("i16 value"); break;
    case GgufType::U32: out.u = in.read<uint32_t>("u32 value"); break;
    case GgufType::I32: out.i = in.read<int32_t>("i32 value"); break;
    case GgufType::U64: out.u = in.read<uint64_t>("u64 value"); break;
    case GgufType::I64: out.i = in.read<int64_t>("i64 value"); break;
    case GgufType::F32: out.f = in.read<float>("f32 value"); break;
    case GgufType::F64: out.f = in.read<double>("f64 value"); break;
    case GgufType::Bool: {
      uint8_t b = in.read<uint8_t>("bool value");
      if (b > 1) in.fail("metadata '" + key + "': bool value " + std::to_string(b));
      out.u = b;
      break;
    }
    case GgufType::String: out.str = in.string("string value"); break;
    case GgufType::Array: {
      if (depth >= kMaxArrayDepth) in.fail("metadata '" + key + "': arrays nested too deeply");
      uint32_t elem = in.read<uint32_t>("array element type");
      if (elem > static_cast<uint32_t>(GgufType::F64))
        in.fail("metadata '" + key + "': unknown array element type " + std::to_string(elem));
      out.elem_type = static_cast<GgufType>(elem);
      out.count = in.read<uint64_t>("array length");
      if (size_t sz = scalar_size(out.elem_type)) {
        // Numeric elements stay in the file; check the whole run fits first.
        if (out.count > in.remaining() / sz)
          in.fail("metadata '" + key + "': array of " + std::to_string(out.count) +
                  " elements runs past the end of the file");
        out.raw = in.skip(out.count * sz, "array data");
        if (out.elem_type == GgufType::Bool)
          for (uint64_t k = 0; k < out.count; ++k)
            if (out.raw[k] > 1) in.fail("metadata '" + key + "': bool element is not 0 or 1");
      } else {
        // Every string or nested array takes at least 8 (length) or 12 bytes in the file:
        // a count larger than the bytes left can justify is rejected before allocating.
        uint64_t min_size = out.elem_type == GgufType::String ? 8 : 12;
        if (out.count > in.remaining() / min_size)
          in.fail("metadata '" + key + "': array of " + std::to_string(out.count) +
                  " elements runs past the end of the file");
        out.items.resize(static_cast<size_t>(out.count));
        for (GgufValue& item : out.items) read_value(in, out.elem_type, item, key, depth + 1);
      }
      break;
    }
    default:
      in.fail("metadata '" + key + "': unknown value type " +
              std::to_string(static_cast<uint32_t>(type)));
  }
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  uint32_t i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64:
      return true;
    default:
      return false;
  }
}

bool GgufValue::is_number() const {
  return is_integer() || type == GgufType::F32 || type == GgufType::F64;
}

static bool is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64 ||
         t == GgufType::Bool;
}

int64_t GgufValue::as_int(const std::string& what) const {
  if (type == GgufType::Bool) return static_cast<int64_t>(u);
  if (!is_integer())
    throw Error(ErrorCode::InvalidFile,
                what + " must be an integer, the file has " + gguf_type_name(type));
  if (is_unsigned(type)) {
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error(ErrorCode::InvalidFile, what + " is out of range: " + std::to_string(u));
    return static_cast<int64_t>(u);
  }
  return i;
}

double GgufValue::as_double(const std::string& what) const {
  if (type == GgufType::F32 || type == GgufType::F64) return f;
  if (is_integer()) return is_unsigned(type) ? static_cast<double>(u) : static_cast<double>(i);
  throw Error(ErrorCode::InvalidFile,
              what + " must be a number, the file has " + gguf_type_name(type));
}

GgufValue GgufValue::element(uint64_t k) const {
  if (type != GgufType::Array || k >= count)
    throw Error(ErrorCode::InvalidArgument, "GGUF array index out of range");
  if (!raw) return items[static_cast<size_t>(k)];
  GgufValue v;
  v.type = elem_type;
  const uint8_t* p = raw + k * scalar_size(elem_type);
  auto load = [p](auto& dst) { std::memcpy(&dst, p, sizeof(dst)); };
  switch (elem_type) {
    case GgufType::U8: case GgufType::Bool: { uint8_t x; load(x); v.u = x; break; }
    case GgufType::I8: { int8_t x; load(x); v.i = x; break; }
    case GgufType::U16: { uint16_t x; load(x); v.u = x; break; }
    case GgufType::I16: { int16_t x; load(x); v.i = x; break; }
    case GgufType::U32: { uint32_t x; load(x); v.u = x; break; }
    case GgufType::I32: { int32_t x; load(x); v.i = x; break; }
    case GgufType::U64: { uint64_t x; load(x); v.u = x; break; }
    case GgufType::I64: { int64_t x; load(x); v.i = x; break; }
    case GgufType::F32: { float x; load(x); v.f = x; break; }
    case GgufType::F64: { double x; load(x); v.f = x; break; }
    default: break;
  }
  return v;
}

namespace {

// Two tensors sharing bytes would let a write through one (regrouping a read copy in place)
// change the other: such a file is refused.
void check_no_overlap(const std::string& path, const std::vector<GgufTensorInfo>& tensors,
                      uint64_t data_offset) {
  std::vector<const GgufTensorInfo*> sorted;
  for (const GgufTensorInfo& t : tensors)
    if (t.dtype != DType::Unknown && t.nbytes > 0) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < sorted.size(); ++k) {
    const GgufTensorInfo& a = *sorted[k - 1];
    const GgufTensorInfo& b = *sorted[k];
    if (a.offset + a.nbytes > b.offset)
      throw Error(ErrorCode::InvalidFile,
                  path + ": invalid GGUF: tensors '" + a.name + "' (bytes " +
                      std::to_string(data_offset + a.offset) + " to " +
                      std::to_string(data_offset + a.offset + a.nbytes) + ") and '" + b.name +
                      "' (bytes " + std::to_string(data_offset + b.offset) + " to " +
                      std::to_string(data_offset + b.offset + b.nbytes) + ") overlap");
  }
}

}  // namespace

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  return parse(std::make_shared<const MappedFile>(path));
}

std::unique_ptr<GgufFile> GgufFile::parse(std::shared_ptr<const MappedFile> file) {
  std::unique_ptr<GgufFile> g(new GgufFile());
  g->file_ = std::move(file);
  const std::string& path = g->file_->path();
  Cursor in(g->file_->data(), g->file_->size(), path);

  if (in.remaining() < 4 || in.read<uint32_t>("magic") != kMagic)
    throw Error(ErrorCode::InvalidFile, path + ": not a GGUF file (bad magic)");
  g->version_ = in.read<uint32_t>("version");
  if (g->version_ != 2 && g->version_ != 3)
    throw Error(ErrorCode::Unsupported,
                path + ": GGUF version " + std::to_string(g->version_) +
                    " is not supported (cria reads versions 2 and 3)");
  uint64_t n_tensors = in.read<uint64_t>("tensor count");
  uint64_t n_kv = in.read<uint64_t>("metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor entry at
  // least 8 + 4 + 4 + 8 bytes. Counts the file cannot hold are rejected before allocating.
  if (n_kv > in.remaining() / 13)
    in.fail("metadata count " + std::to_string(n_kv) + " is larger than the file can hold");
  if (n_tensors > in.remaining() / 24)
    in.fail("tensor count " + std::to_string(n_tensors) + " is larger than the file can hold");

  g->metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key(in.string("metadata key"));
    if (std::string defect = text_defect(key, "a metadata key"); !defect.empty()) in.fail(defect);
    uint32_t type = in.read<uint32_t>("metadata value type");
    if (type > static_cast<uint32_t>(GgufType::F64))
      in.fail("metadata '" + key + "': unknown value type " + std::to_string(type));
    GgufValue value;
    read_value(in, static_cast<GgufType>(type), value, key, 0);
    if (!g->metadata_index_.emplace(key, g->metadata_.size()).second)
      in.fail("metadata key '" + key + "' appears twice");
    g->metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const GgufValue* a = g->find("general.alignment")) {
    if (a->type != GgufType::U32)
      in.fail(std::string("general.alignment must be u32, the file has ") +
              gguf_type_name(a->type));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      in.fail("general.alignment " + std::to_string(a->u) + " is not a power of two");
    g->alignment_ = a->u;
  }

  g->tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = std::string(in.string("tensor name"));
    if (std::string defect = text_defect(t.name, "a tensor name"); !defect.empty()) in.fail(defect);
    t.n_dims = in.read<uint32_t>("tensor dimension count");
    if (t.n_dims == 0 || t.n_dims > kMaxDims)
      in.fail("tensor '" + t.name + "' has " + std::to_string(t.n_dims) +
              " dimensions (1 to 4 are allowed)");
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      uint64_t ne = in.read<uint64_t>("tensor dimension");
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          mul_overflows(n_elements, ne, &n_elements) ||
          n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        in.fail("tensor '" + t.name + "' has an invalid shape (dimension " + std::to_string(d) +
                " = " + std::to_string(ne) + ")");
      t.ne[d] = static_cast<int64_t>(ne);
    }
    t.ggml_type = in.read<uint32_t>("tensor type");
    t.offset = in.read<uint64_t>("tensor offset");
    if (t.offset % g->alignment_ != 0)
      in.fail("tensor '" + t.name + "' offset " + std::to_string(t.offset) +
              " is not a multiple of the alignment " + std::to_string(g->alignment_));
    if (const DTypeTraits* traits = dtype_traits(t.ggml_type)) {
      t.dtype = static_cast<DType>(t.ggml_type);
      if (t.ne[0] % traits->block_elems != 0)
        in.fail("tensor '" + t.name + "' of type " + traits->name + " has a row of " +
                std::to_string(t.ne[0]) + " elements, not a multiple of the block size " +
                std::to_string(traits->block_elems));
      uint64_t blocks = n_elements / traits->block_elems;
      if (mul_overflows(blocks, traits->block_bytes, &t.nbytes))
        in.fail("tensor '" + t.name + "' is too large");
    }
    if (!g->tensor_index_.emplace(t.name, g->tensors_.size()).second)
      in.fail("tensor '" + t.name + "' appears twice");
    g->tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t header_end = in.pos();
  uint64_t data_offset = (header_end + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  uint64_t file_size = g->file_->size();
  if (data_offset > file_size && !g->tensors_.empty())
    in.fail("the data section starts past the end of the file");
  g->data_offset_ = data_offset;
  for (GgufTensorInfo& t : g->tensors_) {
    if (t.dtype == DType::Unknown) continue;
    uint64_t end;
    if (__builtin_add_overflow(data_offset, t.offset, &end) ||
        __builtin_add_overflow(end, t.nbytes, &end) || end > file_size)
      throw Error(ErrorCode::InvalidFile,
                  path + ": invalid GGUF: tensor '" + t.name + "' (offset " +
                      std::to_string(t.offset) + ", " + std::to_string(t.nbytes) +
                      " bytes) runs past the end of the file (" + std::to_string(file_size) +
                      " bytes)");
    t.data = g->file_->data() + data_offset + t.offset;
  }
  check_no_overlap(path, g->tensors_, data_offset);
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::String)
    throw Error(ErrorCode::InvalidFile, path() + ": metadata '" + key +
                                            "' must be a string, the file has " +
                                            gguf_type_name(v->type));
  return std::string(v->str);
}

int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
  const GgufValue* v = find(key);
  return v ? v->as_int(path() + ": metadata '" + key + "'") : fallback;
}

double GgufFile::get_double(const std::string& key, double fallback) const {
  const GgufValue* v = find(key);
  return v ? v->as_double(path() + ": metadata '" + key + "'") : fallback;
}

}  // namespace cria::io
