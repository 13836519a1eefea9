// Tests for the delivery client state machine against scripted server transcripts: every byte
// the client writes is checked, and no failure path may ever report a recipient as delivered.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proto/smtp_client.hpp"

using mugai::proto::ClientConfig;
using mugai::proto::ClientSession;
using mugai::proto::TlsPolicy;
using Action = ClientSession::Action;

namespace {

constexpr std::string_view kGreeting = "220 mx.demo.test ESMTP\r\n";
constexpr std::string_view kEhlo =
    "250-mx.demo.test Hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n";

ClientConfig config(TlsPolicy tls = TlsPolicy::May) {
  ClientConfig c;
  c.helo_name = "gw.demo.test";
  c.tls = tls;
  return c;
}

Action step(ClientSession& s, std::string_view server_bytes) {
  s.feed(server_bytes);
  return s.process();
}

// A session that has seen the greeting and `ehlo`, asserted to be Ready with EHLO written.
ClientSession ready_session(std::string_view ehlo = kEhlo, ClientConfig c = config()) {
  ClientSession s{std::move(c)};
  REQUIRE(s.process() == Action::NeedInput);
  REQUIRE(step(s, kGreeting) == Action::NeedInput);
  REQUIRE(s.take_output() == "EHLO gw.demo.test\r\n");
  REQUIRE(step(s, ehlo) == Action::Ready);
  return s;
}

}  // namespace

TEST_CASE("client: normal delivery with a multi-line EHLO, then QUIT") {
  ClientSession s = ready_session();
  CHECK(s.extensions().pipelining);
  CHECK(s.extensions().eight_bit_mime);
  CHECK(s.extensions().size_offered);
  CHECK(s.extensions().size == 1000);
  CHECK_FALSE(s.extensions().starttls);
  CHECK_FALSE(s.tls_active());

  s.begin("from@sender.test", {"to@demo.test"}, "Subject: hi\r\n\r\nbody\r\n");
  CHECK(s.process() == Action::NeedInput);
  CHECK(s.take_output() == "MAIL FROM:<from@sender.test> SIZE=21\r\n");
  CHECK(step(s, "250 2.1.0 Ok\r\n") == Action::NeedInput);
  CHECK(s.take_output() == "RCPT TO:<to@demo.test>\r\n");
  CHECK(step(s, "250 2.1.5 Ok\r\n") == Action::NeedInput);
  CHECK(s.take_output() == "DATA\r\n");
  CHECK(step(s, "354 End data with <CR><LF>.<CR><LF>\r\n") == Action::NeedInput);
  CHECK(s.take_output() == "Subject: hi\r\n\r\nbody\r\n.\r\n");
  CHECK(step(s, "250 2.0.0 Ok: queued as 4ABC\r\n") == Action::Done);

  const auto& r = s.result();
  CHECK(r.reply.code == 250);
  CHECK(r.reply.enhanced == "2.0.0");
  CHECK(r.reply.lines == std::vector<std::string>{"Ok: queued as 4ABC"});
  REQUIRE(r.recipients.size() == 1);
  CHECK(r.recipients[0].rcpt == "to@demo.test");
  CHECK(r.recipients[0].reply.code == 250);

  CHECK(s.process() == Action::Ready);
  s.quit();
  CHECK(s.process() == Action::NeedInput);
  CHECK(s.take_output() == "QUIT\r\n");
  CHECK(step(s, "221 2.0.0 Bye\r\n") == Action::Closed);
  CHECK(s.closed());
}

