// The rebuilt message's header: only allowlisted fields of the original, unfolded, checked and
// re-encoded so that nothing in a value can start a new header line, folded to at most 998 octets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mugai::sanitize {

struct HeaderField {
  std::string name;   // as written
  std::string value;  // unfolded raw value, leading/trailing white space removed
};

// Reads the top-level header block (up to the first empty line or the end). Lines without a colon
// and continuation lines before any field are skipped.
std::vector<HeaderField> parse_header_block(std::string_view untrusted_message);

struct RebuiltHeaders {
  std::string block;               // "Name: value\r\n" lines, folded, in allowlist order
  std::vector<std::string> notes;  // what was dropped or re-encoded, for the report
  std::string subject;             // decoded UTF-8 (decode_header_text), for the quarantine listing
  std::string message_id;
  bool has_date = false;
};

RebuiltHeaders rebuild_headers(const std::vector<HeaderField>& fields);

// RFC 2047 decoding to UTF-8, lenient like the mail readers people use: encoded words are found
// anywhere (inside quoted strings and parameter values too), white space between two of them is
// dropped, adjacent words in the same charset are joined as bytes before decoding (so a character
// split across words survives), raw 8-bit text has its charset detected. Controls are kept: for
// callers that escape them (display_filename).
std::string decode_rfc2047(std::string_view untrusted);

// decode_rfc2047 for display (Subject in the quarantine record): TAB/CR/LF become spaces, other
// C0/C1 controls and DEL are removed, white-space runs collapse to one space, ends are trimmed.
std::string decode_header_text(std::string_view untrusted);

// "=?UTF-8?B?...?=" words (each at most 75 characters, split on character boundaries) joined by
// spaces. `utf8` must be valid UTF-8.
std::string rfc2047_encode(std::string_view utf8);

// "Name: value\r\n" folded at spaces so that no line exceeds 998 octets (aiming at 78); empty when
// the value has a run of more than 990 non-space octets and cannot be folded.
std::string fold_header(std::string_view name, std::string_view value);

// RFC 5322 date-time in UTC, e.g. "Thu, 01 Jan 1970 00:00:00 +0000".
std::string rfc5322_date(std::int64_t unix_seconds);

}  // namespace mugai::sanitize
