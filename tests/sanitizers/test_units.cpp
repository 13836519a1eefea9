// Unit tests for the pipeline's building blocks: codecs, charset conversion, JSON escaping, header
// re-encoding and folding, and the pre-scan estimates.
#include <doctest/doctest.h>

#include "common/hex.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/prescan.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {

TEST_CASE("base64 decoding is lenient about junk and bounded") {
  CHECK(*base64_decode("TVqQ\r\nAAMA", 100) == std::string("MZ\x90\x00\x03\x00", 6));
  CHECK(*base64_decode("YWJj!!ZA==", 100) == "abcd");
  CHECK_FALSE(base64_decode("YWJjZGVm", 5).has_value());
  CHECK(base64_encode("ab") == "YWI=");
  CHECK(base64_encode("abc") == "YWJj");
}

TEST_CASE("quoted-printable decoding and encoding") {
  CHECK(*qp_decode("a=3Db=\r\nc=\nd=ZZ", 100) == "a=bcd=ZZ");
  CHECK_FALSE(qp_decode("abcdef", 3).has_value());
  const std::string text = std::string(200, 'x') + " \n\xE6\x97\xA5 end\t\n=";
  const std::string enc = qp_encode(text);
  std::size_t start = 0;
  while (start < enc.size()) {
    std::size_t end = enc.find("\r\n", start);
    if (end == std::string::npos) end = enc.size();
    CHECK(end - start <= 76);
    start = end + 2;
  }
  CHECK(enc.find(" \r\n") == std::string::npos);   // trailing space is encoded
  CHECK(enc.find("\t\r\n") == std::string::npos);
  std::string back = *qp_decode(enc, enc.size());
  std::erase(back, '\r');
  CHECK(back == text);
}

