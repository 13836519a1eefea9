// Crockford base32 (no I, L, O, U): the alphabet of spool and quarantine ids, readable aloud and
// over the phone without confusing 0/O or 1/I/L.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mugai::id {

inline constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// The low 5·`digits` bits of `value`, most significant digit first.
inline std::string crockford(std::uint64_t value, std::size_t digits) {
  std::string out(digits, '0');
  for (std::size_t i = digits; i-- > 0; value >>= 5) out[i] = kCrockford[value & 31];
  return out;
}

inline bool is_crockford(char c) { return kCrockford.find(c) != std::string_view::npos; }

// crockford()'s inverse over `digits` (all valid Crockford digits; checked by the caller).
inline std::uint64_t from_crockford(std::string_view digits) {
  std::uint64_t value = 0;
  for (char c : digits) value = value * 32 + kCrockford.find(c);
  return value;
}

}  // namespace mugai::id
