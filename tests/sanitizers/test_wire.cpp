// Unit tests for the worker channel's messages: policy, context and outcome round-trip field for
// field, and every malformed message (wrong type, missing or extra field, out of range, broken
// invariant, too deep) is an Error naming the field, never an exception.
#include <doctest/doctest.h>

#include <string>

#include "common/json.hpp"
#include "sanitizers/wire.hpp"
#include "tests/sanitizers/helpers.hpp"

namespace mugai::sanitize {
namespace {

Outcome sample_outcome() {
  Outcome o;
  o.verdict = Outcome::Verdict::Sanitized;
  o.message = "Subject: x\r\n\r\nbody\r\n";
  o.reason = "parts removed";
  QuarantineRecord r;
  r.queue_id = "Q1";
  r.received_unix = 1'700'000'000;
  r.client_ip = "192.0.2.1";
  r.helo = "mx.example";
  r.mail_from = "a@example.org";
  r.rcpt_to = {"u@demo.mugai.test", "v@demo.mugai.test"};
  r.subject = "請求書";
  r.message_id = "<m@example.org>";
  r.reason = "parts removed";
  r.parts.push_back({"x.exe", "application/octet-stream", "application/x-dosexec", 1234, std::string(64, 'a'),
                     "stripped", "strip"});
  o.quarantine = r;
  o.quarantine_id = "ABCD-EFGH";
  o.report_json = "{\"verdict\":\"sanitized\"}";
  return o;
}

std::string error_of_outcome(const json::Value& v, std::string message = {}) {
  auto r = wire::decode_outcome(json::dump(v), std::move(message));
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

TEST_CASE("a policy round-trips, everything but added_sanitizers") {
  Policy p;
  p.limits.max_depth = 7;
  p.limits.max_parts = 9;
  p.limits.max_decoded_part = 1000;
  p.limits.max_decoded_total = 2000;
  p.limits.max_time_per_message = std::chrono::milliseconds(1234);
  p.limits.max_header_section = 3000;
  p.limits.max_line_length = 4000;
  p.limits.max_artefact_size = 1500;
  p.output_charset = "ISO-2022-JP";
  p.links = LinkPolicy::Remove;
  p.notice_template = "held: {quarantine_id} {removed_count}\n{parts}";
  p.clean_notice_template = "";
  p.rules = {{"text/*", Action::Convert, {"text_plain"}}, {"*", Action::Reject, {}}};
  p.render.dpi = 200;
  p.render.max_pixels = 123'456;
  p.render.max_pages = 5;
  p.render.max_text = 999;
  p.render.jpeg_quality = 55;
  auto back = wire::decode_policy(wire::encode_policy(p));
  REQUIRE(back.has_value());
  CHECK(wire::encode_policy(*back) == wire::encode_policy(p));
  CHECK(back->limits.max_time_per_message.count() == 1234);
  CHECK(back->clean_notice_template == std::optional<std::string>(""));
  CHECK(back->rules.size() == 2);
  CHECK(back->rules[1].action == Action::Reject);
  Policy d;
  auto dd = wire::decode_policy(wire::encode_policy(d));
  REQUIRE(dd.has_value());
  CHECK_FALSE(dd->clean_notice_template.has_value());
}

TEST_CASE("a policy with a bad field is refused with its path") {
  json::Value v = json::parse(wire::encode_policy(Policy{}));
  auto with = [&](auto edit) {
    json::Value c = v;
    edit(c);
    auto r = wire::decode_policy(json::dump(c));
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
  };
  CHECK(with([](json::Value& c) { c["limits"]["max_depth"] = -1; }).find("policy.limits.max_depth") != std::string::npos);
  CHECK(with([](json::Value& c) { c["links"] = "open"; }).find("policy.links") != std::string::npos);
  CHECK(with([](json::Value& c) { c["output_charset"] = "EBCDIC"; }).find("policy.output_charset") != std::string::npos);
  CHECK(with([](json::Value& c) { c["rules"][0]["sanitizers"] = {"nope"}; }).find("unknown sanitizer") != std::string::npos);
  CHECK(with([](json::Value& c) { c["rules"][0]["type"] = "Text/Plain"; }).find("policy.rules[0].type") != std::string::npos);
  CHECK(with([](json::Value& c) { c["notice_template"] = "{oops}"; }).find("policy.notice_template") != std::string::npos);
  CHECK(with([](json::Value& c) { c["render"]["jpeg_quality"] = 101; }).find("out of range") != std::string::npos);
  CHECK(with([](json::Value& c) { c.erase("render"); }).find("policy.render: missing") != std::string::npos);
  CHECK(with([](json::Value& c) { c["extra"] = 1; }).find("unexpected field") != std::string::npos);
}

TEST_CASE("a context round-trips") {
  MessageContext c = test::test_context();
  c.client_ip = "::1";
  c.mail_from = "";  // the null sender
  c.received_unix = -5;
  auto back = wire::decode_context(wire::encode_context(c));
  REQUIRE(back.has_value());
  CHECK(back->received_unix == -5);
  CHECK(back->rcpt_to == c.rcpt_to);
  CHECK(wire::encode_context(*back) == wire::encode_context(c));
  c.file = true;
  c.file_name = "見積\x01.xlsx";
  auto file = wire::decode_context(wire::encode_context(c));
  REQUIRE(file.has_value());
  CHECK(file->file);
  CHECK(file->file_name == c.file_name);
  CHECK_FALSE(wire::decode_context("{\"queue_id\":1}").has_value());
  CHECK_FALSE(wire::decode_context("[]").has_value());
  CHECK_FALSE(wire::decode_context("not json").has_value());
}

TEST_CASE("an outcome round-trips, the message travelling beside the JSON") {
  const Outcome o = sample_outcome();
  auto back = wire::decode_outcome(wire::encode_outcome(o), o.message);
  REQUIRE(back.has_value());
  CHECK(back->message == o.message);
  CHECK(back->quarantine->parts.at(0).size == 1234);
  CHECK(back->quarantine->subject == "請求書");
  CHECK(wire::encode_outcome(*back) == wire::encode_outcome(o));
  Outcome failed;
  failed.reason = "internal error";
  auto f = wire::decode_outcome(wire::encode_outcome(failed), "");
  REQUIRE(f.has_value());
  CHECK(f->verdict == Outcome::Verdict::Failed);
  CHECK_FALSE(f->quarantine.has_value());
}

TEST_CASE("an outcome that breaks a field or an invariant is refused") {
  const Outcome o = sample_outcome();
  const json::Value v = json::parse(wire::encode_outcome(o));
  auto edited = [&](auto edit) {
    json::Value c = v;
    edit(c);
    return c;
  };
  CHECK(error_of_outcome(edited([](json::Value& c) { c["verdict"] = "delivered"; }), o.message).find("outcome.verdict") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["rejected"] = "no"; }), o.message).find("outcome.rejected: expected a boolean") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["quarantine"]["parts"][0]["size"] = -1; }), o.message).find("quarantine.parts[0].size") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["quarantine"]["rcpt_to"] = {1}; }), o.message).find("quarantine.rcpt_to") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c.erase("report_json"); }), o.message).find("missing") != std::string::npos);
  CHECK(error_of_outcome(v, "").find("sanitized without a message") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["verdict"] = "failed"; }), o.message).find("without the sanitized verdict") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["quarantine_id"] = ""; }), o.message).find("needs its id") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["rejected"] = true; }), o.message).find("rejected but not quarantined") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["verdict"] = "quarantined"; c["quarantine"] = nullptr; c["quarantine_id"] = ""; })).find("without a record") != std::string::npos);
  // A file's result: a type of the list, with its name, only when sanitized.
  auto file = wire::decode_outcome(json::dump(edited([](json::Value& c) { c["file_name"] = "a.pdf"; c["file_type"] = "application/pdf"; })), o.message);
  REQUIRE(file.has_value());
  CHECK(file->file_type == "application/pdf");
  CHECK(error_of_outcome(edited([](json::Value& c) { c["file_name"] = "a.exe"; c["file_type"] = "application/x-dosexec"; }), o.message).find("type not allowed") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["file_type"] = "application/pdf"; }), o.message).find("needs a name and a type") != std::string::npos);
  CHECK(error_of_outcome(edited([](json::Value& c) { c["verdict"] = "quarantined"; c["file_name"] = "a.txt"; c["file_type"] = "text/plain"; })).find("without the sanitized verdict") != std::string::npos);
}

