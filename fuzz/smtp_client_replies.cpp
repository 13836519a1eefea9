// Fuzz target: arbitrary next-hop replies into the delivery client state machine. Oracle: the
// session ends, commands are CRLF-framed, the body is sent only after a 3xx to DATA and always
// dot-stuffed into exactly one end of data, and no transaction is reported delivered unless its
// body went out.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/oracle.hpp"
#include "proto/smtp_client.hpp"

namespace {

using mugai::fuzz::fail;
using mugai::proto::ClientSession;

constexpr std::string_view kMarker = "X-Fuzz-Body-Marker";
// Bare LF, a lone dot line and a fake command in the body: a smuggling attempt the client must defuse.
constexpr std::string_view kBody =
    "Subject: fuzz\r\nX-Fuzz-Body-Marker: 1\r\n\r\nline one\n.\r\nMAIL FROM:<evil@example.com>\r\n.\r.\r\n..\r\nend";

std::size_t count(std::string_view s, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string_view::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

bool has_intermediate_reply(std::string_view replies) {
  return (!replies.empty() && replies.front() == '3') || replies.find("\n3") != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mugai::fuzz::FuzzInput in(data, size);
  const std::uint8_t flags = in.flags_and_split();
  const std::string_view replies = in.rest();

  mugai::proto::ClientConfig config;
  config.helo_name = "gw.fuzz.example";
  config.tls = static_cast<mugai::proto::TlsPolicy>(flags % 3);
  config.max_reply_line = 256;
  config.max_reply_lines = 8;
  const bool handshake_succeeds = flags & 4;
  unsigned transactions_left = 1 + ((flags >> 3) & 1);
  ClientSession session(config);

  std::string out;
  std::size_t bodies_before = 0;
  const std::size_t max_steps = 4 * size + 16;
  for (std::size_t step = 0;; ++step) {
    if (step > max_steps) fail("client session makes no progress", replies);
    const ClientSession::Action action = session.process();
    out += session.take_output();
    if (action == ClientSession::Action::Closed) break;
    switch (action) {
      case ClientSession::Action::Ready:
        if (transactions_left == 0) {
          session.quit();
          break;
        }
        --transactions_left;
        bodies_before = count(out, kMarker);
        session.begin("sender@example.net", {"a@example.org", "not an address", "b@example.org"},
                      std::string(kBody));
        break;
      case ClientSession::Action::Done: {
        const auto& result = session.result();
        if (result.recipients.size() != 3) fail("transaction result lost recipients");
        for (const auto& r : result.recipients) {
          if (r.reply.code == 0) fail("recipient left without an outcome");
        }
        if (result.reply.code / 100 == 2 && count(out, kMarker) == bodies_before) {
          fail("transaction reported delivered but its body was never sent", replies);
        }
        break;
      }
      case ClientSession::Action::StartTls:
        if (handshake_succeeds) {
          session.tls_started();
        } else {
          session.tls_failed("handshake failed");
        }
        break;
      case ClientSession::Action::NeedInput:
        if (in.empty()) {
          session.connection_lost("connection closed by next hop");
        } else {
          session.feed(in.chunk());
        }
        break;
      case ClientSession::Action::Closed:
        break;
    }
  }
  out += session.take_output();

  if (!mugai::fuzz::crlf_only(out)) fail("client output has a bare CR or LF", out);
  const std::size_t bodies = count(out, kMarker);
  if (bodies > 0 && !has_intermediate_reply(replies)) fail("body sent without a 3xx reply to DATA", replies);
  if (count(out, "\r\n.\r\n") != bodies) fail("end-of-data sequences do not match the bodies sent", out);
  return 0;
}
