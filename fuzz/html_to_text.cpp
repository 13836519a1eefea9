// Fuzz target: arbitrary bytes, made UTF-8 as the html_text sanitizer does, through html_to_text()
// under a link policy chosen by the first byte. Oracle: the text has no "<script" and no "javascript:"
// (either case), no control character but LF and TAB, is valid UTF-8, stays within 4× input + 1 KiB,
// and is the same whether text runs were swapped for placeholders or gumbo parsed the HTML as it is.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/oracle.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/html_text.hpp"

namespace {

using mugai::sanitize::LinkPolicy;
constexpr std::array<LinkPolicy, 3> kPolicies = {LinkPolicy::Keep, LinkPolicy::Defang, LinkPolicy::Remove};

bool contains_ci(std::string_view s, std::string_view lower_word) {
  for (std::size_t i = 0; i + lower_word.size() <= s.size(); ++i) {
    if (mugai::fuzz::starts_with_ci(s.substr(i), lower_word)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mugai::fuzz::fail;
  mugai::fuzz::FuzzInput in(data, size);
  const LinkPolicy policy = kPolicies[in.byte() % kPolicies.size()];
  const mugai::sanitize::Utf8Text html = mugai::sanitize::to_utf8(in.rest(), "utf-8");
  const mugai::sanitize::HtmlText out = mugai::sanitize::html_to_text(html.text, policy);

  if (!out.failure.empty() && !out.text.empty()) fail("html_to_text failed but returned text", out.text);
  if (out.text.size() > 4 * html.text.size() + 1024) fail("text out of proportion to the HTML", out.text);
  if (!mugai::fuzz::valid_utf8(out.text)) fail("text is not valid UTF-8", out.text);
  for (const char ch : out.text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && ch != '\n' && ch != '\t') || c == 0x7f) fail("control character in the text", out.text);
  }
  for (std::size_t i = 0; i + 1 < out.text.size(); ++i) {  // C1 controls are U+0080..U+009F: C2 80..C2 9F
    const auto lead = static_cast<unsigned char>(out.text[i]);
    const auto next = static_cast<unsigned char>(out.text[i + 1]);
    if (lead == 0xC2 && next >= 0x80 && next <= 0x9F) fail("C1 control character in the text", out.text);
  }
  if (contains_ci(out.text, "<script")) fail("\"<script\" in the text", out.text);
  if (contains_ci(out.text, "javascript:")) fail("\"javascript:\" in the text", out.text);
  const mugai::sanitize::HtmlText as_is = mugai::sanitize::html_to_text(html.text, policy, /*swap_text_runs=*/false);
  if (out.failure.empty() && as_is.failure.empty() &&
      (out.text != as_is.text || out.links != as_is.links || out.had_script != as_is.had_script ||
       out.dropped_chars != as_is.dropped_chars)) {
    fail("swapping text runs changed the result; as parsed without the swap:", as_is.text);
  }
  return 0;
}
