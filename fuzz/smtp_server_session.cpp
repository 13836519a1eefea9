// Fuzz target: arbitrary client bytes, split into reads as the input says, into the SMTP server
// state machine. Oracle: well-formed replies with enhanced codes, completed messages with CRLF line
// ends only, and never more messages than <CRLF>.<CRLF> terminators in the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/oracle.hpp"
#include "proto/smtp_server.hpp"

namespace {

using mugai::fuzz::fail;
using mugai::proto::ServerSession;

constexpr std::string_view kHostname = "fuzz.example";

// Non-overlapping occurrences. A message needs its own terminator: the CRLF before the dot is the
// last line of that message (or, for an empty message, the end of its own DATA command), and
// MAIL/RCPT/DATA lie between two messages, so terminators of different messages never share bytes.
// An empty first line "." is no exception: "DATA\r\n.\r\n" already contains the sequence.
std::size_t count_terminators(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t p = s.find("\r\n.\r\n"); p != std::string_view::npos; p = s.find("\r\n.\r\n", p + 5)) ++n;
  return n;
}

// Every reply in `out` is CRLF-framed "ddd[ -]" lines of one code; all but the greeting, the EHLO
// reply and 354 carry an enhanced status code of the reply's class.
void check_replies(std::string_view out) {
  bool first_reply = true;
  std::size_t pos = 0;
  while (pos < out.size()) {
    const std::size_t reply_start = pos;
    std::string_view code;
    bool exempt = false;
    for (bool first_line = true, last = false; !last; first_line = false) {
      const std::size_t eol = out.find("\r\n", pos);
      if (eol == std::string_view::npos) fail("reply not terminated by CRLF", out.substr(pos));
      const std::string_view line = out.substr(pos, eol - pos);
      pos = eol + 2;
      if (!mugai::fuzz::reply_line_ok(line, false)) fail("malformed reply line", line);
      if (first_line) {
        code = line.substr(0, 3);
        const bool ehlo = code == "250" && line.substr(4) == kHostname;
        exempt = (first_reply && code == "220") || code == "354" || ehlo;
      } else if (line.substr(0, 3) != code) {
        fail("multi-line reply changes its code", out.substr(reply_start, pos - reply_start));
      }
      if (!exempt && !mugai::fuzz::reply_line_ok(line, true)) fail("reply line lacks an enhanced status code", line);
      last = line[3] == ' ';
    }
    first_reply = false;
  }
}

void check_message(std::string_view m) {
  if (!mugai::fuzz::crlf_only(m)) fail("completed message has a bare CR or LF", m);
  if (!m.empty() && m.substr(m.size() - 2) != "\r\n") fail("completed message does not end with CRLF", m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mugai::fuzz::FuzzInput in(data, size);
  const std::uint8_t flags = in.flags_and_split();
  const std::string_view stream = in.rest();

  mugai::proto::ServerConfig config;
  config.hostname = std::string(kHostname);
  config.tls_available = flags & 1;
  config.tls_required = flags & 2;
  config.accept_domains = {"example.org"};
  // A route that cannot take some valid recipients (as the maildir refuses a '/'), so RCPT's 553 is reached.
  config.route_accepts = [](std::string_view mailbox) { return mailbox.find('/') == std::string_view::npos; };
  // Small limits so the fuzzer reaches every limit path with short inputs.
  config.limits.max_command_line = 128;
  config.limits.max_text_line = 200;
  config.limits.max_header_section = 512;
  config.limits.max_message_size = 2048;
  config.limits.max_recipients = 3;
  config.limits.recipient_overshoot_limit = 2;
  config.limits.max_errors = 6;
  ServerSession session(config, "192.0.2.1");

  std::string out;
  std::size_t messages = 0;
  bool timed_out = false;
  // Each step consumes input or answers an action that input caused: this bounds a correct session.
  const std::size_t max_steps = 4 * size + 16;
  for (std::size_t step = 0;; ++step) {
    if (step > max_steps) fail("server session makes no progress", stream);
    const ServerSession::Action action = session.process();
    out += session.take_output();
    if (action == ServerSession::Action::Close) break;
    if (action == ServerSession::Action::StartTls) {
      session.tls_started();
    } else if (action == ServerSession::Action::Message) {
      check_message(session.message());
      ++messages;
      if (messages % 2) {
        session.queued("FUZZ1");
      } else {
        session.queue_failed("spool full");
      }
    } else if (!in.empty()) {
      if (!session.in_data() && session.buffered() > config.limits.max_command_line) {
        fail("command-phase buffer exceeds max_command_line", stream);
      }
      session.feed(in.chunk());
    } else if ((flags & 4) && !timed_out) {
      timed_out = true;
      session.timed_out();
    } else {
      break;
    }
  }
  check_replies(out);
  if (messages > count_terminators(stream)) fail("more messages completed than <CRLF>.<CRLF> in the input", stream);
  return 0;
}
