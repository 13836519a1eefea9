// Tests for strict path parsing and relay control: valid forms parse exactly, and every classic
// open-relay probe is refused either by parse_path or by recipient_allowed.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proto/address.hpp"

using mugai::proto::Mailbox;
using mugai::proto::parse_path;
using mugai::proto::recipient_allowed;

namespace {

const std::vector<std::string> kDomains{"demo.test"};

// True when the argument parses and the mailbox may be relayed to `domains`.
bool relayable(const std::string& arg, const std::vector<std::string>& domains = kDomains) {
  auto parsed = parse_path(arg, false);
  return parsed && recipient_allowed(parsed->mailbox, domains);
}

}  // namespace

TEST_CASE("parse_path accepts plain and unusual but valid mailboxes") {
  auto p = parse_path("<User.Name+tag@Mail.Demo.TEST>", false);
  REQUIRE(p);
  CHECK(p->mailbox.local == "User.Name+tag");
  CHECK(p->mailbox.domain == "mail.demo.test");
  CHECK(p->params.empty());

  auto spaced = parse_path("  <a@b.example>", false);
  REQUIRE(spaced);
  CHECK(spaced->mailbox.str() == "a@b.example");

  for (const char* ok : {"<x!#$%&'*+-/=?^_`{|}~y@demo.test>", "<a@x-1.demo.test>", "<1@2.3>",
                         "<\"john doe\"@demo.test>", "<\"a\\\"b\"@demo.test>"}) {
    CAPTURE(ok);
    CHECK(parse_path(ok, false));
  }
  auto quoted = parse_path("<\"john doe\"@demo.test>", false);
  REQUIRE(quoted);
  CHECK(quoted->mailbox.local == "\"john doe\"");
}

TEST_CASE("parse_path handles the null path only when allowed") {
  auto null_path = parse_path("<>", true);
  REQUIRE(null_path);
  CHECK(null_path->mailbox.is_null());
  CHECK_FALSE(parse_path("<>", false));
}

TEST_CASE("parse_path reads ESMTP parameters with upper-cased keywords") {
  auto p = parse_path("<a@demo.test> size=1234  body=8BITMIME SMTPUTF8 ", true);
  REQUIRE(p);
  using Param = std::pair<std::string, std::string>;
  CHECK(p->params == std::vector<Param>{{"SIZE", "1234"}, {"BODY", "8BITMIME"}, {"SMTPUTF8", ""}});

  CHECK_FALSE(parse_path("<a@demo.test>SIZE=1", false));   // no space after '>'
  CHECK_FALSE(parse_path("<a@demo.test> SIZE=", false));   // empty value
  CHECK_FALSE(parse_path("<a@demo.test> SIZE=1=2", false));
  CHECK_FALSE(parse_path("<a@demo.test> -X=1", false));    // keyword must start alphanumeric
  CHECK_FALSE(parse_path("<a@demo.test> K=\x01", false));
}

TEST_CASE("parse_path rejects malformed paths") {
  for (const char* bad : {
           "a@demo.test",               // no angle brackets
           "<a@demo.test",              // unterminated
           "<@demo.test>",              // empty local part
           "<a@>",                      // empty domain
           "<a@demo>",                  // single label
           "<a@demo..test>",            // empty label
           "<a@.demo.test>",            // leading dot
           "<a@-demo.test>",            // hyphen at label start
           "<a@demo-.test>",            // hyphen at label end
           "<a@demo_x.test>",           // underscore
           "<.a@demo.test>",            // dot-string starts with a dot
           "<a.@demo.test>",            // dot-string ends with a dot
           "<a..b@demo.test>",          // doubled dot
           "<a b@demo.test>",           // space in local part
           "<a(b)@demo.test>",          // specials
           "<\"unterminated@demo.test>",
           "<a@b@demo.test>",
           "<a@demo.test\r\n>",         // control chars
           "<a@\xe3\x83\x86.test>",     // 8-bit without SMTPUTF8
           "<\xe3\x83\x86@demo.test>",
           "",
           "   ",
       }) {
    CAPTURE(bad);
    CHECK_FALSE(parse_path(bad, true));
  }
}

