// Oracles for the fuzz targets: small, independent checkers of what mugai promises about its output.
// They share no code with the pipeline they judge, so a bug there cannot hide itself here.
#pragma once

#include <array>
#include <cstdint>
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

// The only type the text part may have, and the only types attachments may have (base64, with the
// leading signature readers of that type look for). Later issues extend these lists, and only these.
inline constexpr std::array<std::string_view, 1> kAllowedLeafTypes = {"text/plain"};
struct AttachmentType {
  std::string_view type;
  std::string_view signature;
  std::size_t search;  // how far into the bytes readers look for the signature (1 = at the start)
};
inline constexpr std::array<AttachmentType, 3> kAllowedAttachmentTypes = {{
    {"application/pdf", "%PDF-", 1024},  // PDF readers accept it within the first 1024 bytes
    {"image/png", "\x89PNG\r\n\x1a\n", 1},
    {"image/jpeg", "\xFF\xD8", 1},
}};

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

// True when `headers` (a header block, each line ending in CRLF) has a field `name`.
inline bool has_header(std::string_view headers, std::string_view name) {
  for (std::size_t pos = 0; pos < headers.size();) {
    const std::size_t eol = headers.find("\r\n", pos);
    const std::string_view line = headers.substr(pos, eol - pos);
    pos = eol + 2;
    if (!line.empty() && line.front() != ' ' && line.front() != '\t' && iequals(line.substr(0, line.find(':')), name)) {
      return true;
    }
  }
  return false;
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

// Each header line of a part names one of `allowed`, and nothing else.
template <std::size_t N>
inline void check_part_fields(std::string_view headers, const std::array<std::string_view, N>& allowed) {
  for (std::size_t pos = 0; pos < headers.size();) {
    const std::size_t eol = headers.find("\r\n", pos);
    const std::string_view line = headers.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty() || line.front() == ' ' || line.front() == '\t') continue;
    bool ok = false;
    for (const std::string_view a : allowed) ok = ok || iequals(line.substr(0, line.find(':')), a);
    if (!ok) fail("part header outside the allowlist", line);
  }
}

// The parameter `name` of a header value ("type; a=b; c=\"d\""), unquoted; nullopt when absent. The
// builder never needs quoted-pair escapes, so a backslash inside quotes is a finding.
inline std::optional<std::string> header_param(std::string_view value, std::string_view name) {
  std::optional<std::string> found;
  std::size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    const std::size_t eq = value.find('=', i);
    if (eq == std::string_view::npos) fail("parameter without a value", value.substr(i));
    const std::string_view attr = value.substr(i, eq - i);
    std::string v;
    std::size_t end = eq + 1;
    if (end < value.size() && value[end] == '"') {
      const std::size_t close = value.find('"', end + 1);
      if (close == std::string_view::npos) fail("unterminated quoted parameter", value.substr(i));
      v = std::string(value.substr(end + 1, close - end - 1));
      if (v.find('\\') != std::string::npos) fail("backslash in a quoted parameter", v);
      end = close + 1;
    } else {
      const std::size_t semi = value.find(';', end);
      v = std::string(value.substr(end, (semi == std::string_view::npos ? value.size() : semi) - end));
      end = semi == std::string_view::npos ? value.size() : semi;
    }
    if (iequals(attr, name)) {
      if (found) fail("parameter repeated", name);
      found = v;
    }
    i = value.find(';', end);
  }
  return found;
}

// A filename as the mail client will use it: no controls, no path separators, no bidi controls, not
// hidden or climbing (leading dot), valid UTF-8, not empty.
inline void check_filename(std::string_view name) {
  if (name.empty() || !valid_utf8(name)) fail("attachment name empty or not UTF-8", name);
  if (name.front() == '.' || name.find_first_of("/\\") != std::string_view::npos) {
    fail("attachment name with a path separator or a leading dot", name);
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const std::string_view rest = name.substr(i);
    const bool c1 = c == 0xC2 && i + 1 < name.size() && static_cast<unsigned char>(name[i + 1]) < 0xA0;
    // U+200E/F, U+202A-202E, U+2066-2069 in UTF-8.
    const bool bidi = rest.substr(0, 3) == "\xE2\x80\x8E" || rest.substr(0, 3) == "\xE2\x80\x8F" ||
                      (rest.substr(0, 2) == "\xE2\x80" && rest.size() > 2 &&
                       static_cast<unsigned char>(rest[2]) >= 0xAA && static_cast<unsigned char>(rest[2]) <= 0xAE) ||
                      (rest.substr(0, 2) == "\xE2\x81" && rest.size() > 2 &&
                       static_cast<unsigned char>(rest[2]) >= 0xA6 && static_cast<unsigned char>(rest[2]) <= 0xA9);
    if (c < 0x20 || c == 0x7F || c1 || bidi) fail("control or bidi character in an attachment name", name);
  }
}

