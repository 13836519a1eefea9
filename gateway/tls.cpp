// Connection plumbing: per-operation deadlines over plain or TLS streams, and the TLS contexts.
#include "gateway/net.hpp"

#include <openssl/ssl.h>

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

awaitable<void> Conn::handshake(ssl::context& ctx, ssl::stream_base::handshake_type type,
                                Clock::duration limit, error_code& ec, const std::string& sni) {
  tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, ctx);
  if (!sni.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
  arm(limit);
  co_await tls_->async_handshake(type, asio::redirect_error(asio::use_awaitable, ec));
  disarm();
  classify(ec, expired_);
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

std::shared_ptr<ssl::context> make_client_tls() {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(kTlsOptions);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(ssl::verify_none);
  return ctx;
}

}  // namespace mugai::gateway
