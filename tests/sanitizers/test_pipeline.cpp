// Golden-style tests of sanitize_message() on hand-written messages: each asserts what survives and
// what is gone, and that every rebuilt message is a single CRLF text/plain part.
#include <doctest/doctest.h>

#include "sanitizers/pipeline.hpp"
#include "tests/sanitizers/helpers.hpp"

namespace mugai::sanitize::test {
namespace {

using Verdict = Outcome::Verdict;

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

Outcome run(const std::string& msg, Policy policy = {}) {
  return sanitize_message(msg, test_context(), policy);
}

const std::string kMzBytes = std::string("MZ\x90\x00\x03\x00\x00\x00", 8) + "This program cannot be run in DOS mode";
const std::string kMzSha = "2e3fc5870b69755875a971d51c0da0d2f2b70b9ed267353ab869493d2811ad27";

std::string attachment_message() {
  return "From: Alice <alice@sender.example>\r\n"
         "To: bob@city.example.lg.jp\r\n"
         "Subject: invoice\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
         "\r\n"
         "preamble text that must not survive\r\n"
         "--XYZ\r\n"
         "Content-Type: text/plain; charset=us-ascii\r\n"
         "\r\n"
         "Please see the attached invoice.\r\n"
         "--XYZ\r\n"
         "Content-Type: application/x-msdownload; name=\"invoice.exe\"\r\n"
         "Content-Disposition: attachment; filename=\"invoice.exe\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "\r\n"
         "TVqQAAMAAABUaGlzIHByb2dyYW0gY2Fubm90IGJlIHJ1biBpbiBET1MgbW9kZQ==\r\n"
         "--XYZ--\r\n"
         "epilogue\r\n";
}

}  // namespace

TEST_CASE("plain text is kept, the header is rebuilt from the allowlist only") {
  const std::string msg =
      "Received: from evil by evil\r\n"
      "From: Alice <alice@sender.example>\r\n"
      "To: bob@city.example.lg.jp\r\n"
      "Subject: Meeting\r\n"
      "  tomorrow\r\n"
      "Date: Mon, 13 Nov 2023 09:00:00 +0900\r\n"
      "Message-ID: <m1@sender.example>\r\n"
      "X-Evil: 1\r\n"
      "Content-Disposition: attachment; filename=x.exe\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n"
      "\r\n"
      "Hello Bob,\r\n\tsee you tomorrow.\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK_FALSE(out.quarantine.has_value());
  CHECK(out.quarantine_id.empty());
  CHECK(held(out).empty());
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(after_clean_notice(r.body) == "Hello Bob,\n\tsee you tomorrow.\n");
  CHECK(header_names(r.header) ==
        std::vector<std::string>{"Received", "From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
                                 "Content-Type", "Content-Transfer-Encoding", "X-Mugai-Sanitized", "X-Mugai-Queue-Id"});
  CHECK(contains(r.header,
                 "Received: from mx.sender.example ([192.0.2.7]) by mugai.example.lg.jp (mugai)\r\n"
                 " with ESMTP id Q1234; Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
  CHECK(contains(r.header, "Subject: Meeting tomorrow\r\n"));
  CHECK(contains(r.header, "Content-Transfer-Encoding: quoted-printable\r\n"));  // the notice is Japanese
  CHECK(contains(r.header, "X-Mugai-Queue-Id: Q1234\r\n"));
  CHECK_FALSE(contains(out.message, "evil"));
  CHECK_FALSE(contains(out.message, "X-Evil"));
  CHECK_FALSE(contains(out.message, "Content-Disposition"));
  CHECK(contains(out.report_json, "\"decision\":\"kept\""));
}

TEST_CASE("an HTML-only message is converted to text; nothing is removed or quarantined") {
  const std::string msg =
      "From: a@sender.example\r\nSubject: news\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
      "<html><body><script>alert(1)</script><p>Hi</p></body></html>\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK_FALSE(out.quarantine.has_value());
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(out.message, "<script"));
  CHECK_FALSE(contains(out.message, "alert("));
  CHECK_FALSE(contains(r.body, "<html"));
  CHECK_FALSE(contains(r.header, "text/html"));
  CHECK(after_clean_notice(r.body) == "Hi\n");
  CHECK_FALSE(contains(r.body, "削除"));
  CHECK(contains(out.report_json, "\"sanitizer\":\"html_text\""));
  CHECK(contains(out.report_json, "\"detected_type\":\"text/html\""));
}

TEST_CASE("the notice lists each removed part: name, declared and detected type, size, hash, reason, id") {
  Policy policy;
  policy.rules = {Rule{"*", Action::Strip, {}}};
  const std::string msg =
      "From: a@sender.example\r\nSubject: news\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
      "<html><body><script>alert(1)</script><p>Hi</p></body></html>\r\n";
  const Outcome out = run(msg, policy);
  REQUIRE(out.verdict == Verdict::Sanitized);
  REQUIRE(out.quarantine.has_value());
  CHECK(out.quarantine_id == "QTEST1");
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(out.message, "<script"));
  CHECK(contains(r.header, "X-Mugai-Quarantine-Id: QTEST1\r\n"));
  CHECK(contains(r.body, "【mugai 無害化通知】このメールは無害化されました。以下の1件の部分を削除または安全な形式に変換し、原本を隔離しました"
                         "（隔離ID: QTEST1）。\n"));
  CHECK(contains(r.body, "the original is kept in quarantine (id: QTEST1).\n"));
  CHECK(contains(r.body, "  - (no name) | 申告/declared: text/html | 検出/detected: text/html | 62 bytes | sha256:"));
  CHECK(contains(r.body, "| text part removed by policy | 隔離ID/quarantine id: QTEST1\n"));
  REQUIRE(held(out).size() == 1);
  CHECK(held(out)[0].sanitizer == "strip");
  CHECK(out.quarantine->parts.size() == 1);
  CHECK(out.quarantine->subject == "news");
  CHECK(out.quarantine->reason == "parts removed");
}

TEST_CASE("an executable attachment is removed, the whole original goes to the quarantine store") {
  const std::string msg = attachment_message();
  const Outcome out = sanitize_message(msg, test_context(), Policy{});
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(out.message, "MZ"));
  CHECK_FALSE(contains(out.message, "TVqQ"));
  CHECK_FALSE(contains(out.message, "preamble"));
  CHECK_FALSE(contains(out.message, "epilogue"));
  CHECK(contains(r.body, "Please see the attached invoice.\n"));
  CHECK(contains(r.body, "  - invoice.exe | 申告/declared: application/x-msdownload | 検出/detected: "
                         "application/x-dosexec | " + std::to_string(kMzBytes.size()) + " bytes | sha256:" + kMzSha +
                             " | attachment removed by policy | 隔離ID/quarantine id: "
                             "QTEST1 | 警告/warning: type_mismatch\n"));
  // Notice first, then the kept text.
  CHECK(r.body.find("【mugai") < r.body.find("Please see"));
  CHECK(out.quarantine_id == "QTEST1");
  REQUIRE(out.quarantine.has_value());
  const QuarantineRecord& rec = *out.quarantine;
  REQUIRE(rec.parts.size() == 1);
  CHECK(rec.parts[0].filename == "invoice.exe");
  CHECK(rec.parts[0].sha256 == kMzSha);
  CHECK(rec.queue_id == "Q1234");
}

