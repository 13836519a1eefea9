// The Replace path end to end: a stand-in sanitizer (added to the policy here, never shipped) offers
// artefacts, and the pipeline attaches them only when every check passes (allowed type, content
// libmagic reads as that type, size bounds, a safe name); otherwise the part is removed, saying which
// check failed. Real PNG and PDF bytes written here, parsed back by an independent splitter and the
// fuzz oracle.
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>

#include "common/hex.hpp"
#include "common/json.hpp"
#include "fuzz/oracle.hpp"
#include "sanitizers/detect.hpp"
#include "sanitizers/pipeline.hpp"
#include "tests/sanitizers/helpers.hpp"

namespace mugai::sanitize::test {
namespace {

using Verdict = Outcome::Verdict;

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

std::uint32_t crc32(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const char c : bytes) {
    crc ^= static_cast<unsigned char>(c);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string png_chunk(std::string_view type, std::string_view data) {
  const std::string typed = std::string(type) + std::string(data);
  return be32(static_cast<std::uint32_t>(data.size())) + typed + be32(crc32(typed));
}

// A valid 1x1 8-bit greyscale PNG: IHDR, one IDAT (a zlib stream with one stored block holding the
// filter byte and the pixel, then its Adler-32), IEND.
const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) +
                         png_chunk("IHDR", std::string("\0\0\0\x01\0\0\0\x01\x08\0\0\0\0", 13)) +
                         png_chunk("IDAT", std::string("\x78\x01\x01\x02\x00\xFD\xFF\x00\x00\x00\x02\x00\x01", 13)) +
                         png_chunk("IEND", "");

const std::string kPdf =
    "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    "trailer<</Root 1 0 R>>\n%%EOF\n";

// Offers the same decision for every part it sees.
class Offers final : public Sanitizer {
 public:
  explicit Offers(Decision d) : decision_(std::move(d)) {}
  std::string_view name() const override { return "test_offers"; }
  Decision sanitize(std::string_view, const PartInfo&) const override { return decision_; }

