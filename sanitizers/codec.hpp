// Transfer-encoding codecs used by the pipeline. Decoders are bounded: they stop with an
// error as soon as the output would exceed `max_out`, so hostile input cannot make them allocate more.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace mugai::sanitize {

// Lenient like real mail readers: characters outside the alphabet (line breaks, junk) are skipped,
// decoding stops at the first '='.
Expected<std::string> base64_decode(std::string_view untrusted, std::size_t max_out);
std::string base64_encode(std::string_view bytes);

// RFC 2045 §6.7 decoding: soft line breaks removed, =XX decoded, malformed '=' kept literally.
Expected<std::string> qp_decode(std::string_view untrusted, std::size_t max_out);

// Encodes text whose line breaks are LF into quoted-printable with CRLF line ends; every output line
// is at most 76 characters, trailing white space and non-ASCII/control bytes (but TAB) are encoded.
std::string qp_encode(std::string_view text_lf);

}  // namespace mugai::sanitize
