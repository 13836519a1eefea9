// common/: the shared helpers every room relies on, checked at their edges.
#include <doctest/doctest.h>

#include "common/ascii.hpp"
#include "common/hex.hpp"
#include "common/id.hpp"
#include "common/json.hpp"
#include "common/utf8.hpp"

using namespace mugai;

TEST_CASE("ASCII case folding ignores the locale and non-ASCII bytes") {
  CHECK(ascii::lower("Content-TYPE") == "content-type");
  CHECK(ascii::lower("\xC3\x89") == "\xC3\x89");  // É stays as it is: bytes above 0x7F are not letters here
  CHECK(ascii::iequals("MAIL FROM", "mail from"));
  CHECK_FALSE(ascii::iequals("mail", "mails"));
  CHECK(ascii::starts_with_ci("Content-Type: x", "content-type:"));
  CHECK(ascii::trim(" \t a b \t") == "a b");
  CHECK(ascii::trim(" \r\n", " \t\r\n").empty());
}

TEST_CASE("UTF-8: RFC 3629 only") {
  CHECK(utf8::is_valid("日本語 ok"));
  CHECK_FALSE(utf8::is_valid("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(utf8::is_valid("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(utf8::is_valid("\xE6\x97"));          // cut short
  const std::string s = "a\xE2\x80\xA8\xF0\x9F\x98\x80";
  CHECK(utf8::sequence_length(s, 1) == 3);
  CHECK(utf8::code_point(s, 1, 3) == 0x2028);
  CHECK(utf8::code_point(s, 4, 4) == 0x1F600);
  std::string out;
  for (const char32_t cp : {U'a', U'\u00E9', U'\u3042', U'\U0001F600'}) utf8::append(out, cp);
  CHECK(out == "a\xC3\xA9\xE3\x81\x82\xF0\x9F\x98\x80");
}

TEST_CASE("hex and SHA-256") {
  CHECK(hex::encode(std::string("\x00\xff\x10", 3)) == "00ff10");
  CHECK(hex::value('a') == 10);
  CHECK(hex::value('F') == 15);
  CHECK(hex::value('g') == -1);
  CHECK(hex::sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("Crockford ids never use I, L, O or U") {
  CHECK(id::crockford(0, 4) == "0000");
  CHECK(id::crockford(31, 2) == "0Z");
  CHECK(id::crockford(32, 2) == "10");
  for (const char c : std::string_view("ILOU")) CHECK_FALSE(id::is_crockford(c));
}

TEST_CASE("JSON from any bytes is valid and keeps key order") {
  const json::Value v{{"z", "a\"b\\c\n\x01\xff"}, {"a", "日本"}};
  CHECK(json::dump(v) == "{\"z\":\"a\\\"b\\\\c\\n\\u0001\xEF\xBF\xBD\",\"a\":\"日本\"}");
  CHECK(json::parse("{\"a\":").is_discarded());
  CHECK(json::parse(json::dump(v))["a"] == "日本");
}
