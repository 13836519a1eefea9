// Unit tests for the MIME builder: the single text/plain form as before, the multipart/mixed form with
// attachments (checked by the fuzz oracle, which shares no code with the builder), names made safe,
// and a boundary that never occurs in a part.
#include <doctest/doctest.h>

#include "common/hex.hpp"
#include "fuzz/oracle.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/mime_builder.hpp"

namespace mugai::sanitize {
namespace {

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// What the oracle needs around a body: a minimal header before it.
std::size_t oracle_attachments(const MimeBody& b) {
  return fuzz::check_sanitized_message("From: a@x.example\r\n" + b.header + "\r\n" + b.body);
}

// Folded header lines joined again (RFC 5322 unfolding).
std::string unfolded(std::string s) {
  for (std::size_t at = s.find("\r\n "); at != std::string::npos; at = s.find("\r\n ", at)) s.erase(at, 2);
  return s;
}

std::string between(std::string_view s, std::string_view open, std::string_view close) {
  const auto a = s.find(open);
  REQUIRE(a != std::string_view::npos);
  const auto b = s.find(close, a + open.size());
  REQUIRE(b != std::string_view::npos);
  return std::string(s.substr(a + open.size(), b - a - open.size()));
}

std::string png_chunk(std::string_view type, std::string_view data) {
  std::string c;
  for (int shift = 24; shift >= 0; shift -= 8) c.push_back(static_cast<char>((data.size() >> shift) & 0xFF));
  c += type;
  c += data;
  const std::uint32_t crc = fuzz::crc32_of(std::string(type) + std::string(data));
  for (int shift = 24; shift >= 0; shift -= 8) c.push_back(static_cast<char>((crc >> shift) & 0xFF));
  return c;
}

// Chunks the oracle accepts (it walks them, it does not inflate them), 200 NULs long enough for several
// base64 lines.
const std::string kBytes = std::string("\x89PNG\r\n\x1a\n", 8) +
                           png_chunk("IHDR", std::string("\0\0\0\x01\0\0\0\x01\x08\0\0\0\0", 13)) +
                           png_chunk("IDAT", std::string(200, '\0') + "tail") + png_chunk("IEND", "");

}  // namespace

TEST_CASE("without attachments the body is the single text/plain part it always was") {
  const MimeBody b = build_mime_body("Hello\nBob\n", "UTF-8", {});
  CHECK(b.header == "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n");
  CHECK(b.body == "Hello\r\nBob\r\n");
  CHECK(oracle_attachments(b) == 0);
  CHECK(contains(build_mime_body("日本語\n", "UTF-8", {}).header, "Content-Transfer-Encoding: quoted-printable\r\n"));
  CHECK(contains(build_mime_body(std::string(1200, 'a') + "\n", "UTF-8", {}).header, "quoted-printable"));
  const MimeBody jis = build_mime_body(std::string(1200, 'a') + "\n", "ISO-2022-JP", {});
  CHECK(contains(jis.header, "charset=ISO-2022-JP\r\nContent-Transfer-Encoding: base64\r\n"));
  CHECK(build_mime_body("日本語\n", "ISO-2022-JP", {}).body == "\x1b$BF|K\\8l\x1b(B\r\n");
}

TEST_CASE("base64 lines hold 76 characters and end in CRLF") {
  const std::string lines = base64_lines(std::string(100, 'x'));
  CHECK(lines == base64_encode(std::string(57, 'x')) + "\r\n" + base64_encode(std::string(43, 'x')) + "\r\n");
  CHECK(lines.find("\r\n") == 76);
  CHECK(base64_lines("").empty());
}

TEST_CASE("safe_filename: no path, no control, no bidi override, the type's extension, bounded, idempotent") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"請求書.pdf", "請求書.pdf"},
      {"REPORT.PDF", "REPORT.PDF"},
      {"../../etc/passwd", "_.._etc_passwd.pdf"},
      {"C:\\Users\\x\\a.pdf", "C__Users_x_a.pdf"},
      {"a\r\nContent-Type: text/html.pdf", "a_u000D_u000AContent-Type_ text_html.pdf"},
      {"invoice\xE2\x80\xAE" "fdp.exe", "invoice_u202Efdp.exe.pdf"},
      {"\"quoted\" <x>|?*.pdf", "_quoted_ _x____.pdf"},
      {"bad\xFF.pdf", "bad_xFF.pdf"},
      {"..", "attachment.pdf"},
      {" .pdf", "attachment.pdf"},
      {"", "attachment.pdf"},
      {"name. . .pdf", "name.pdf"},
      {"CON.pdf", "_CON.pdf"},
      {"nul.txt.pdf", "_nul.txt.pdf"},
      {"com1.pdf", "_com1.pdf"},
      {"LPT9", "_LPT9.pdf"},
      {"COM10.pdf", "COM10.pdf"},
      {"console.pdf", "console.pdf"},
  };
  for (const auto& c : cases) {
    const auto& [in, want] = c;
    CAPTURE(c.first);  // clang 14 cannot capture a structured binding
    const std::string got = safe_filename(in, ".pdf");
    CHECK(got == want);
    CHECK(safe_filename(got, ".pdf") == got);
  }
  std::string long_name;
  for (int i = 0; i < 300; ++i) long_name += "あ";
  const std::string cut = safe_filename(long_name + ".png", ".png");
  CHECK(cut.size() <= kMaxFilename);
  CHECK(cut.ends_with("あ.png"));
  CHECK(fuzz::valid_utf8(cut));
  CHECK(safe_filename(cut, ".png") == cut);
}

