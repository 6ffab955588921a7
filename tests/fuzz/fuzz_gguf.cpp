// Fuzz target: the GGUF reader, then what a model load does with a parsed file (the
// vocabulary, the hyper-parameters, the tensor table) short of running it.
#include "cria/error.hpp"
#include "cria/io/gguf.hpp"
#include "cria/model/model.hpp"
#include "cria/tokenizer/vocabulary.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::as_file(data, size);
  try {
    auto gguf = cria::io::GgufFile::open(path);
    try {
      cria::load_vocabulary_gguf(*gguf);
    } catch (const cria::Error&) {
    }
    cria::LoadOptions inspect;
    inspect.inspect_only = true;
    cria::Model::load(path, inspect);
  } catch (const cria::Error&) {
  }
  return 0;
}
