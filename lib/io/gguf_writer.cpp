// GGUF writer: metadata values are encoded when set, the header is built in memory, tensor
// data is streamed after it with zero padding up to each aligned offset.
#include "cria/io/gguf_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include <unistd.h>

#include "cria/error.hpp"
#include "cria/io/atomic_file.hpp"

namespace cria::io {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kDefaultAlignment = 32;

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.insert(out.end(), b, b + sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

template <typename T>
std::vector<uint8_t> encode(T v) {
  std::vector<uint8_t> out;
  put(out, v);
  return out;
}

uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "GGUF writer: " + what);
}

}  // namespace

GgufWriteValue GgufWriteValue::u8(uint8_t v) { return {GgufType::U8, encode(v)}; }
GgufWriteValue GgufWriteValue::i8(int8_t v) { return {GgufType::I8, encode(v)}; }
GgufWriteValue GgufWriteValue::u16(uint16_t v) { return {GgufType::U16, encode(v)}; }
GgufWriteValue GgufWriteValue::i16(int16_t v) { return {GgufType::I16, encode(v)}; }
GgufWriteValue GgufWriteValue::u32(uint32_t v) { return {GgufType::U32, encode(v)}; }
GgufWriteValue GgufWriteValue::i32(int32_t v) { return {GgufType::I32, encode(v)}; }
GgufWriteValue GgufWriteValue::f32(float v) { return {GgufType::F32, encode(v)}; }
GgufWriteValue GgufWriteValue::boolean(bool v) {
  return {GgufType::Bool, encode<uint8_t>(v ? 1 : 0)};
}
GgufWriteValue GgufWriteValue::u64(uint64_t v) { return {GgufType::U64, encode(v)}; }
GgufWriteValue GgufWriteValue::i64(int64_t v) { return {GgufType::I64, encode(v)}; }
GgufWriteValue GgufWriteValue::f64(double v) { return {GgufType::F64, encode(v)}; }

GgufWriteValue GgufWriteValue::string(const std::string& v) {
  std::vector<uint8_t> out;
  put_string(out, v);
  return {GgufType::String, std::move(out)};
}

GgufWriteValue GgufWriteValue::array(GgufType elem, const std::vector<GgufWriteValue>& items) {
  if (static_cast<uint32_t>(elem) > static_cast<uint32_t>(GgufType::F64))
    invalid("unknown array element type " + std::to_string(static_cast<uint32_t>(elem)));
  std::vector<uint8_t> out;
  put<uint32_t>(out, static_cast<uint32_t>(elem));
  put<uint64_t>(out, items.size());
  for (const GgufWriteValue& item : items) {
    if (item.type() != elem)
      invalid(std::string("array of ") + gguf_type_name(elem) + " given an element of type " +
              gguf_type_name(item.type()));
    out.insert(out.end(), item.bytes().begin(), item.bytes().end());
  }
  return {GgufType::Array, std::move(out)};
}

GgufWriteValue GgufWriteValue::strings(const std::vector<std::string>& v) {
  std::vector<uint8_t> out;
  put<uint32_t>(out, static_cast<uint32_t>(GgufType::String));
  put<uint64_t>(out, v.size());
  for (const std::string& s : v) put_string(out, s);
  return {GgufType::Array, std::move(out)};
}

GgufWriteValue GgufWriteValue::f32s(const std::vector<float>& v) {
  std::vector<uint8_t> out;
  put<uint32_t>(out, static_cast<uint32_t>(GgufType::F32));
  put<uint64_t>(out, v.size());
  for (float x : v) put(out, x);
  return {GgufType::Array, std::move(out)};
}

GgufWriteValue GgufWriteValue::i32s(const std::vector<int32_t>& v) {
  std::vector<uint8_t> out;
  put<uint32_t>(out, static_cast<uint32_t>(GgufType::I32));
  put<uint64_t>(out, v.size());
  for (int32_t x : v) put(out, x);
  return {GgufType::Array, std::move(out)};
}

GgufWriter::GgufWriter(uint32_t version) : version_(version) {
  if (version != 2 && version != 3)
    throw Error(ErrorCode::Unsupported,
                "GGUF writer: version " + std::to_string(version) + " (cria writes 2 and 3)");
}

