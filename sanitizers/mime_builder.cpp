// Writes the delivered message's MIME body (see mime_builder.hpp). Attachment names go out twice:
// RFC 2231 (filename*=UTF-8''…, what current clients read) after an RFC 2047 encoded-word fallback
// in the plain parameter (what older Japanese clients read); ASCII names go out once, quoted.
#include "sanitizers/mime_builder.hpp"

#include <algorithm>
#include <array>

#include "common/ascii.hpp"
#include "common/hex.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

// A name percent-encodes to at most three times its length: one filename* parameter always fits in
// a header line, so no RFC 2231 continuations are needed.
static_assert(kMaxFilename * 3 + 40 < 990);

std::string to_crlf(std::string_view lf) {
  std::string out;
  out.reserve(lf.size() + lf.size() / 16);
  for (const char c : lf) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

bool printable_ascii(std::string_view s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

// RFC 2231 attribute-chars stay, everything else is %XX (UTF-8 bytes).
std::string percent_encode(std::string_view utf8) {
  constexpr std::string_view kKept = "!#$&+-.^_`|~";
  std::string out;
  for (const char c : utf8) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || kKept.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out += '%';
      out += hex::kUpper[u >> 4];
      out += hex::kUpper[u & 15];
    }
  }
  return out;
}

std::string_view extension_for(std::string_view content_type) {
  for (const auto& t : kArtefactTypes) {
    if (t.content_type == content_type) return t.extension;
  }
  return "";
}

// Header fields, the empty line, the body. The CRLF before a delimiter belongs to the delimiter, so an
// empty body gets a line of its own: the empty line then still ends the header.
std::string entity(std::string_view header, std::string_view body) {
  std::string out(header);
  out += "\r\n";
  out += body.empty() ? std::string_view("\r\n") : body;
  return out;
}

std::string attachment_part(const Attachment& a) {
  const std::string name = safe_filename(a.filename, extension_for(a.content_type));
  // safe_filename leaves no quote or backslash, so a quoted string holds any ASCII name as it is.
  const bool ascii = printable_ascii(name);
  const std::string plain = "\"" + (ascii ? name : rfc2047_encode(name)) + "\"";
  std::string disposition = "attachment; filename=" + plain;
  if (!ascii) disposition += "; filename*=UTF-8''" + percent_encode(name);
  return entity(fold_header("Content-Type", std::string(a.content_type) + "; name=" + plain) +
                    fold_header("Content-Disposition", disposition) + "Content-Transfer-Encoding: base64\r\n",
                base64_lines(a.bytes));
}

// Derived from the text, which is the only part whose bytes a sender can choose freely (base64 and
// quoted-printable never hold "=_"), and checked against every part anyway.
std::string boundary_for(const std::vector<std::string>& parts) {
  const std::string base = "=_mugai_" + hex::sha256(parts.front()).substr(0, 32);
  for (std::size_t n = 0;; ++n) {
    const std::string b = n == 0 ? base : base + "_" + std::to_string(n);
    bool clash = false;
    for (const auto& p : parts) clash = clash || p.find(b) != std::string::npos;
    if (!clash) return b;
  }
}

}  // namespace

TextPart encode_text(std::string_view text_lf, std::string_view charset) {
  EncodedText enc = encode_output(text_lf, charset);
  bool seven_bit = true;
  std::size_t line = 0;
  for (const char c : enc.bytes) {
    line = c == '\n' ? 0 : line + 1;
    seven_bit = seven_bit && line <= 998 && static_cast<unsigned char>(c) < 0x80;
  }
  TextPart t{{}, enc.charset, "7bit", enc.unrepresentable};
  if (seven_bit) {
    t.bytes = to_crlf(enc.bytes);
  } else if (enc.charset == "UTF-8") {
    t.encoding = "quoted-printable";
    t.bytes = qp_encode(enc.bytes);
  } else {
    t.encoding = "base64";
    t.bytes = base64_lines(to_crlf(enc.bytes));
  }
  if (!t.bytes.empty() && t.bytes.back() != '\n') t.bytes += "\r\n";
  return t;
}

