// Asio plumbing shared by the server and the delivery client: one connection that may be upgraded to
// TLS, where every read, write and handshake carries its own deadline (DESIGN.md principle 5).
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "config/config.hpp"

namespace mugai::gateway {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

template <typename T>
using awaitable = asio::awaitable<T>;

struct ClientTls;

// A TCP connection, optionally upgraded to TLS in place (STARTTLS). Shared ownership so the
// deadline timer's handler can never outlive the socket it cancels.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  explicit Conn(tcp::socket socket);

  // Each returns with `ec` set; a passed deadline shows as asio::error::timed_out.
  // read_some's view is valid until the caller's next co_await: plain connections wait for
  // readability and then read into one buffer per thread, so 10,000 idle sessions hold no read
  // buffers; a TLS connection (whose reads may suspend mid-record) owns its buffer.
  awaitable<std::string_view> read_some(Clock::duration limit, error_code& ec);
  awaitable<void> write(std::string_view data, Clock::duration limit, error_code& ec);
  awaitable<void> handshake(ssl::context& ctx, ssl::stream_base::handshake_type type,
                            Clock::duration limit, error_code& ec);
  // STARTTLS towards the next hop `host` under `policy`: handshakes and, for verify and fingerprint,
  // checks the certificate. Returns why the connection must not carry mail ("" = it may).
  awaitable<std::string> client_handshake(const ClientTls& policy, const std::string& host,
                                          Clock::duration limit);

  // Aborts whatever operation is pending (used by shutdown); the operation ends with operation_aborted.
  void cancel();
  void close();
  bool tls() const { return tls_ != nullptr; }
  tcp::socket& socket() { return socket_; }
  std::string remote_ip() const;

 private:
  awaitable<void> run_handshake(ssl::stream_base::handshake_type type, Clock::duration limit, error_code& ec);
  void arm(Clock::duration limit);
  void disarm();

  tcp::socket socket_;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
  std::string tls_buf_;
  asio::steady_timer timer_;
  bool expired_ = false;
};

// Runs blocking work (fsync, the quarantine store) on `pool` and resumes the awaiting coroutine on its own
// executor with the result, so the event loop never waits on a disk or a CPU-heavy parse.
// The exception barrier: whatever the work throws (bad_alloc, a library's exception) is caught on the
// worker and rethrown in the awaiting coroutine, never left to escape into asio::thread_pool (which
// would terminate the daemon). Callers that cannot let it travel on use run_blocking_or_error.
template <typename F>
awaitable<std::invoke_result_t<F>> run_blocking(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  // std::optional: R need not be default-constructible for the path that carries an exception.
  auto result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, std::optional<R>)>(
      [&pool](auto handler, F work) {
        asio::post(pool, [handler = std::move(handler), work = std::move(work)]() mutable {
          std::exception_ptr error;
          std::optional<R> result;
          try {
            result.emplace(work());
          } catch (...) {
            error = std::current_exception();
          }
          auto ex = asio::get_associated_executor(handler);
          asio::dispatch(ex, [handler = std::move(handler), error, result = std::move(result)]() mutable {
            std::move(handler)(error, std::move(result));
          });
        });
      },
      asio::use_awaitable, std::move(f));
  co_return std::move(*result);  // engaged: with an exception, use_awaitable rethrew it above
}

// What an exception that crossed the barrier says, for logs and reasons.
inline std::string exception_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

// For work that reports failure as an Expected already: an exception becomes one more Error value.
template <typename F>
awaitable<std::invoke_result_t<F>> run_blocking_or_error(asio::thread_pool& pool, F f) {
  try {
    co_return co_await run_blocking(pool, std::move(f));
  } catch (...) {
    co_return Error{"exception: " + exception_text(std::current_exception())};
  }
}

// TLS 1.2+ contexts. The server context needs a certificate.
Expected<std::shared_ptr<ssl::context>> make_server_tls(const std::string& cert, const std::string& key);

// delivery.tls made concrete, with Postfix's smtp_tls_security_level meanings: none, may and encrypt
// accept any certificate (encrypt only makes TLS mandatory, which proto::ClientSession enforces);
// verify needs a chain to delivery.tls_ca_file (or the system's CAs) naming the host dialled;
// fingerprint needs a certificate whose SHA-256 is listed, whoever signed it.
struct ClientTls {
  std::shared_ptr<ssl::context> context;
  proto::TlsPolicy level = proto::TlsPolicy::May;
  std::vector<std::string> fingerprints;  // SHA-256 of the DER certificate, 64 lower-case hex
};
Expected<std::shared_ptr<const ClientTls>> make_client_tls(const config::Delivery& delivery);

}  // namespace mugai::gateway