TEST_CASE("client: replies split at every byte boundary") {
  ClientSession s{config()};
  const std::string transcript = std::string{kGreeting} + std::string{kEhlo};
  std::vector<Action> actions;
  for (const char c : transcript) actions.push_back(step(s, std::string_view{&c, 1}));
  CHECK(actions.back() == Action::Ready);
  actions.pop_back();
  for (const Action a : actions) CHECK(a == Action::NeedInput);
  CHECK(s.take_output() == "EHLO gw.demo.test\r\n");
  CHECK(s.extensions().size == 1000);

  s.begin("", {"to@demo.test"}, "x\r\n");
  const std::string replies = "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n";
  Action last = s.process();
  for (const char c : replies) last = step(s, std::string_view{&c, 1});
  CHECK(last == Action::Done);
  CHECK(s.take_output() == "MAIL FROM:<> SIZE=3\r\nRCPT TO:<to@demo.test>\r\nDATA\r\nx\r\n.\r\n");
  CHECK(s.result().recipients[0].reply.code == 250);
}

TEST_CASE("client: several replies in one feed, bare LF tolerated") {
  ClientSession s{config()};
  CHECK(step(s, "220 hi\n250-mx\n250 SIZE\n") == Action::Ready);
  CHECK(s.take_output() == "EHLO gw.demo.test\r\n");
  CHECK(s.extensions().size_offered);
  CHECK(s.extensions().size == 0);

  s.begin("a@sender.test", {"b@demo.test"}, "m\r\n");
  CHECK(step(s, "250 ok\r\n250 ok\r\n") == Action::NeedInput);
  CHECK(s.take_output() == "MAIL FROM:<a@sender.test> SIZE=3\r\nRCPT TO:<b@demo.test>\r\nDATA\r\n");
}

TEST_CASE("client: EHLO refused falls back to HELO; greeting refused closes") {
  SUBCASE("HELO fallback") {
    ClientSession s{config()};
    CHECK(step(s, kGreeting) == Action::NeedInput);
    CHECK(s.take_output() == "EHLO gw.demo.test\r\n");
    CHECK(step(s, "502 5.5.1 what?\r\n") == Action::NeedInput);
    CHECK(s.take_output() == "HELO gw.demo.test\r\n");
    CHECK(step(s, "250 mx\r\n") == Action::Ready);
    CHECK_FALSE(s.extensions().size_offered);
    s.begin("a@sender.test", {"b@demo.test"}, "m\r\n");
    s.process();
    CHECK(s.take_output() == "MAIL FROM:<a@sender.test>\r\n");  // no SIZE= without the extension
  }
  SUBCASE("554 greeting") {
    ClientSession s{config()};
    CHECK(step(s, "554 5.7.1 go away\r\n") == Action::Closed);
    CHECK(s.failure().code == 554);
    CHECK(s.failure().enhanced == "5.7.1");
    CHECK(s.failure().lines == std::vector<std::string>{"go away"});
    CHECK(s.take_output() == "QUIT\r\n");
  }
  SUBCASE("EHLO 4xx") {
    ClientSession s{config()};
    step(s, kGreeting);
    CHECK(step(s, "450 busy\r\n") == Action::Closed);
    CHECK(s.failure().code == 450);
    CHECK(s.failure().enhanced == "4.0.0");
  }
}

TEST_CASE("client: STARTTLS flow drops bytes injected before the handshake") {
  ClientSession s{config()};
  step(s, kGreeting);
  s.take_output();
  CHECK(step(s, "250-mx\r\n250-STARTTLS\r\n250 SIZE 1000\r\n") == Action::NeedInput);
  CHECK(s.extensions().starttls);
  CHECK(s.take_output() == "STARTTLS\r\n");
  CHECK(step(s, "220 2.0.0 Ready to start TLS\r\n250-injected\r\n250 STARTTLS\r\n") == Action::StartTls);
  CHECK(s.take_output().empty());
  s.tls_started();
  CHECK(s.tls_active());
  CHECK(s.extensions().size == 0);  // forgotten until the new EHLO
  CHECK(s.process() == Action::NeedInput);
  CHECK(s.take_output() == "EHLO gw.demo.test\r\n");
  CHECK(step(s, "250-mx\r\n250 SIZE 2000\r\n") == Action::Ready);
  CHECK(s.extensions().size == 2000);
  CHECK_FALSE(s.extensions().starttls);
}

