// ctl/text_width: terminal columns for the review CLI's tables (East Asian width, controls never raw).
#include <doctest/doctest.h>

#include "ctl/text_width.hpp"

using namespace mugai::ctl;

TEST_CASE("East Asian width: CJK and fullwidth take two columns, tables stay aligned") {
  CHECK(display_width("abc") == 3);
  CHECK(display_width("請求書") == 6);
  CHECK(display_width("ｶﾀｶﾅ") == 4);        // halfwidth katakana: narrow
  CHECK(display_width("ＡＢ") == 4);         // fullwidth Latin: wide
  CHECK(display_width("か\xE3\x82\x99") == 2);  // combining voiced mark: zero
  CHECK(display_width("\x1b[31m") == 10);   // ESC shown as \u001B, never sent raw
  CHECK(fit_columns("\x1b[2J", 4).find('\x1b') == std::string::npos);
  CHECK(fit_columns("ab", 4) == "ab  ");
  CHECK(fit_columns("請求書", 6) == "請求書");
  CHECK(display_width(fit_columns("請求書の送付", 7)) == 7);
  CHECK(fit_columns("請求書の送付", 7) == "請求書\xE2\x80\xA6");
  CHECK(fit_columns("請求書の送付", 6) == "請求\xE2\x80\xA6 ");  // a wide char never split
  CHECK(display_width(fit_columns("abc\xff", 10)) == 10);
  CHECK(fit_columns("abc\xff", 10) == "abc\\xFF   ");
  // A line separator or a bidi override cannot start a new row or reverse a filename.
  CHECK(fit_columns("a\xE2\x80\xA8" "b", 12) == "a\\u2028b    ");
  CHECK(fit_columns("x\xE2\x80\xAE" "fdp.exe", 20).find("\xE2\x80\xAE") == std::string::npos);
}
