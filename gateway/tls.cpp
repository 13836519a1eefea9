// Connection plumbing: per-operation deadlines over plain or TLS streams, and the TLS contexts.
#include "gateway/net.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace mugai::gateway {

Conn::Conn(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {}

void Conn::arm(Clock::duration limit) {
  expired_ = false;
  timer_.expires_after(limit);
  timer_.async_wait([self = shared_from_this()](error_code ec) {
    // A re-armed timer has a future expiry: only a deadline that really passed cancels the socket.
    if (!ec && self->timer_.expiry() <= Clock::now()) {
      self->expired_ = true;
      error_code ignored;
      self->socket_.cancel(ignored);
    }
  });
}

void Conn::disarm() { timer_.cancel(); }

namespace {
// A cancelled operation whose deadline fired reports timed_out, so callers can answer 421 4.4.2.
void classify(error_code& ec, bool expired) {
  if (expired && (ec == asio::error::operation_aborted || !ec)) ec = asio::error::timed_out;
}
}  // namespace

awaitable<std::string_view> Conn::read_some(Clock::duration limit, error_code& ec) {
  constexpr std::size_t kChunk = 64 * 1024;
  arm(limit);
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  std::string_view got;
  if (tls_) {
    tls_buf_.resize(kChunk);
    std::size_t n = co_await tls_->async_read_some(asio::buffer(tls_buf_), token);
    got = std::string_view(tls_buf_.data(), n);
  } else {
    thread_local std::string shared(kChunk, '\0');
    for (;;) {
      co_await socket_.async_wait(tcp::socket::wait_read, token);
      if (ec) break;
      socket_.non_blocking(true, ec);
      std::size_t n = ec ? 0 : socket_.read_some(asio::buffer(shared), ec);
      if (ec == asio::error::would_block) continue;  // spurious readiness
      got = std::string_view(shared.data(), n);
      break;
    }
  }
  disarm();
  classify(ec, expired_);
  co_return got;
}

awaitable<void> Conn::write(std::string_view data, Clock::duration limit, error_code& ec) {
  arm(limit);
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  if (tls_)
    co_await asio::async_write(*tls_, asio::buffer(data), token);
  else
    co_await asio::async_write(socket_, asio::buffer(data), token);
  disarm();
  classify(ec, expired_);
}

awaitable<void> Conn::run_handshake(ssl::stream_base::handshake_type type, Clock::duration limit,
                                    error_code& ec) {
  arm(limit);
  co_await tls_->async_handshake(type, asio::redirect_error(asio::use_awaitable, ec));
  disarm();
  classify(ec, expired_);
}

awaitable<void> Conn::handshake(ssl::context& ctx, ssl::stream_base::handshake_type type,
                                Clock::duration limit, error_code& ec) {
  tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, ctx);
  co_await run_handshake(type, limit, ec);
}

namespace {
std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0xf];
  }
  return out;
}

// Why a verify handshake's chain or name failed, in the words an operator needs to fix the next hop.
std::string verify_failure(long result, const std::string& host) {
  if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH)
    return "certificate name does not match " + host;
  return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
}

// What the peer's certificate fails of `policy` after a completed handshake ("" = nothing).
std::string check_peer(SSL* ssl, const ClientTls& policy, const std::string& host) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return "next hop sent no certificate";
  if (policy.level == proto::TlsPolicy::Verify) {
    // SSL_VERIFY_PEER already failed the handshake on a bad chain; checked again so that a context
    // set up otherwise can never let an unverified peer through.
    if (long r = SSL_get_verify_result(ssl); r != X509_V_OK) return verify_failure(r, host);
  } else if (policy.level == proto::TlsPolicy::Fingerprint) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1) return "cannot hash the next hop's certificate";
    std::string got = hex(md, n);
    if (std::find(policy.fingerprints.begin(), policy.fingerprints.end(), got) == policy.fingerprints.end())
      return "fingerprint not in delivery.tls_fingerprints: sha256 " + got;
  }
  return {};
}
}  // namespace

awaitable<std::string> Conn::client_handshake(const ClientTls& policy, const std::string& host,
                                              Clock::duration limit) {
  tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *policy.context);
  SSL* ssl = tls_->native_handle();
  error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  // RFC 6066 §3: SNI carries host names only, never an address literal.
  if (ec) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (policy.level == proto::TlsPolicy::Verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int named = ec ? X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size())
                         : X509_VERIFY_PARAM_set1_ip_asc(param, ip.to_string().c_str());
    if (named != 1) co_return "cannot check the certificate against " + host;
  }
  ec.clear();
  co_await run_handshake(ssl::stream_base::client, limit, ec);
  if (ec) {
    const long verified = SSL_get_verify_result(ssl);
    if (policy.level == proto::TlsPolicy::Verify && verified != X509_V_OK) co_return verify_failure(verified, host);
    co_return ec.message();
  }
  if (policy.level == proto::TlsPolicy::Verify || policy.level == proto::TlsPolicy::Fingerprint)
    co_return check_peer(ssl, policy, host);
  co_return std::string();
}

void Conn::cancel() {
  error_code ignored;
  socket_.cancel(ignored);
}

void Conn::close() {
  error_code ignored;
  timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

std::string Conn::remote_ip() const {
  error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string();
  return addr.to_string();
}

namespace {
constexpr long kTlsOptions = ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1 | ssl::context::single_dh_use;
}

Expected<std::shared_ptr<ssl::context>> make_server_tls(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(kTlsOptions);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) return Error{"smtp.tls_cert: cannot load '" + cert + "': " + ec.message()};
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) return Error{"smtp.tls_key: cannot load '" + key + "': " + ec.message()};
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return Error{"smtp.tls_key: does not match the certificate in '" + cert + "'"};
  return ctx;
}

Expected<std::shared_ptr<const ClientTls>> make_client_tls(const config::Delivery& delivery) {
  auto tls = std::make_shared<ClientTls>();
  tls->level = delivery.tls;
  tls->fingerprints = delivery.tls_fingerprints;
  tls->context = std::make_shared<ssl::context>(ssl::context::tls_client);
  auto& ctx = *tls->context;
  ctx.set_options(kTlsOptions);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // Only verify authenticates the chain; fingerprint pins the certificate itself, so a private CA
  // or a self-signed next hop is fine there (Postfix semantics), and check_peer does the pinning.
  if (delivery.tls != proto::TlsPolicy::Verify) {
    ctx.set_verify_mode(ssl::verify_none);
    return std::shared_ptr<const ClientTls>(std::move(tls));
  }
  ctx.set_verify_mode(ssl::verify_peer);
  error_code ec;
  if (delivery.tls_ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
    if (ec) return Error{"delivery.tls: cannot load the system's CAs: " + ec.message()};
  } else {
    ctx.load_verify_file(delivery.tls_ca_file, ec);
    if (ec) return Error{"delivery.tls_ca_file: cannot load '" + delivery.tls_ca_file + "': " + ec.message()};
  }
  return std::shared_ptr<const ClientTls>(std::move(tls));
}

}  // namespace mugai::gateway