TEST_CASE("parse_path enforces RFC 5321 size limits") {
  const std::string label63(63, 'a');
  CHECK(parse_path("<u@" + label63 + ".test>", false));
  CHECK_FALSE(parse_path("<u@" + label63 + "a.test>", false));

  const std::string local64(64, 'l');
  CHECK(parse_path("<" + local64 + "@demo.test>", false));
  CHECK_FALSE(parse_path("<" + local64 + "l@demo.test>", false));

  // 4 labels of 63 + 3 dots = 255 octets: a legal domain, but the path would exceed 256.
  const std::string domain255 = label63 + "." + label63 + "." + label63 + "." + label63;
  REQUIRE(domain255.size() == 255);
  CHECK_FALSE(parse_path("<u@" + domain255 + ">", false));
  CHECK_FALSE(parse_path("<u@" + domain255 + "x.y>", false));  // domain > 255

  // Exactly 256 with the brackets: "<" + 1 + "@" + 252 + ">".
  const std::string domain252 = label63 + "." + label63 + "." + label63 + "." + std::string(60, 'b');
  REQUIRE(domain252.size() == 252);
  CHECK(parse_path("<u@" + domain252 + ">", false));
  CHECK_FALSE(parse_path("<uu@" + domain252 + ">", false));
}

TEST_CASE("open-relay probes are refused") {
  auto error_of = [](const std::string& arg) {
    auto p = parse_path(arg, false);
    return p ? std::string{} : p.error().message;
  };
  CHECK(error_of("<@demo.test:u@other.example>") == "source routes are not accepted");
  CHECK(error_of("<@a.test,@b.test:u@other.example>") == "source routes are not accepted");
  CHECK(error_of("<u@[127.0.0.1]>") == "address literals are not accepted");
  CHECK(error_of("<u@[IPv6:::1]>") == "address literals are not accepted");
  CHECK(error_of("<u@demo.test.>") == "trailing dot in domain");

  // Syntactically valid, but must never be relayed.
  CHECK(parse_path("<user%other.example@demo.test>", false));
  CHECK_FALSE(relayable("<user%other.example@demo.test>"));
  CHECK(parse_path("<other.example!user@demo.test>", false));
  CHECK_FALSE(relayable("<other.example!user@demo.test>"));
  CHECK(parse_path("<\"u@other.example\"@demo.test>", false));
  CHECK_FALSE(relayable("<\"u@other.example\"@demo.test>"));
  CHECK_FALSE(relayable("<\"plain\"@demo.test>"));
  CHECK_FALSE(relayable("<u@other.example>"));
  CHECK_FALSE(relayable("<u@demo.test.other.example>"));
  CHECK_FALSE(relayable("<u@xdemo.test>"));
}

TEST_CASE("recipient_allowed matches domains case-insensitively, subdomains only with a dot entry") {
  CHECK(relayable("<u@demo.test>"));
  CHECK(relayable("<u@DEMO.TEST>"));
  CHECK(relayable("<u@demo.test>", {"DEMO.Test"}));
  CHECK_FALSE(relayable("<u@sub.demo.test>"));
  CHECK(relayable("<u@sub.demo.test>", {".demo.test"}));
  CHECK(relayable("<u@a.sub.demo.test>", {".demo.test"}));
  CHECK_FALSE(relayable("<u@demo.test>", {".demo.test"}));
  CHECK_FALSE(relayable("<u@xdemo.test>", {".demo.test"}));
  CHECK(relayable("<u@demo.test>", {".demo.test", "demo.test"}));
  CHECK_FALSE(relayable("<u@demo.test>", {}));
  CHECK_FALSE(recipient_allowed(Mailbox{}, kDomains));
  CHECK_FALSE(recipient_allowed(Mailbox{"u", ""}, {""}));
}
