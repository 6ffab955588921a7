#pragma once
// cria::Error: the one exception type the library throws. The C ABI turns it into a status
// code and a message; nothing else escapes the library.
#include <stdexcept>
#include <string>

namespace cria {

enum class ErrorCode {
  InvalidArgument,   // the caller passed something unusable
  InvalidFile,       // a model or vocabulary file is malformed
  Unsupported,       // well-formed, but uses a feature cria does not implement
  Io,                // the operating system refused (open, mmap, read)
  OutOfMemory,
  ContextFull,       // more positions than the KV cache holds
  Cancelled,         // a callback asked to stop
  InvalidState,      // the call does not fit the object's state (no logits yet, no vocabulary)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace cria
