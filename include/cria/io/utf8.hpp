#pragma once
// UTF-8 checks for text read from files, and a printable form of any bytes for messages.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cria::io {

// Length of the well-formed UTF-8 sequence at p (no overlongs, no surrogates, nothing above
// U+10FFFF: SentencePiece's rules), or 0 when the first byte does not start one within
// `avail` bytes.
inline size_t utf8_sequence_length(const uint8_t* p, size_t avail) {
  const uint8_t b0 = p[0];
  if (b0 < 0x80) return 1;
  auto trail = [](uint8_t b) { return (b & 0xC0) == 0x80; };
  if ((b0 & 0xE0) == 0xC0) {
    if (avail < 2 || !trail(p[1])) return 0;
    uint32_t cp = ((b0 & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    return cp >= 0x80 ? 2 : 0;
  }
  if ((b0 & 0xF0) == 0xE0) {
    if (avail < 3 || !trail(p[1]) || !trail(p[2])) return 0;
    uint32_t cp = ((b0 & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    return (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ? 3 : 0;
  }
  if ((b0 & 0xF8) == 0xF0) {
    if (avail < 4 || !trail(p[1]) || !trail(p[2]) || !trail(p[3])) return 0;
    uint32_t cp = ((b0 & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
                  (p[3] & 0x3Fu);
    return (cp >= 0x10000 && cp <= 0x10FFFF) ? 4 : 0;
  }
  return 0;
}

bool is_valid_utf8(std::string_view text);

// What a file's string is wrong with as text (empty when it is fine): invalid UTF-8 or a NUL
// byte. `what` names the string, e.g. "metadata key".
std::string text_defect(std::string_view text, const std::string& what);

// `bytes` quoted for a message: valid UTF-8 other than control characters as is, every other
// byte as \xNN, cut after `max_bytes` with "...".
std::string printable(std::string_view bytes, size_t max_bytes = 120);

}  // namespace cria::io
