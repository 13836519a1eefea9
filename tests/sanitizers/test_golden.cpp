// Golden tests of the policy-driven pipeline on hand-written tricky messages, one per rule of issue 3:
// each asserts what remains (the readable text, the notice lines) and what is gone (HTML, executable
// bytes, encoded blocks, injected headers), plus the report and the whole-message verdicts.
#include <doctest/doctest.h>

#include "common/hex.hpp"
#include "sanitizers/detect.hpp"
#include "sanitizers/encoded_blocks.hpp"
#include "sanitizers/pipeline.hpp"
#include "tests/sanitizers/helpers.hpp"

namespace mugai::sanitize::test {
namespace {

using Verdict = Outcome::Verdict;

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

Outcome run(const std::string& msg, const Policy& policy = {}) {
  return sanitize_message(msg, test_context(), policy);
}

const std::string kExe = std::string("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00", 16) +
                         "This program cannot be run in DOS mode.\r\r\n$";

const std::string kPng = std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0", 29);

std::string with_attachment(const std::string& type, const std::string& filename, const std::string& bytes) {
  return "From: a@sender.example\r\nSubject: files\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
         "--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee attached.\r\n"
         "--b\r\nContent-Type: " + type + "; name=\"" + filename + "\"\r\n"
         "Content-Disposition: attachment; filename=\"" + filename + "\"\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" + base64_encode(bytes) + "\r\n--b--\r\n";
}

std::string alternative(const std::string& plain, const std::string& html) {
  return "From: a@sender.example\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n"
         "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "\r\n"
         "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--alt--\r\n";
}

}  // namespace

TEST_CASE("an executable declared as an image is detected from its content and removed") {
  const std::string msg = with_attachment("image/png", "photo.png", kExe);
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(out.message, "MZ"));
  CHECK_FALSE(contains(out.message, "TVqQ"));
  CHECK_FALSE(contains(out.message, "DOS mode"));
  CHECK(contains(r.body, "See attached.\n"));
  CHECK(contains(r.body, "  - photo.png | 申告/declared: image/png | 検出/detected: application/x-dosexec | "));
  CHECK(contains(r.body, "警告/warning: executable_disguised, type_mismatch\n"));
  REQUIRE(held(out).size() == 1);
  CHECK(held(out)[0].detected_type == "application/x-dosexec");
  CHECK(contains(out.report_json, "\"flags\":[\"executable_disguised\",\"type_mismatch\"]"));
}

TEST_CASE("an executable declared as text is not shown as text") {
  const Outcome out = run(with_attachment("text/plain", "readme.txt", kExe));
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(r.body, "DOS mode"));
  CHECK(contains(r.body, "readme.txt | 申告/declared: text/plain | 検出/detected: application/x-dosexec"));
  CHECK(contains(r.body, "executable_disguised"));
}

TEST_CASE("double extensions are flagged in the notice and the report") {
  const Outcome out = run(with_attachment("application/pdf", "invoice.pdf.exe", "%PDF-1.4\n%\xe2\xe3\n"));
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(contains(r.body, "  - invoice.pdf.exe | 申告/declared: application/pdf | 検出/detected: application/pdf | "));
  CHECK(contains(r.body, "警告/warning: double_extension\n"));
  CHECK(risk_flags("application/pdf", "application/pdf", "invoice.pdf     .exe") ==
        std::vector<std::string>{"double_extension"});
  CHECK(risk_flags("application/pdf", "application/pdf", "report.2023.pdf").empty());
  CHECK(risk_flags("application/octet-stream", "application/pdf", "a.pdf").empty());  // octet-stream: no claim
}

TEST_CASE("HTML bodies become text: no markup, no script, links defanged by default") {
  const std::string msg =
      "From: a@sender.example\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
      "<html><head><style>p{}</style></head><body><script>alert('x')</script>"
      "<p>Dear staff,</p><p>see <a href=\"https://evil.example/login\">the portal</a>"
      "<a href=\"javascript:alert(1)\">click</a></p></body></html>\r\n";
  Policy policy;
  SUBCASE("defang") {
    const Rebuilt r = check_rebuilt(run(msg, policy).message);
    CHECK(contains(r.body, "Dear staff,"));
    CHECK(contains(r.body, "hxxps://evil[.]example/login"));
    CHECK_FALSE(contains(r.body, "https://evil.example"));
  }
  SUBCASE("remove") {
    policy.links = LinkPolicy::Remove;
    const Rebuilt r = check_rebuilt(run(msg, policy).message);
    CHECK(contains(r.body, "the portal"));
    CHECK_FALSE(contains(r.body, "evil"));
  }
  const Outcome out = run(msg, policy);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(r.body, "<p"));
  CHECK_FALSE(contains(r.body, "<a "));
  CHECK_FALSE(contains(r.body, "<script"));
  CHECK_FALSE(contains(r.body, "alert("));
  CHECK_FALSE(contains(r.body, "javascript:"));
  CHECK_FALSE(contains(r.body, "p{}"));
  CHECK_FALSE(out.quarantine.has_value());
}

