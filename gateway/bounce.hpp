// Delivery Status Notifications (RFC 3464) for messages that failed permanently or expired:
// multipart/report with a human-readable part (Japanese and English), message/delivery-status,
// and text/rfc822-headers of the (sanitized) original. Pure function: time comes in as a value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/spool.hpp"

namespace mugai::gateway {

struct FailedRecipient {
  std::string rcpt;
  std::string status;      // enhanced code, e.g. "5.1.1" (expiry: "4.4.7")
  std::string diagnostic;  // the next hop's reply as text ("550 5.1.1 no such user"), or why it expired
  std::string remote_mta;  // next hop name, may be empty
};

// One header-safe line of at most 900 octets for a value from outside: controls (CR, LF, TAB...)
// become spaces and non-ASCII bytes '?', so "550 x\r\nBcc: victim" can never start a header line.
std::string flatten(std::string_view untrusted);

// The DSN message (CRLF line ends), From MAILER-DAEMON@reporting_mta, To the original sender.
// The caller spools it with a null sender and Route::Bounce; it must never be called for a
// message whose own sender is null.
std::string make_dsn(const SpoolEntry& original, const std::vector<FailedRecipient>& failed,
                     const std::string& reporting_mta, std::int64_t now_unix);

}  // namespace mugai::gateway
