// The metrics endpoint (see metrics_server.hpp). Beast's tcp_stream carries the read and write
// deadlines; the parser's header limit and the buffer's size bound what a client can make us hold.
#include "gateway/metrics_server.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <ctime>

#include "common/durable_file.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"

namespace mugai::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// Refusals are logged once per address; past this many addresses the memory starts over, so a scan
// from many addresses costs bounded memory and a bounded number of log lines per round.
constexpr std::size_t kRefusalsRemembered = 256;

// Creates, writes and removes a file in `dir`: what a delivery or a spool write needs of it.
Status probe_writable(const std::string& dir) {
  const std::string path = dir + "/.mugai-readyz-" + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return durable::errno_error("cannot create a file in", dir);
  const bool written = durable::write_all(fd, {"readyz\n"});
  const int saved = errno;
  ::close(fd);
  ::unlink(path.c_str());
  if (!written) {
    errno = saved;
    return durable::errno_error("cannot write to a file in", dir);
  }
  return Ok{};
}

// Ids sort by arrival (new_spool_id), so the smallest one is the oldest entry.
std::int64_t oldest_age_seconds(const std::vector<std::string>& ids) {
  const auto oldest = std::min_element(ids.begin(), ids.end());
  if (oldest == ids.end() || !valid_spool_id(*oldest)) return 0;
  return std::max<std::int64_t>(static_cast<std::int64_t>(std::time(nullptr)) - spool_id_unix(*oldest), 0);
}

}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, asio::thread_pool& pool, const config::Config& cfg, Sources sources)
    : io_(io),
      pool_(pool),
      cfg_(cfg),
      src_(std::move(sources)),
      probe_(io, cfg, cfg.delivery.smtp_host, src_.client_tls),
      acceptor_(io) {
  probe_.on_answer = [] { metrics::registry().next_hop_answered(); };
  for (const auto& n : cfg.metrics.client_networks)
    if (auto net = parse_network(n)) networks_.push_back(*net);  // validated by config already
}

Status MetricsServer::listen() {
  if (!cfg_.metrics.enabled) return Ok{};
  const auto& ep = cfg_.metrics.listen;
  const std::string where = ep.host + ":" + std::to_string(ep.port);
  error_code ec;
  const auto addr = asio::ip::make_address(ep.host, ec);
  if (ec) return Error{"metrics.listen: '" + where + "' is not an IP address"};
  const tcp::endpoint endpoint(addr, ep.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"metrics.listen: cannot listen on " + where + ": " + ec.message()};
  log::event("metrics-listen", {{"addr", where}});
  return Ok{};
}

void MetricsServer::start() {
  if (acceptor_.is_open()) asio::co_spawn(io_, accept_loop(), asio::detached);
}

void MetricsServer::shutdown() {
  error_code ignored;
  acceptor_.close(ignored);
}

bool MetricsServer::allowed(const asio::ip::address& a) const {
  if (networks_.empty()) return true;
  return std::any_of(networks_.begin(), networks_.end(), [&](const Network& n) { return n.contains(a); });
}

awaitable<void> MetricsServer::accept_loop() {
  for (;;) {
    tcp::socket socket(io_);
    error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      log::event("accept-error", {{"addr", "metrics"}, {"error", ec.message()}});
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    const auto peer = socket.remote_endpoint(ec);
    if (ec || !allowed(peer.address())) {
      const std::string ip = ec ? "unknown" : peer.address().to_string();
      if (refused_logged_.size() >= kRefusalsRemembered) refused_logged_.clear();
      if (refused_logged_.insert(ip).second) log::event("metrics-refused", {{"client", ip}});
      socket.close(ec);
      continue;
    }
    if (active_ >= cfg_.metrics.max_connections) {
      socket.close(ec);
      continue;
    }
    asio::co_spawn(io_, session(std::move(socket)), asio::detached);
  }
}

