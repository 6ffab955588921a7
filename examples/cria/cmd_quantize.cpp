// cria quantize IN OUT TYPE: rewrites a GGUF model with its weight matrices in another type.
//
// Every 2-D tensor is converted to TYPE (from any type cria decodes: each row is decoded to
// f32 and encoded again; a row already in the chosen type is copied as is); 1-D tensors
// (norms) become F32; tensors of more dimensions are copied. All metadata is copied, with
// general.file_type set to llama.cpp's LLAMA_FTYPE number of the result.
//
// Mixes, as llama.cpp's quantizer chooses them (checked against its synth256.*.gguf files):
//  - output.weight (token_embd.weight when the output is tied to it) is Q6_K for every
//    quantized TYPE below it (Q8_0 and Q6_K keep their own type);
//  - Q2_K: attn_v (Q4_K when 4+ query heads share a kv head), attn_output, ffn_down in Q3_K;
//  - Q3_K_M: attn_v Q5_K in layers 0-1 and Q4_K after, attn_output Q4_K, ffn_down Q5_K in the
//    first 1/16 of the layers and Q4_K in the rest;
//  - Q4_K_M, Q5_K_M: attn_v and ffn_down in Q6_K in "more bits" layers (the first and last
//    eighth of the layers and every third layer in between: about half);
//  - 70B-shaped models (80 layers, 8 query heads per kv head): attn_v in Q3_K/Q4_K goes Q5_K.
// Plain Q3_K, Q4_K, Q5_K are every matrix in that type but the output (general.file_type:
// llama.cpp's Q3_K_S/Q4_K_S/Q5_K_S numbers, "mostly" that type). --pure turns all rules off.
//
// Rows whose length is not a multiple of 256 cannot be K-quantized: they fall back to a
// 32-block type of at least as many bits per weight (Q2_K, Q3_K -> Q4_0; Q4_K -> Q5_0;
// Q5_K -> Q5_1; Q6_K -> Q8_0, as older llama.cpp quantizers did); rows that 32 does not divide
// either (stories260K's hidden size 172) fall back to F16.
//
// Rows are produced while the file is written (nothing but a chunk of rows is held in memory;
// the input is mapped), a chunk at a time on all threads.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "file_types.hpp"
#include "cria/io/gguf.hpp"
#include "cria/io/gguf_writer.hpp"
#include "cria/quant.hpp"

