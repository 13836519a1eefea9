// Hex and SHA-256 (see hex.hpp). The digest goes through OpenSSL's EVP interface, FIPS-capable.
#include "common/hex.hpp"

#include <openssl/evp.h>

#include <array>

namespace mugai::hex {

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kLower[c >> 4]);
    out.push_back(kLower[c & 0xF]);
  }
  return out;
}

std::string sha256(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) return {};
  return encode(std::string_view(reinterpret_cast<const char*>(md.data()), len));
}

}  // namespace mugai::hex