TEST_CASE("multipart/alternative keeps the text/plain alternative and lists the others") {
  const std::string msg =
      "From: a@sender.example\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n"
      "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
      "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>\r\n"
      "--alt--\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(contains(r.body, "plain version\n"));
  CHECK_FALSE(contains(r.body, "html version"));
  CHECK(contains(r.body, "| 申告/declared: text/html | 検出/detected: text/html | 19 bytes |"));
  CHECK(contains(r.body, "alternative removed (text/plain alternative kept)"));
  REQUIRE(held(out).size() == 1);
  CHECK(held(out)[0].sanitizer == "alternative");
}

TEST_CASE("S/MIME, TNEF, message/partial and message/external-body are removed, whatever the rules") {
  Policy keep_everything;
  keep_everything.rules = {Rule{"*", Action::Convert, {"text_plain"}}};
  const std::string msg =
      "From: a@sender.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nxyz\r\n"
      "--b\r\nContent-Type: application/ms-tnef\r\n\r\nabc\r\n"
      "--b\r\nContent-Type: message/partial; id=\"x\"; number=1; total=2\r\n\r\nFrom: p@x\r\n\r\npartial\r\n"
      "--b\r\nContent-Type: message/external-body; access-type=URL; URL=\"http://e.example/x\"\r\n\r\n"
      "Content-Type: application/octet-stream\r\n\r\n"
      "--b--\r\n";
  const Outcome out = run(msg, keep_everything);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK_FALSE(contains(r.body, "xyz"));
  CHECK_FALSE(contains(r.body, "abc"));
  CHECK_FALSE(contains(r.body, "partial\n"));
  CHECK_FALSE(contains(r.body, "http://e.example"));
  CHECK(contains(r.body, "S/MIME encrypted part removed"));
  CHECK(contains(r.body, "TNEF (winmail.dat) removed"));
  CHECK(contains(r.body, "message/partial removed: fragments are never reassembled"));
  CHECK(contains(r.body, "message/external-body removed: external content is never fetched"));
  CHECK(held(out).size() == 4);
  REQUIRE(out.quarantine.has_value());  // the whole original once, not once per part
  CHECK(out.quarantine->parts.size() == 4);
}