std::string base64_lines(std::string_view bytes) {
  const std::string flat = base64_encode(bytes);
  std::string out;
  out.reserve(flat.size() + (flat.size() / 76 + 1) * 2);
  for (std::size_t i = 0; i < flat.size(); i += 76) {
    out.append(flat, i, 76);
    out += "\r\n";
  }
  return out;
}

// CON, PRN, AUX, NUL, COM1-9, LPT1-9: Windows opens the device of that name, whatever the extension.
bool windows_device(std::string_view base) {
  constexpr std::array<std::string_view, 4> kPlain{"con", "prn", "aux", "nul"};
  if (std::any_of(kPlain.begin(), kPlain.end(), [&](std::string_view d) { return ascii::iequals(base, d); })) return true;
  return base.size() == 4 && (ascii::starts_with_ci(base, "com") || ascii::starts_with_ci(base, "lpt")) &&
         base[3] >= '1' && base[3] <= '9';
}

std::string safe_filename(std::string_view untrusted_name, std::string_view extension) {
  constexpr std::string_view kReplaced = "/\\:*?\"<>|";
  constexpr std::string_view kTrimmed = ". ";
  std::string s = escape_for_display(untrusted_name);
  for (char& c : s) {
    if (kReplaced.find(c) != std::string_view::npos) c = '_';
  }
  // A name that does not end in its type's extension gets it: a client never opens a PDF or an image
  // with whatever program another extension names.
  const bool has_extension = s.size() >= extension.size() &&
                             ascii::iequals(std::string_view(s).substr(s.size() - extension.size()), extension);
  std::string_view stem = has_extension ? std::string_view(s).substr(0, s.size() - extension.size()) : s;
  const std::string suffix(has_extension ? std::string_view(s).substr(stem.size()) : extension);  // its own case kept
  if (stem.size() > kMaxFilename - extension.size()) {
    std::size_t n = kMaxFilename - extension.size();
    while (n > 0 && (static_cast<unsigned char>(stem[n]) & 0xC0) == 0x80) --n;
    stem = stem.substr(0, n);
  }
  // Leading dots hide a file or climb a directory; trailing ones and spaces Windows drops.
  stem = ascii::trim(stem, kTrimmed);
  if (stem.empty()) return "attachment" + suffix;
  return (windows_device(stem.substr(0, stem.find('.'))) ? "_" : "") + std::string(stem) + suffix;
}

MimeBody build_mime_body(std::string_view text_lf, std::string_view charset,
                         const std::vector<Attachment>& attachments) {
  const TextPart text = encode_text(text_lf, charset);
  const std::string text_header = "Content-Type: text/plain; charset=" + text.charset +
                                  "\r\nContent-Transfer-Encoding: " + std::string(text.encoding) + "\r\n";
  MimeBody out;
  out.unrepresentable = text.unrepresentable;
  if (attachments.empty()) {
    out.header = "MIME-Version: 1.0\r\n" + text_header;
    out.body = text.bytes;
    return out;
  }
  std::vector<std::string> parts;
  parts.push_back(entity(text_header, text.bytes));
  for (const auto& a : attachments) parts.push_back(attachment_part(a));
  const std::string boundary = boundary_for(parts);
  out.header = "MIME-Version: 1.0\r\n" + fold_header("Content-Type", "multipart/mixed; boundary=\"" + boundary + "\"");
  std::size_t size = 0;
  for (const auto& p : parts) size += p.size() + boundary.size() + 6;
  out.body.reserve(size + boundary.size() + 8);
  for (const auto& p : parts) {  // each ends in CRLF: encode_text, base64_lines and entity() see to it
    out.body += "--" + boundary + "\r\n";
    out.body += p;
  }
  out.body += "--" + boundary + "--\r\n";
  return out;
}

}  // namespace mugai::sanitize
