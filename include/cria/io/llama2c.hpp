#pragma once
// llama2.c checkpoints: the legacy layout (7 int32 header, then f32 tensors in run.c's order,
// negative vocab size when the classifier is separate) and the "version 1" export (magic
// "ak42", 256-byte header, norms first).
#include <cstdint>
#include <string>
#include <vector>

#include "cria/io/mapped_file.hpp"
#include "cria/model/config.hpp"

namespace cria::io {

// Where one f32 tensor lies in the file.
struct Llama2cTensor {
  std::string name;            // GGUF-style name, e.g. "blk.0.attn_q.weight"
  std::vector<int64_t> shape;  // contiguous dimension first
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

struct Llama2cCheckpoint {
  int version = 0;  // 0: legacy, 1: "ak42" version 1
  LlamaConfig config;
  bool shared_classifier = true;
  std::vector<Llama2cTensor> tensors;
};

// True when the file starts like a llama2.c checkpoint of either layout.
bool looks_like_llama2c(const MappedFile& file);
// Reads the header and lays out every tensor, checking the file holds exactly them.
Llama2cCheckpoint parse_llama2c(const MappedFile& file);

}  // namespace cria::io
