// Fuzz target: the input made valid UTF-8 (as a sanitized body is), split at its first NUL into two
// texts, through password_candidates(). Oracle: at most kMaxPasswords candidates, each 1..kMaxPasswordSize
// bytes of printable ASCII, no two alike; the same result when called twice.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/oracle.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/passwords.hpp"
#include "sanitizers/pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto nul = bytes.find('\0');
  std::vector<std::string> texts{mugai::sanitize::to_utf8(bytes.substr(0, nul), "UTF-8").text};
  if (nul != std::string_view::npos) texts.push_back(mugai::sanitize::to_utf8(bytes.substr(nul + 1), "UTF-8").text);
  const std::vector<std::string> got = mugai::sanitize::password_candidates(texts);
  if (got.size() > mugai::sanitize::kMaxPasswords) mugai::fuzz::fail("more candidates than kMaxPasswords");
  std::set<std::string> seen;
  for (const auto& c : got) {
    if (c.empty() || c.size() > mugai::sanitize::kMaxPasswordSize) mugai::fuzz::fail("a candidate out of bounds", c);
    if (!std::all_of(c.begin(), c.end(), [](char ch) { return ch > 0x20 && ch < 0x7F; }))
      mugai::fuzz::fail("a candidate that is not printable ASCII", c);
    if (!seen.insert(c).second) mugai::fuzz::fail("a candidate twice", c);
  }
  if (mugai::sanitize::password_candidates(texts) != got) mugai::fuzz::fail("not deterministic");
  return 0;
}
