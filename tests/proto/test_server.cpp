// Unit tests for the SMTP server session: every command and reply code, every limit on both sides
// of its boundary, strict framing (the SMTP-smuggling variants), pipelining and STARTTLS discard.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proto/replies.hpp"
#include "proto/smtp_server.hpp"

using mugai::proto::make_reply;
using mugai::proto::Reply;
using mugai::proto::ReplyKind;
using mugai::proto::ServerConfig;
using mugai::proto::ServerSession;
using Action = ServerSession::Action;

namespace {

ServerConfig test_config() {
  ServerConfig c;
  c.hostname = "mx.test.jp";
  c.accept_domains = {"example.jp"};
  return c;
}

// Drives one session the way the gateway does: feed, process, collect the replies.
struct Client {
  ServerSession s;
  Action last = Action::NeedInput;
  std::string greeting;

  explicit Client(ServerConfig c = test_config()) : s(std::move(c), "192.0.2.1") { greeting = s.take_output(); }

  std::string send(std::string_view bytes) {
    s.feed(bytes);
    last = s.process();
    return s.take_output();
  }
};

constexpr std::string_view kEhlo = "EHLO client.example\r\n";
constexpr std::string_view kOpen =
    "EHLO client.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\n";
constexpr std::string_view kOpenReplies =
    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
constexpr std::string_view kBare = "554 5.6.0 Message rejected: bare <CR> or <LF> in DATA\r\n";

// A client past EHLO/MAIL/RCPT/DATA, its replies checked, ready for message bytes.
Client in_data(ServerConfig c = test_config()) {
  Client client(std::move(c));
  const std::string out = client.send(kOpen);
  REQUIRE(out.ends_with(kOpenReplies));
  REQUIRE(client.s.in_data());
  return client;
}

}  // namespace