TEST_CASE("an encoded CRLF in a header cannot create a header line") {
  const std::string msg = "From: a@sender.example\r\nSubject: =?UTF-8?B?YQ0KQmNjOiB4QHk=?=\r\nBcc2: z\r\n\r\nbody\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  for (const auto& name : header_names(r.header)) CHECK(name.rfind("Bcc", 0) == std::string::npos);
  CHECK_FALSE(contains(out.message, "\r\nBcc"));
  CHECK(contains(r.header, "\r\nSubject: "));  // one field, whatever the CR/LF became
}

TEST_CASE("raw 8-bit header values: UTF-8 is re-encoded, anything else is dropped and reported") {
  const std::string msg = "From: a@sender.example\r\nSubject: 会議のお知らせ\r\nTo: \xff\xfe@x\r\n"
                          "Cc: a\x01" "b@x\r\n\r\nbody\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(contains(r.header, "Subject: =?UTF-8?B?5Lya6K2w44Gu44GK55+l44KJ44Gb?=\r\n"));
  CHECK_FALSE(contains(r.header, "\r\nTo:"));
  CHECK_FALSE(contains(r.header, "\r\nCc:"));
  CHECK(contains(out.report_json, "To header dropped: raw 8-bit value is not UTF-8"));
  CHECK(contains(out.report_json, "Cc header dropped: control characters"));
  for (const char c : r.header) CHECK(static_cast<unsigned char>(c) < 0x80);
}

TEST_CASE("Japanese charsets are converted to UTF-8") {
  SUBCASE("ISO-2022-JP") {
    const std::string msg = "From: a@x\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n" +
                            from_hex("1B2442467C4B5C386C244E2546252D25392548244724391B2842") + "\r\n";
    const Outcome out = run(msg);
    REQUIRE(out.verdict == Verdict::Sanitized);
    CHECK(after_clean_notice(check_rebuilt(out.message).body) == "日本語のテキストです\n");
  }
  SUBCASE("Shift_JIS with a CP932 extension character, base64 encoded") {
    const std::string sjis = from_hex("93FA967B8CEA82CC8365834C83588367874082C582B7");
    const std::string msg = "From: a@x\r\nContent-Type: text/plain; charset=Shift_JIS\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\n" + base64_encode(sjis) + "\r\n";
    const Outcome out = run(msg);
    REQUIRE(out.verdict == Verdict::Sanitized);
    CHECK(after_clean_notice(check_rebuilt(out.message).body) == "日本語のテキスト①です\n");
    CHECK(contains(out.message, "Content-Transfer-Encoding: quoted-printable\r\n"));
  }
  SUBCASE("invalid bytes become U+FFFD and are counted, controls are dropped") {
    const std::string msg = "From: a@x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok\xff\x1b[31mred\x07\r\n";
    const Outcome out = run(msg);
    REQUIRE(out.verdict == Verdict::Sanitized);
    CHECK(after_clean_notice(check_rebuilt(out.message).body) == "ok\xEF\xBF\xBD[31mred\n");
    CHECK(contains(out.report_json, "\"replacement_chars\":1"));
    CHECK(contains(out.report_json, "\"dropped_controls\":2"));
  }
}

TEST_CASE("filenames are shown with controls and bidi overrides escaped") {
  const std::string msg =
      "From: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: application/octet-stream; name=\"invoice\xE2\x80\xAEgpj.exe\"\r\n\r\nxx\r\n--b--\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const Rebuilt r = check_rebuilt(out.message);
  CHECK(contains(r.body, "  - invoice\\u202Egpj.exe | 申告/declared: application/octet-stream | 検出/detected: "));
  CHECK_FALSE(contains(out.message, "\xE2\x80\xAE"));
}

TEST_CASE("long lines force quoted-printable without exceeding line limits") {
  const std::string msg = "From: a@x\r\n\r\n" + std::string(5000, 'a') + "\r\nend\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK(contains(out.message, "Content-Transfer-Encoding: quoted-printable\r\n"));
  CHECK(after_clean_notice(check_rebuilt(out.message).body) == std::string(5000, 'a') + "\nend\n");
}

