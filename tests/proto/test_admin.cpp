// Unit tests for the admin socket protocol: line framing within its bound, requests and responses that
// round-trip, and every malformed or oversized request refused with a reason.
#include <doctest/doctest.h>

#include <string>

#include "proto/admin.hpp"

namespace mugai::proto::admin {
namespace {

std::string error_of(std::string_view line) {
  auto r = parse_request(line);
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

bool mentions(const std::string& message, std::string_view what) { return message.find(what) != std::string::npos; }

TEST_CASE("the line reader stops at the first LF and never holds more than its bound") {
  LineReader r(16);
  CHECK(r.feed("{\"a\"") == LineReader::State::NeedMore);
  CHECK(r.feed(":1}\nrest") == LineReader::State::Line);
  CHECK(r.line() == "{\"a\":1}");
  CHECK(r.feed("more\n") == LineReader::State::Line);  // one message per connection: the rest is not read
  CHECK(r.line() == "{\"a\":1}");

  LineReader exact(8);
  CHECK(exact.feed("1234567\n") == LineReader::State::Line);  // 8 bytes with the LF
  LineReader over(8);
  CHECK(over.feed("12345678") == LineReader::State::TooLong);  // the LF could not fit any more
  CHECK(over.line().empty());
  CHECK(over.feed("\n") == LineReader::State::TooLong);
  LineReader bytewise(4);
  CHECK(bytewise.feed("1") == LineReader::State::NeedMore);
  CHECK(bytewise.feed("2") == LineReader::State::NeedMore);
  CHECK(bytewise.feed("3") == LineReader::State::NeedMore);
  CHECK(bytewise.feed("4") == LineReader::State::TooLong);
}

TEST_CASE("requests round-trip through their wire form") {
  const Request requests[] = {
      {Action::Release, "Q7K4-M2PX", {"a@city.example.lg.jp", "b@city.example.lg.jp"}, "confirmed with the sender", {}},
      {Action::RequestRelease, "q7k4m2px", {}, "請求書は本物", {}},
      {Action::Approve, "Q7K4-M2PX", {}, "", {}},
      {Action::Delete, "Q7K4-M2PX", {}, "", {}},
      {Action::Purge, "", {}, "", 90 * 86400},
      {Action::Purge, "", {}, "", std::nullopt},
  };
  for (const auto& req : requests) {
    const std::string wire = encode(req);
    CHECK(wire.back() == '\n');
    CHECK(wire.find('\n') == wire.size() - 1);
    auto back = parse_request(std::string_view(wire).substr(0, wire.size() - 1));
    REQUIRE_MESSAGE(back.has_value(), wire);
    CHECK(*back == req);
  }
  // Fields an action does not take are never written.
  CHECK_FALSE(mentions(encode(Request{Action::Approve, "X", {"a@b"}, "why", {}}), "to"));
}

TEST_CASE("responses round-trip, purge's ids included") {
  const Response responses[] = {{true, "Q7K4-M2PX released", {}}, {false, "no quarantine entry Q7K4-M2PX", {}},
                                {true, "2 entries expired", {"Q7K4-M2PX", "Q7K4-M2P0"}}};
  for (const auto& resp : responses) {
    const std::string wire = encode(resp);
    auto back = parse_response(std::string_view(wire).substr(0, wire.size() - 1));
    REQUIRE(back.has_value());
    CHECK(*back == resp);
  }
  CHECK_FALSE(parse_response(R"({"v":1,"message":"x"})").has_value());
  CHECK_FALSE(parse_response(R"({"v":1,"ok":"yes"})").has_value());
  CHECK_FALSE(parse_response(R"({"v":1,"ok":true,"extra":1})").has_value());
}

TEST_CASE("malformed requests are refused with the reason") {
  CHECK(mentions(error_of(""), "one JSON object"));
  CHECK(mentions(error_of("[1,2]"), "one JSON object"));
  CHECK(mentions(error_of("{\"v\":1,\"action\":\"release\""), "one JSON object"));
  CHECK(mentions(error_of(R"({"action":"approve","id":"X"})"), "protocol version"));
  CHECK(mentions(error_of(R"({"v":2,"action":"approve","id":"X"})"), "protocol version"));
  CHECK(mentions(error_of(R"({"v":"1","action":"approve","id":"X"})"), "protocol version"));
  CHECK(mentions(error_of(R"({"v":1})"), "no \"action\""));
  CHECK(mentions(error_of(R"({"v":1,"action":7})"), "no \"action\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"format-disk"})"), "unknown action \"format-disk\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"approve","id":"X","to":["a@b"]})"), "\"to\" is not a field of approve"));
  CHECK(mentions(error_of(R"({"v":1,"action":"approve","id":"X","operator":"alice"})"), "\"operator\" is not a field"));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","reason":"x"})"), "release needs \"id\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"","reason":"x"})"), "release needs \"id\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X"})"), "release needs \"reason\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X","reason":""})"), "release needs \"reason\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":5,"reason":"x"})"), "\"id\" must be a string"));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X","reason":"x","to":"a@b"})"), "array of strings"));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X","reason":"x","to":[1]})"), "must be a string"));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X","reason":"x","to":[""]})"), "empty string"));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X","reason":"x","to":[["a@b"]]})"), "must be a string"));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X\r\nY","reason":"x"})"), "control character"));
  CHECK(mentions(error_of(R"({"v":1,"action":"release","id":"X","reason":"a\u0000b"})"), "control character"));
  CHECK(mentions(error_of(R"({"v":1,"action":"purge","older_than":-1})"), "integer 0.."));
  CHECK(mentions(error_of(R"({"v":1,"action":"purge","older_than":1.5})"), "integer 0.."));
  CHECK(mentions(error_of(R"({"v":1,"action":"purge","older_than":18446744073709551615})"), "integer 0.."));
  CHECK(mentions(error_of(R"({"v":1,"action":"purge","older_than":true})"), "integer 0.."));
  CHECK(mentions(error_of("{\"v\":1,\"action\":\"approve\",\"id\":\"\xff\"}"), "one JSON object"));  // not UTF-8
}