TEST_CASE("attachments make a multipart/mixed: text first, base64 bytes, names in both encodings") {
  const std::string pdf = "%PDF-1.4\n%%EOF\n";
  const MimeBody b = build_mime_body("本文\n", "UTF-8",
                                     {Attachment{kBytes, "image/png", "photo.png"}, Attachment{pdf, "application/pdf", "請求書.pdf"}});
  REQUIRE(oracle_attachments(b) == 2);
  CHECK(unfolded(b.header).starts_with("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_mugai_"));
  CHECK_FALSE(contains(b.header, "Content-Transfer-Encoding"));
  const std::string boundary = between(unfolded(b.header), "boundary=\"", "\"");
  CHECK(b.body.starts_with("--" + boundary + "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n\r\n"));
  CHECK(b.body.ends_with("\r\n--" + boundary + "--\r\n"));
  // An ASCII name once, quoted; a Japanese one as RFC 2231 after an RFC 2047 fallback.
  CHECK(contains(b.body, "Content-Type: image/png; name=\"photo.png\"\r\n"
                         "Content-Disposition: attachment; filename=\"photo.png\"\r\n"
                         "Content-Transfer-Encoding: base64\r\n\r\n"));
  CHECK(contains(b.body, "Content-Type: application/pdf; name=\"=?UTF-8?B?6KuL5rGC5pu4LnBkZg==?=\"\r\n"));
  CHECK(contains(b.body, "Content-Disposition: attachment; filename=\"=?UTF-8?B?6KuL5rGC5pu4LnBkZg==?=\";\r\n"
                         " filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf\r\n"));
  const std::string png_b64 = between(b.body, "filename=\"photo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                                      "\r\n--" + boundary);
  std::string flat;
  for (const char c : png_b64) {
    if (c != '\r' && c != '\n') flat.push_back(c);
  }
  CHECK(fuzz::base64_decode_strict(flat) == kBytes);
}

TEST_CASE("names are made safe by the builder whoever passes them; long ones stay within a line") {
  std::string long_name;
  for (int i = 0; i < 200; ++i) long_name += "請";
  const MimeBody b = build_mime_body("x\n", "UTF-8",
                                     {Attachment{kBytes, "image/png", "../x\r\nBcc: evil@example\xE2\x80\xAE"},
                                      Attachment{kBytes, "image/png", long_name}});
  REQUIRE(oracle_attachments(b) == 2);  // lines, names, parameters, base64
  CHECK_FALSE(contains(b.body, "\r\nBcc:"));
  CHECK_FALSE(contains(b.body, "\xE2\x80\xAE"));
  CHECK(contains(unfolded(b.body), "filename=\"_x_u000D_u000ABcc_ evil@example_u202E.png\""));
}

TEST_CASE("the boundary occurs in no part, even when a part names the first choice") {
  // The builder's first choice derives from the text part; an attachment named after it forces another.
  const std::string text_part = "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nhello\r\n";
  const std::string first_choice = "=_mugai_" + hex::sha256(text_part).substr(0, 32);
  const MimeBody b = build_mime_body("hello\n", "UTF-8", {Attachment{kBytes, "image/png", first_choice + ".png"}});
  REQUIRE(oracle_attachments(b) == 1);  // which fails if the boundary occurs inside a part
  const std::string boundary = between(unfolded(b.header), "boundary=\"", "\"");
  CHECK(boundary == first_choice + "_1");
  CHECK(contains(b.body, "name=\"" + first_choice + ".png\""));
}

}  // namespace mugai::sanitize