TEST_CASE("client: TLS policies") {
  SUBCASE("Required, not offered") {
    ClientSession s{config(TlsPolicy::Encrypt)};
    step(s, kGreeting);
    s.take_output();
    CHECK(step(s, kEhlo) == Action::Closed);
    CHECK(s.failure().code == 421);
    CHECK(s.failure().enhanced == "4.7.5");
    CHECK(s.failure().lines == std::vector<std::string>{"TLS required but not offered by next hop"});
    CHECK(s.take_output() == "QUIT\r\n");
  }
  SUBCASE("Required, refused") {
    ClientSession s{config(TlsPolicy::Encrypt)};
    step(s, kGreeting);
    step(s, "250-mx\r\n250 STARTTLS\r\n");
    CHECK(s.take_output() == "EHLO gw.demo.test\r\nSTARTTLS\r\n");
    CHECK(step(s, "454 4.7.0 TLS not available\r\n") == Action::Closed);
    CHECK(s.failure().enhanced == "4.7.5");
    CHECK(s.take_output() == "QUIT\r\n");
  }
  SUBCASE("Opportunistic, refused: carry on in the clear") {
    ClientSession s{config(TlsPolicy::May)};
    step(s, kGreeting);
    step(s, "250-mx\r\n250 STARTTLS\r\n");
    s.take_output();
    CHECK(step(s, "454 4.7.0 TLS not available\r\n") == Action::Ready);
    CHECK_FALSE(s.tls_active());
  }
  SUBCASE("None: STARTTLS offered but not used") {
    ClientSession s = ready_session("250-mx\r\n250 STARTTLS\r\n", config(TlsPolicy::None));
    CHECK(s.take_output().empty());
  }
  SUBCASE("handshake failure closes") {
    ClientSession s{config(TlsPolicy::May)};
    step(s, kGreeting);
    step(s, "250-mx\r\n250 STARTTLS\r\n");
    CHECK(step(s, "220 go\r\n") == Action::StartTls);
    s.tls_failed("certificate verify failed");
    CHECK(s.process() == Action::Closed);
    CHECK(s.failure().code == 421);
    CHECK(s.failure().lines == std::vector<std::string>{"TLS handshake failed: certificate verify failed"});
  }
}

TEST_CASE("client: partial RCPT failure keeps per-recipient replies") {
  ClientSession s = ready_session();
  s.begin("a@sender.test", {"x@demo.test", "y@demo.test", "z@demo.test"}, "m\r\n");
  s.process();
  step(s, "250 ok\r\n");
  step(s, "250 ok\r\n");
  step(s, "550-5.1.1 no such\r\n550 5.1.1 user\r\n");
  CHECK(step(s, "250 ok\r\n") == Action::NeedInput);
  step(s, "354 go\r\n");
  CHECK(step(s, "250 2.0.0 queued\r\n") == Action::Done);
  CHECK(s.take_output() ==
        "MAIL FROM:<a@sender.test> SIZE=3\r\nRCPT TO:<x@demo.test>\r\nRCPT TO:<y@demo.test>\r\n"
        "RCPT TO:<z@demo.test>\r\nDATA\r\nm\r\n.\r\n");
  const auto& r = s.result().recipients;
  REQUIRE(r.size() == 3);
  CHECK(r[0].reply.code == 250);
  CHECK(r[1].reply.code == 550);
  CHECK(r[1].reply.enhanced == "5.1.1");
  CHECK(r[1].reply.lines == std::vector<std::string>{"no such", "user"});
  CHECK(r[2].reply.code == 250);
  CHECK(s.result().reply.code == 250);
}

