// Unit tests for the reply table: one row per outcome in enum order, reply codes of RFC 5321 syntax,
// RFC 3463 enhanced codes of the reply's class, and details only where a row's text has a place.
#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "proto/replies.hpp"

using mugai::proto::kReplyTable;
using mugai::proto::make_reply;
using mugai::proto::ReplyKind;
using mugai::proto::ReplyRow;

namespace {

// RFC 3463 §2: class "." subject "." detail, class 2/4/5, subject and detail 1*3digit.
bool well_formed_enhanced(std::string_view e) {
  if (e.size() < 5 || (e[0] != '2' && e[0] != '4' && e[0] != '5') || e[1] != '.') return false;
  std::size_t pos = 2;
  for (int field = 0; field < 2; ++field) {
    const std::size_t start = pos;
    while (pos < e.size() && e[pos] >= '0' && e[pos] <= '9') ++pos;
    if (pos == start || pos - start > 3) return false;
    if (field == 0 && (pos == e.size() || e[pos++] != '.')) return false;
  }
  return pos == e.size();
}

// RFC 2034 §3 leaves these without an enhanced code.
bool exempt(ReplyKind k) { return k == ReplyKind::Greeting || k == ReplyKind::Ehlo || k == ReplyKind::StartData; }

template <ReplyKind K>
constexpr bool takes_no_detail = requires { make_reply<K>(); };
template <ReplyKind K>
constexpr bool takes_a_detail = requires { make_reply<K>(std::string_view{}); };

}  // namespace

TEST_CASE("reply table: one row per outcome, in enum order") {
  REQUIRE(kReplyTable.size() == static_cast<std::size_t>(ReplyKind::Count));
  for (std::size_t i = 0; i < kReplyTable.size(); ++i) {
    CAPTURE(i);
    CHECK(kReplyTable[i].kind == static_cast<ReplyKind>(i));
  }
}

TEST_CASE("reply table: codes, enhanced codes of the same class, texts") {
  for (const ReplyRow& row : kReplyTable) {
    CAPTURE(static_cast<int>(row.kind));
    CAPTURE(row.text);
    // RFC 5321 §4.2: reply-code = %x32-35 %x30-35 %x30-39
    CHECK(row.code >= 200);
    CHECK(row.code <= 559);
    CHECK(row.code / 10 % 10 <= 5);
    if (exempt(row.kind)) {
      CHECK(row.enhanced.empty());
    } else {
      CHECK(well_formed_enhanced(row.enhanced));
      CHECK(row.enhanced.substr(0, 1) == std::to_string(row.code / 100));
    }
    CHECK_FALSE(row.text.empty());
    const std::size_t at = row.text.find("{}");
    CHECK((at == std::string_view::npos || row.text.find("{}", at + 2) == std::string_view::npos));
  }
}

TEST_CASE("well_formed_enhanced accepts RFC 3463 codes only") {
  for (std::string_view good : {"2.0.0", "4.5.3", "5.7.1", "5.123.999"}) CHECK(well_formed_enhanced(good));
  for (std::string_view bad : {"", "3.0.0", "5.0", "5..0", "5.0.", "5.1234.0", "5.0.0 ", "5,0,0", "55.0.0"})
    CHECK_FALSE(well_formed_enhanced(bad));
}

TEST_CASE("make_reply: the detail goes where the row's text has its place, and only there") {
  CHECK(make_reply<ReplyKind::TooManyRecipients>().wire() == "452 4.5.3 Error: too many recipients\r\n");
  CHECK(make_reply<ReplyKind::Queued>("Q1").wire() == "250 2.0.0 Ok: queued as Q1\r\n");
  CHECK(make_reply<ReplyKind::RelayDenied>("u@x.example").wire() == "550 5.7.1 <u@x.example>: Relay access denied\r\n");
  CHECK(make_reply<ReplyKind::Greeting>("mx").wire() == "220 mx ESMTP mugai\r\n");
  CHECK(make_reply<ReplyKind::BadSender>("").wire() == "501 5.5.4\r\n");
  // A detail quoting client input cannot split the reply.
  CHECK(make_reply<ReplyKind::RelayDenied>("a\r\n250 ok").wire() == "550 5.7.1 <a??250 ok>: Relay access denied\r\n");
  CHECK(takes_no_detail<ReplyKind::Ok>);
  CHECK_FALSE(takes_a_detail<ReplyKind::Ok>);
  CHECK(takes_a_detail<ReplyKind::Queued>);
  CHECK_FALSE(takes_no_detail<ReplyKind::Queued>);
}