TEST_CASE("multipart/alternative: a stub text/plain loses to the converted HTML") {
  const std::string html = "<p>" + std::string(30, 'x') + " Quarterly report: revenue up, costs down.</p>";
  SUBCASE("known stub phrase") {
    const Outcome out = run(alternative("This is an HTML message. Please use an HTML capable mail program.", html));
    const Rebuilt r = check_rebuilt(out.message);
    CHECK(contains(r.body, "Quarterly report: revenue up, costs down."));
    CHECK(contains(r.body, "the text/plain alternative was only a stub"));
  }
  SUBCASE("empty text/plain") {
    const Rebuilt r = check_rebuilt(run(alternative("", html)).message);
    CHECK(contains(r.body, "Quarterly report"));
  }
  SUBCASE("text/plain far shorter than the HTML's text") {
    const std::string long_html = "<p>" + std::string(2000, 'y') + "</p>";
    const Rebuilt r = check_rebuilt(run(alternative("hi", long_html)).message);
    CHECK(contains(r.body, std::string(2000, 'y')));
  }
  SUBCASE("a real rendering wins") {
    const Rebuilt r = check_rebuilt(run(alternative("Quarterly report: revenue up, costs down.", html)).message);
    CHECK(contains(r.body, "Quarterly report: revenue up, costs down.\n"));
    CHECK_FALSE(contains(r.body, std::string(30, 'x')));
    CHECK(contains(r.body, "alternative removed (text/plain alternative kept)"));
  }
}

TEST_CASE("uuencode, BinHex and yEnc blocks in text are removed like attachments") {
  const std::string body =
      "Hello,\r\nthe tool is below.\r\n\r\n"
      "begin 644 tool.exe\r\nM35J0``,````$````__\\``+@`````````0```````````````````````````\r\n`\r\nend\r\n"
      "middle text\r\n"
      "(This file must be converted with BinHex 4.0)\r\n:$f*TEQKPH#jdCA0d,R0TG!\"6594%8dP8)3#3\"!!!!!!!!\r\n"
      "!!!!!!!!!:\r\n"
      "=ybegin line=128 size=3 name=x.zip\r\nabc\r\n=yend size=3\r\n"
      "Bye.\r\n";
  const std::string msg = "From: a@sender.example\r\nContent-Type: text/plain\r\n\r\n" + body;
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(r.body, "begin 644"));
  CHECK_FALSE(contains(r.body, "M35J0"));
  CHECK_FALSE(contains(r.body, ":$f*TEQ"));
  CHECK_FALSE(contains(r.body, "=ybegin"));
  CHECK(contains(r.body, "the tool is below.\n"));
  CHECK(contains(r.body, "middle text\n"));
  CHECK(contains(r.body, "Bye.\n"));
  CHECK(contains(r.body, "  - tool.exe | 申告/declared: text/plain | 検出/detected: text/x-uuencode |"));
  CHECK(contains(r.body, "uuencode block embedded in text removed"));
  CHECK(contains(r.body, "  - (no name) | 申告/declared: text/plain | 検出/detected: text/x-binhex |"));
  CHECK(contains(r.body, "  - x.zip | 申告/declared: text/plain | 検出/detected: text/x-yenc |"));
  CHECK(contains(r.body, "[mugai: uuencode block removed"));
  REQUIRE(held(out).size() == 3);
  CHECK(out.quarantine_id == "QTEST1");  // one record for the whole original
}