TEST_CASE("client: no recipient accepted resets without DATA") {
  ClientSession s = ready_session();
  s.begin("a@sender.test", {"x@demo.test", "y@demo.test"}, "m\r\n");
  s.process();
  step(s, "250 ok\r\n");
  step(s, "550 5.1.1 no\r\n");
  CHECK(step(s, "450 4.2.0 later\r\n") == Action::NeedInput);
  CHECK(s.take_output() ==
        "MAIL FROM:<a@sender.test> SIZE=3\r\nRCPT TO:<x@demo.test>\r\nRCPT TO:<y@demo.test>\r\nRSET\r\n");
  CHECK(step(s, "250 ok\r\n") == Action::Done);
  CHECK(s.result().recipients[0].reply.code == 550);
  CHECK(s.result().recipients[1].reply.code == 450);
  CHECK(s.result().reply.code == 450);
  CHECK(s.process() == Action::Ready);
}

TEST_CASE("client: MAIL 4xx fails every recipient, then RSET") {
  ClientSession s = ready_session();
  s.begin("a@sender.test", {"x@demo.test", "y@demo.test"}, "m\r\n");
  s.process();
  s.take_output();
  CHECK(step(s, "451 4.3.0 try later\r\n") == Action::NeedInput);
  CHECK(s.take_output() == "RSET\r\n");
  CHECK(step(s, "250 ok\r\n") == Action::Done);
  for (const auto& r : s.result().recipients) {
    CHECK(r.reply.code == 451);
    CHECK(r.reply.enhanced == "4.3.0");
  }
  CHECK(s.result().reply.code == 451);
}

TEST_CASE("client: DATA 5xx fails accepted recipients, keeps RCPT failures") {
  ClientSession s = ready_session();
  s.begin("a@sender.test", {"x@demo.test", "y@demo.test"}, "m\r\n");
  s.process();
  step(s, "250 ok\r\n");
  step(s, "250 ok\r\n");
  step(s, "552 5.2.2 full\r\n");
  s.take_output();
  CHECK(step(s, "554 5.5.0 no data for you\r\n") == Action::NeedInput);
  CHECK(s.take_output() == "RSET\r\n");
  CHECK(step(s, "250 ok\r\n") == Action::Done);
  CHECK(s.result().recipients[0].reply.code == 554);
  CHECK(s.result().recipients[1].reply.code == 552);
  CHECK(s.result().reply.code == 554);
}

TEST_CASE("client: dot-stuffing and line-end normalisation") {
  auto body_sent = [](std::string message) {
    ClientSession s = ready_session("250 mx\r\n");
    s.begin("a@sender.test", {"x@demo.test"}, std::move(message));
    s.process();
    step(s, "250 ok\r\n");
    step(s, "250 ok\r\n");
    s.take_output();
    step(s, "354 go\r\n");
    return s.take_output();
  };
  CHECK(body_sent(".\r\n..x\r\nend") == "..\r\n...x\r\nend\r\n.\r\n");
  CHECK(body_sent("a\r\n.\r\n") == "a\r\n..\r\n.\r\n");
  CHECK(body_sent("a.b\r\n .\r\n") == "a.b\r\n .\r\n.\r\n");
  // A bare LF or CR must not let the next hop see an end of data we did not send.
  CHECK(body_sent("a\n.\nb\r.\r") == "a\r\n..\r\nb\r\n..\r\n.\r\n");
  CHECK(body_sent("") == ".\r\n");
}

TEST_CASE("client: a message over the advertised SIZE is refused without sending") {
  ClientSession s = ready_session("250-mx\r\n250 SIZE 10\r\n");
  s.begin("a@sender.test", {"x@demo.test", "y@demo.test"}, "0123456789X");
  CHECK(s.process() == Action::Done);
  CHECK(s.take_output().empty());
  for (const auto& r : s.result().recipients) {
    CHECK(r.reply.code == 552);
    CHECK(r.reply.enhanced == "5.3.4");
  }
  CHECK(s.process() == Action::Ready);
  s.begin("a@sender.test", {"x@demo.test"}, "0123456789");
  CHECK(s.process() == Action::NeedInput);
  CHECK(s.take_output() == "MAIL FROM:<a@sender.test> SIZE=10\r\n");
}