void GgufWriter::set(const std::string& key, GgufWriteValue value) {
  for (auto& kv : metadata_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    invalid("alignment " + std::to_string(alignment) + " is not a power of two");
  set_u32("general.alignment", alignment);
}

bool GgufWriter::remove(const std::string& key) {
  for (auto it = metadata_.begin(); it != metadata_.end(); ++it)
    if (it->first == key) {
      metadata_.erase(it);
      return true;
    }
  return false;
}

uint64_t GgufWriter::alignment() const {
  for (const auto& kv : metadata_) {
    if (kv.first != "general.alignment") continue;
    uint32_t a = 0;
    if (kv.second.type() == GgufType::U32) std::memcpy(&a, kv.second.bytes().data(), 4);
    if (a == 0 || (a & (a - 1)) != 0)
      invalid("general.alignment must be a power-of-two u32");
    return a;
  }
  return kDefaultAlignment;
}

uint64_t GgufWriter::check_tensor(const std::string& name, DType type,
                                  const std::vector<int64_t>& ne) const {
  for (const Tensor& t : tensors_)
    if (t.name == name) invalid("tensor '" + name + "' added twice");
  if (ne.empty() || ne.size() > 4)
    invalid("tensor '" + name + "' has " + std::to_string(ne.size()) +
            " dimensions (1 to 4 are allowed)");
  uint64_t n = 1;
  for (int64_t d : ne)
    if (d < 1 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n) ||
        n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      invalid("tensor '" + name + "' has an invalid shape");
  const DTypeTraits* traits = dtype_traits(static_cast<uint32_t>(type));
  if (!traits) return 0;
  if (ne[0] % traits->block_elems != 0)
    invalid("tensor '" + name + "': a row of " + std::to_string(ne[0]) + " elements is not a " +
            "multiple of the " + traits->name + " block size " +
            std::to_string(traits->block_elems));
  uint64_t expected = 0;
  if (__builtin_mul_overflow(n / traits->block_elems, uint64_t{traits->block_bytes}, &expected))
    invalid("tensor '" + name + "' is too large");
  return expected;
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                            const void* data, size_t nbytes) {
  const uint64_t expected = check_tensor(name, type, ne);
  if (dtype_traits(static_cast<uint32_t>(type)) && expected != nbytes)
    invalid("tensor '" + name + "' of type " + dtype_name(type) + " needs " +
            std::to_string(expected) + " bytes, " + std::to_string(nbytes) + " given");
  if (nbytes > 0 && data == nullptr) invalid("tensor '" + name + "' has no data");
  const uint8_t* p = static_cast<const uint8_t*>(data);
  tensors_.push_back({name, static_cast<uint32_t>(type), ne, std::vector<uint8_t>(p, p + nbytes),
                      nbytes, nullptr});
}

void GgufWriter::add_tensor_rows(const std::string& name, DType type,
                                 const std::vector<int64_t>& ne, RowProducer produce) {
  if (!dtype_traits(static_cast<uint32_t>(type)))
    invalid("tensor '" + name + "': rows can only be produced for a known type");
  if (!produce) invalid("tensor '" + name + "' has no row producer");
  const uint64_t nbytes = check_tensor(name, type, ne);
  tensors_.push_back({name, static_cast<uint32_t>(type), ne, {}, nbytes, std::move(produce)});
}

void GgufWriter::emit(const Tensor& t,
                      const std::function<void(const uint8_t*, size_t)>& sink) const {
  if (!t.produce) {
    sink(t.data.data(), t.data.size());
    return;
  }
  const size_t row = row_bytes(static_cast<DType>(t.type), t.ne[0]);
  const int64_t rows = static_cast<int64_t>(t.nbytes / row);
  std::vector<uint8_t> buffer(row);
  for (int64_t r = 0; r < rows; ++r) {
    t.produce(r, buffer.data());
    sink(buffer.data(), row);
  }
}

std::vector<uint8_t> GgufWriter::header(uint64_t alignment) const {
  std::vector<uint8_t> out;
  put<uint32_t>(out, kMagic);
  put<uint32_t>(out, version_);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, metadata_.size());
  for (const auto& kv : metadata_) {
    put_string(out, kv.first);
    put<uint32_t>(out, static_cast<uint32_t>(kv.second.type()));
    out.insert(out.end(), kv.second.bytes().begin(), kv.second.bytes().end());
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(out, static_cast<uint64_t>(d));
    put<uint32_t>(out, t.type);
    put<uint64_t>(out, offset);
    offset = align_up(offset + t.nbytes, alignment);
  }
  out.resize(align_up(out.size(), alignment), 0);
  return out;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  uint64_t alignment = this->alignment();
  std::vector<uint8_t> out = header(alignment);
  for (size_t k = 0; k < tensors_.size(); ++k) {
    emit(tensors_[k], [&](const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); });
    // Padding between tensors; the last one ends the file.
    if (k + 1 < tensors_.size()) out.resize(align_up(out.size(), alignment), 0);
  }
  return out;
}

void GgufWriter::write(const std::string& path) const {
  uint64_t alignment = this->alignment();
  std::vector<uint8_t> head = header(alignment);
  AtomicFileWriter file(path);  // a failed write leaves any old file as it was
  auto put_bytes = [&](const uint8_t* p, size_t n) { file.write(p, n); };
  static const uint8_t zeros[256] = {};
  put_bytes(head.data(), head.size());
  uint64_t pos = 0;  // within the data section
  for (size_t k = 0; k < tensors_.size(); ++k) {
    emit(tensors_[k], put_bytes);
    pos += tensors_[k].nbytes;
    if (k + 1 == tensors_.size()) break;  // the last tensor ends the file
    for (uint64_t pad = align_up(pos, alignment) - pos; pad > 0;) {
      size_t n = pad < sizeof(zeros) ? static_cast<size_t>(pad) : sizeof(zeros);
      put_bytes(zeros, n);
      pad -= n;
      pos += n;
    }
  }
  file.commit();
}

}  // namespace cria::io