 private:
  Decision decision_;
};

// Text stays text; every other part goes to the stand-in as a rendering would.
Policy rendering(const Sanitizer& s) {
  Policy p;
  p.rules = {Rule{"text/plain", Action::Convert, {"text_plain"}}, Rule{"*", Action::Render, {"test_offers"}}};
  p.added_sanitizers = {&s};
  return p;
}

const std::string kMessage =
    "From: a@sender.example\r\nSubject: invoice\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee attached.\r\n"
    "--b\r\nContent-Type: application/octet-stream; name=\"original.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "AQID\r\n--b--\r\n";

Outcome offered(const Decision& d, const std::function<void(Policy&)>& adjust = {}) {
  const Offers s(d);
  Policy p = rendering(s);
  if (adjust) adjust(p);
  return sanitize_message(kMessage, test_context(), p);
}

struct Part {
  std::string header;  // unfolded
  std::string body;
};

// An independent reading of a multipart/mixed message: the boundary from the top Content-Type, the
// parts between the delimiters.
std::vector<Part> split_mixed(const std::string& message) {
  const std::size_t sep = message.find("\r\n\r\n");
  REQUIRE(sep != std::string::npos);
  std::string header = message.substr(0, sep + 2);
  for (std::size_t at = header.find("\r\n "); at != std::string::npos; at = header.find("\r\n ", at)) header.erase(at, 2);
  const std::string key = "Content-Type: multipart/mixed; boundary=\"";
  const std::size_t b = header.find(key);
  REQUIRE(b != std::string::npos);
  const std::string boundary = header.substr(b + key.size(), header.find('"', b + key.size()) - b - key.size());
  const std::string body = message.substr(sep + 4);
  const std::string delimiter = "--" + boundary;
  REQUIRE(body.starts_with(delimiter + "\r\n"));
  REQUIRE(body.ends_with("\r\n" + delimiter + "--\r\n"));
  std::vector<Part> parts;
  for (std::size_t at = delimiter.size() + 2;;) {
    const std::size_t end = body.find("\r\n" + delimiter, at);
    const std::string part = body.substr(at, end - at);
    const std::size_t split = part.find("\r\n\r\n");
    REQUIRE(split != std::string::npos);
    Part p{part.substr(0, split + 2), part.substr(split + 4)};
    for (std::size_t f = p.header.find("\r\n "); f != std::string::npos; f = p.header.find("\r\n ", f)) p.header.erase(f, 2);
    parts.push_back(std::move(p));
    at = end + 2 + delimiter.size();
    if (body.compare(at, 2, "--") == 0) return parts;
    at += 2;
  }
}

std::string base64_body(const Part& p) {
  std::string flat;
  for (const char c : p.body) {
    if (c != '\r' && c != '\n') flat.push_back(c);
  }
  const auto bytes = fuzz::base64_decode_strict(flat);
  REQUIRE(bytes.has_value());
  return *bytes;
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(hex::value(s[i + 1]) * 16 + hex::value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The one part the outcome holds, removed (not replaced) for `why`; the message stays one text part.
void expect_removed(const Outcome& out, std::string_view why) {
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK(fuzz::check_sanitized_message(out.message) == 0);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(contains(r.body, "See attached.\n"));
  REQUIRE(held(out).size() == 1);
  CHECK(contains(held(out)[0].reason, why));
  CHECK(contains(r.body, why));
  CHECK(out.quarantine->reason == "parts removed");
  const auto report = json::parse(out.report_json);
  CHECK(report["parts"][2]["decision"] == "removed");
  CHECK(report["counts"]["attachments"] == 0);
}

}  // namespace

TEST_CASE("the test PNG and PDF are what libmagic says they are") {
  CHECK(detect_type(kPng) == "image/png");
  CHECK(detect_type(kPdf) == "application/pdf");
  CHECK(kPng.size() == 70);
}

TEST_CASE("artefacts that pass every check are attached after the text; the original is held") {
  const Outcome out = offered(Decision::replace({Artefact{kPdf, "application/pdf", "請求書.pdf"},
                                                 Artefact{kPng, "image/png", "page 1.png"}},
                                                "本文から抽出したテキスト"));
  REQUIRE(out.verdict == Verdict::Sanitized);
  REQUIRE(fuzz::check_sanitized_message(out.message) == 2);
  const std::vector<Part> parts = split_mixed(out.message);
  REQUIRE(parts.size() == 3);

  CHECK(contains(parts[0].header, "Content-Type: text/plain; charset=UTF-8\r\n"));
  std::string text = fuzz::qp_decode_strict(parts[0].body);
  std::erase(text, '\r');
  CHECK(text.starts_with("【mugai 無害化通知】"));
  CHECK(contains(text, "See attached.\n"));
  CHECK(contains(text, "本文から抽出したテキスト"));
  CHECK(contains(text, "  - original.bin | 申告/declared: application/octet-stream | 検出/detected: application/octet-stream | "
                       "3 bytes | sha256:" + hex::sha256("\x01\x02\x03") +
                       " | replaced by the attached safe copies 請求書.pdf (application/pdf, " + std::to_string(kPdf.size()) +
                       " bytes), page 1.png (image/png, 70 bytes) | 隔離ID/quarantine id: QTEST1"));

  CHECK(contains(parts[1].header, "Content-Type: application/pdf; name=\"=?UTF-8?B?"));
  const std::string key = "filename*=UTF-8''";
  const std::size_t at = parts[1].header.find(key);
  REQUIRE(at != std::string::npos);
  CHECK(percent_decoded(parts[1].header.substr(at + key.size(), parts[1].header.find("\r\n", at) - at - key.size())) ==
        "請求書.pdf");
  CHECK(contains(parts[1].header, "Content-Transfer-Encoding: base64\r\n"));
  CHECK(base64_body(parts[1]) == kPdf);
  CHECK(contains(parts[2].header, "Content-Type: image/png; name=\"page 1.png\"\r\n"));
  CHECK(contains(parts[2].header, "Content-Disposition: attachment; filename=\"page 1.png\"\r\n"));
  CHECK(base64_body(parts[2]) == kPng);

  // The original is not delivered, it is held; the record and the report say what replaced it.
  CHECK_FALSE(contains(out.message, "AQID"));
  REQUIRE(out.quarantine.has_value());
  CHECK(out.quarantine->reason == "parts replaced");
  REQUIRE(held(out).size() == 1);
  CHECK(held(out)[0].filename == "original.bin");
  CHECK(held(out)[0].reason.starts_with("replaced by the attached safe copies 請求書.pdf"));
  CHECK(contains(out.message, "\r\nX-Mugai-Quarantine-Id: QTEST1\r\n"));
  CHECK(out.reason == "sanitized: 2 part(s) kept, 1 replaced, 0 removed");
  const auto report = json::parse(out.report_json);
  const auto& part = report["parts"][2];
  CHECK(part["decision"] == "replaced");
  CHECK(part["sanitizer"] == "test_offers");
  REQUIRE(part["artefacts"].size() == 2);
  CHECK(part["artefacts"][1]["content_type"] == "image/png");
  CHECK(part["artefacts"][1]["filename"] == "page 1.png");
  CHECK(part["artefacts"][1]["size"] == 70);
  CHECK(part["artefacts"][1]["sha256"] == hex::sha256(kPng));
  CHECK(report["counts"]["replaced"] == 1);
  CHECK(report["counts"]["attachments"] == 2);
}

TEST_CASE("an artefact that fails a check removes its part, saying which check") {
  SUBCASE("a type outside the allowlist") {
    expect_removed(offered(Decision::replace({Artefact{"<p>hi</p>", "text/html", "a.html"}})),
                   "artefact 1 (text/html) refused: type not allowed (allowed: application/pdf, image/png, image/jpeg)");
    expect_removed(offered(Decision::replace({Artefact{kPng, "image/png", "a.png"},
                                              Artefact{"MZ\x90", "application/x-msdownload", "a.exe"}})),
                   "artefact 2 (application/x-msdownload) refused: type not allowed");
  }
  SUBCASE("content that is not the declared type") {
    expect_removed(offered(Decision::replace({Artefact{kPdf, "image/png", "a.png"}})),
                   "artefact 1 (image/png) refused: its content is detected as application/pdf");
    expect_removed(offered(Decision::replace({Artefact{"", "image/png", "a.png"}})),
                   "its content is detected as application/x-empty");
  }
  SUBCASE("larger than sanitize.max_artefact_size") {
    expect_removed(offered(Decision::replace({Artefact{kPng, "image/png", "a.png"}}),
                           [](Policy& p) { p.limits.max_artefact_size = kPng.size() - 1; }),
                   "70 bytes exceed sanitize.max_artefact_size (69)");
    const Outcome at_limit = offered(Decision::replace({Artefact{kPng, "image/png", "a.png"}}),
                                     [](Policy& p) { p.limits.max_artefact_size = kPng.size(); });
    CHECK(fuzz::check_sanitized_message(at_limit.message) == 1);
  }
  SUBCASE("all artefacts of the message beyond sanitize.max_decoded_total") {
    expect_removed(offered(Decision::replace({Artefact{kPng, "image/png", "a.png"}, Artefact{kPng, "image/png", "b.png"}}),
                           [](Policy& p) { p.limits.max_decoded_total = 2 * kPng.size() - 1; }),
                   "artefact 2 (image/png) refused: the message's artefacts exceed sanitize.max_decoded_total");
  }
  SUBCASE("nothing offered, or text that is not clean") {
    expect_removed(offered(Decision::replace({})), "the sanitizer replaced the part with nothing");
    expect_removed(offered(Decision::replace({Artefact{kPng, "image/png", "a.png"}}, "bell\x07")),
                   "the sanitized text holds control characters");
    expect_removed(offered(Decision::replace({Artefact{kPng, "image/png", "a.png"}}, "bad \xFF")),
                   "the sanitized text is not valid UTF-8");
  }
}

TEST_CASE("an artefact's name is shown and sent safely: no path, no line break, no bidi override") {
  const Outcome out = offered(Decision::replace({Artefact{kPng, "image/png", "../../etc/\r\npasswd\xE2\x80\xAEgnp.exe"}}));
  REQUIRE(fuzz::check_sanitized_message(out.message) == 1);
  const std::string safe = "_.._etc__u000D_u000Apasswd_u202Egnp.exe.png";
  const std::vector<Part> parts = split_mixed(out.message);
  REQUIRE(parts.size() == 2);
  CHECK(contains(parts[1].header, "filename=\"" + safe + "\""));
  CHECK_FALSE(contains(out.message, "\xE2\x80\xAE"));
  CHECK_FALSE(contains(out.message, "../"));
  CHECK(json::parse(out.report_json)["parts"][2]["artefacts"][0]["filename"] == safe);
  CHECK(contains(held(out)[0].reason, "replaced by the attached safe copy " + safe + " (image/png, 70 bytes)"));
}

}  // namespace mugai::sanitize::test
