// ASCII-only case folding and trimming for protocol tokens and header names. Locale-independent on
// purpose: std::tolower depends on the C locale, and a protocol keyword must not.
#pragma once

#include <string>
#include <string_view>

namespace mugai::ascii {

constexpr char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr char to_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

constexpr bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (to_lower(s[i]) != to_lower(prefix[i])) return false;
  }
  return true;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ci(a, b);
}

// Strips the characters in `set` from both ends (default: space and tab, RFC 5322 WSP).
constexpr std::string_view trim(std::string_view s, std::string_view set = " \t") {
  const std::size_t b = s.find_first_not_of(set);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(set) - b + 1);
}

}  // namespace mugai::ascii
