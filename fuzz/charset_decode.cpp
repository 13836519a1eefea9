// Fuzz target: arbitrary bytes under an arbitrary charset label into to_utf8(), the conversion every
// text part and header goes through. Oracle: the result is valid UTF-8 (checked independently),
// bounded in size, and utf8::is_valid() agrees with an independent RFC 3629 validator.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/utf8.hpp"
#include "fuzz/fuzz_input.hpp"
#include "fuzz/oracle.hpp"
#include "sanitizers/charset.hpp"

namespace {

// Labels mail actually carries (Japanese ones first), plus stateful and odd ones iconv knows.
constexpr std::array<std::string_view, 16> kLabels = {
    "", "us-ascii", "utf-8", "iso-2022-jp", "shift_jis", "euc-jp", "cp932", "iso-2022-jp-2",
    "iso-8859-1", "windows-1252", "utf-16", "utf-7", "gb18030", "big5", "utf-32", "x-unknown"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mugai::fuzz::FuzzInput in(data, size);
  const std::uint8_t choice = in.byte();
  std::string_view label = kLabels[choice % kLabels.size()];
  std::string_view bytes = in.rest();
  if (choice >= 0x80) {  // the label itself comes from the input, up to the first newline
    const std::size_t nl = bytes.find('\n');
    label = bytes.substr(0, nl);
    bytes = nl == std::string_view::npos ? std::string_view() : bytes.substr(nl + 1);
  }

  if (mugai::utf8::is_valid(bytes) != mugai::fuzz::valid_utf8(bytes)) {
    mugai::fuzz::fail("utf8::is_valid disagrees with RFC 3629", bytes);
  }
  const mugai::sanitize::Utf8Text out = mugai::sanitize::to_utf8(bytes, label);
  if (!mugai::fuzz::valid_utf8(out.text)) mugai::fuzz::fail("to_utf8 returned invalid UTF-8", out.text);
  // Worst case: every input byte becomes U+FFFD (3 bytes); a little slack for shift sequences.
  if (out.text.size() > 3 * bytes.size() + 16) mugai::fuzz::fail("to_utf8 output out of proportion", bytes);
  if (out.replacements > bytes.size()) mugai::fuzz::fail("more replacements than input bytes", bytes);

  const std::string shown = mugai::sanitize::escape_for_display(bytes);
  for (const char ch : shown) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) mugai::fuzz::fail("escape_for_display let a control through", bytes);
  }
  if (!mugai::fuzz::valid_utf8(shown)) mugai::fuzz::fail("escape_for_display returned invalid UTF-8", bytes);
  return 0;
}