TEST_CASE("an unterminated uuencode block is removed to the end of the text") {
  const TextWithoutBlocks t = remove_encoded_blocks("keep\nbegin 0755 a.sh\nM86)C\nstill block\n");
  CHECK(t.text == "keep\n[mugai: uuencode block removed / uuencodeブロックを削除しました]\n");
  REQUIRE(t.blocks.size() == 1);
  CHECK(t.blocks[0].filename == "a.sh");
  CHECK(t.blocks[0].bytes == "begin 0755 a.sh\nM86)C\nstill block\n");
  CHECK(remove_encoded_blocks("we begin 644 at nine\n").blocks.empty());  // not at a line start
}

TEST_CASE("a forwarded message is sanitized recursively and inlined with its headers summarized") {
  const std::string inner =
      "From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>\r\nTo: bob@example.jp\r\nDate: Mon, 13 Nov 2023 09:00:00 +0900\r\n"
      "Subject: =?UTF-8?B?YQ0KQmNjOiB4QHk=?=\r\nX-Secret: hidden\r\n"
      "Content-Type: multipart/mixed; boundary=in\r\n\r\n"
      "--in\r\nContent-Type: text/html\r\n\r\n<p>inner <b>news</b></p><script>evil()</script>\r\n"
      "--in\r\nContent-Type: application/octet-stream; name=a.exe\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64_encode(kExe) + "\r\n--in--\r\n";
  const std::string msg = "From: a@sender.example\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n"
                          "--out\r\nContent-Type: text/plain\r\n\r\nFYI below.\r\n"
                          "--out\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--out--\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(contains(r.body, "FYI below.\n"));
  CHECK(contains(r.body, "---------- 転送されたメッセージ / Forwarded message ----------\n"));
  CHECK(contains(r.body, "From: 山田 <yamada@example.jp>\n"));
  CHECK(contains(r.body, "Date: Mon, 13 Nov 2023 09:00:00 +0900\n"));
  CHECK(contains(r.body, "inner news"));
  CHECK(contains(r.body, "End of forwarded message"));
  CHECK_FALSE(contains(r.body, "\nBcc:"));  // the encoded CRLF did not start a line
  CHECK_FALSE(contains(r.body, "X-Secret"));
  CHECK_FALSE(contains(r.body, "evil()"));
  CHECK_FALSE(contains(out.message, "DOS mode"));
  CHECK(contains(r.body, "  - a.exe | 申告/declared: application/octet-stream | 検出/detected: application/x-dosexec"));
  CHECK(r.body.find("FYI below.") < r.body.find("inner news"));
  CHECK(contains(out.report_json, "\"path\":\"1.2/1.2\""));
  CHECK(contains(out.report_json, "\"decision\":\"inlined\""));
  for (const auto& name : header_names(r.header)) CHECK(name != "Bcc");
}

TEST_CASE("an mbox envelope line is skipped; an unreadable forwarded message is removed, not the whole mail") {
  const std::string msg = "From someone@example.jp Tue May 10 11:28:07 2005\r\nFrom: a@x\r\nSubject: s\r\n"
                          "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
                          "outer text\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\r\nno header here\r\n--b--\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(contains(r.header, "Subject: s\r\n"));
  CHECK(contains(r.body, "outer text\n"));
  CHECK_FALSE(contains(r.body, "no header here"));
  CHECK_FALSE(contains(r.body, "Forwarded message"));
  CHECK(contains(r.body, "| embedded message unparseable: "));
  REQUIRE(held(out).size() == 1);
}

TEST_CASE("nested forwarded messages respect the depth limit") {
  std::string msg = "From: a@x\r\nContent-Type: text/plain\r\n\r\ninnermost\r\n";
  for (int i = 0; i < 4; ++i) msg = "From: a@x\r\nContent-Type: message/rfc822\r\n\r\n" + msg;
  Policy policy;
  policy.limits.max_depth = 3;
  const Outcome out = run(msg, policy);
  CHECK(out.verdict == Verdict::Quarantined);
  CHECK(contains(out.reason, "max_depth"));
  policy.limits.max_depth = 5;
  const Outcome ok = run(msg, policy);
  REQUIRE(ok.verdict == Verdict::Sanitized);
  CHECK(contains(check_rebuilt(ok.message).body, "innermost\n"));
}

