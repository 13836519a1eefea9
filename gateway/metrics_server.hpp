// The operator's HTTP endpoint (metrics.listen): Prometheus text at /metrics, liveness at /healthz and
// readiness at /readyz, served with Boost.Beast on the gateway's event loop. Guarantees: only clients in
// metrics.client_networks are served (others are closed at accept); GET and HEAD only; one request per
// connection, read within metrics.timeout and metrics.max_request_size, answered within metrics.timeout;
// at most metrics.max_connections at once. Nothing it serves comes from mail but bounded counters.
#pragma once

#include "gateway/net.hpp"

#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "gateway/delivery.hpp"
#include "gateway/scheduler.hpp"
#include "gateway/server.hpp"
#include "gateway/spool.hpp"
#include "gateway/worker_pool.hpp"

namespace mugai::gateway {

class MetricsServer {
 public:
  // What the gauges and /readyz look at: all outlive the server and are touched on the event loop only.
  struct Sources {
    Server& smtp;
    Scheduler& scheduler;
    WorkerPool& workers;
    Spool& spool;
    std::shared_ptr<const ClientTls> client_tls;  // the next hop's probe negotiates (and checks) TLS as delivery does
  };

  MetricsServer(asio::io_context& io, asio::thread_pool& pool, const config::Config& cfg, Sources sources);

  // Binds metrics.listen (nothing when metrics.enabled is false); the error names metrics.listen.
  Status listen();
  void start();
  // Stops accepting; requests already read still finish.
  void shutdown();

  // The checks /readyz makes, each failure one line naming the check (empty: ready).
  awaitable<std::vector<std::string>> readiness();

 private:
  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket socket);
  awaitable<std::string> scrape();
  awaitable<std::string> next_hop_problem();
  bool allowed(const asio::ip::address& a) const;

  asio::io_context& io_;
  asio::thread_pool& pool_;
  const config::Config& cfg_;
  Sources src_;
  SmtpDelivery probe_;  // its own sessions: a probe never takes or leaves the scheduler's connections
  std::vector<Network> networks_;
  tcp::acceptor acceptor_;
  // Event-loop thread only.
  std::size_t active_ = 0;
  std::set<std::string> refused_logged_;  // addresses whose refusal was logged (bounded, see the .cpp)
};

}  // namespace mugai::gateway
