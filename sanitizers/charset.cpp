// Conversion to UTF-8 with glibc iconv, and safe display of untrusted names; see charset.hpp.
#include "sanitizers/charset.hpp"

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "sanitizers/json.hpp"

namespace mugai::sanitize {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// iconv_open takes suffixes such as //TRANSLIT and arbitrary names; only plain labels get through.
bool safe_label(std::string_view label) {
  return !label.empty() && label.size() <= 40 &&
         std::all_of(label.begin(), label.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':';
         });
}

// UTF-8 validation with replacement, used for UTF-8 input and as the fallback for unknown labels.
Utf8Text repair_utf8(std::string_view in) {
  Utf8Text out;
  out.text.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const std::size_t n = json::utf8_sequence_length(in, i);
    if (n == 0) {
      out.text += kReplacement;
      ++out.replacements;
      ++i;
    } else {
      out.text.append(in.substr(i, n));
      i += n;
    }
  }
  return out;
}

class Iconv {
 public:
  explicit Iconv(const std::string& from) : cd_(iconv_open("UTF-8", from.c_str())) {}
  ~Iconv() {
    if (ok()) iconv_close(cd_);
  }
  Iconv(const Iconv&) = delete;
  Iconv& operator=(const Iconv&) = delete;
  bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }
  iconv_t get() const { return cd_; }

 private:
  iconv_t cd_;
};

}  // namespace

Utf8Text to_utf8(std::string_view untrusted, std::string_view untrusted_charset) {
  std::string label = lower(untrusted_charset);
  if (label.empty() || label == "us-ascii" || label == "ascii" || label == "utf-8" || label == "utf8") {
    return repair_utf8(untrusted);
  }
  if (label == "shift_jis" || label == "shift-jis" || label == "sjis" || label == "x-sjis") {
    label = "cp932";
  }
  Iconv cd(safe_label(label) ? label : std::string());
  if (!safe_label(label) || !cd.ok()) {
    Utf8Text out = repair_utf8(untrusted);
    out.charset_known = false;
    return out;
  }
  Utf8Text out;
  // UTF-8 needs at most 4 bytes per input byte for every charset glibc knows, plus replacements.
  out.text.resize(untrusted.size() * 4 + 16);
  char* in_ptr = const_cast<char*>(untrusted.data());  // iconv's signature; it does not write there
  std::size_t in_left = untrusted.size();
  char* out_ptr = out.text.data();
  std::size_t out_left = out.text.size();
  const auto put_replacement = [&] {
    std::copy(kReplacement.begin(), kReplacement.end(), out_ptr);
    out_ptr += kReplacement.size();
    out_left -= kReplacement.size();
    ++out.replacements;
  };
  while (in_left > 0) {
    if (iconv(cd.get(), &in_ptr, &in_left, &out_ptr, &out_left) != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG || out_left < kReplacement.size()) break;  // cannot happen with the 4x bound
    put_replacement();
    if (errno == EINVAL) break;  // truncated sequence at the end
    ++in_ptr;                    // EILSEQ: skip the offending byte and go on
    --in_left;
  }
  // Flush the shift state (ISO-2022-JP ends in ASCII mode by rule, but input may not).
  iconv(cd.get(), nullptr, nullptr, &out_ptr, &out_left);
  out.text.resize(static_cast<std::size_t>(out_ptr - out.text.data()));
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t n = json::utf8_sequence_length(bytes, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string escape_for_display(std::string_view untrusted) {
  std::string out;
  char buf[16];
  for (std::size_t i = 0; i < untrusted.size();) {
    const std::size_t n = json::utf8_sequence_length(untrusted, i);
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(untrusted[i]));
      out += buf;
      ++i;
      continue;
    }
    // Decode the code point to classify it.
    auto cp = static_cast<std::uint32_t>(static_cast<unsigned char>(untrusted[i]));
    if (n > 1) {
      cp &= (0x7Fu >> n);
      for (std::size_t k = 1; k < n; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(untrusted[i + k]) & 0x3F);
      }
    }
    const bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
    const bool bidi = (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
                      cp == 0x200E || cp == 0x200F;
    if (control || bidi) {
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(untrusted.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace mugai::sanitize