TEST_CASE("client: addresses that would inject commands or parameters are never sent") {
  ClientSession s = ready_session("250 mx\r\n");
  s.begin("a@sender.test", {"x@demo.test> NOTIFY=NEVER", "y@demo.test\r\nRCPT TO:<z@evil.test", "ok@demo.test"},
          "m\r\n");
  s.process();
  step(s, "250 ok\r\n");
  CHECK(s.take_output() == "MAIL FROM:<a@sender.test>\r\nRCPT TO:<ok@demo.test>\r\n");
  CHECK(s.result().recipients[0].reply.code == 553);
  CHECK(s.result().recipients[1].reply.code == 553);

  ClientSession t = ready_session("250 mx\r\n");
  t.begin("a@sender.test> RET=FULL", {"x@demo.test"}, "m\r\n");
  CHECK(t.process() == Action::Done);
  CHECK(t.take_output().empty());
  CHECK(t.result().recipients[0].reply.enhanced == "5.1.7");
}

TEST_CASE("client: malformed replies fail the connection with 421 4.5.0") {
  auto check_malformed_in_transaction = [](std::string_view bad, ClientConfig c) {
    CAPTURE(bad);
    ClientSession s = ready_session("250 mx\r\n", c);
    s.begin("a@sender.test", {"x@demo.test"}, "m\r\n");
    s.process();
    CHECK(step(s, bad) == Action::Closed);
    REQUIRE(s.result().recipients.size() == 1);
    CHECK(s.result().recipients[0].reply.code == 421);
    CHECK(s.result().recipients[0].reply.enhanced == "4.5.0");
    CHECK(s.result().reply.code == 421);
  };
  ClientConfig small = config();
  small.max_reply_line = 64;
  small.max_reply_lines = 3;
  for (const char* bad : {"hello\r\n", "250-a\r\n251 b\r\n", "25x ok\r\n", "2500 ok\r\n", "600 ok\r\n",
                          "199 ok\r\n", "099 ok\r\n", "25\r\n", "250-a\r\n250-b\r\n250-c\r\n250 d\r\n",
                          "354 not now\r\n"}) {
    check_malformed_in_transaction(bad, small);
  }
  // Overlong, detected before the line even ends.
  check_malformed_in_transaction(std::string(70, '2'), small);
  check_malformed_in_transaction("250 " + std::string(61, 'x') + "\r\n", small);

  SUBCASE("before Ready, the failure says why") {
    ClientSession s{config()};
    CHECK(step(s, "garbage\r\n") == Action::Closed);
    CHECK(s.failure().code == 421);
    CHECK(s.failure().enhanced == "4.5.0");
    CHECK(s.take_output().empty());
  }
  SUBCASE("a 2xx to DATA is never taken as delivery") {
    ClientSession s = ready_session("250 mx\r\n");
    s.begin("a@sender.test", {"x@demo.test"}, "m\r\n");
    s.process();
    step(s, "250 ok\r\n");
    step(s, "250 ok\r\n");
    CHECK(step(s, "250 sure\r\n") == Action::Closed);
    CHECK(s.result().recipients[0].reply.code == 421);
  }
  SUBCASE("a reply flood is bounded") {
    ClientSession s = ready_session("250 mx\r\n", small);
    s.feed(std::string(1000, 'x'));
    CHECK(s.process() == Action::Closed);
  }
}

TEST_CASE("client: a reply line at exactly the limit is fine") {
  ClientConfig c = config();
  c.max_reply_line = 64;
  ClientSession s{c};
  CHECK(step(s, "220 " + std::string(60, 'x') + "\r\n") == Action::NeedInput);
  CHECK(s.take_output() == "EHLO gw.demo.test\r\n");
}

