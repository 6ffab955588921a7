#include "cria/io/utf8.hpp"

namespace cria::io {

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_sequence_length(p + i, text.size() - i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string text_defect(std::string_view text, const std::string& what) {
  if (!is_valid_utf8(text)) return what + " is not valid UTF-8: " + printable(text);
  if (text.find('\0') != std::string_view::npos) return what + " " + printable(text) + " contains a NUL byte";
  return {};
}

std::string printable(std::string_view bytes, size_t max_bytes) {
  static const char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size() < max_bytes ? bytes.size() : max_bytes;
  std::string out = "'";
  for (size_t i = 0; i < n;) {
    size_t len = utf8_sequence_length(p + i, n - i);
    if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\'))) {
      out += "\\x";
      out += kHex[p[i] >> 4];
      out += kHex[p[i] & 15];
      ++i;
      continue;
    }
    out.append(bytes.data() + i, len);
    i += len;
  }
  out += bytes.size() > n ? "'..." : "'";
  return out;
}

}  // namespace cria::io
