// SMTP replies (RFC 5321 §4.2) with RFC 3463 enhanced status codes, and their wire form. Replies we
// compose come from the table in proto/replies.hpp; replies parsed from a next hop are Replies too.
#pragma once

#include <string>
#include <vector>

namespace mugai::proto {

struct Reply {
  int code = 0;                    // 2xx..5xx
  std::string enhanced;            // "2.0.0"; empty only for the greeting/multi-line EHLO first line rules
  std::vector<std::string> lines;  // text of each line, without code or CRLF

  // "250-first\r\n250 last\r\n"; the enhanced code is prefixed to every line (RFC 2034 §3),
  // except where `enhanced` is empty (220 greeting, EHLO keyword lines).
  std::string wire() const;
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
};

}  // namespace mugai::proto
