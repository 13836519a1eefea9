// Oracles for the fuzz targets: small, independent checkers of what mugai promises about its output.
// They share no code with the pipeline they judge, so a bug there cannot hide itself here.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace mugai::fuzz {

// An oracle violation is a finding: print why (libFuzzer then saves the input) and stop.
[[noreturn]] inline void fail(std::string_view what, std::string_view evidence = {}) {
  std::fprintf(stderr, "mugai fuzz oracle failure: %.*s\n", static_cast<int>(what.size()), what.data());
  if (!evidence.empty()) {
    constexpr std::size_t kShown = 400;
    std::string shown;
    for (const char c : evidence.substr(0, kShown)) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f && c != '\\') {
        shown.push_back(c);
      } else {
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02x", u);
        shown += hex;
      }
    }
    std::fprintf(stderr, "  evidence (first %zu bytes): %s\n", kShown, shown.c_str());
  }
  std::abort();
}

inline bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(s[i]) != lower(prefix[i])) return false;
  }
  return true;
}

inline bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && starts_with_ci(a, b); }

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Every '\n' is preceded by '\r' and every '\r' followed by '\n'.
inline bool crlf_only(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  return true;
}

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned long cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const unsigned long min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Strict RFC 4648 base64 (padding required, nothing outside the alphabet); nullopt when malformed.
inline std::optional<std::string> base64_decode_strict(std::string_view s) {
  constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (s.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 4) {
    unsigned long v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = s[i + k];
      const bool last_group = i + 4 == s.size();
      if (c == '=' && last_group && k >= 2 && (k == 3 || s[i + 3] == '=')) {
        ++pad;
        v <<= 6;
        continue;
      }
      const std::size_t d = kAlphabet.find(c);
      if (d == std::string_view::npos || pad > 0) return std::nullopt;
      v = (v << 6) | d;
    }
    out.push_back(static_cast<char>((v >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xFF));
  }
  return out;
}

// ---- SMTP replies (RFC 5321 §4.2, RFC 3463/2034) -------------------------------------------------

// One reply line "ddd[ -][x.y.z ]text" without its CRLF. `need_enhanced`: the x.y.z must be there
// and its class must agree with the reply code's first digit.
inline bool reply_line_ok(std::string_view line, bool need_enhanced) {
  if (line.size() < 4 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2])) return false;
  if (line[0] < '2' || line[0] > '5' || (line[3] != ' ' && line[3] != '-')) return false;
  for (const char c : line) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  if (!need_enhanced) return true;
  // x.y.z: class digit, then 1-3 digits, then 1-3 digits (RFC 3463 §2).
  std::string_view e = line.substr(4);
  if (e.size() < 5 || e[0] != line[0] || e[1] != '.') return false;
  std::size_t i = 2;
  for (int field = 0; field < 2; ++field) {
    const std::size_t start = i;
    while (i < e.size() && is_digit(e[i])) ++i;
    if (i == start || i - start > 3) return false;
    if (field == 0 && (i == e.size() || e[i++] != '.')) return false;
  }
  return i == e.size() || e[i] == ' ';
}

// ---- Sanitized messages --------------------------------------------------------------------------

// The only leaf types the current pipeline may emit. Later issues (image rendering, PDF to pixels)
// extend this list, and only this list.
inline constexpr std::array<std::string_view, 1> kAllowedLeafTypes = {"text/plain"};

// The original's header fields the rebuild may keep (sanitizers/headers.cpp keeps its own copy: the
// point of the oracle is to disagree with it when it changes by accident), and what the rebuild adds.
inline constexpr std::array<std::string_view, 9> kKeptHeaders = {
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"};
inline constexpr std::array<std::string_view, 4> kAddedHeaders = {
    "Received", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"};

inline bool kept_header_allowed(std::string_view name) {
  for (const std::string_view a : kKeptHeaders) {
    if (iequals(name, a)) return true;
  }
  return false;
}

inline bool header_allowed(std::string_view name) {
  if (kept_header_allowed(name) || starts_with_ci(name, "X-Mugai-")) return true;
  for (const std::string_view a : kAddedHeaders) {
    if (iequals(name, a)) return true;
  }
  return false;
}

// Decoded content that must never reach the LGWAN side as the start of a part.
struct Magic {
  std::string_view bytes;
  std::string_view what;
};
inline constexpr std::array<Magic, 5> kForbiddenMagic = {{
    {"MZ", "PE/DOS executable"},
    {std::string_view("PK\x03\x04", 4), "ZIP archive (incl. OOXML)"},
    {"\xD0\xCF\x11\xE0", "OLE compound file"},
    {"%PDF-", "PDF"},  // what PDF readers look for ("%PDFs are attached" is text)
    {"\x7f" "ELF", "ELF executable"},
}};

// Encodings mail readers turn back into attachments when they appear inside a text body.
inline bool line_starts_embedded_file(std::string_view line) {
  // uuencode as GNU uudecode scans it (sscanf "begin %o %s" / "begin-base64 %o %s": blanks optional,
  // a signed octal mode) and as laxer decoders take it (no name at all): "begin", maybe "-base64",
  // blanks, maybe a sign, then an octal digit.
  if (line.substr(0, 5) == "begin") {
    std::size_t i = line.substr(5, 7) == "-base64" ? 12 : 5;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\f' ||
                               line[i] == '\v')) {
      ++i;
    }
    if (i < line.size() && (line[i] == '+' || line[i] == '-')) ++i;
    if (i < line.size() && line[i] >= '0' && line[i] <= '7') return true;
  }
  // BinHex decoders look for the marker at the start of a line (leading blanks allowed); a marker
  // in the middle of a line (e.g. a filename quoted in the notice) cannot start a block.
  const std::size_t text = line.find_first_not_of(" \t");
  return line.substr(0, 8) == "=ybegin " ||
         (text != std::string_view::npos &&
          line.substr(text).rfind("(This file must be converted with BinHex", 0) == 0);
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Strict RFC 2045 §6.7 decoding of an encoder's output: a malformed '=' is itself a finding.
inline std::string qp_decode_strict(std::string_view body) {
  std::string out;
  std::size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c != '=') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (body.substr(i, 3) == "=\r\n") {
      i += 3;
      continue;
    }
    if (i + 2 >= body.size() || hex_value(body[i + 1]) < 0 || hex_value(body[i + 2]) < 0) {
      fail("quoted-printable body has a malformed '='", body.substr(i));
    }
    out.push_back(static_cast<char>(hex_value(body[i + 1]) * 16 + hex_value(body[i + 2])));
    i += 3;
  }
  return out;
}