TEST_CASE("request fields are bounded") {
  const auto release_with = [](const std::string& reason, const std::string& extra = "") {
    return R"({"v":1,"action":"release","id":"X","reason":")" + reason + "\"" + extra + "}";
  };
  CHECK(parse_request(release_with(std::string(kMaxText, 'r'))).has_value());
  CHECK(mentions(error_of(release_with(std::string(kMaxText + 1, 'r'))), "longer than 4096"));
  CHECK(mentions(error_of(R"({"v":1,"action":"approve","id":")" + std::string(kMaxId + 1, 'Q') + "\"}"), "longer than 64"));
  std::string many = ",\"to\":[";
  for (std::size_t i = 0; i <= kMaxRecipients; ++i) many += std::string(i ? "," : "") + "\"r" + std::to_string(i) + "@b\"";
  CHECK(mentions(error_of(release_with("x", many + "]")), "more than 100 items"));
  CHECK(mentions(error_of(release_with("x", ",\"to\":[\"" + std::string(kMaxAddress + 1, 'a') + "\"]")), "longer than 320"));
  CHECK(parse_request(R"({"v":1,"action":"purge","older_than":)" + std::to_string(kMaxAge) + "}").has_value());
  CHECK_FALSE(parse_request(R"({"v":1,"action":"purge","older_than":)" + std::to_string(kMaxAge + 1) + "}").has_value());
}

