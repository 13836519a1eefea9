// The admin socket, like Postfix's postqueue talks to its queue: a Unix stream socket (admin.socket,
// mode 0660, group admin.group) served on the gateway's event loop. One request per connection, read
// within a deadline and proto::admin::kMaxRequest bytes; the operator is whoever the kernel says is on
// the other end (SO_PEERCRED), never what the client claims; the request runs on the worker pool
// (an unlock also in the sanitizing workers).
#pragma once

#include "gateway/net.hpp"

#include <cstdint>
#include <memory>

#include "config/config.hpp"
#include "gateway/admin.hpp"

namespace mugai::gateway {

class AdminServer {
 public:
  AdminServer(asio::io_context& io, const config::Config& cfg, AdminService& service, std::int64_t group);

  // Creates the socket: a stale one (nobody answers) is replaced, anything else at the path, or a
  // gateway already answering there, is an error naming it.
  Status listen();
  void start();
  // Stops accepting and removes the socket; requests already read still finish.
  void shutdown();

 private:
  struct Session;
  awaitable<void> accept_loop();
  awaitable<void> session(std::shared_ptr<Session> s);
  awaitable<Expected<proto::admin::Request>> read_request(std::shared_ptr<Session> s, bool& anything);

  asio::io_context& io_;
  const config::Config& cfg_;
  AdminService& service_;
  std::int64_t group_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::size_t active_ = 0;  // event-loop thread only
};

}  // namespace mugai::gateway
