// HTML → plain text through a real HTML5 parser (gumbo): what a reader would see, as text, with
// active content (scripts, styles, embedded objects) dropped with its contents and links shown by policy.
// Guarantees: bounded output (≤ 4× input + 1 KiB), bounded parser memory and time, no recursion.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {

// How a link's target appears after its text: `text <URL>` as is, defanged (`hxxps://example[.]com/`)
// so no mail client makes it clickable, or not at all. Only http, https and mailto targets are ever
// shown; any other scheme (javascript:, data:, vbscript:, file:, ...) leaves the text only.
enum class LinkPolicy { Keep, Defang, Remove };

struct HtmlText {
  std::string text;              // valid UTF-8, LF line ends, no controls but TAB, no bidi controls
  std::size_t links = 0;         // <a href> elements seen, whatever their scheme
  bool had_script = false;       // script elements, on* handlers or script: URLs were present (dropped)
  bool truncated = false;        // the output bound was reached; `text` ends there
  std::size_t dropped_chars = 0; // controls, bidi controls and invisible zero-width characters removed
  std::string failure;           // non-empty: not converted (parser budget exceeded), `text` is empty
};

// `untrusted_html` must already be UTF-8 (the caller converts the declared charset). The text is
// defanged (below) wherever the HTML spelled active content as text. Long text runs are swapped for
// placeholders while gumbo parses (text-heavy HTML converts ~1.5x faster, same tree);
// `swap_text_runs = false` parses the HTML as it is, so tests and the fuzzer can check the text is the same.
HtmlText html_to_text(std::string_view untrusted_html, LinkPolicy links, bool swap_text_runs = true);

// Text that reads like active content, defanged as link targets are, in any case: "javascript:" and
// "vbscript:" become "javascript[:]" (no client linkifies them), "<script" becomes "< script" (nothing
// takes it for markup). The pipeline applies it to every text it delivers.
std::string defang_active_text(std::string_view text);

// The "html_text" sanitizer: declared charset → UTF-8 (charset.hpp), then html_to_text. A part the
// parser budget refuses is removed (fail closed). The registry builds one per LinkPolicy.
std::unique_ptr<Sanitizer> make_html_text(LinkPolicy links);

}  // namespace mugai::sanitize