TEST_CASE("queue requests round-trip and are checked like the others") {
  Request hold{Action::QueueHold, "", {}, "確認中", {}, "", {"01J0000000000000", "01J0000000000001"}, std::nullopt};
  Request list{Action::QueueList, "", {}, "", {}, "", {}, 25};
  Request flush_all{Action::QueueFlush, "", {}, "", {}, "", {}, std::nullopt};
  Request show{Action::QueueShow, "01J0000000000000", {}, "", {}, "", {}, std::nullopt};
  for (const auto& req : {hold, list, flush_all, show}) {
    const std::string wire = encode(req);
    auto back = parse_request(std::string_view(wire).substr(0, wire.size() - 1));
    REQUIRE_MESSAGE(back.has_value(), wire);
    CHECK(*back == req);
  }
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-hold","ids":["A"]})"), "queue-hold needs \"reason\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-hold","ids":[],"reason":"x"})"), "queue-hold needs \"ids\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-delete","reason":"x"})"), "queue-delete needs \"ids\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-show"})"), "queue-show needs \"id\""));
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-list","id":"A"})"), "\"id\" is not a field of queue-list"));
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-flush","ids":["A\u001b"]})"), "control character"));
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-list","limit":0})"), "integer 1..5000"));
  CHECK(mentions(error_of(R"({"v":1,"action":"queue-list","limit":5001})"), "integer 1..5000"));
  CHECK(parse_request(R"({"v":1,"action":"queue-list","limit":5000})").has_value());
  std::string ids = R"({"v":1,"action":"queue-unhold","ids":[)";
  for (std::size_t i = 0; i <= kMaxQueueIds; ++i) ids += std::string(i ? "," : "") + "\"A\"";
  CHECK(mentions(error_of(ids + "]}"), "more than 1000 items"));
}

TEST_CASE("queue responses round-trip, and every member of a row is typed and bounded") {
  QueueMessage m;
  m.id = "01J0000000000000";
  m.stage = "clean";
  m.route = "next-hop";
  m.state = "deferred";
  m.arrival_unix = 1700000000;
  m.size = 1234;
  m.mail_from = "sender@example.org";
  m.rcpt_total = 2;
  m.rcpt_done = 1;
  m.attempts = 3;
  m.last_error = "user@demo: 451 4.3.0 \x1b[31m later";  // controls allowed: mugaictl escapes them
  m.next_attempt_unix = 1700000300;
  m.rcpt_to = {"a@demo", "b@demo"};
  m.rcpt_done_list = {"a@demo"};
  m.subject = "請求書";
  m.history = {"Mon, 1 Jan 2024 00:00:00 +0000 deferred"};
  const Response resp{true, "1 message in the queue", {}, {m}, 7};
  const std::string wire = encode(resp);
  auto back = parse_response(std::string_view(wire).substr(0, wire.size() - 1));
  REQUIRE(back.has_value());
  CHECK(*back == resp);

  const auto row_error = [](const std::string& row) {
    auto r = parse_response(R"({"v":1,"ok":true,"queue":[)" + row + "]}");
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
  };
  CHECK(mentions(row_error(R"({"stage":"raw"})"), "without \"id\""));
  CHECK(mentions(row_error(R"({"id":"A","bogus":1})"), "unexpected \"bogus\""));
  CHECK(mentions(row_error(R"({"id":"A","size":-1})"), "\"size\" must be an integer"));
  CHECK(mentions(row_error(R"({"id":"A","size":"12"})"), "\"size\" must be an integer"));
  CHECK(mentions(row_error(R"({"id":"A","mail_from":")" + std::string(kMaxAddress + 1, 'a') + "\"}"), "longer than 320"));
  CHECK(mentions(row_error(R"({"id":"A","history":["a\u0007"]})"), "control character"));
  CHECK(mentions(row_error("7"), "must be an object"));
  std::string rows = R"({"v":1,"ok":true,"queue":[)";
  for (std::int64_t i = 0; i <= kMaxQueueRows; ++i) rows += std::string(i ? "," : "") + R"({"id":"A"})";
  CHECK_FALSE(parse_response(rows + "]}").has_value());
}

}  // namespace
}  // namespace mugai::proto::admin