TEST_CASE("the most cautious reading: ambiguous structure quarantines the whole message") {
  std::string msg;
  std::string why;
  SUBCASE("duplicated boundary parameters") {
    msg = "From: a@x\r\nContent-Type: multipart/mixed; boundary=\"one\"; boundary=\"two\"\r\n\r\n"
          "--one\r\nContent-Type: text/plain\r\n\r\nA\r\n--two\r\nContent-Type: application/x-msdownload\r\n\r\nB\r\n"
          "--one--\r\n--two--\r\n";
    why = "duplicated boundary parameters";
  }
  SUBCASE("duplicated boundary in a nested part, Content-Type folded") {
    msg = "From: a@x\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
          "Content-Type: multipart/alternative;\r\n boundary=x;\r\n\tBOUNDARY=y\r\n\r\n--x\r\n\r\nA\r\n--x--\r\n--o--\r\n";
    why = "duplicated boundary parameters";
  }
  SUBCASE("conflicting Content-Transfer-Encoding") {
    msg = "From: a@x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n"
          "Content-Transfer-Encoding: 7bit\r\n\r\nSGVsbG8=\r\n";
    why = "conflicting Content-Transfer-Encoding";
  }
  const Outcome out = run(msg);
  CHECK(out.verdict == Verdict::Quarantined);
  CHECK(out.message.empty());
  CHECK(contains(out.reason, why));
  REQUIRE(out.quarantine.has_value());
  CHECK(out.quarantine_id == "QTEST1");
  CHECK(contains(out.quarantine->reason, why));
}

TEST_CASE("repeating the same transfer encoding or boundary is not ambiguous") {
  const std::string msg = "From: a@x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n"
                          "Content-Transfer-Encoding: 7BIT\r\n\r\nHello\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK(after_clean_notice(check_rebuilt(out.message).body) == "Hello\n");
}

TEST_CASE("the time limit is checked between parts and quarantines the whole message") {
  Policy policy;
  policy.limits.max_time_per_message = std::chrono::milliseconds(-1);  // already crossed at the first part
  const Outcome out = run(with_attachment("image/png", "a.png", "x"), policy);
  CHECK(out.verdict == Verdict::Quarantined);
  CHECK(contains(out.reason, "limit exceeded: max_time_per_message"));
  CHECK(contains(out.report_json, "\"limit\":\"max_time_per_message\""));
}

TEST_CASE("policy rules: first match wins; quarantine, reject, render and strip actions") {
  Policy policy;
  const std::string pdf = with_attachment("application/pdf", "a.pdf", "%PDF-1.4\n%\xe2\xe3\n");
  SUBCASE("quarantine the whole message") {
    policy.rules = {Rule{"application/pdf", Action::Quarantine, {}}, Rule{"*", Action::Convert, {"text_plain"}}};
    const Outcome out = run(pdf, policy);
    CHECK(out.verdict == Verdict::Quarantined);
    CHECK_FALSE(out.rejected);
    CHECK(contains(out.reason, "policy: quarantine application/pdf (part 1.2)"));
  }
  SUBCASE("reject") {
    policy.rules = {Rule{"application/*", Action::Reject, {}}};
    const Outcome out = run(pdf, policy);
    CHECK(out.verdict == Verdict::Quarantined);
    CHECK(out.rejected);
    CHECK(contains(out.report_json, "\"verdict\":\"rejected\""));
  }
  SUBCASE("render without a renderer falls back to removal with a clear reason") {
    policy.rules = {Rule{"text/*", Action::Convert, {"text_plain"}}, Rule{"application/pdf", Action::Render, {}}};
    const Outcome out = run(pdf, policy);
    REQUIRE(out.verdict == Verdict::Sanitized);
    CHECK(contains(check_rebuilt(out.message).body, "no renderer could render this part"));
  }
  SUBCASE("the default rules render PDFs; one that cannot be read is removed, saying why") {
    const Outcome out = run(pdf, policy);
    REQUIRE(out.verdict == Verdict::Sanitized);
    CHECK(contains(check_rebuilt(out.message).body, "| broken PDF: "));
  }
  SUBCASE("strip text too") {
    policy.rules = {Rule{"text/*", Action::Strip, {}}};
    const Outcome out = run(pdf, policy);
    REQUIRE(out.verdict == Verdict::Sanitized);
    const Rebuilt r = check_rebuilt(out.message);
    CHECK_FALSE(contains(r.body, "See attached."));
    CHECK(held(out).size() == 2);  // the text by its rule, the PDF by no rule at all
  }
  SUBCASE("a convert rule whose sanitizers all decline removes the part") {
    policy.rules = {Rule{"text/plain", Action::Convert, {"strip"}}};
    const Outcome out = run(pdf, policy);
    REQUIRE(out.verdict == Verdict::Sanitized);
    CHECK_FALSE(contains(check_rebuilt(out.message).body, "See attached."));
  }
  CHECK(type_matches("text/*", "text/html"));
  CHECK_FALSE(type_matches("text/*", "texts/html"));
  CHECK(match_rule(default_rules(), "application/zip")->action == Action::Unpack);
  CHECK(match_rule(default_rules(), "application/x-msdownload")->type == "*");
}

