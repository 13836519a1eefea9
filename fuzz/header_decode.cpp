// Fuzz target: an arbitrary header section through parse_header_block() and rebuild_headers(), the
// path every delivered header takes, and rfc2047_encode(). (sanitizers/ has no RFC 2047/2231 decoder
// yet: when one lands, feed it from here.) Oracle: the rebuilt block is CRLF-framed, lines <= 998
// octets, 7-bit, control-free, allowlisted names at most once; encoded words round-trip.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "fuzz/oracle.hpp"
#include "sanitizers/headers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mugai::fuzz::fail;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto rebuilt = mugai::sanitize::rebuild_headers(mugai::sanitize::parse_header_block(input));
  const std::string_view block = rebuilt.block;

  if (!mugai::fuzz::crlf_only(block)) fail("rebuilt header block has a bare CR or LF", block);
  std::set<std::string> names;
  std::size_t pos = 0;
  while (pos < block.size()) {
    const std::size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) fail("rebuilt header block does not end with CRLF", block);
    const std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) fail("empty line inside the rebuilt header block", block);
    if (line.size() > 998) fail("rebuilt header line over 998 octets", line);
    for (const char ch : line) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x80 || (c < 0x20 && ch != '\t') || c == 0x7f) fail("rebuilt header has a raw 8-bit or control octet", line);
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (names.empty()) fail("rebuilt block starts with a continuation", block);
      continue;
    }
    const std::string name(line.substr(0, line.find(':')));
    if (name.size() == line.size()) fail("rebuilt header line without a colon", line);
    if (!mugai::fuzz::kept_header_allowed(name)) {
      fail("rebuilt header outside the original-header allowlist", line);
    }
    if (!names.insert(name).second) fail("rebuilt header repeated", line);
  }

  // The encoder on its own: any valid UTF-8 (here the first input line) must round-trip through
  // encoded words of at most 75 characters, each holding whole characters.
  const std::string_view text = input.substr(0, input.find_first_of("\r\n"));
  if (!mugai::fuzz::valid_utf8(text)) return 0;
  const std::string encoded = mugai::sanitize::rfc2047_encode(text);
  std::string decoded;
  std::size_t pos_word = 0;
  while (pos_word < encoded.size()) {
    std::size_t end = encoded.find(' ', pos_word);
    if (end == std::string::npos) end = encoded.size();
    const std::string_view word = std::string_view(encoded).substr(pos_word, end - pos_word);
    pos_word = end + 1;
    if (word.size() > 75 || word.substr(0, 10) != "=?UTF-8?B?" || word.size() < 12 ||
        word.substr(word.size() - 2) != "?=") {
      fail("malformed encoded word", word);
    }
    const auto piece = mugai::fuzz::base64_decode_strict(word.substr(10, word.size() - 12));
    if (!piece || !mugai::fuzz::valid_utf8(*piece)) fail("encoded word does not hold whole UTF-8 characters", word);
    decoded += *piece;
  }
  if (decoded != text) fail("rfc2047_encode does not round-trip", text);
  return 0;
}