TEST_CASE("each limit crossed quarantines the whole message, naming the limit") {
  Policy policy;
  const std::string nested =
      "From: a@x\r\nContent-Type: multipart/mixed; boundary=l1\r\n\r\n--l1\r\n"
      "Content-Type: multipart/mixed; boundary=l2\r\n\r\n--l2\r\n"
      "Content-Type: multipart/mixed; boundary=l3\r\n\r\n--l3\r\nContent-Type: text/plain\r\n\r\ndeep\r\n"
      "--l3--\r\n--l2--\r\n--l1--\r\n";
  std::string limit;
  std::string msg = nested;
  SUBCASE("max_depth") {
    policy.limits.max_depth = 2;
    limit = "max_depth";
  }
  SUBCASE("max_parts") {
    policy.limits.max_parts = 3;
    limit = "max_parts";
  }
  SUBCASE("max_decoded_part") {
    policy.limits.max_decoded_part = 3;
    limit = "max_decoded_part";
  }
  SUBCASE("max_decoded_total") {
    policy.limits.max_decoded_total = 10;
    msg = "From: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n123456\r\n--b\r\n\r\n"
          "abcdef\r\n--b--\r\n";
    limit = "max_decoded_total";
  }
  const Outcome out = run(msg, policy);
  CHECK(out.verdict == Verdict::Quarantined);
  CHECK(out.message.empty());
  CHECK(contains(out.reason, "limit exceeded: " + limit));
  CHECK(contains(out.report_json, "\"limit\":\"" + limit + "\""));
  REQUIRE(out.quarantine.has_value());
  CHECK(out.quarantine->reason == out.reason);
  CHECK(out.quarantine->parts.empty());  // the record describes the message as a whole
  CHECK(out.quarantine_id == "QTEST1");
}

TEST_CASE("the default limits let an ordinary nested message through") {
  const std::string msg =
      "From: a@x\r\nContent-Type: multipart/mixed; boundary=l1\r\n\r\n--l1\r\n"
      "Content-Type: multipart/alternative; boundary=l2\r\n\r\n--l2\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
      "--l2\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--l2--\r\n--l1\r\nContent-Type: image/png\r\n\r\npng\r\n--l1--\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK(contains(check_rebuilt(out.message).body, "\ntext\n"));
  CHECK(held(out).size() == 2);
  CHECK(contains(out.report_json, "\"path\":\"1.1.2\""));
  CHECK(contains(out.report_json, "\"path\":\"1.2\""));
}

// The pipeline stores nothing: what the caller must hold comes back with the outcome, and the caller
// delivers nothing when it cannot store it (gateway/scheduler.cpp, ctl/main.cpp).
TEST_CASE("what to quarantine is a value of the outcome, under the id the caller allocated") {
  MessageContext ctx = test_context();
  ctx.quarantine_id = "Q7K4-M2PX";
  SUBCASE("parts removed") {
    const Outcome out = sanitize_message(attachment_message(), ctx, Policy{});
    REQUIRE(out.verdict == Verdict::Sanitized);
    REQUIRE(out.quarantine.has_value());
    CHECK(out.quarantine_id == "Q7K4-M2PX");
    CHECK(contains(out.message, "\r\nX-Mugai-Quarantine-Id: Q7K4-M2PX\r\n"));
    CHECK(contains(check_rebuilt(out.message).body, "隔離ID: Q7K4-M2PX"));
    const QuarantineRecord& rec = *out.quarantine;
    CHECK(rec.reason == "parts removed");
    CHECK(rec.received_unix == ctx.received_unix);
    CHECK(rec.client_ip == ctx.client_ip);
    CHECK(rec.helo == ctx.helo);
    CHECK(rec.mail_from == ctx.mail_from);
    CHECK(rec.rcpt_to == ctx.rcpt_to);
    CHECK(rec.subject == "invoice");
    CHECK(contains(out.report_json, "\"quarantine_id\":\"Q7K4-M2PX\""));
  }
  SUBCASE("whole message held back") {
    const Outcome out = sanitize_message("", ctx, Policy{});
    CHECK(out.verdict == Verdict::Quarantined);
    CHECK(out.message.empty());
    REQUIRE(out.quarantine.has_value());
    CHECK(out.quarantine_id == "Q7K4-M2PX");
  }
  SUBCASE("nothing removed: nothing to hold, no id cited") {
    const Outcome out = sanitize_message("From: a@x\r\n\r\nhello\r\n", ctx, Policy{});
    REQUIRE(out.verdict == Verdict::Sanitized);
    CHECK_FALSE(out.quarantine.has_value());
    CHECK(out.quarantine_id.empty());
    CHECK_FALSE(contains(out.message, "Q7K4-M2PX"));
  }
}

TEST_CASE("unparseable input is quarantined") {
  for (const std::string& msg : {std::string(), std::string("\r\n\r\nno header at all\r\n")}) {
    const Outcome out = run(msg);
    CHECK(out.verdict == Verdict::Quarantined);
    CHECK(contains(out.reason, "unparseable"));
    CHECK(out.message.empty());
    CHECK(out.quarantine.has_value());
  }
}

TEST_CASE("an unknown transfer encoding is removed, not shown") {
  const std::string msg = "From: a@x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
                          "begin 644 a.exe\r\nM35H`\r\nend\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK_FALSE(contains(out.message, "begin 644"));
  CHECK(contains(check_rebuilt(out.message).body, "unknown transfer encoding (x-uuencode)"));
}

}  // namespace mugai::sanitize::test