// The value of the one `name` header in `headers` (unfolded), or fail() when it is absent or repeated.
inline std::string single_header(std::string_view headers, std::string_view name) {
  std::string value;
  bool found = false;
  bool in_field = false;
  std::size_t pos = 0;
  while (pos < headers.size()) {
    const std::size_t eol = headers.find("\r\n", pos);
    const std::string_view line = headers.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.front() == ' ' || line.front() == '\t') {
      if (in_field) value.append(line);
      continue;
    }
    const std::string_view field = line.substr(0, line.find(':'));
    in_field = iequals(field, name);
    if (!in_field) continue;
    if (found) fail("header field repeated", name);
    found = true;
    value = std::string(line.substr(field.size() + 1));
  }
  if (!found) fail("header field missing", name);
  const std::size_t b = value.find_first_not_of(" \t");
  const std::size_t e = value.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : value.substr(b, e - b + 1);
}

// Checks a message the pipeline delivered; fail()s on the first violation of the issue 5 oracle.
inline void check_sanitized_message(std::string_view msg) {
  if (!crlf_only(msg)) fail("bare CR or LF in the sanitized message", msg);
  // Split header section / body; check every line length and every field name.
  std::size_t pos = 0;
  std::size_t header_end = std::string_view::npos;
  while (pos < msg.size()) {
    const std::size_t eol = msg.find("\r\n", pos);
    if (eol == std::string_view::npos) fail("message does not end with CRLF", msg.substr(pos));
    const std::string_view line = msg.substr(pos, eol - pos);
    if (line.size() > 998) fail("line longer than 998 octets", line);
    if (header_end == std::string_view::npos) {
      if (line.empty()) {
        header_end = pos;
      } else if (line.front() != ' ' && line.front() != '\t') {
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) fail("header line without a field name", line);
        const std::string_view name = line.substr(0, colon);
        for (const char c : name) {
          if (c < 33 || c > 126) fail("header field name with a forbidden octet", line);
        }
        if (!header_allowed(name)) fail("header outside the allowlist", line);
      } else if (pos == 0) {
        fail("message starts with a continuation line", line);
      }
    }
    pos = eol + 2;
  }
  if (header_end == std::string_view::npos) fail("no empty line between header and body", msg);
  const std::string_view headers = msg.substr(0, header_end);
  const std::string_view body = msg.substr(header_end + 2);

  const std::string content_type = single_header(headers, "Content-Type");
  const std::string type = content_type.substr(0, content_type.find_first_of("; \t"));
  bool allowed = false;
  for (const std::string_view t : kAllowedLeafTypes) allowed = allowed || iequals(type, t);
  if (!allowed) fail("part type not in the allowed list", content_type);

  const std::string cte = single_header(headers, "Content-Transfer-Encoding");
  std::string decoded;
  if (iequals(cte, "7bit")) {
    for (const char c : body) {
      if (static_cast<unsigned char>(c) >= 0x80) fail("8-bit octet in a 7bit body", body);
    }
    decoded = std::string(body);
  } else if (iequals(cte, "quoted-printable")) {
    decoded = qp_decode_strict(body);
  } else {
    fail("unexpected Content-Transfer-Encoding", cte);
  }

  for (const Magic& m : kForbiddenMagic) {
    // "MZ" alone is no executable: every PE header holds NUL bytes ("PE\0\0", e_lfanew), which the
    // control check below forbids, and a text/plain part is never run. Human text ("MZ Corp
    // announces...") may start a text/plain body; no other signature may.
    if (m.bytes == "MZ" && iequals(type, "text/plain")) continue;
    if (std::string_view(decoded).substr(0, m.bytes.size()) == m.bytes) fail(m.what, decoded);
  }
  std::size_t line_start = 0;
  while (line_start <= decoded.size()) {
    std::size_t eol = decoded.find('\n', line_start);
    if (eol == std::string::npos) eol = decoded.size();
    const std::string_view line = std::string_view(decoded).substr(line_start, eol - line_start);
    if (line_starts_embedded_file(line)) fail("uuencode/BinHex/yEnc block in a text part", line);
    line_start = eol + 1;
  }
  for (const char ch : decoded) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || c == 0x7f) {
      fail("control character in the decoded text", decoded);
    }
  }
  // Active content never rides along as text, whichever part, notice or header summary it came from.
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    const std::string_view rest = std::string_view(decoded).substr(i);
    if (starts_with_ci(rest, "<script") || starts_with_ci(rest, "javascript:")) {
      fail("\"<script\" or \"javascript:\" in the delivered text", rest);
    }
  }
}

}  // namespace mugai::fuzz
