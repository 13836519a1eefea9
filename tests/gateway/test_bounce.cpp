// Tests of DSN construction: RFC 3464 structure, wire-safety of the result (CRLF only, short
// lines) and that next-hop replies cannot inject header lines.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gateway/bounce.hpp"
#include "sanitizers/codec.hpp"

using namespace mugai::gateway;

namespace {

std::size_t count(std::string_view hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = hay.find(needle); pos != std::string_view::npos; pos = hay.find(needle, pos + 1))
    ++n;
  return n;
}

struct Dsn {
  std::string text;
  std::string boundary;
  std::vector<std::string> parts;  // each with its own header section
};

Dsn make() {
  SpoolEntry original;
  original.id = "0123456789ABCDEF";
  original.arrival_unix = 1700000000;
  original.mail_from = "alice@example.net";
  original.rcpt_to = {"bob@city.example.lg.jp", "carol@city.example.lg.jp"};
  // A bare LF, an over-long header line and the boundary we would pick first.
  original.message = "Subject: original\nX-Long: " + std::string(1500, 'a') +
                     "\r\nX-Trap: =_mugai_dsn_0123456789ABCDEF_0\r\n\r\nsecret body\r\n";
  std::vector<FailedRecipient> failed = {
      {"bob@city.example.lg.jp", "5.1.1", "550 5.1.1 no such user\r\nBcc: victim@example.com",
       "lgwan-mx.city.example.lg.jp"},
      {"carol@city.example.lg.jp", "4.4.7", "delivery time expired", ""},
  };
  Dsn d;
  d.text = make_dsn(original, failed, "mugai.city.example.lg.jp", 1700000100);
  auto at = d.text.find("boundary=\"");
  REQUIRE(at != std::string::npos);
  at += 10;
  d.boundary = d.text.substr(at, d.text.find('"', at) - at);
  std::string delim = "\r\n--" + d.boundary;
  for (auto pos = d.text.find(delim + "\r\n"); pos != std::string::npos;) {
    auto start = pos + delim.size() + 2;
    pos = d.text.find(delim, start);
    REQUIRE(pos != std::string::npos);
    d.parts.push_back(d.text.substr(start, pos - start));
    if (d.text.compare(pos, delim.size() + 2, delim + "--") == 0) break;
  }
  return d;
}

}  // namespace

TEST_CASE("bounce: the DSN is CRLF-only with lines of at most 998 octets") {
  auto d = make();
  for (std::size_t i = 0; i < d.text.size(); ++i) {
    if (d.text[i] == '\n') REQUIRE((i > 0 && d.text[i - 1] == '\r'));
    if (d.text[i] == '\r') REQUIRE((i + 1 < d.text.size() && d.text[i + 1] == '\n'));
  }
  std::size_t start = 0, longest = 0;
  for (auto pos = d.text.find("\r\n"); pos != std::string::npos; pos = d.text.find("\r\n", start)) {
    longest = std::max(longest, pos - start);
    start = pos + 2;
  }
  CHECK(start == d.text.size());
  CHECK(longest <= 998);
}

TEST_CASE("bounce: headers identify a multipart/report from MAILER-DAEMON to the sender") {
  auto d = make();
  auto head = d.text.substr(0, d.text.find("\r\n\r\n") + 2);
  CHECK(head.find("From: Mail Delivery System <MAILER-DAEMON@mugai.city.example.lg.jp>\r\n") == 0);
  CHECK(count(head, "\r\nTo: <alice@example.net>\r\n") == 1);
  CHECK(count(head, "\r\nSubject: Undelivered Mail Returned to Sender\r\n") == 1);
  CHECK(count(head, "\r\nDate: Tue, 14 Nov 2023 22:15:00 +0000\r\n") == 1);
  CHECK(count(head, "\r\nMessage-ID: <0123456789ABCDEF.dsn@mugai.city.example.lg.jp>\r\n") == 1);
  CHECK(count(head, "\r\nAuto-Submitted: auto-replied\r\n") == 1);
  CHECK(count(head, "\r\nMIME-Version: 1.0\r\n") == 1);
  CHECK(count(head, "multipart/report; report-type=delivery-status;") == 1);
}

TEST_CASE("bounce: three parts with a boundary that occurs nowhere in the content") {
  auto d = make();
  CHECK(d.boundary != "=_mugai_dsn_0123456789ABCDEF_0");
  REQUIRE(d.parts.size() == 3);
  CHECK(d.text.size() > d.boundary.size() + 8);
  CHECK(d.text.substr(d.text.size() - d.boundary.size() - 6) == "--" + d.boundary + "--\r\n");
  for (const auto& p : d.parts) CHECK(p.find(d.boundary) == std::string::npos);
  CHECK(d.parts[0].rfind("Content-Type: text/plain; charset=UTF-8\r\n", 0) == 0);
  CHECK(d.parts[1].rfind("Content-Type: message/delivery-status\r\n\r\n", 0) == 0);
  CHECK(d.parts[2].rfind("Content-Type: text/rfc822-headers\r\n", 0) == 0);
}

TEST_CASE("bounce: the human part explains in Japanese and English, per recipient") {
  auto d = make();
  auto body = d.parts[0].substr(d.parts[0].find("\r\n\r\n") + 4);
  auto text = mugai::sanitize::qp_decode(body, 1 << 20);
  REQUIRE(text);
  CHECK(text->find("配送できませんでした") != std::string::npos);
  CHECK(text->find("could not be delivered") != std::string::npos);
  CHECK(text->find("<bob@city.example.lg.jp>: 550 5.1.1 no such user") != std::string::npos);
  CHECK(text->find("<carol@city.example.lg.jp>: delivery time expired") != std::string::npos);
}

TEST_CASE("bounce: delivery-status has one block per recipient and flattened diagnostics") {
  auto d = make();
  const auto& s = d.parts[1];
  CHECK(count(s, "\r\nReporting-MTA: dns; mugai.city.example.lg.jp\r\n") == 1);
  CHECK(count(s, "\r\nArrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n") == 1);
  CHECK(count(s, "\r\n\r\nFinal-Recipient: rfc822; bob@city.example.lg.jp\r\nAction: failed\r\n"
                 "Status: 5.1.1\r\nRemote-MTA: dns; lgwan-mx.city.example.lg.jp\r\n") == 1);
  CHECK(count(s, "\r\n\r\nFinal-Recipient: rfc822; carol@city.example.lg.jp\r\nAction: failed\r\n"
                 "Status: 4.4.7\r\nDiagnostic-Code: smtp; delivery time expired\r\n") == 1);
  CHECK(count(s, "Final-Recipient:") == 2);
  CHECK(count(s, "Remote-MTA:") == 1);
  CHECK(count(s, "Diagnostic-Code: smtp; 550 5.1.1 no such user  Bcc: victim@example.com\r\n") == 1);
  CHECK(count(d.text, "\nBcc:") == 0);
}

TEST_CASE("bounce: the third part holds the original's header section only") {
  auto d = make();
  const auto& h = d.parts[2];
  CHECK(count(h, "\r\n\r\nSubject: original\r\nX-Long: aaa") == 1);
  CHECK(count(h, "\r\n aaa") == 1);  // the over-long line is folded, not cut
  CHECK(count(h, "a") >= 1500);
  CHECK(h.find("secret body") == std::string::npos);
}