TEST_CASE("deep or huge JSON is refused before it is built") {
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  auto r = wire::decode_outcome(deep, "");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("nested deeper") != std::string::npos);
  CHECK_FALSE(wire::decode_policy(std::string(65 * 1024 * 1024, ' ')).has_value());
}

TEST_CASE("the frame bound covers the largest raw or rebuilt message") {
  Policy p;
  CHECK(wire::max_frame(25 * 1024 * 1024, p) > p.limits.max_decoded_total / 3 * 4);
  CHECK(wire::max_frame(2ull << 30, p) > (2ull << 30));
}

}  // namespace
}  // namespace mugai::sanitize

namespace mugai::sanitize {
namespace {

TEST_CASE("a conversion request carries one known format; a failure its reason and kind") {
  auto format = wire::decode_convert_request(wire::encode_convert_request("xlsx"));
  REQUIRE(format);
  CHECK(*format == "xlsx");
  CHECK_FALSE(wire::decode_convert_request(wire::encode_convert_request("exe")));
  CHECK_FALSE(wire::decode_convert_request(R"({"format":"docx","path":"/etc/passwd"})"));
  CHECK_FALSE(wire::decode_convert_request(R"({"format":1})"));

  for (const int kind : {int{DocumentConverter::kRefused}, int{DocumentConverter::kUnavailable}}) {
    auto why = wire::decode_convert_failure(wire::encode_convert_failure(Error{"LibreOffice crashed", kind}));
    REQUIRE(why);
    CHECK(why->reason == "LibreOffice crashed");
    CHECK(why->kind == kind);
  }
  CHECK_FALSE(wire::decode_convert_failure(R"({"reason":"","unavailable":false})"));
  CHECK_FALSE(wire::decode_convert_failure(R"({"reason":"x"})"));
}

}  // namespace
}  // namespace mugai::sanitize
