// Keeps text/plain as text: converted to UTF-8 (undecodable bytes become U+FFFD), line ends made LF,
// and every control character other than TAB and LF (C0, DEL, C1) dropped so nothing can steer a
// terminal or a renderer.
#include "sanitizers/charset.hpp"
#include "common/utf8.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

class TextPlain final : public Sanitizer {
 public:
  std::string_view name() const override { return "text_plain"; }

  Decision sanitize(std::string_view untrusted_decoded, const PartInfo& info) const override {
    Utf8Text utf8 = to_utf8(untrusted_decoded, info.charset);
    Decision d = Decision::keep({});
    d.replacement_chars = utf8.replacements;
    if (!utf8.charset_known) d.reason = "unknown charset, decoded as UTF-8";
    const std::string_view s = utf8.text;
    d.text.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == '\r') {
        // CRLF and a lone CR both end a line.
        d.text.push_back('\n');
        i += (i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
        continue;
      }
      const std::size_t n = utf8::sequence_length(s, i);  // never 0: to_utf8 output is valid
      const bool c0 = c < 0x20 && c != '\t' && c != '\n';
      const bool c1 = c == 0xC2 && n == 2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F;
      if (c0 || c == 0x7F || c1) {
        ++d.dropped_controls;
      } else {
        d.text.append(s.substr(i, n == 0 ? 1 : n));
      }
      i += n == 0 ? 1 : n;
    }
    return d;
  }
};

}  // namespace

std::unique_ptr<Sanitizer> make_text_plain() { return std::make_unique<TextPlain>(); }

}  // namespace mugai::sanitize