TEST_CASE("sha256_hex") {
  CHECK(hex::sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("charset conversion never fails and counts replacements") {
  CHECK(to_utf8("caf\xE9", "ISO-8859-1").text == "caf\xC3\xA9");
  const Utf8Text bad = to_utf8("a\x80z", "utf-8");
  CHECK(bad.text == "a\xEF\xBF\xBDz");
  CHECK(bad.replacements == 1);
  const Utf8Text unknown = to_utf8("abc", "x-no-such-charset");
  CHECK(unknown.text == "abc");
  CHECK_FALSE(unknown.charset_known);
  CHECK_FALSE(to_utf8("abc", "UTF-8//TRANSLIT").charset_known);
  const Utf8Text truncated = to_utf8("\x82", "Shift_JIS");  // lead byte without its trail byte
  CHECK(truncated.text == "\xEF\xBF\xBD");
}

TEST_CASE("escape_for_display shows controls, direction marks and every hidden character") {
  CHECK(escape_for_display("a\x01" "b\xE2\x80\x8F" "c\xC2\x85\xFF") == "a\\u0001b\\u200Fc\\u0085\\xFF");
  CHECK(escape_for_display("請求書.pdf") == "請求書.pdf");
  // Line and paragraph separators, zero-width and format characters (Zl, Zp, Cf), tag characters.
  CHECK(escape_for_display("a\xE2\x80\xA8" "b\xE2\x80\xA9" "c") == "a\\u2028b\\u2029c");
  CHECK(escape_for_display("\xE2\x80\x8B\xE2\x80\x8D\xEF\xBB\xBF\xC2\xAD\xD8\x9C") ==
        "\\u200B\\u200D\\uFEFF\\u00AD\\u061C");
  CHECK(escape_for_display("x\xF3\xA0\x80\x81y") == "x\\U000E0001y");  // LANGUAGE TAG
  // Variation selectors stay: they choose a kanji's glyph in a name (葛󠄀, IVS).
  CHECK(escape_for_display("\xE8\x91\x9B\xF3\xA0\x84\x80") == "\xE8\x91\x9B\xF3\xA0\x84\x80");
  const std::string once = escape_for_display("\xE2\x80\xAE\x01\xFF");
  CHECK(escape_for_display(once) == once);
}

TEST_CASE("raw UTF-8 address fields (RFC 6532): only display names are encoded, addresses stay readable") {
  const auto rebuilt = [](std::string_view field) {
    return rebuild_headers(parse_header_block(std::string(field) + "\r\n\r\nbody\r\n"));
  };
  CHECK(rebuilt("From: 山田太郎 <a@example.org>").block == "From: =?UTF-8?B?5bGx55Sw5aSq6YOO?= <a@example.org>\r\n");
  CHECK(rebuilt("To: \"山田 太郎\" <a@example.org>, 鈴木<b@example.org>, c@example.org").block ==
        "To: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <a@example.org>, =?UTF-8?B?6Yi05pyo?=\r\n"
        " <b@example.org>, c@example.org\r\n");
  CHECK(rebuilt("Cc: a@example.org (山田)").block == "Cc: a@example.org (=?UTF-8?B?5bGx55Sw?=)\r\n");
  CHECK(rebuilt("Reply-To: =?UTF-8?B?5bGx55Sw?= <a@example.org>").block ==
        "Reply-To: =?UTF-8?B?5bGx55Sw?= <a@example.org>\r\n");  // already encoded: as it came
  const auto eai = rebuilt("From: 山田 <山田@例え.jp>");
  CHECK(eai.block.empty());
  REQUIRE(eai.notes.size() == 1);
  CHECK(eai.notes[0].find("non-ASCII address") != std::string::npos);
  CHECK(rebuilt("Subject: 請求書のご送付").subject == "請求書のご送付");
}

TEST_CASE("header folding and RFC 2047 encoding") {
  const std::string long_value = std::string(60, 'a') + " " + std::string(60, 'b') + " c";
  CHECK(fold_header("Subject", long_value) ==
        "Subject: " + std::string(60, 'a') + "\r\n " + std::string(60, 'b') + " c\r\n");
  CHECK(fold_header("References", std::string(995, 'x')).empty());
  const std::string encoded = rfc2047_encode(std::string(40, 'a') + "日本語のテキストです");
  for (std::size_t start = 0; start < encoded.size();) {
    std::size_t end = encoded.find(' ', start);
    if (end == std::string::npos) end = encoded.size();
    CHECK(end - start <= 75);
    start = end + 1;
  }
  CHECK(encoded.find(' ') != std::string::npos);  // needed two words
  CHECK(rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST_CASE("duplicate and non-allowlisted fields do not survive") {
  const auto fields = parse_header_block("Subject: one\r\nSubject: two\r\nX-A: b\r\nbroken line\r\nTo: x\r\n\r\nSubject: body\r\n");
  const RebuiltHeaders h = rebuild_headers(fields);
  CHECK(h.block == "To: x\r\nSubject: one\r\n");
  CHECK(h.notes == std::vector<std::string>{"duplicate Subject header dropped"});
}

TEST_CASE("prescan estimates parts and depth from declared boundaries") {
  const Limits limits;
  const std::string msg = "Content-Type: multipart/mixed; boundary=\"a b\"\r\n\r\n--a b\r\n"
                          "Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c\r\n\r\ny\r\n--c--\r\n"
                          "--a b\r\n\r\nz\r\n--a b--\r\n";
  const PrescanResult r = prescan(msg, limits);
  CHECK_FALSE(r.breach.has_value());
  CHECK(r.estimated_parts == 5);
  CHECK(r.estimated_depth == 2);
  CHECK(r.content_type_fields == 2);

  SUBCASE("a header block after a delimiter is measured") {
    const std::string big = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: " + std::string(limits.max_header_section, 'x') +
                            "\r\n\r\nbody\r\n--b--\r\n";
    const PrescanResult p = prescan(big, limits);
    REQUIRE(p.breach.has_value());
    CHECK(p.breach->limit == "max_header_section");
  }
  SUBCASE("a long body paragraph is fine") {
    const std::string body = "Content-Type: text/plain\r\n\r\n" + std::string(4 * limits.max_header_section, 'x') + "\r\n";
    CHECK_FALSE(prescan(body, limits).breach.has_value());
  }
  SUBCASE("a missing boundary parameter makes every -- a delimiter") {
    std::string m = "Content-Type: multipart/mixed\r\n\r\n";
    for (int i = 0; i < 300; ++i) m += "--\r\n\r\nx\r\n";
    const PrescanResult p = prescan(m, limits);
    REQUIRE(p.breach.has_value());
    CHECK(p.breach->limit == "max_parts");
  }
}

TEST_CASE("registry") {
  REQUIRE(find_sanitizer("text_plain") != nullptr);
  CHECK(find_sanitizer("text_plain")->name() == "text_plain");
  CHECK(find_sanitizer("strip")->name() == "strip");
  CHECK(find_sanitizer("nope") == nullptr);
  CHECK(match_rule(default_rules(), "text/plain")->sanitizers == std::vector<std::string>{"text_plain"});
  CHECK(find_sanitizer("image_render")->name() == "image_render");
  CHECK(match_rule(default_rules(), "image/png")->action == Action::Render);
  CHECK(match_rule(default_rules(), "image/png")->sanitizers == std::vector<std::string>{"image_render"});
  CHECK(match_rule(default_rules(), "image/svg+xml")->action == Action::Strip);
  for (const auto type : kArchiveTypes) CHECK(match_rule(default_rules(), type)->action == Action::Unpack);
  CHECK(match_rule(default_rules(), "application/x-dosexec")->action == Action::Strip);
  const Decision d = find_sanitizer("strip")->sanitize("x", PartInfo{"1", "image/png", "", ""});
  CHECK(d.action == Decision::Action::Remove);
  CHECK(d.reason == "attachment removed by policy");
  const Decision svg = find_sanitizer("strip")->sanitize("<svg/>", PartInfo{"1", "image/svg+xml", "", ""});
  CHECK(svg.reason == "SVG removed by policy (a script-capable XML document, not pixels)");
}

}  // namespace mugai::sanitize
