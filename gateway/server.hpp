// The SMTP listener: accepts connections (client-network allowlist, total and per-IP limits), drives
// one proto::ServerSession per connection with a deadline on every read, write and handshake, and
// spools each completed message durably before the session may answer 250.
#pragma once

#include "gateway/net.hpp"

#include <functional>
#include <map>
#include <optional>
#include <set>

#include "config/config.hpp"
#include "gateway/spool.hpp"

namespace mugai::gateway {

class Scheduler;

// An IPv4 or IPv6 network in CIDR form, for smtp.client_networks.
struct Network {
  asio::ip::address base;
  unsigned prefix = 0;
  bool contains(const asio::ip::address& a) const;
};
Expected<Network> parse_network(const std::string& cidr);

class Server {
 public:
  Server(asio::io_context& io, asio::thread_pool& blocking, const config::Config& cfg, Spool& spool,
         Scheduler& scheduler, std::shared_ptr<ssl::context> tls);

  // Binds every smtp.listen endpoint; the error names the endpoint that failed.
  Status listen();
  void start();
  // Stops accepting, lets sessions in DATA finish, closes idle ones with 421, and forces the rest
  // closed after server.shutdown_grace. Calls `done` once no session is left.
  void shutdown(std::function<void()> done);
  // For /readyz and the metrics (event-loop thread): every smtp.listen socket still accepting, and
  // the connections open now.
  bool listening() const;
  std::size_t connections() const { return total_; }

 private:
  awaitable<void> accept_loop(tcp::acceptor& acceptor);
  awaitable<void> session(std::shared_ptr<Conn> conn);
  // A message in DATA on its way to the spool: written in chunks of kStreamChunk as it arrives.
  struct Stream {
    std::optional<SpoolWriter> writer;  // opened with the first chunk
    std::optional<Error> failure;       // a write failed: the message will get 451
    void drop() {  // removes the tmp/ file, if any (SpoolWriter's destructor)
      writer.reset();
      failure.reset();
    }
  };
  static constexpr std::size_t kStreamChunk = 64 * 1024;
  awaitable<void> stream_data(proto::ServerSession& s, Stream& stream);
  // On the blocking pool: opens the spool file on first use, then appends `bytes` to it.
  Status append(Stream& stream, const proto::Envelope& env, std::string_view bytes);
  // The rest of the message, the end record, fsync and rename into queue/: the id to answer 250 with.
  awaitable<Expected<std::string>> finish_message(proto::ServerSession& s, Stream& stream);
  std::optional<proto::Reply> admit(const std::string& ip);
  void release(const std::string& ip, Conn* conn);

  asio::io_context& io_;
  asio::thread_pool& blocking_;
  const config::Config& cfg_;
  Spool& spool_;
  Scheduler& scheduler_;
  std::shared_ptr<ssl::context> tls_;
  proto::ServerConfig session_cfg_;
  std::vector<Network> networks_;
  std::vector<tcp::acceptor> acceptors_;

  // Touched only on the event-loop thread (sessions, accept and shutdown all run there).
  std::size_t total_ = 0;
  std::map<std::string, std::size_t> per_ip_;
  std::map<Conn*, std::weak_ptr<Conn>> live_;
  std::set<Conn*> in_data_;
  bool stopping_ = false;
  std::function<void()> on_drained_;
};

}  // namespace mugai::gateway
