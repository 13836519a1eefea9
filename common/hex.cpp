// Hex, SHA-256 and HMAC (see hex.hpp). The digest goes through OpenSSL's EVP interface, FIPS-capable.
#include "common/hex.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <array>
#include <utility>

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

std::string hmac_sha256(std::string_view key, std::string_view data) {
  HmacSha256 mac(key);
  mac.update(data);
  return mac.final_hex();
}

HmacSha256::HmacSha256(std::string_view key) : ctx_(nullptr), ok_(false) {
  EVP_MAC* algo = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (algo == nullptr) return;
  auto* ctx = EVP_MAC_CTX_new(algo);
  EVP_MAC_free(algo);  // the context keeps its own reference
  if (ctx == nullptr) return;
  ctx_ = ctx;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
  ok_ = EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1;
}

HmacSha256::HmacSha256(HmacSha256&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)), ok_(std::exchange(o.ok_, false)) {}

HmacSha256& HmacSha256::operator=(HmacSha256&& o) noexcept {
  if (this != &o) {
    EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_));
    ctx_ = std::exchange(o.ctx_, nullptr);
    ok_ = std::exchange(o.ok_, false);
  }
  return *this;
}

HmacSha256::~HmacSha256() { EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_)); }

void HmacSha256::update(std::string_view data) {
  if (ok_ && !data.empty())
    ok_ = EVP_MAC_update(static_cast<EVP_MAC_CTX*>(ctx_), reinterpret_cast<const unsigned char*>(data.data()),
                         data.size()) == 1;
}

std::string HmacSha256::final_hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  std::size_t len = 0;
  if (!ok_ || EVP_MAC_final(static_cast<EVP_MAC_CTX*>(ctx_), md.data(), &len, md.size()) != 1) return {};
  ok_ = false;
  return encode(std::string_view(reinterpret_cast<const char*>(md.data()), len));
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mugai::hex