namespace {

using cria::DType;
using cria::io::GgufType;
using cria::io::GgufValue;
using cria::io::GgufWriteValue;

bool is_quantized(DType t) { return t != DType::F32 && t != DType::F16 && t != DType::BF16; }

// What the model looks like, for the mixing rules.
struct ModelInfo {
  int64_t n_layers = 0;
  int64_t n_gqa = 1;  // query heads per kv head
  bool has_output = false;
};

// Layer index of "blk.N.xxx", -1 otherwise.
int64_t layer_of(const std::string& name) {
  if (name.compare(0, 4, "blk.") != 0) return -1;
  size_t end = name.find('.', 4);
  if (end == std::string::npos || end == 4) return -1;
  try {
    return std::stoll(name.substr(4, end - 4));
  } catch (const std::exception&) {
    return -1;
  }
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// The "more bits" layers of llama.cpp's _M mixes: first and last eighth, every third between.
bool use_more_bits(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// Type of a 2-D tensor under the mixing rules (before checking the row length).
DType mixed_type(const cli::FileType& target, const std::string& name, const ModelInfo& m, bool pure) {
  const DType base = target.base;
  if (pure || !is_quantized(base)) return base;
  const std::string ft = target.name;
  if (name == "output.weight" || (!m.has_output && name == "token_embd.weight"))
    return (base == DType::Q8_0 || base == DType::Q6_K) ? base : DType::Q6_K;
  const int64_t layer = layer_of(name);
  const int64_t n = std::max<int64_t>(m.n_layers, 1);
  DType t = base;
  if (contains(name, "attn_v.weight")) {
    if (ft == "Q2_K") t = m.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
    else if (ft == "Q3_K_M") t = layer < 2 ? DType::Q5_K : DType::Q4_K;
    else if ((ft == "Q4_K_M" || ft == "Q5_K_M") && use_more_bits(layer, n)) t = DType::Q6_K;
    if (m.n_layers == 80 && m.n_gqa == 8 && (t == DType::Q3_K || t == DType::Q4_K)) t = DType::Q5_K;
  } else if (contains(name, "ffn_down.weight")) {
    if (ft == "Q2_K") t = DType::Q3_K;
    else if (ft == "Q3_K_M") t = layer < n / 16 ? DType::Q5_K : DType::Q4_K;
    else if ((ft == "Q4_K_M" || ft == "Q5_K_M") && use_more_bits(layer, n)) t = DType::Q6_K;
  } else if (contains(name, "attn_output.weight")) {
    if (ft == "Q2_K") t = DType::Q3_K;
    else if (ft == "Q3_K_M") t = DType::Q4_K;
  }
  return t;
}

// A type whose block divides rows of `cols` elements.
DType fit_row_length(DType t, int64_t cols, DType requested) {
  auto block = [](DType x) { return cria::dtype_traits(static_cast<uint32_t>(x))->block_elems; };
  if (cols % block(t) == 0) return t;
  switch (t) {
    case DType::Q2_K: case DType::Q3_K: t = DType::Q4_0; break;
    case DType::Q4_K: t = DType::Q5_0; break;
    case DType::Q5_K: t = DType::Q5_1; break;
    case DType::Q6_K: t = DType::Q8_0; break;
    default: break;
  }
  if (cols % block(t) == 0) return t;
  return requested == DType::F32 ? DType::F32 : DType::F16;
}

GgufWriteValue convert_value(const GgufValue& v) {
  switch (v.type) {
    case GgufType::U8: return GgufWriteValue::u8(static_cast<uint8_t>(v.u));
    case GgufType::I8: return GgufWriteValue::i8(static_cast<int8_t>(v.i));
    case GgufType::U16: return GgufWriteValue::u16(static_cast<uint16_t>(v.u));
    case GgufType::I16: return GgufWriteValue::i16(static_cast<int16_t>(v.i));
    case GgufType::U32: return GgufWriteValue::u32(static_cast<uint32_t>(v.u));
    case GgufType::I32: return GgufWriteValue::i32(static_cast<int32_t>(v.i));
    case GgufType::F32: return GgufWriteValue::f32(static_cast<float>(v.f));
    case GgufType::Bool: return GgufWriteValue::boolean(v.u != 0);
    case GgufType::String: return GgufWriteValue::string(std::string(v.str));
    case GgufType::U64: return GgufWriteValue::u64(v.u);
    case GgufType::I64: return GgufWriteValue::i64(v.i);
    case GgufType::F64: return GgufWriteValue::f64(v.f);
    case GgufType::Array: {
      std::vector<GgufWriteValue> items;
      items.reserve(static_cast<size_t>(v.count));
      if (v.elem_type == GgufType::String || v.elem_type == GgufType::Array) {
        for (const GgufValue& item : v.items) items.push_back(convert_value(item));
      } else {
        for (uint64_t k = 0; k < v.count; ++k) items.push_back(convert_value(v.element(k)));
      }
      return GgufWriteValue::array(v.elem_type, items);
    }
  }
  throw std::runtime_error("metadata value of unknown type");
}

// Produces the rows of one converted tensor a chunk at a time, the chunk's rows split over
// threads. The writer asks for rows in order; any other order still works (one chunk each).
class ChunkedConverter {
 public:
  ChunkedConverter(const cria::io::GgufTensorInfo& src, DType dst_type, int threads)
      : src_(src), dst_(dst_type), threads_(std::max(1, threads)) {
    cols_ = src.ne[0];
    rows_ = src.n_elements() / cols_;
    src_row_ = cria::row_bytes(src.dtype, cols_);
    dst_row_ = cria::row_bytes(dst_type, cols_);
    // About 4 MB of output per chunk, at least one row per thread.
    chunk_ = std::max<int64_t>(threads_, static_cast<int64_t>((4u << 20) / dst_row_));
  }

  void produce(int64_t r, uint8_t* out) {
    if (r < start_ || r >= start_ + count_) fill(r);
    std::memcpy(out, buffer_.data() + static_cast<size_t>(r - start_) * dst_row_, dst_row_);
    if (start_ + count_ == rows_ && r == rows_ - 1) {  // done: release the chunk
      buffer_.clear();
      buffer_.shrink_to_fit();
      count_ = 0;
    }
  }

 private:
  void convert(int64_t r, uint8_t* out, std::vector<float>& tmp) const {
    const uint8_t* in = src_.data + static_cast<size_t>(r) * src_row_;
    if (src_.dtype == dst_) {
      std::memcpy(out, in, dst_row_);
      return;
    }
    tmp.resize(static_cast<size_t>(cols_));
    cria::dequantize_row(src_.dtype, in, tmp.data(), cols_);
    cria::quantize_row(dst_, tmp.data(), out, cols_);
  }

  void fill(int64_t r) {
    start_ = r;
    count_ = std::min(chunk_, rows_ - r);
    buffer_.resize(static_cast<size_t>(count_) * dst_row_);
    const int n_threads = static_cast<int>(std::min<int64_t>(threads_, count_));
    auto work = [&](int t) {
      std::vector<float> tmp;
      for (int64_t k = t; k < count_; k += n_threads)
        convert(start_ + k, buffer_.data() + static_cast<size_t>(k) * dst_row_, tmp);
    };
    std::vector<std::thread> pool;
    std::exception_ptr error;
    std::atomic<bool> failed{false};
    for (int t = 1; t < n_threads; ++t)
      pool.emplace_back([&, t] {
        try {
          work(t);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      });
    try {
      work(0);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
    for (std::thread& th : pool) th.join();
    if (error) std::rethrow_exception(error);
  }

  const cria::io::GgufTensorInfo& src_;
  DType dst_;
  int threads_;
  int64_t cols_ = 0, rows_ = 0, chunk_ = 1;
  size_t src_row_ = 0, dst_row_ = 0;
  int64_t start_ = 0, count_ = 0;
  std::vector<uint8_t> buffer_;
};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

int cmd_quantize(int argc, char** argv) {
  std::vector<std::string> positional;
  bool pure = false;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (cli::Args a(argc, argv); !a.done();) {
    if (a.is("--pure")) pure = true;
    else if (a.is("-t", "--threads")) threads = static_cast<int>(std::max<int64_t>(1, a.int_value()));
    else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria quantize IN.gguf OUT.gguf TYPE [--pure] [-t THREADS]\n"
          "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K\n"
          "      Q3_K_M Q4_K_M Q5_K_M (mixes as llama.cpp makes them)\n"
          "Weight matrices in TYPE (the output matrix in Q6_K for types below it, as llama.cpp\n"
          "does; --pure: every matrix in TYPE), norms in F32, metadata copied. Rows that the\n"
          "type's block does not divide use a 32-block type (Q4_0, Q5_0, Q5_1, Q8_0) or F16.\n",
          stdout);
      return 0;
    } else if (!a.peek().empty() && a.peek()[0] == '-' && a.peek().size() > 1) {
      throw std::invalid_argument("unknown option '" + a.peek() + "'");
    } else {
      positional.push_back(a.next());
    }
  }
  if (positional.size() != 3)
    throw std::invalid_argument("expected IN OUT TYPE (see cria quantize --help)");
  const std::string in_path = positional[0], out_path = positional[1];
  const std::string type_name = upper(positional[2]);
  const cli::FileType* target = cli::find_file_type(type_name.c_str());
  if (!target) {
    std::string names;
    for (const cli::FileType& t : cli::kFileTypes) names += std::string(" ") + t.name;
    throw std::invalid_argument("unknown type '" + positional[2] + "'; one of" + names);
  }

  const double t0 = cli::now_seconds();
  auto in = cria::io::GgufFile::open(in_path);
  const std::string arch = in->get_string("general.architecture", "llama");
  ModelInfo info;
  info.n_layers = in->get_int(arch + ".block_count", 0);
  const int64_t heads = in->get_int(arch + ".attention.head_count", 0);
  const int64_t kv_heads = in->get_int(arch + ".attention.head_count_kv", heads);
  info.n_gqa = kv_heads > 0 ? std::max<int64_t>(1, heads / kv_heads) : 1;
  info.has_output = in->find_tensor("output.weight") != nullptr;

  cria::io::GgufWriter w(in->version() == 2 ? 2 : 3);
  for (const auto& kv : in->metadata()) {
    if (kv.first == "general.file_type" || kv.first == "general.quantization_version") continue;
    w.set(kv.first, convert_value(kv.second));
  }
  w.set_u32("general.file_type", target->llama_ftype);

  std::vector<std::unique_ptr<ChunkedConverter>> converters;
  std::map<std::string, int> counts;
  bool any_quantized = false;
  uint64_t in_bytes = 0, out_bytes = 0;
  for (const cria::io::GgufTensorInfo& t : in->tensors()) {
    if (!t.data || !cria::dtype_traits(t.ggml_type))
      throw std::invalid_argument(in_path + ": tensor '" + t.name + "' has type " +
                                  cria::ggml_type_name(t.ggml_type) + ", which cria cannot read");
    DType dst = t.dtype;
    if (t.n_dims == 1) {
      dst = DType::F32;
    } else if (t.n_dims == 2) {
      dst = fit_row_length(mixed_type(*target, t.name, info, pure), t.ne[0], target->base);
    }
    if (dst != t.dtype) {
      const auto* traits = cria::dtype_traits(static_cast<uint32_t>(t.dtype));
      if (t.ne[0] % traits->block_elems != 0)
        throw std::invalid_argument(in_path + ": tensor '" + t.name + "' is malformed");
    }
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    converters.push_back(std::make_unique<ChunkedConverter>(t, dst, threads));
    ChunkedConverter* conv = converters.back().get();
    w.add_tensor_rows(t.name, dst, ne, [conv](int64_t r, uint8_t* out) { conv->produce(r, out); });
    ++counts[cria::dtype_name(dst)];
    any_quantized |= is_quantized(dst);
    in_bytes += t.nbytes;
    out_bytes += cria::row_bytes(dst, t.ne[0]) * static_cast<uint64_t>(t.n_elements() / t.ne[0]);
  }
  if (any_quantized) w.set_u32("general.quantization_version", 2);
  w.write(out_path);

  std::string summary;
  for (const auto& [name, n] : counts) summary += " " + std::to_string(n) + " " + name;
  std::fprintf(stderr, "wrote %s: %s, %zu tensors (%s), %.2f MB -> %.2f MB in %.1f s\n",
               out_path.c_str(), target->name, in->tensors().size(), summary.c_str() + 1,
               in_bytes / 1e6, out_bytes / 1e6, cli::now_seconds() - t0);
  return 0;
}
