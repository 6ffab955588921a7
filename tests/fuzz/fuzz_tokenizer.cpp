// Fuzz target: encoding arbitrary bytes (with and without special tokens) with the Llama 2
// and stories260K vocabularies, and decoding arbitrary ids, whole and streamed. The first byte
// picks the vocabulary and the options; the rest is the text, or ids two bytes each.
#include <memory>

#include "cria/error.hpp"
#include "cria/tokenizer/tokenizer.hpp"
#include "cria/tokenizer/vocabulary.hpp"
#include "fuzz_input.hpp"

namespace {

const cria::Tokenizer& tokenizer(int which) {
  static const std::unique_ptr<cria::Tokenizer> llama2 = std::make_unique<cria::Tokenizer>(
      cria::load_vocabulary(fuzz::shared_dir() + "/models/llama2-tokenizer.model"));
  static const std::unique_ptr<cria::Tokenizer> stories = std::make_unique<cria::Tokenizer>(
      cria::load_vocabulary(fuzz::shared_dir() + "/models/stories260K.tok512.bin"));
  return which ? *stories : *llama2;
}

}  // namespace

// Both vocabularies load here, before the clock of the first input starts (1 s per input).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer(0);
  tokenizer(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const cria::Tokenizer& t = tokenizer(mode & 1);
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  cria::EncodeOptions options;
  options.add_bos = mode & 2;
  options.add_eos = mode & 4;
  options.parse_special = mode & 8;
  const std::vector<int32_t> ids = t.encode(text, options);
  // Encoding is total over bytes, and its ids decode without error.
  const std::string decoded = t.decode(ids);
  cria::StreamDecoder stream(t);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.push(id);
  streamed += stream.finish();
  if (streamed != decoded) __builtin_trap();  // the stream decoder must agree with decode()

  // Arbitrary ids: out-of-range ones are errors, the rest decode.
  std::vector<int32_t> raw;
  for (size_t i = 1; i + 1 < size; i += 2) raw.push_back(static_cast<int32_t>(data[i] | data[i + 1] << 8) - 512);
  try {
    t.decode(raw);
  } catch (const cria::Error&) {
  }
  cria::StreamDecoder raw_stream(t);
  for (int32_t id : raw) {
    try {
      raw_stream.push(id);
    } catch (const cria::Error&) {
    }
  }
  raw_stream.finish();
  return 0;
}