awaitable<void> MetricsServer::session(tcp::socket socket) {
  ++active_;
  beast::tcp_stream stream(std::move(socket));
  const std::size_t max_request = cfg_.metrics.max_request_size;
  beast::flat_buffer buffer(max_request);
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(max_request));
  error_code ec;
  stream.expires_after(cfg_.metrics.timeout);
  co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));

  http::status status = http::status::ok;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  const auto& req = parser.get();
  bool answer = true;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    status = http::status::request_header_fields_too_large;
    body = "request longer than " + std::to_string(max_request) + " bytes (metrics.max_request_size)\n";
  } else if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == asio::error::eof) {
    answer = false;  // nothing (whole) to answer
  } else if (ec) {
    status = http::status::bad_request;
    body = "bad request: " + ec.message() + "\n";
  } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
    status = http::status::method_not_allowed;
    body = "only GET and HEAD\n";
  } else if (req.target() == "/metrics") {
    body = co_await scrape();
    content_type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (req.target() == "/healthz") {
    body = "ok\n";
  } else if (req.target() == "/readyz") {
    const auto failed = co_await readiness();
    if (failed.empty()) {
      body = "ready\n";
    } else {
      status = http::status::service_unavailable;
      for (const auto& f : failed) body += f + "\n";
    }
  } else {
    status = http::status::not_found;
    body = "not found\n";
  }

  if (answer) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, content_type);
    if (status == http::status::method_not_allowed) res.set(http::field::allow, "GET, HEAD");
    res.keep_alive(false);
    res.body() = std::move(body);
    res.prepare_payload();
    // HEAD: the same headers (Content-Length included), no body.
    if (!ec && req.method() == http::verb::head) res.body().clear();
    stream.expires_after(cfg_.metrics.timeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
  --active_;
}

awaitable<std::string> MetricsServer::scrape() {
  // The gauges are read now, on the event loop, from what owns them; the spool's directory on the pool.
  auto& m = metrics::registry();
  const auto q = src_.scheduler.queue_stats();
  m.queue_depth.set({"ready"}, static_cast<std::int64_t>(q.ready));
  m.queue_depth.set({"active"}, static_cast<std::int64_t>(q.active));
  m.queue_depth.set({"deferred"}, static_cast<std::int64_t>(q.deferred));
  m.queue_depth.set({"awaiting_password"}, static_cast<std::int64_t>(q.awaiting_password));
  m.connections.set(static_cast<std::int64_t>(src_.smtp.connections()));
  m.workers_busy.set(static_cast<std::int64_t>(src_.workers.busy()));
  // Named first: g++ 12 mishandles a lambda capturing by value inside a co_await expression.
  const auto list = [this]() -> Expected<std::vector<std::string>> { return src_.spool.list(); };
  auto ids = co_await run_blocking_or_error(pool_, list);
  if (ids) {
    m.queue_depth.set({"spool"}, static_cast<std::int64_t>(ids->size()));
    m.oldest_message_age.set(oldest_age_seconds(*ids));
  }
  co_return m.exposition();
}

awaitable<std::vector<std::string>> MetricsServer::readiness() {
  std::vector<std::string> failed;
  if (!src_.smtp.listening()) failed.push_back("smtp: not listening on every smtp.listen address");
  const auto probe_spool = [this] { return probe_writable(src_.spool.dir() + "/tmp"); };
  auto spool = co_await run_blocking_or_error(pool_, probe_spool);
  if (!spool) failed.push_back("spool: " + spool.error().message);
  if (src_.workers.alive() == 0) failed.push_back("workers: no sanitizing worker is running");
  std::string hop = co_await next_hop_problem();
  if (!hop.empty()) failed.push_back("next_hop: " + hop);
  co_return failed;
}

awaitable<std::string> MetricsServer::next_hop_problem() {
  if (cfg_.delivery.kind == config::Delivery::Kind::Maildir) {
    const std::string root = cfg_.delivery.maildir;
    auto st = co_await run_blocking_or_error(pool_, [&]() -> Status {
      if (auto made = durable::make_dir(root, false); !made) return made;
      return probe_writable(root);
    });
    co_return st ? std::string() : "maildir " + st.error().message;
  }
  const double since = metrics::registry().seconds_since_next_hop_answer();
  if (since >= 0 && since <= static_cast<double>(cfg_.metrics.ready_interval.count())) co_return std::string();
  // Idle, not unreachable, until a probe says otherwise (the probe's answer refreshes the time).
  auto probed = co_await probe_.probe();
  if (probed) co_return std::string();
  co_return probe_.name() + " has not answered within metrics.ready_interval (" +
      std::to_string(cfg_.metrics.ready_interval.count()) + " s) and a probe failed: " + probed.error().message;
}

}  // namespace mugai::gateway
