// Shared fixtures for the sanitizer tests: the context a caller passes (with its quarantine id), the
// parts an outcome asks to hold, and a structural check that a rebuilt message is one text/plain part
// with CRLF line ends and no line over 998 octets.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "sanitizers/codec.hpp"
#include "sanitizers/pipeline.hpp"

namespace mugai::sanitize::test {

inline MessageContext test_context() {
  MessageContext ctx;
  ctx.queue_id = "Q1234";
  ctx.gateway_hostname = "mugai.example.lg.jp";
  ctx.client_ip = "192.0.2.7";
  ctx.helo = "mx.sender.example";
  ctx.mail_from = "alice@sender.example";
  ctx.rcpt_to = {"bob@city.example.lg.jp"};
  ctx.received_unix = 1700000000;  // Tue, 14 Nov 2023 22:13:20 +0000
  ctx.quarantine_id = "QTEST1";
  return ctx;
}

// The parts the outcome asks to quarantine; none when it asks for nothing.
inline std::vector<RemovedPart> held(const Outcome& out) {
  return out.quarantine ? out.quarantine->parts : std::vector<RemovedPart>{};
}

struct Rebuilt {
  std::string header;  // up to and including the empty line
  std::string body;    // decoded from its transfer encoding, LF line ends
};

// Splits and decodes `message`, checking the invariants every sanitized message must satisfy.
inline Rebuilt check_rebuilt(const std::string& message) {
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') REQUIRE_MESSAGE((i > 0 && message[i - 1] == '\r'), "bare LF at " << i);
    if (message[i] == '\r') REQUIRE_MESSAGE((i + 1 < message.size() && message[i + 1] == '\n'), "bare CR at " << i);
  }
  std::size_t start = 0;
  while (start < message.size()) {
    const std::size_t end = message.find("\r\n", start);
    REQUIRE(end != std::string::npos);  // every line, the last too, ends in CRLF
    REQUIRE_MESSAGE(end - start <= 998, "line of " << end - start << " octets");
    start = end + 2;
  }
  const std::size_t sep = message.find("\r\n\r\n");
  REQUIRE(sep != std::string::npos);
  Rebuilt r{message.substr(0, sep + 4), {}};
  CHECK(r.header.find("\r\nContent-Type: text/plain; charset=UTF-8\r\n") != std::string::npos);
  CHECK(r.header.find("\r\nContent-Type:") == r.header.rfind("\r\nContent-Type:"));  // exactly one
  const std::string raw = message.substr(sep + 4);
  std::string body;
  if (r.header.find("Content-Transfer-Encoding: quoted-printable\r\n") != std::string::npos) {
    auto d = qp_decode(raw, raw.size());
    REQUIRE(d.has_value());
    body = *d;
  } else {
    REQUIRE(r.header.find("Content-Transfer-Encoding: 7bit\r\n") != std::string::npos);
    body = raw;
  }
  for (const char c : body) {
    if (c != '\r') r.body.push_back(c);
  }
  return r;
}

// The body after the notice every sanitized message opens with when nothing was removed (default policy).
inline std::string after_clean_notice(const std::string& body) {
  const std::string notice = clean_notice(Policy{}) + "\n";
  REQUIRE_MESSAGE(body.compare(0, notice.size(), notice) == 0, "no clean notice at the top of: " << body.substr(0, 200));
  return body.substr(notice.size());
}

// Header field names of the rebuilt message, in order (continuation lines skipped).
inline std::vector<std::string> header_names(const std::string& header) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start < header.size()) {
    const std::size_t end = header.find("\r\n", start);
    const std::string line = header.substr(start, end - start);
    start = end + 2;
    if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;
    names.push_back(line.substr(0, line.find(':')));
  }
  return names;
}

}  // namespace mugai::sanitize::test
