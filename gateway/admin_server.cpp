// The admin socket (see admin_server.hpp). A session's read and its write each run under a watchdog
// timer which, as in Conn, cancels the socket only when its deadline really passed.
#include "gateway/admin_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/durable_file.hpp"
#include "gateway/log.hpp"

namespace mugai::gateway {
namespace {

using Socket = asio::local::stream_protocol::socket;
using Endpoint = asio::local::stream_protocol::endpoint;
using proto::admin::LineReader;
using proto::admin::Request;

constexpr auto kReadDeadline = std::chrono::seconds(10);
constexpr auto kWriteDeadline = std::chrono::seconds(10);
// Beyond this many sessions at once a connection is answered "busy" without being read.
constexpr std::size_t kMaxSessions = 32;

}  // namespace

struct AdminServer::Session : std::enable_shared_from_this<Session> {
  explicit Session(Socket s) : socket(std::move(s)), timer(socket.get_executor()) {}

  void arm(Clock::duration limit) {
    expired = false;
    timer.expires_after(limit);
    timer.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && self->timer.expiry() <= Clock::now()) {
        self->expired = true;
        error_code ignored;
        self->socket.cancel(ignored);
      }
    });
  }
  void disarm() { timer.cancel(); }

  Socket socket;
  asio::steady_timer timer;
  bool expired = false;
};

AdminServer::AdminServer(asio::io_context& io, const config::Config& cfg, AdminService& service, std::int64_t group)
    : io_(io), cfg_(cfg), service_(service), group_(group), acceptor_(io) {}

Status AdminServer::listen() {
  const std::string& path = cfg_.admin.socket;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error{"admin.socket: " + path + " exists and is not a socket"};
    Socket probe(io_);
    error_code ec;
    probe.connect(Endpoint(path), ec);
    if (!ec) return Error{"admin.socket: another gateway answers on " + path};
    if (ec != asio::error::connection_refused) return Error{"admin.socket: cannot probe " + path + ": " + ec.message()};
    // Left by a gateway that was killed: nobody listens any more.
    if (::unlink(path.c_str()) != 0) return durable::errno_error("admin.socket: cannot remove the stale socket", path);
  }
  error_code ec;
  acceptor_.open(asio::local::stream_protocol(), ec);
  if (!ec) acceptor_.bind(Endpoint(path), ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"admin.socket: cannot listen on " + path + ": " + ec.message()};
  // Until this holds, the socket has the umask's mode; AdminService checks every peer anyway.
  if (::chown(path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(group_)) != 0 || ::chmod(path.c_str(), 0660) != 0) {
    return durable::errno_error("admin.socket: cannot give mode 0660 and group " + std::to_string(group_) + " to", path);
  }
  log::event("admin-listen", {{"socket", path}, {"gid", std::to_string(group_)}});
  return Ok{};
}

void AdminServer::start() { asio::co_spawn(io_, accept_loop(), asio::detached); }

void AdminServer::shutdown() {
  if (!acceptor_.is_open()) return;
  error_code ignored;
  acceptor_.close(ignored);
  ::unlink(cfg_.admin.socket.c_str());
}

awaitable<void> AdminServer::accept_loop() {
  for (;;) {
    Socket socket(io_);
    error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      log::event("accept-error", {{"socket", cfg_.admin.socket}, {"error", ec.message()}});
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(io_, session(std::make_shared<Session>(std::move(socket))), asio::detached);
  }
}

awaitable<void> AdminServer::session(std::shared_ptr<Session> s) {
  ++active_;
  Peer peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(s->socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) peer = {cred.uid, cred.gid};
  bool anything = true;
  Expected<Request> request = Error{"the gateway is busy with other admin requests; try again"};
  if (active_ <= kMaxSessions) request = co_await read_request(s, anything);
  // A connection that sent nothing at all (a probe, a second gateway's stale-socket check) is no attempt.
  if (anything && peer.uid >= 0) {
    // By reference: both live in this frame until the request is done.
    auto response = co_await service_.serve(request, peer);
    const std::string wire = proto::admin::encode(response);
    error_code ec;
    s->arm(kWriteDeadline);
    co_await asio::async_write(s->socket, asio::buffer(wire), asio::redirect_error(asio::use_awaitable, ec));
    s->disarm();
  }
  error_code ignored;
  s->socket.close(ignored);
  --active_;
}

awaitable<Expected<Request>> AdminServer::read_request(std::shared_ptr<Session> s, bool& anything) {
  LineReader reader(proto::admin::kMaxRequest);
  char buf[4096];
  error_code ec;
  anything = false;
  s->arm(kReadDeadline);
  while (reader.state() == LineReader::State::NeedMore) {
    const std::size_t n =
        co_await s->socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    anything = true;
    reader.feed(std::string_view(buf, n));
  }
  s->disarm();
  switch (reader.state()) {
    case LineReader::State::Line:
      co_return proto::admin::parse_request(reader.line());
    case LineReader::State::TooLong:
      co_return Error{"the request is longer than " + std::to_string(proto::admin::kMaxRequest) + " bytes"};
    case LineReader::State::NeedMore:
      break;
  }
  co_return Error{s->expired ? "no whole request within " + std::to_string(kReadDeadline.count()) + " s"
                             : "the connection closed before a whole request"};
}

}  // namespace mugai::gateway