TEST_CASE("Reply wire form: multi-line, enhanced code on every line, control bytes masked") {
  CHECK(Reply{250, "2.0.0", {"Ok"}}.wire() == "250 2.0.0 Ok\r\n");
  CHECK(Reply{220, "", {"mx ESMTP"}}.wire() == "220 mx ESMTP\r\n");
  CHECK(Reply{250, "", {"mx", "PIPELINING", "8BITMIME"}}.wire() == "250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  CHECK(Reply{550, "5.7.1", {"a", "b"}}.wire() == "550-5.7.1 a\r\n550 5.7.1 b\r\n");
  CHECK(Reply{550, "5.7.1", {"x\r\n250 ok\0y"}}.wire() == "550 5.7.1 x??250 ok\r\n");
  CHECK(Reply{550, "5.7.1", {std::string("x\r\n250 ok\0y", 11)}}.wire() == "550 5.7.1 x??250 ok?y\r\n");
  CHECK(Reply{451, "4.3.0", {"x"}}.transient());
  CHECK(Reply{554, "5.6.0", {"x"}}.permanent());
  CHECK(Reply{354, "", {"x"}}.positive());
}

TEST_CASE("greeting, EHLO, HELO") {
  Client c;
  CHECK(c.greeting == "220 mx.test.jp ESMTP mugai\r\n");

  SUBCASE("EHLO advertises the extensions, SIZE from the limit, no STARTTLS without TLS") {
    CHECK(c.send(kEhlo) ==
          "250-mx.test.jp\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
          "250 ENHANCEDSTATUSCODES\r\n");
    CHECK(c.last == Action::NeedInput);
    CHECK(c.s.envelope().esmtp);
    CHECK(c.s.envelope().helo == "client.example");
    CHECK(c.s.envelope().client_ip == "192.0.2.1");
  }
  SUBCASE("HELO") {
    CHECK(c.send("HELO client.example\r\n") == "250 2.0.0 mx.test.jp\r\n");
    CHECK_FALSE(c.s.envelope().esmtp);
  }
  SUBCASE("verbs are case-insensitive") {
    CHECK(c.send("helo client.example\r\n") == "250 2.0.0 mx.test.jp\r\n");
    CHECK(c.send("mAiL fRoM:<a@sender.example>\r\n") == "250 2.1.0 Ok\r\n");
  }
  SUBCASE("without a domain: 501 5.5.4") {
    CHECK(c.send("EHLO\r\n") == "501 5.5.4 Syntax: EHLO/HELO hostname\r\n");
    CHECK(c.send("HELO   \r\n") == "501 5.5.4 Syntax: EHLO/HELO hostname\r\n");
    CHECK(c.send("MAIL FROM:<a@sender.example>\r\n").starts_with("503 5.5.1 "));
  }
  SUBCASE("EHLO and HELO reset the transaction") {
    c.send("EHLO a.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<b@example.jp>\r\n");
    CHECK(c.send("EHLO a.example\r\nDATA\r\n").ends_with("503 5.5.1 Error: need MAIL command\r\n"));
    c.send("MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@example.jp>\r\n");
    CHECK(c.send("HELO a.example\r\nDATA\r\n").ends_with("503 5.5.1 Error: need MAIL command\r\n"));
    CHECK(c.s.envelope().rcpt_to.empty());
  }
}

TEST_CASE("EHLO offers STARTTLS only when available and not yet active") {
  ServerConfig cfg = test_config();
  cfg.tls_available = true;
  Client c(cfg);
  CHECK(c.send(kEhlo).ends_with("250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"));
  CHECK(c.send("STARTTLS\r\n") == "220 2.0.0 Ready to start TLS\r\n");
  CHECK(c.last == Action::StartTls);
  c.s.tls_started();
  const std::string ehlo = c.send(kEhlo);
  CHECK(ehlo.ends_with("250 ENHANCEDSTATUSCODES\r\n"));
  CHECK(ehlo.find("STARTTLS") == std::string::npos);
}

TEST_CASE("MAIL FROM") {
  Client c;
  SUBCASE("before HELO/EHLO: 503 5.5.1") {
    CHECK(c.send("MAIL FROM:<a@sender.example>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  }
  c.send(kEhlo);
  SUBCASE("ok, then nested: 503 5.5.1") {
    CHECK(c.send("MAIL FROM:<a@sender.example>\r\n") == "250 2.1.0 Ok\r\n");
    CHECK(c.send("MAIL FROM:<a@sender.example>\r\n") == "503 5.5.1 Error: nested MAIL command\r\n");
  }
  SUBCASE("null sender") {
    CHECK(c.send("MAIL FROM:<>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\nx\r\n.\r\n") ==
          "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
    REQUIRE(c.last == Action::Message);
    CHECK(c.s.envelope().mail_from.empty());
  }
  SUBCASE("syntax errors: 501 5.5.4") {
    CHECK(c.send("MAIL\r\n") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    CHECK(c.send("MAIL TO:<a@sender.example>\r\n") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    CHECK(c.send("MAIL FROM:a@sender.example\r\n").starts_with("501 5.5.4 "));
    CHECK(c.send("MAIL FROM:<a@sender.example\r\n").starts_with("501 5.5.4 "));
    CHECK(c.s.errors() == 4);
    // Nothing was accepted: a valid MAIL is not "nested".
    CHECK(c.send("MAIL FROM:<a@sender.example>\r\n") == "250 2.1.0 Ok\r\n");
  }
  SUBCASE("SIZE at and above the limit") {
    ServerConfig cfg = test_config();
    cfg.limits.max_message_size = 1000;
    Client small(cfg);
    small.send(kEhlo);
    CHECK(small.send("MAIL FROM:<a@sender.example> SIZE=1001\r\n") ==
          "552 5.3.4 Message size exceeds fixed limit\r\n");
    CHECK(small.send("MAIL FROM:<a@sender.example> SIZE=99999999999999999999999\r\n")
              .starts_with("552 5.3.4 "));
    CHECK(small.send("MAIL FROM:<a@sender.example> SIZE=12x\r\n").starts_with("501 5.5.4 "));
    CHECK(small.send("MAIL FROM:<a@sender.example> SIZE=1000\r\n") == "250 2.1.0 Ok\r\n");
  }
  SUBCASE("BODY: 7BIT and 8BITMIME accepted and recorded, anything else 555 5.5.4") {
    CHECK(c.send("MAIL FROM:<a@sender.example> BODY=BINARYMIME\r\n") == "555 5.5.4 Unsupported MAIL parameter\r\n");
    CHECK(c.send("MAIL FROM:<a@sender.example> SMTPUTF8\r\n") == "555 5.5.4 Unsupported MAIL parameter\r\n");
    CHECK(c.send("MAIL FROM:<a@sender.example> AUTH=<>\r\n") == "555 5.5.4 Unsupported MAIL parameter\r\n");
    CHECK(c.send("MAIL FROM:<a@sender.example> BODY=7BIT\r\n") == "250 2.1.0 Ok\r\n");
    CHECK_FALSE(c.s.envelope().eight_bit_mime);
    c.send("RSET\r\n");
    CHECK(c.send("MAIL FROM:<a@sender.example> body=8bitmime\r\n") == "250 2.1.0 Ok\r\n");
    CHECK(c.s.envelope().eight_bit_mime);
    CHECK(c.s.envelope().mail_from == "a@sender.example");
  }
}

TEST_CASE("MAIL requires TLS when tls_required") {
  ServerConfig cfg = test_config();
  cfg.tls_available = true;
  cfg.tls_required = true;
  Client c(cfg);
  c.send(kEhlo);
  CHECK(c.send("MAIL FROM:<a@sender.example>\r\n") == "530 5.7.0 Must issue a STARTTLS command first\r\n");
  c.send("STARTTLS\r\n");
  c.s.tls_started();
  c.send(kEhlo);
  CHECK(c.send("MAIL FROM:<a@sender.example>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(c.s.envelope().tls);
}

TEST_CASE("RCPT TO") {
  ServerConfig cfg = test_config();
  cfg.limits.max_recipients = 2;
  Client c(cfg);
  c.send(kEhlo);
  SUBCASE("before MAIL: 503 5.5.1") {
    CHECK(c.send("RCPT TO:<b@example.jp>\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  }
  c.send("MAIL FROM:<a@sender.example>\r\n");
  SUBCASE("syntax: 501 5.1.3") {
    CHECK(c.send("RCPT <b@example.jp>\r\n").starts_with("501 5.1.3 "));
    CHECK(c.send("RCPT TO:b@example.jp\r\n").starts_with("501 5.1.3 "));
    CHECK(c.send("RCPT TO:<>\r\n").starts_with("501 5.1.3 "));
  }
  SUBCASE("relay control: 550 5.7.1") {
    CHECK(c.send("RCPT TO:<x@other.example>\r\n") == "550 5.7.1 <x@other.example>: Relay access denied\r\n");
    CHECK(c.send("RCPT TO:<x%other.example@example.jp>\r\n").starts_with("550 5.7.1 "));
    CHECK(c.s.envelope().rcpt_to.empty());
  }
  SUBCASE("parameters: 555 5.5.4") {
    CHECK(c.send("RCPT TO:<b@example.jp> NOTIFY=NEVER\r\n") == "555 5.5.4 Unsupported RCPT parameter\r\n");
  }
  SUBCASE("up to max_recipients accepted, then 452 4.5.3") {
    CHECK(c.send("RCPT TO:<b@example.jp>\r\n") == "250 2.1.5 Ok\r\n");
    CHECK(c.send("rcpt to:<C@EXAMPLE.JP>\r\n") == "250 2.1.5 Ok\r\n");
    CHECK(c.send("RCPT TO:<d@example.jp>\r\n") == "452 4.5.3 Error: too many recipients\r\n");
    CHECK(c.s.envelope().rcpt_to == std::vector<std::string>{"b@example.jp", "C@example.jp"});
  }
}

TEST_CASE("RCPT: a recipient the delivery route cannot take is 553 5.1.3, after relay control") {
  ServerConfig cfg = test_config();
  std::vector<std::string> asked;
  cfg.route_accepts = [&asked](std::string_view mailbox) {
    asked.emplace_back(mailbox);
    return mailbox.find('/') == std::string_view::npos;
  };
  Client c(cfg);
  c.send(kEhlo);
  c.send("MAIL FROM:<a@sender.example>\r\n");
  CHECK(c.send("RCPT TO:<a/b@example.jp>\r\n") ==
        "553 5.1.3 <a/b@example.jp>: Recipient address rejected: mailbox name not allowed\r\n");
  CHECK(c.s.errors() == 1);
  CHECK(c.send("RCPT TO:<a/b@other.example>\r\n").starts_with("550 5.7.1 "));
  CHECK(c.send("RCPT TO:<b@EXAMPLE.JP>\r\n") == "250 2.1.5 Ok\r\n");
  CHECK(c.s.envelope().rcpt_to == std::vector<std::string>{"b@example.jp"});
  // Asked with the mailbox exactly as the envelope will carry it; never for a relay refusal.
  CHECK(asked == std::vector<std::string>{"a/b@example.jp", "b@example.jp"});
}

TEST_CASE("excess recipients: 452 4.5.3 without an error up to the overshoot limit, then each counts") {
  const std::string too_many = "452 4.5.3 Error: too many recipients\r\n";
  ServerConfig cfg = test_config();
  cfg.limits.max_recipients = 2;
  cfg.limits.recipient_overshoot_limit = 3;
  cfg.limits.max_errors = 2;
  Client c(cfg);
  c.send(kEhlo);
  c.send("MAIL FROM:<a@sender.example>\r\n");
  std::string rcpts;
  for (const char* r : {"b", "c", "d", "e", "f"}) rcpts += std::string("RCPT TO:<") + r + "@example.jp>\r\n";

  SUBCASE("within the overshoot limit the session goes on and DATA carries the accepted recipients") {
    CHECK(c.send(rcpts) == "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" + too_many + too_many + too_many);
    CHECK(c.s.errors() == 0);
    CHECK(c.send("DATA\r\nx\r\n.\r\n") == "354 End data with <CR><LF>.<CR><LF>\r\n");
    REQUIRE(c.last == Action::Message);
    CHECK(c.s.envelope().rcpt_to == std::vector<std::string>{"b@example.jp", "c@example.jp"});
  }
  SUBCASE("beyond it each excess recipient is an error, up to 421 at max_errors") {
    c.send(rcpts);
    CHECK(c.send("RCPT TO:<g@example.jp>\r\n") == too_many);
    CHECK(c.s.errors() == 1);
    CHECK(c.send("RCPT TO:<h@example.jp>\r\nNOOP\r\n") ==
          too_many + "421 4.7.0 mx.test.jp Error: too many errors\r\n");
    CHECK(c.last == Action::Close);
  }
  SUBCASE("the overshoot is counted per transaction") {
    c.send(rcpts + "RCPT TO:<g@example.jp>\r\n");
    REQUIRE(c.s.errors() == 1);
    c.send("RSET\r\nMAIL FROM:<a@sender.example>\r\n");
    CHECK(c.send(rcpts) == "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" + too_many + too_many + too_many);
    CHECK(c.s.errors() == 1);
    CHECK(c.last == Action::NeedInput);
  }
  SUBCASE("overshoot limit 0: every excess recipient counts") {
    cfg.limits.recipient_overshoot_limit = 0;
    Client strict(cfg);
    strict.send(kEhlo);
    strict.send("MAIL FROM:<a@sender.example>\r\n");
    CHECK(strict.send(rcpts).ends_with(too_many + too_many + "421 4.7.0 mx.test.jp Error: too many errors\r\n"));
    CHECK(strict.last == Action::Close);
  }
}

TEST_CASE("DATA command") {
  Client c;
  c.send(kEhlo);
  CHECK(c.send("DATA\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  c.send("MAIL FROM:<a@sender.example>\r\n");
  CHECK(c.send("DATA\r\n") == "554 5.5.1 Error: no valid recipients\r\n");
  c.send("RCPT TO:<b@example.jp>\r\n");
  CHECK(c.send("DATA now\r\n") == "501 5.5.4 Syntax error: no parameters allowed\r\n");
  CHECK_FALSE(c.s.in_data());
  CHECK(c.send("DATA\r\n") == "354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(c.s.in_data());
}

TEST_CASE("RSET, NOOP, VRFY, HELP, QUIT, unknown") {
  Client c;
  c.send(kEhlo);
  c.send("MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@example.jp>\r\n");
  CHECK(c.send("RSET\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(c.s.envelope().rcpt_to.empty());
  CHECK(c.send("RCPT TO:<b@example.jp>\r\n").starts_with("503 5.5.1 "));
  CHECK(c.send("RSET x\r\n").starts_with("501 5.5.4 "));
  CHECK(c.send("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(c.send("noop anything\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(c.send("VRFY root\r\n").starts_with("252 2.5.0 "));
  CHECK(c.send("HELP\r\n").starts_with("214 2.0.0 "));
  CHECK(c.send("STARTTLS\r\n") == "502 5.5.1 Error: command not implemented\r\n");
  CHECK(c.send("EXPN root\r\n") == "500 5.5.2 Error: command not recognized\r\n");
  CHECK(c.send("MAILFROM:<a@sender.example>\r\n").starts_with("500 5.5.2 "));
  CHECK(c.last == Action::NeedInput);
  CHECK(c.send("QUIT\r\nNOOP\r\n") == "221 2.0.0 Bye\r\n");
  CHECK(c.last == Action::Close);
  CHECK(c.s.process() == Action::Close);
}

TEST_CASE("STARTTLS discards input buffered in the clear and resets to pre-EHLO") {
  ServerConfig cfg = test_config();
  cfg.tls_available = true;
  Client c(cfg);
  c.send(kEhlo);
  CHECK(c.send("STARTTLS now\r\n") == "501 5.5.4 Syntax error: no parameters allowed\r\n");
  CHECK(c.send("STARTTLS\r\nMAIL FROM:<x@y.example>\r\n") == "220 2.0.0 Ready to start TLS\r\n");
  CHECK(c.last == Action::StartTls);
  CHECK(c.s.process() == Action::StartTls);
  CHECK(c.s.take_output().empty());
  c.s.tls_started();
  CHECK(c.s.buffered() == 0);
  CHECK(c.s.process() == Action::NeedInput);
  CHECK(c.s.take_output().empty());  // the injected MAIL was never answered
  CHECK(c.s.envelope().tls);
  CHECK(c.s.envelope().helo.empty());
  CHECK(c.send("MAIL FROM:<x@y.example>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  c.send(kEhlo);
  CHECK(c.send("STARTTLS\r\n") == "503 5.5.1 Error: TLS already active\r\n");
}

TEST_CASE("command framing: only CRLF ends a command line") {
  Client c;
  c.send(kEhlo);
  const std::string bad = "500 5.5.2 Syntax error: bare <CR> or <LF> in command\r\n";
  SUBCASE("a bare LF never ends a line, so the second command is not run") {
    CHECK(c.send("NOOP\nNOOP\r\n") == bad);
    CHECK(c.send("NOOP\rNOOP\r\n") == bad);
    CHECK(c.send(std::string("NOOP\0x\r\n", 8)) == bad);
    CHECK(c.send("NOOP\r\r\n") == bad);
    CHECK(c.send("NOOP\n") == "");  // no CRLF yet: nothing is a line
    CHECK(c.send("\r\n") == bad);
  }
  SUBCASE("a bare CR or LF resets the transaction") {
    c.send("MAIL FROM:<a@sender.example>\r\n");
    CHECK(c.send("RCPT TO:<b@example.jp>\nDATA\r\n") == bad);
    CHECK(c.send("RCPT TO:<b@example.jp>\r\n").starts_with("503 5.5.1 "));
  }
  SUBCASE("a CRLF split across reads is one line end") {
    CHECK(c.send("NOOP\r") == "");
    CHECK(c.send("\nNOOP\r\n") == "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
  }
}

TEST_CASE("command line length limit, incl. CRLF, with bounded buffering") {
  Client c;
  c.send(kEhlo);
  const std::string noop = "NOOP ";
  const std::string too_long = "500 5.5.2 Error: line too long\r\n";
  CHECK(c.send(noop + std::string(512 - 2 - noop.size(), 'x') + "\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(c.send(noop + std::string(512 - 1 - noop.size(), 'x') + "\r\n") == too_long);

  SUBCASE("an endless line is discarded as it arrives and answered once at its CRLF") {
    for (int i = 0; i < 256; ++i) {
      CHECK(c.send(std::string(4096, 'A')) == "");
      CHECK(c.s.buffered() <= 512);
    }
    CHECK(c.send("A\r") == "");  // CR kept: it may pair with the next LF
    CHECK(c.send("\nNOOP\r\n") == too_long + "250 2.0.0 Ok\r\n");
  }
  SUBCASE("a bare LF inside the long line does not end it") {
    CHECK(c.send(std::string(600, 'A') + "\nNOOP\r\nNOOP\r\n") == too_long + "250 2.0.0 Ok\r\n");
  }
}

TEST_CASE("DATA: message bytes, dot-unstuffing, terminator, queue outcome") {
  Client c = in_data();
  CHECK(c.send("Subject: hi\r\n\r\n..leading dot\r\n...\r\nmid.dle.\r\n.\r\n") == "");
  REQUIRE(c.last == Action::Message);
  CHECK_FALSE(c.s.in_data());
  CHECK(c.s.message() == "Subject: hi\r\n\r\n.leading dot\r\n..\r\nmid.dle.\r\n");
  CHECK(c.s.envelope().mail_from == "a@sender.example");
  CHECK(c.s.envelope().rcpt_to == std::vector<std::string>{"b@example.jp"});
  CHECK(c.s.envelope().helo == "client.example");
  CHECK(c.s.process() == Action::Message);  // stays until the driver answers

  SUBCASE("queued: 250 and the transaction is reset") {
    c.s.queued("Q1A2");
    CHECK(c.s.take_output() == "250 2.0.0 Ok: queued as Q1A2\r\n");
    CHECK(c.s.process() == Action::NeedInput);
    CHECK(c.s.envelope().rcpt_to.empty());
    CHECK(c.send("DATA\r\n").starts_with("503 5.5.1 "));
  }
  SUBCASE("queue_failed: 451 4.3.0, counted, transaction reset") {
    c.s.queue_failed("disk full");
    const std::string out = c.s.take_output();
    CHECK(out.starts_with("451 4.3.0 "));
    CHECK(out.find("disk") == std::string::npos);
    CHECK(c.s.errors() == 1);
    CHECK(c.s.process() == Action::NeedInput);
    CHECK(c.send("DATA\r\n").starts_with("503 5.5.1 "));
  }
}

TEST_CASE("DATA: '.' as the first line ends an empty message") {
  Client c = in_data();
  CHECK(c.send(".\r\n") == "");
  REQUIRE(c.last == Action::Message);
  CHECK(c.s.message().empty());
}

TEST_CASE("DATA: a whole session fed one byte at a time gives the same result") {
  Client c;
  const std::string session = std::string(kOpen) + "a\r\n..b\r\n.\r\n";
  std::string out;
  for (std::size_t i = 0; i < session.size(); ++i) {
    out += c.send(session.substr(i, 1));
    if (i + 1 < session.size()) CHECK(c.last == Action::NeedInput);
  }
  CHECK(out.ends_with(kOpenReplies));
  REQUIRE(c.last == Action::Message);
  CHECK(c.s.message() == "a\r\n.b\r\n");
}

TEST_CASE("DATA: framing and content failures answer once, at the terminator") {
  ServerConfig cfg = test_config();
  SUBCASE("bare LF") {
    Client c = in_data(cfg);
    CHECK(c.send("a\nb\r\n") == "");
    CHECK(c.s.in_data());
    CHECK(c.send(".\r\n") == kBare);
    CHECK(c.last == Action::NeedInput);
    CHECK(c.s.errors() == 1);
  }
  SUBCASE("bare CR, also right before the terminator") {
    Client c = in_data(cfg);
    CHECK(c.send("a\r\r\n.\r\n") == kBare);
  }
  SUBCASE("NUL") {
    Client c = in_data(cfg);
    CHECK(c.send(std::string("a\0b\r\n.\r\n", 8)) == "554 5.6.0 Message rejected: NUL byte in DATA\r\n");
  }
  SUBCASE("the first failure is the one reported") {
    Client c = in_data(cfg);
    CHECK(c.send("a\nb" + std::string(2000, 'x') + std::string("\0\r\n.\r\n", 6)) == kBare);
  }
  SUBCASE("after a failure the transaction is reset and the session goes on") {
    Client c = in_data(cfg);
    CHECK(c.send("a\nb\r\n.\r\nRCPT TO:<b@example.jp>\r\n") == std::string(kBare) + "503 5.5.1 Error: need MAIL command\r\n");
    CHECK(c.s.message().empty());
  }
}

TEST_CASE("DATA limits, each at and just over its boundary") {
  ServerConfig cfg = test_config();
  SUBCASE("max_text_line incl. CRLF") {
    cfg.limits.max_text_line = 100;
    Client ok = in_data(cfg);
    CHECK(ok.send(std::string(98, 'x') + "\r\n.\r\n") == "");
    CHECK(ok.last == Action::Message);
    Client dotted = in_data(cfg);  // the stuffing dot counts: it is on the wire
    CHECK(dotted.send("." + std::string(98, 'x') + "\r\n.\r\n") == "554 5.6.0 Message rejected: line too long\r\n");
    Client bad = in_data(cfg);
    CHECK(bad.send(std::string(99, 'x') + "\r\n.\r\n") == "554 5.6.0 Message rejected: line too long\r\n");
  }
  SUBCASE("max_header_section: bytes before the first empty line") {
    cfg.limits.max_header_section = 50;
    const std::string header = "Subject: " + std::string(50 - 9 - 2, 'h') + "\r\n";
    REQUIRE(header.size() == 50);
    Client ok = in_data(cfg);
    CHECK(ok.send(header + "\r\n" + std::string(200, 'b') + "\r\n.\r\n") == "");
    CHECK(ok.last == Action::Message);
    Client bad = in_data(cfg);
    CHECK(bad.send("X" + header + "\r\nbody\r\n.\r\n") == "552 5.3.4 Message header section exceeds fixed limit\r\n");
    Client no_body = in_data(cfg);  // without an empty line everything is header
    CHECK(no_body.send(header + "x\r\n.\r\n").starts_with("552 5.3.4 "));
  }
  SUBCASE("max_message_size: unstuffed bytes") {
    cfg.limits.max_message_size = 100;
    const std::string line = std::string(8, 'x') + "\r\n";
    std::string body;
    for (int i = 0; i < 10; ++i) body += line;
    Client ok = in_data(cfg);
    CHECK(ok.send(".." + body.substr(1) + ".\r\n") == "");  // the stuffing dot does not count
    REQUIRE(ok.last == Action::Message);
    CHECK(ok.s.message().size() == 100);
    Client bad = in_data(cfg);
    CHECK(bad.send(body + "y\r\n.\r\n") == "552 5.3.4 Message size exceeds fixed limit\r\n");
    CHECK(bad.last == Action::Close);
  }
  SUBCASE("an oversized message is refused as the limit is crossed, the rest never read") {
    cfg.limits.max_message_size = 64 * 1024;
    Client c = in_data(cfg);
    const std::string chunk = std::string(998, 'z') + "\r\n";
    std::size_t sent = 0;
    while (c.last == Action::NeedInput && sent < 1000 * chunk.size()) {
      CHECK(c.send(chunk + chunk) == "");
      sent += 2 * chunk.size();
      CHECK(c.s.message().size() <= 64 * 1024);
      if (sent + 2 * chunk.size() > 64 * 1024) break;
    }
    // The pair that crosses the limit gets the 552 and the session closes: no end of data awaited.
    CHECK(c.send(chunk + chunk + "more bytes the session never reads") ==
          "552 5.3.4 Message size exceeds fixed limit\r\n");
    CHECK(c.last == Action::Close);
    CHECK(c.s.message().empty());
  }

}

TEST_CASE("SMTP smuggling: no lookalike of <CRLF>.<CRLF> ends DATA") {
  const std::vector<std::string> variants = {
      "\n.\n",     "\r.\r",     "\r.\n",   "\n.\r",
      "\n.\r\n",   "\r\n.\n",   "\r.\r\n", "\r\n.\r",
      std::string("\r\n\0.\r\n", 6), std::string("\r\n.\0\r\n", 6),
  };
  for (const std::string& variant : variants) {
    CAPTURE(variant);
    Client c;
    std::string out = c.send(kOpen);
    REQUIRE(out.ends_with(kOpenReplies));
    // If the variant ended DATA, the smuggled transaction would be run as commands.
    const std::string smuggled =
        "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.jp>\r\nDATA\r\nsmuggled\r\n";
    out = c.send("Subject: x\r\n\r\nhello" + variant + smuggled + "\r\n.\r\n");
    CHECK(c.last == Action::NeedInput);
    CHECK(out.starts_with("554 5.6.0 Message rejected: "));
    CHECK(out.find("\r\n") == out.size() - 2);  // exactly one reply
    CHECK(c.s.errors() == 1);
    // No transaction survived: neither the real one nor a smuggled one.
    CHECK(c.send("DATA\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  }
}

TEST_CASE("pipelining: two transactions in one read, answered in order, nothing injected") {
  Client c;
  const std::string input = std::string(kOpen) + "first\r\n.\r\n" +
                            "MAIL FROM:<>\r\nRCPT TO:<c@example.jp>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n";
  std::string out = c.send(input);
  REQUIRE(c.last == Action::Message);
  CHECK(out.ends_with(kOpenReplies));
  CHECK(c.s.message() == "first\r\n");
  CHECK(c.s.envelope().rcpt_to == std::vector<std::string>{"b@example.jp"});
  c.s.queued("ONE");
  CHECK(c.s.process() == Action::Message);
  CHECK(c.s.take_output() == "250 2.0.0 Ok: queued as ONE\r\n" + std::string(kOpenReplies));
  CHECK(c.s.message() == "second\r\n");
  CHECK(c.s.envelope().mail_from.empty());
  CHECK(c.s.envelope().rcpt_to == std::vector<std::string>{"c@example.jp"});
  c.s.queued("TWO");
  CHECK(c.s.process() == Action::Close);
  CHECK(c.s.take_output() == "250 2.0.0 Ok: queued as TWO\r\n221 2.0.0 Bye\r\n");
  CHECK(c.s.errors() == 0);
}

TEST_CASE("too many errors: 421 4.7.0 and close at max_errors, not before") {
  ServerConfig cfg = test_config();
  cfg.limits.max_errors = 3;
  Client c(cfg);
  CHECK(c.send("BAD\r\nBAD\r\n") == "500 5.5.2 Error: command not recognized\r\n"
                                     "500 5.5.2 Error: command not recognized\r\n");
  CHECK(c.last == Action::NeedInput);
  CHECK(c.s.errors() == 2);
  CHECK(c.send("MAIL FROM:<a@sender.example>\r\nNOOP\r\n") ==
        "503 5.5.1 Error: send HELO/EHLO first\r\n421 4.7.0 mx.test.jp Error: too many errors\r\n");
  CHECK(c.last == Action::Close);
}

TEST_CASE("timeout and refusal close the session") {
  SUBCASE("timed_out") {
    Client c;
    c.send(kEhlo);
    c.s.timed_out();
    CHECK(c.s.process() == Action::Close);
    CHECK(c.s.take_output() == "421 4.4.2 mx.test.jp Error: timeout exceeded\r\n");
  }
  SUBCASE("timed_out in DATA: the minimum-rate reply, and the partial message is never handed over") {
    Client c = in_data();
    c.send("Subject: partial\r\n\r\npartial");
    c.s.timed_out();
    CHECK(c.send("\r\n.\r\n") == "421 4.4.2 mx.test.jp Error: timeout exceeded: DATA below the minimum rate\r\n");
    CHECK(c.last == Action::Close);
    CHECK(c.s.message().empty());
    CHECK(c.s.envelope().rcpt_to.empty());
  }
  SUBCASE("refuse: the reply replaces the unsent greeting, and input is never processed") {
    ServerSession s(test_config(), "198.51.100.7");
    s.refuse(make_reply<ReplyKind::TooManyConnections>("mx.test.jp"));
    s.feed("EHLO x.example\r\n");
    CHECK(s.process() == Action::Close);
    CHECK(s.take_output() == "421 4.7.0 mx.test.jp Too many connections, try again later\r\n");
  }
}

TEST_CASE("performance sanity: a 10 MB message in 4 KB reads completes") {
  Client c = in_data();
  const std::string line = std::string(78, 'm') + "\r\n";
  std::string message = "Subject: big\r\n\r\n";
  while (message.size() < 10 * 1024 * 1024) message += line;
  const std::string wire = message + ".\r\n";
  for (std::size_t pos = 0; pos < wire.size(); pos += 4096) {
    c.send(std::string_view(wire).substr(pos, 4096));
    if (pos + 4096 < wire.size()) REQUIRE(c.last == Action::NeedInput);
  }
  REQUIRE(c.last == Action::Message);
  CHECK(c.s.message().size() == message.size());
  CHECK(c.s.message() == message);
}

TEST_CASE("refuse before the greeting is sent replaces the 220, after it follows it") {
  ServerSession early(ServerConfig{}, "192.0.2.1");
  early.refuse(make_reply<ReplyKind::ClientNetworkDenied>());
  CHECK(early.process() == ServerSession::Action::Close);
  CHECK(early.take_output() == "554 5.7.1 Access denied: client network not allowed\r\n");

  ServerSession late(ServerConfig{}, "192.0.2.1");
  CHECK(late.take_output().rfind("220 ", 0) == 0);
  late.refuse(make_reply<ReplyKind::ShuttingDown>("localhost"));
  CHECK(late.process() == ServerSession::Action::Close);
  CHECK(late.take_output() == "421 4.3.2 localhost Service shutting down\r\n");
}

TEST_CASE("RCPT with a routing construct is a relay refusal, not a syntax error") {
  ServerConfig cfg;
  cfg.accept_domains = {"demo.test"};
  for (const char* path : {"<@demo.test:u@other.example>", "<u@demo.test.>", "<u@[127.0.0.1]>"}) {
    ServerSession s(cfg, "192.0.2.1");
    s.feed(std::string("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:") + path + "\r\n");
    CHECK(s.process() == ServerSession::Action::NeedInput);
    auto out = s.take_output();
    CHECK_MESSAGE(out.find("\r\n550 5.7.1 ") != std::string::npos, path);
  }
  ServerSession s(cfg, "192.0.2.1");
  s.feed("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:u@demo.test\r\n");
  s.process();
  CHECK(s.take_output().find("\r\n501 5.1.3 ") != std::string::npos);
}

TEST_CASE("DATA is handed out as it is parsed (take_data), unstuffed, and adds up to the message") {
  const std::string body = "Subject: s\r\n\r\n..dot-stuffed line\r\nplain line\r\n";
  // The same wire bytes, fed whole or a byte at a time with take_data() between, give the same bytes.
  Client whole = in_data();
  CHECK(whole.send(body + ".\r\n") == "");
  REQUIRE(whole.last == Action::Message);
  const std::string expected = whole.s.message();
  CHECK(expected == "Subject: s\r\n\r\n.dot-stuffed line\r\nplain line\r\n");

  Client streamed = in_data();
  std::string got;
  const std::string wire = body + ".\r\n";
  for (std::size_t i = 0; i < wire.size(); ++i) {
    CHECK(streamed.send(wire.substr(i, 1)) == "");
    got += streamed.s.take_data();
    // Nothing of the terminator (or a stuffing dot) is ever handed out.
    CHECK(got == expected.substr(0, got.size()));
  }
  REQUIRE(streamed.last == Action::Message);
  got += streamed.s.take_data();
  CHECK(got == expected);
  CHECK(streamed.s.message_size() == expected.size());
  streamed.s.queued("ID1");
  CHECK(streamed.s.take_output() == "250 2.0.0 Ok: queued as ID1\r\n");
}

TEST_CASE("DATA sink: a refused message says so while it streams, and hands out nothing more") {
  Client c = in_data();
  CHECK(c.send("Subject: s\r\n\r\nfine\r\n") == "");
  CHECK_FALSE(c.s.data_failed());
  CHECK(c.s.take_data() == "Subject: s\r\n\r\nfine\r\n");
  CHECK(c.send("bare\nline\r\nmore\r\n") == "");
  CHECK(c.s.data_failed());
  CHECK(c.s.take_data().empty());
  CHECK(c.send(".\r\n") == std::string(kBare));
  CHECK_FALSE(c.s.data_failed());
  CHECK_FALSE(c.s.in_data());
}
