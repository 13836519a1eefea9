// Wire form of SMTP replies (RFC 5321 §4.2, enhanced codes per RFC 2034 §3).
// Guarantees: the output is always well-framed, one CRLF-terminated line per text line, even when a
// line's text carries control bytes (they are replaced, so a reply can never inject a second reply).
#include "proto/reply.hpp"

namespace mugai::proto {

namespace {

// Reply texts may quote client input (an address, a HELO name); a CR, LF or NUL there would split
// the reply on the wire, so every control byte except TAB is masked.
void append_text(std::string& out, const std::string& text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 && c != '\t') || u == 0x7f ? '?' : c);
  }
}

}  // namespace

std::string Reply::wire() const {
  const std::string code_text = std::to_string(code);
  const std::size_t count = lines.empty() ? 1 : lines.size();
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    out += code_text;
    out.push_back(i + 1 < count ? '-' : ' ');
    out += enhanced;
    const bool has_text = !lines.empty() && !lines[i].empty();
    if (!enhanced.empty() && has_text) out.push_back(' ');
    if (has_text) append_text(out, lines[i]);
    out += "\r\n";
  }
  return out;
}

}  // namespace mugai::proto