// `=?UTF-8?B?…?=` words separated by spaces (the fallback for old clients), decoded; ASCII as it is.
inline std::string decode_name_fallback(std::string_view v) {
  if (!v.starts_with("=?")) return std::string(v);
  std::string out;
  for (std::size_t i = 0; i < v.size();) {
    const std::size_t sp = std::min(v.find(' ', i), v.size());
    const std::string_view word = v.substr(i, sp - i);
    if (!word.starts_with("=?UTF-8?B?") || !word.ends_with("?=") || word.size() > 75) {
      fail("malformed encoded word in an attachment name", word);
    }
    const auto bytes = base64_decode_strict(word.substr(10, word.size() - 12));
    if (!bytes) fail("encoded word with bad base64 in an attachment name", word);
    out += *bytes;
    i = sp + 1;
  }
  return out;
}

// RFC 2231 `UTF-8''%XX…` (no language), decoded.
inline std::string decode_name_extended(std::string_view v) {
  if (!v.starts_with("UTF-8''")) fail("filename* not in UTF-8", v);
  std::string out;
  for (std::size_t i = 7; i < v.size(); ++i) {
    if (v[i] != '%') {
      if (v[i] <= 0x20 || v[i] >= 0x7F || std::string_view("*'\"()<>@,;:\\/[]?=").find(v[i]) != std::string_view::npos) {
        fail("filename* holds a character RFC 2231 requires encoded", v);
      }
      out.push_back(v[i]);
      continue;
    }
    if (i + 2 >= v.size() || hex_value(v[i + 1]) < 0 || hex_value(v[i + 2]) < 0) fail("bad %XX in filename*", v);
    out.push_back(static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2])));
    i += 2;
  }
  return out;
}

