// Hexadecimal, SHA-256 digests and HMAC-SHA-256 tags: one table, one routine each for the whole tree.
#pragma once

#include <string>
#include <string_view>

namespace mugai::hex {

inline constexpr char kLower[] = "0123456789abcdef";
inline constexpr char kUpper[] = "0123456789ABCDEF";

// 0-15 for a hex digit of either case, -1 for anything else.
constexpr int value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Lowercase hex of `bytes`.
std::string encode(std::string_view bytes);

// Lowercase hex SHA-256 of `bytes`; empty only if OpenSSL cannot allocate (callers show "unknown").
std::string sha256(std::string_view bytes);

// Lowercase hex HMAC-SHA-256 of `data` under `key`; empty only if OpenSSL fails.
std::string hmac_sha256(std::string_view key, std::string_view data);

// The same tag computed over data that arrives in pieces (a message streamed to disk): the pieces'
// concatenation gives what hmac_sha256() gives. Movable, not copyable; final_hex() ends its use.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  HmacSha256(HmacSha256&&) noexcept;
  HmacSha256& operator=(HmacSha256&&) noexcept;
  ~HmacSha256();
  void update(std::string_view data);
  // Empty when OpenSSL failed at any step (callers fail closed on an empty tag).
  std::string final_hex();

 private:
  void* ctx_;  // EVP_MAC_CTX*, kept out of the header
  bool ok_;
};

// Compares two tags in time independent of where they differ (a MAC check must not leak how much of
// a forged tag was right).
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace mugai::hex
