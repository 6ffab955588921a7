// Fuzz target: llama2.c checkpoints (both header layouts), then a load for inspection.
#include "cria/error.hpp"
#include "cria/io/llama2c.hpp"
#include "cria/io/mapped_file.hpp"
#include "cria/model/model.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::as_file(data, size);
  try {
    cria::io::MappedFile file(path);
    cria::io::parse_llama2c(file);
    cria::LoadOptions inspect;
    inspect.inspect_only = true;
    cria::Model::load(path, inspect);
  } catch (const cria::Error&) {
  }
  return 0;
}