TEST_CASE("ISO-2022-JP output for legacy clients, 7-bit with the right label") {
  Policy policy;
  policy.output_charset = "ISO-2022-JP";
  const std::string msg = "From: a@x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n日本語のテキスト①です\r\n";
  const Outcome out = run(msg, policy);
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK(contains(out.message, "Content-Type: text/plain; charset=ISO-2022-JP\r\n"));
  CHECK(contains(out.message, "Content-Transfer-Encoding: 7bit\r\n"));
  CHECK(contains(out.message, "\x1b$B"));
  for (const char c : out.message) CHECK(static_cast<unsigned char>(c) < 0x80);
}

TEST_CASE("a configured notice template replaces the built-in one") {
  Policy policy;
  policy.notice_template = "庁内規定により{removed_count}件を削除 ({quarantine_id})\n{parts}";
  REQUIRE(check_notice_template(policy.notice_template).has_value());
  CHECK_FALSE(check_notice_template("{qid}").has_value());
  CHECK_FALSE(check_notice_template("\xff").has_value());
  const Rebuilt r = check_rebuilt(run(with_attachment("image/png", "a.png", kPng), policy).message);
  CHECK(r.body.starts_with("庁内規定により1件を削除 (QTEST1)\n  - a.png | 申告/declared: image/png | 検出/detected: "));
  CHECK_FALSE(contains(r.body, "【mugai"));
}

TEST_CASE("a message with nothing removed opens with the clean notice, which the policy can replace or turn off") {
  const std::string msg = "From: a@x\r\nContent-Type: text/html\r\n\r\n<p>Hello</p>\r\n";
  const Rebuilt built_in = check_rebuilt(run(msg).message);
  CHECK(built_in.body.starts_with("【mugai 無害化通知】このメールは無害化されました。本文はテキストに変換されています。\n"
                                  "[mugai sanitization notice] This message was sanitized"));
  CHECK(after_clean_notice(built_in.body) == "Hello\n");
  Policy policy;
  policy.clean_notice_template = "無害化済み\n";
  CHECK(check_rebuilt(run(msg, policy).message).body == "無害化済み\n\nHello\n");
  policy.clean_notice_template = "";
  const Outcome plain = run(msg, policy);
  CHECK(check_rebuilt(plain.message).body == "Hello\n");
  CHECK(contains(plain.message, "Content-Transfer-Encoding: 7bit\r\n"));  // nothing forces 8-bit any more
  CHECK_FALSE(plain.quarantine.has_value());
  // A removed part always gets the full notice, whatever the clean template says.
  CHECK(check_rebuilt(run(with_attachment("image/png", "a.png", kPng), policy).message).body.starts_with("【mugai"));
}

TEST_CASE("the report has every part with its decision, hashes and timings") {
  const Outcome out = run(with_attachment("image/png", "a.png", kPng));
  REQUIRE(out.verdict == Verdict::Sanitized);
  const std::string& j = out.report_json;
  CHECK(contains(j, "\"path\":\"1\",\"declared_type\":\"multipart/mixed\""));
  CHECK(contains(j, "\"path\":\"1.1\",\"declared_type\":\"text/plain\",\"detected_type\":\"text/plain\""));
  CHECK(contains(j, "\"decision\":\"kept\",\"sanitizer\":\"text_plain\""));
  CHECK(contains(j, "\"path\":\"1.2\",\"declared_type\":\"image/png\",\"detected_type\":\"image/png\","
                    "\"filename\":\"a.png\",\"decision\":\"removed\",\"sanitizer\":\"image_render\""));
  CHECK(contains(j, "\"sha256\":\"" + hex::sha256(kPng) + "\""));
  CHECK(contains(j, "\"timing_us\":"));
  CHECK(contains(j, "\"limit_breaches\":[]"));
}

}  // namespace mugai::sanitize::test
