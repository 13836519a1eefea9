// The delivered message's MIME body, written from scratch: one text/plain part when nothing is
// attached, else multipart/mixed with that text part first and base64 attachments after it.
// Guarantees: CRLF line ends, 7-bit output, no line over 998 octets, attachment names that cannot
// leave their header parameter (no controls, quotes, backslashes or path separators), and a boundary
// that occurs in none of the parts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mugai::sanitize {

// The text part: the policy's charset with the lightest transfer encoding that keeps every line
// within 998 octets and, for anything but UTF-8 (which may use quoted-printable), 7-bit clean.
struct TextPart {
  std::string bytes;                // transfer-encoded, CRLF line ends, ending in CRLF unless empty
  std::string charset;              // the label to declare
  std::string_view encoding;        // "7bit", "quoted-printable" or "base64"
  std::size_t unrepresentable = 0;  // characters the charset lacks (written as 〓)
};
// `text_lf`: valid UTF-8 with LF line ends.
TextPart encode_text(std::string_view text_lf, std::string_view charset);

// Base64 in lines of 76 characters, each ending in CRLF.
std::string base64_lines(std::string_view bytes);

// An untrusted name made fit to show and to send as a filename: controls, bidi marks and invalid
// bytes escaped (escape_for_display), path separators, quotes and characters Windows refuses in names
// replaced by '_', a Windows device name (CON, NUL, COM1...) prefixed by '_', leading and trailing dots and spaces dropped, at most kMaxFilename bytes (cut on a
// character boundary); "attachment" + `extension` when nothing is left. Idempotent.
inline constexpr std::size_t kMaxFilename = 255;
std::string safe_filename(std::string_view untrusted_name, std::string_view extension);

struct Attachment {
  std::string_view bytes;
  std::string_view content_type;  // lowercase "type/subtype", from a fixed allowlist
  std::string_view filename;      // made safe again by the builder (safe_filename)
};

struct MimeBody {
  std::string header;  // "MIME-Version: 1.0", Content-Type and (single part) Content-Transfer-Encoding
  std::string body;    // what follows the empty line
  std::size_t unrepresentable = 0;
};
MimeBody build_mime_body(std::string_view text_lf, std::string_view charset,
                         const std::vector<Attachment>& attachments);

}  // namespace mugai::sanitize