TEST_CASE("client: enhanced codes are parsed only when they match the reply class") {
  ClientSession s = ready_session("250 mx\r\n");
  s.begin("a@sender.test", {"x@demo.test", "y@demo.test", "z@demo.test"}, "m\r\n");
  s.process();
  step(s, "250 ok\r\n");
  step(s, "550 2.1.1 odd\r\n");
  step(s, "551 5.7.1234 too long field\r\n");
  CHECK(step(s, "553 5.1.3\r\n") == Action::NeedInput);
  const auto& r = s.result().recipients;
  CHECK(r[0].reply.enhanced == "5.0.0");
  CHECK(r[0].reply.lines == std::vector<std::string>{"2.1.1 odd"});
  CHECK(r[1].reply.enhanced == "5.0.0");
  CHECK(r[2].reply.enhanced == "5.1.3");
  CHECK(r[2].reply.lines == std::vector<std::string>{""});
}

TEST_CASE("client: 421 and lost connections end the transaction with a 4xx") {
  SUBCASE("421 during RCPT") {
    ClientSession s = ready_session("250 mx\r\n");
    s.begin("a@sender.test", {"x@demo.test", "y@demo.test"}, "m\r\n");
    s.process();
    step(s, "250 ok\r\n");
    step(s, "250 ok\r\n");
    s.take_output();
    CHECK(step(s, "421 4.3.2 shutting down\r\n") == Action::Closed);
    CHECK(s.take_output().empty());
    for (const auto& r : s.result().recipients) CHECK(r.reply.enhanced == "4.3.2");
  }
  SUBCASE("connection lost after the final dot") {
    ClientSession s = ready_session("250 mx\r\n");
    s.begin("a@sender.test", {"x@demo.test"}, "m\r\n");
    s.process();
    step(s, "250 ok\r\n");
    step(s, "250 ok\r\n");
    step(s, "354 go\r\n");
    s.connection_lost("read timeout");
    CHECK(s.process() == Action::Closed);
    CHECK(s.result().recipients[0].reply.code == 421);
    CHECK(s.result().recipients[0].reply.enhanced == "4.4.2");
    CHECK(s.result().recipients[0].reply.lines == std::vector<std::string>{"read timeout"});
  }
  SUBCASE("control bytes in reply text are masked") {
    ClientSession s = ready_session("250 mx\r\n");
    s.begin("a@sender.test", {"x@demo.test"}, "m\r\n");
    s.process();
    step(s, std::string_view{"451 4.0.0 a\rb\0c\r\n", 17});
    CHECK(s.result().reply.lines == std::vector<std::string>{"a?b?c"});
  }
}

TEST_CASE("client: connection reuse, two transactions then quit") {
  ClientSession s = ready_session();
  for (const char* rcpt : {"one@demo.test", "two@demo.test"}) {
    s.begin("a@sender.test", {rcpt}, "m\r\n");
    CHECK(s.process() == Action::NeedInput);
    CHECK(step(s, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n") == Action::Done);
    CHECK(s.take_output() == "MAIL FROM:<a@sender.test> SIZE=3\r\nRCPT TO:<" + std::string{rcpt} +
                                 ">\r\nDATA\r\nm\r\n.\r\n");
    REQUIRE(s.result().recipients.size() == 1);
    CHECK(s.result().recipients[0].rcpt == rcpt);
    CHECK(s.result().recipients[0].reply.code == 250);
    CHECK(s.process() == Action::Ready);
  }
  s.quit();
  CHECK(s.take_output() == "QUIT\r\n");
  CHECK(step(s, "500 whatever\r\n") == Action::Closed);  // any answer to QUIT ends it

  s.begin("a@sender.test", {"late@demo.test"}, "m\r\n");
  CHECK(s.process() == Action::Closed);
  CHECK(s.result().recipients[0].reply.code == 421);
}
