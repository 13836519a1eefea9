// Transfer-encoding codecs and SHA-256 for the pipeline; see codec.hpp for the guarantees.
#include "sanitizers/codec.hpp"
#include "common/hex.hpp"


#include <algorithm>
#include <array>
#include <cstdint>

namespace mugai::sanitize {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

Error too_large(std::size_t max_out) {
  return Error{"decoded size exceeds " + std::to_string(max_out) + " bytes"};
}

}  // namespace

Expected<std::string> base64_decode(std::string_view untrusted, std::size_t max_out) {
  std::string out;
  out.reserve(std::min(untrusted.size() / 4 * 3 + 3, max_out));
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char ch : untrusted) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '=') break;
    const int v = b64_value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out.size() >= max_out) return too_large(max_out);
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back(kB64[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Expected<std::string> qp_decode(std::string_view untrusted, std::size_t max_out) {
  std::string out;
  out.reserve(std::min(untrusted.size(), max_out));
  for (std::size_t i = 0; i < untrusted.size(); ++i) {
    char c = untrusted[i];
    if (c == '=') {
      // Soft line break: '=' then optional transport padding then CRLF or LF.
      std::size_t j = i + 1;
      while (j < untrusted.size() && (untrusted[j] == ' ' || untrusted[j] == '\t')) ++j;
      if (j < untrusted.size() && (untrusted[j] == '\n' || untrusted[j] == '\r')) {
        if (untrusted[j] == '\r' && j + 1 < untrusted.size() && untrusted[j + 1] == '\n') ++j;
        i = j;
        continue;
      }
      if (j == untrusted.size()) break;  // '=' at the very end is a soft break too
      if (i + 2 < untrusted.size()) {
        const int hi = hex::value(untrusted[i + 1]);
        const int lo = hex::value(untrusted[i + 2]);
        if (hi >= 0 && lo >= 0) {
          c = static_cast<char>(hi * 16 + lo);
          i += 2;
        }
      }
    }
    if (out.size() >= max_out) return too_large(max_out);
    out.push_back(c);
  }
  return out;
}

std::string qp_encode(std::string_view text_lf) {
  constexpr std::size_t kMaxLine = 76;
  std::string out;
  out.reserve(text_lf.size() + text_lf.size() / 8 + 16);
  std::size_t line_len = 0;
  const auto emit = [&](std::string_view token) {
    // Keep room for the soft-break '=' so no line exceeds kMaxLine.
    if (line_len + token.size() > kMaxLine - 1) {
      out += "=\r\n";
      line_len = 0;
    }
    out += token;
    line_len += token.size();
  };
  for (std::size_t i = 0; i < text_lf.size(); ++i) {
    const auto c = static_cast<unsigned char>(text_lf[i]);
    if (c == '\n') {
      out += "\r\n";
      line_len = 0;
      continue;
    }
    const bool at_line_end = i + 1 == text_lf.size() || text_lf[i + 1] == '\n';
    const bool literal = (c >= 0x21 && c <= 0x7E && c != '=') ||
                         ((c == ' ' || c == '\t') && !at_line_end);
    if (literal) {
      const char ch = static_cast<char>(c);
      emit(std::string_view(&ch, 1));
    } else {
      const std::array<char, 3> enc{'=', hex::kUpper[c >> 4], hex::kUpper[c & 0xF]};
      emit(std::string_view(enc.data(), enc.size()));
    }
  }
  return out;
}


}  // namespace mugai::sanitize
