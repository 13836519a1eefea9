// Strict RFC 5321 path parsing for MAIL FROM / RCPT TO, and relay control.
// Only plain `local@domain` mailboxes in accepted domains are routable; everything an open-relay
// probe uses (percent hack, source routes, bang paths, quoted local parts holding '@', trailing
// dots, address literals) is refused, so the gateway can never be used to reach other domains.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace mugai::proto {

struct Mailbox {
  std::string local;   // as received (case preserved)
  std::string domain;  // lower-cased ASCII; empty only for the null path
  bool is_null() const { return local.empty() && domain.empty(); }
  std::string str() const { return is_null() ? std::string{} : local + "@" + domain; }
};

struct PathParams {
  Mailbox mailbox;
  std::vector<std::pair<std::string, std::string>> params;  // ESMTP keyword=value, keyword upper-cased
};

// Error::kind of a syntactically recognizable routing construct (source route, address literal,
// trailing dot): a relay attempt rather than a typo, so RCPT answers it 550 5.7.1 like any relay.
constexpr int kRoutingRefused = 1;

// Parses the argument after "MAIL FROM:" or "RCPT TO:" (e.g. "<a@b.example> SIZE=123").
// `allow_null` accepts "<>" (MAIL FROM only). Source routes, address literals, and malformed
// syntax are errors; the error message is suitable for a reply text.
Expected<PathParams> parse_path(std::string_view untrusted_arg, bool allow_null);

// Relay control: true when the mailbox may be accepted as a recipient. The local part must not
// hold '%', '!' or '@' (quoted or not), the domain must be a hostname in `accept_domains`
// (compared case-insensitively; an entry ".example.jp" also accepts every subdomain).
bool recipient_allowed(const Mailbox& rcpt, const std::vector<std::string>& accept_domains);

}  // namespace mugai::proto