// Checks one text part (the whole message's, or the first of a multipart/mixed): its type, its
// encoding, and what the decoded text may not hold.
inline void check_text_part(std::string_view headers, std::string_view body) {
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

// ---- Artefact contents: what a rendering may hold ------------------------------------------------
// Own small walkers (no libpng, libjpeg or the pipeline's checks): nothing but pixels may cross.

inline std::uint32_t be32(std::string_view b, std::size_t at) {
  return (std::uint32_t{static_cast<unsigned char>(b[at])} << 24) | (std::uint32_t{static_cast<unsigned char>(b[at + 1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(b[at + 2])} << 8) | static_cast<unsigned char>(b[at + 3]);
}

inline std::uint32_t crc32_of(std::string_view b) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (const char ch : b) {
    c ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

// A PNG of critical chunks only (IHDR first, PLTE, IDAT, IEND last; no tEXt/iTXt/zTXt/eXIf/iCCP/...),
// every CRC right, and not one byte after IEND.
inline void check_png_artefact(std::string_view b) {
  constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (!b.starts_with(kSignature)) fail("PNG artefact without the PNG signature", b);
  std::size_t at = kSignature.size();
  bool first = true;
  for (;;) {
    if (at + 12 > b.size()) fail("PNG artefact ends inside a chunk or without IEND", b.substr(at));
    const std::uint32_t len = be32(b, at);
    if (len > b.size() - at - 12) fail("PNG chunk longer than the file", b.substr(at, 12));
    const std::string_view type = b.substr(at + 4, 4);
    const bool allowed = type == "IHDR" || type == "PLTE" || type == "IDAT" || type == "IEND";
    if (!allowed) fail("PNG artefact carries a chunk other than IHDR/PLTE/IDAT/IEND", type);
    if (first != (type == "IHDR")) fail("PNG artefact whose first chunk is not its only IHDR", type);
    if (crc32_of(b.substr(at + 4, 4 + len)) != be32(b, at + 8 + len)) fail("PNG chunk with a wrong CRC", type);
    first = false;
    at += 12 + len;
    if (type == "IEND") break;
  }
  if (at != b.size()) fail("bytes after the PNG artefact's IEND", b.substr(at));
}

// A JPEG with no APPn but a JFIF APP0, no COM, and nothing after EOI.
inline void check_jpeg_artefact(std::string_view b) {
  if (!b.starts_with("\xFF\xD8")) fail("JPEG artefact without SOI", b);
  std::size_t at = 2;
  for (;;) {
    if (at + 2 > b.size() || static_cast<unsigned char>(b[at]) != 0xFF) fail("JPEG artefact: no marker where one must be", b.substr(at));
    const auto marker = static_cast<unsigned char>(b[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0xD9) {
      at += 2;
      break;
    }
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 || marker == 0xD8) fail("JPEG artefact: stray marker", b.substr(at, 2));
    if (at + 4 > b.size()) fail("JPEG artefact ends inside a segment header", b.substr(at));
    const std::size_t len = (std::size_t{static_cast<unsigned char>(b[at + 2])} << 8) | static_cast<unsigned char>(b[at + 3]);
    if (len < 2 || at + 2 + len > b.size()) fail("JPEG segment longer than the file", b.substr(at, 4));
    const std::string_view payload = b.substr(at + 4, len - 2);
    if (marker == 0xFE) fail("JPEG artefact carries a comment (COM)", payload);
    if (marker >= 0xE1 && marker <= 0xEF) fail("JPEG artefact carries an APPn segment (EXIF, XMP, ICC, ...)", payload);
    if (marker == 0xE0 && payload.substr(0, 5) != std::string_view("JFIF\0", 5)) fail("JPEG APP0 that is not JFIF", payload);
    at += 2 + len;
    if (marker != 0xDA) continue;
    // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart.
    while (at + 1 < b.size()) {
      if (static_cast<unsigned char>(b[at]) == 0xFF) {
        const auto next = static_cast<unsigned char>(b[at + 1]);
        if (next != 0x00 && !(next >= 0xD0 && next <= 0xD7) && next != 0xFF) break;
      }
      ++at;
    }
  }
  if (at != b.size()) fail("bytes after the JPEG artefact's EOI", b.substr(at));
}

// A PDF naming none of the keys that run, open, embed or hide things. Names are read as PDF reads them
// (#xx escapes decoded) and must end where the name token ends, so /JSX is not /JS but /J#53 is.
inline void check_pdf_artefact(std::string_view b) {
  constexpr std::array<std::string_view, 11> kForbidden = {"JavaScript", "JS",      "OpenAction", "AA",
                                                           "Launch",     "EmbeddedFile", "AcroForm", "URI",
                                                           "Annots",     "Metadata", "FontFile"};
  const auto delimiter = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\0' ||
           std::string_view("()<>[]{}/%").find(c) != std::string_view::npos;
  };
  for (std::size_t at = b.find('/'); at != std::string_view::npos; at = b.find('/', at)) {
    ++at;
    std::string name;
    while (at < b.size() && !delimiter(b[at])) {
      if (b[at] == '#' && at + 2 < b.size() && hex_value(b[at + 1]) >= 0 && hex_value(b[at + 2]) >= 0) {
        name.push_back(static_cast<char>(hex_value(b[at + 1]) * 16 + hex_value(b[at + 2])));
        at += 3;
      } else {
        name.push_back(b[at++]);
      }
    }
    for (const std::string_view f : kForbidden) {
      // /FontFile2 and /FontFile3 are embedded fonts too.
      if (name == f || (f == "FontFile" && name.starts_with(f))) fail("PDF artefact names a forbidden key", name);
    }
  }
}

// Checks one attachment part: an allowed type whose bytes carry that type's signature, strict base64
// in lines of at most 76 characters, and the same safe name in every parameter that names it.
inline void check_attachment_part(std::string_view headers, std::string_view body) {
  check_part_fields(headers, std::array<std::string_view, 3>{"Content-Type", "Content-Disposition",
                                                             "Content-Transfer-Encoding"});
  const std::string content_type = single_header(headers, "Content-Type");
  const std::string type = content_type.substr(0, content_type.find_first_of("; \t"));
  const AttachmentType* allowed = nullptr;
  for (const AttachmentType& t : kAllowedAttachmentTypes) allowed = iequals(type, t.type) ? &t : allowed;
  if (allowed == nullptr) fail("attachment type not in the allowed list", content_type);
  if (!iequals(single_header(headers, "Content-Transfer-Encoding"), "base64")) fail("attachment not in base64", headers);

  std::string flat;
  for (std::size_t pos = 0; pos < body.size();) {
    const std::size_t eol = std::min(body.find("\r\n", pos), body.size());  // the last line's CRLF is the delimiter's
    if (eol - pos > 76) fail("base64 line longer than 76 characters", body.substr(pos, eol - pos));
    flat.append(body.substr(pos, eol - pos));
    pos = eol + 2;
  }
  const auto bytes = base64_decode_strict(flat);
  if (!bytes) fail("attachment body is not strict base64", flat);
  const std::size_t look = std::min(bytes->size(), allowed->search - 1 + allowed->signature.size());
  if (std::string_view(*bytes).substr(0, look).find(allowed->signature) == std::string_view::npos) {
    fail("attachment bytes lack the signature of their declared type", content_type);
  }
  if (allowed->type == "image/png") check_png_artefact(*bytes);
  if (allowed->type == "image/jpeg") check_jpeg_artefact(*bytes);
  if (allowed->type == "application/pdf") check_pdf_artefact(*bytes);

  const std::string disposition = single_header(headers, "Content-Disposition");
  if (!iequals(disposition.substr(0, disposition.find(';')), "attachment")) fail("not an attachment", disposition);
  const auto name = header_param(content_type, "name");
  const auto filename = header_param(disposition, "filename");
  if (!name || !filename) fail("attachment without name and filename parameters", headers);
  const std::string shown = decode_name_fallback(*filename);
  check_filename(shown);
  if (decode_name_fallback(*name) != shown) fail("name and filename parameters differ", headers);
  if (const auto extended = header_param(disposition, "filename*")) {
    if (decode_name_extended(*extended) != shown) fail("filename* and filename parameters differ", headers);
  }
}

// Checks a message the pipeline delivered; fail()s on the first violation of the issue 5 oracle.
// Returns how many attachments it carries (0 for a single text/plain message).
inline std::size_t check_sanitized_message(std::string_view msg) {
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
  if (!iequals(content_type.substr(0, content_type.find_first_of("; \t")), "multipart/mixed")) {
    check_text_part(headers, body);
    return 0;
  }
  // multipart/mixed: no preamble, no epilogue, the text part first, then attachments only.
  if (has_header(headers, "Content-Transfer-Encoding") &&
      !iequals(single_header(headers, "Content-Transfer-Encoding"), "7bit")) {
    fail("multipart with a transfer encoding other than 7bit", headers);
  }
  const auto boundary = header_param(content_type, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) fail("multipart without a usable boundary", content_type);
  const std::string open = "--" + *boundary + "\r\n";
  const std::string next = "\r\n--" + *boundary + "\r\n";
  const std::string close = "\r\n--" + *boundary + "--\r\n";
  if (body.size() < open.size() + close.size() || !body.starts_with(open) || !body.ends_with(close)) {
    fail("multipart body not framed by its boundary", body);
  }
  // What lies between the first delimiter and the close delimiter: the parts, separated by `next`.
  const std::string_view inner = body.substr(open.size(), body.size() - open.size() - close.size());
  std::size_t parts = 0;
  for (std::size_t at = 0;;) {
    const std::size_t found = inner.find(next, at);
    const std::size_t end = found == std::string_view::npos ? inner.size() : found;
    const std::string_view part = inner.substr(at, end - at);
    // A boundary must occur in no part at all (RFC 2046 §5.1.1), not only at the start of a line.
    if (part.find(*boundary) != std::string_view::npos) fail("the boundary occurs inside a part", part);
    const std::size_t split = part.find("\r\n\r\n");
    if (split == std::string_view::npos) fail("part without an empty line after its header", part);
    const std::string_view part_headers = part.substr(0, split + 2);
    const std::string_view part_body = part.substr(split + 4);
    if (parts == 0) {
      check_part_fields(part_headers, std::array<std::string_view, 2>{"Content-Type", "Content-Transfer-Encoding"});
      check_text_part(part_headers, part_body);
    } else {
      check_attachment_part(part_headers, part_body);
    }
    ++parts;
    if (found == std::string_view::npos) break;
    at = found + next.size();
  }
  if (parts < 2) fail("multipart/mixed without an attachment", body);
  return parts - 1;
}

}  // namespace mugai::fuzz
