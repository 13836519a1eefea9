// The SMTP listener and per-connection session driver (see server.hpp). The proto session decides
// every reply; this file only moves bytes, enforces deadlines and connection limits, and makes the
// message durable before the 250 is written.
#include "gateway/server.hpp"

#include "gateway/deadline.hpp"
#include "gateway/log.hpp"
#include "gateway/maildir.hpp"
#include "gateway/metrics.hpp"
#include "gateway/scheduler.hpp"
#include "proto/replies.hpp"

#include <algorithm>
#include <ctime>

namespace mugai::gateway {

using proto::ReplyKind;

bool Network::contains(const asio::ip::address& a) const {
  auto addr = a;
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  if (addr.is_v4() != base.is_v4()) return false;
  auto match = [&](const auto& x, const auto& y) {
    unsigned bits = prefix;
    for (std::size_t i = 0; i < x.size() && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
      unsigned mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((x[i] & mask) != (y[i] & mask)) return false;
    }
    return true;
  };
  if (addr.is_v4()) return match(addr.to_v4().to_bytes(), base.to_v4().to_bytes());
  return match(addr.to_v6().to_bytes(), base.to_v6().to_bytes());
}

Expected<Network> parse_network(const std::string& cidr) {
  auto slash = cidr.find('/');
  error_code ec;
  auto addr = asio::ip::make_address(cidr.substr(0, slash), ec);
  if (ec) return Error{"'" + cidr + "' is not an IP network"};
  unsigned max = addr.is_v4() ? 32 : 128, prefix = max;
  if (slash != std::string::npos) {
    try {
      std::size_t used = 0;
      prefix = static_cast<unsigned>(std::stoul(cidr.substr(slash + 1), &used));
      if (used != cidr.size() - slash - 1 || prefix > max) throw std::invalid_argument("prefix");
    } catch (const std::exception&) {
      return Error{"'" + cidr + "' has an invalid prefix length"};
    }
  }
  return Network{addr, prefix};
}

Server::Server(asio::io_context& io, asio::thread_pool& blocking, const config::Config& cfg,
               Spool& spool, Scheduler& scheduler, std::shared_ptr<ssl::context> tls)
    : io_(io), blocking_(blocking), cfg_(cfg), spool_(spool), scheduler_(scheduler), tls_(std::move(tls)) {
  session_cfg_.hostname = cfg.smtp.hostname;
  session_cfg_.limits = cfg.smtp.limits;
  session_cfg_.tls_available = tls_ != nullptr;
  session_cfg_.tls_required = cfg.smtp.tls_required;
  session_cfg_.accept_domains = cfg.smtp.accept_domains;
  if (cfg.delivery.kind == config::Delivery::Kind::Maildir) session_cfg_.route_accepts = maildir_accepts;
  for (const auto& n : cfg.smtp.client_networks)
    if (auto net = parse_network(n)) networks_.push_back(*net);  // validated by config already
}

Status Server::listen() {
  for (const auto& ep : cfg_.smtp.listen) {
    error_code ec;
    auto addr = asio::ip::make_address(ep.host, ec);
    std::string where = ep.host + ":" + std::to_string(ep.port);
    if (ec) return Error{"smtp.listen: '" + where + "' is not an IP address"};
    tcp::acceptor acceptor(io_);
    tcp::endpoint endpoint(addr, ep.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error{"smtp.listen: cannot listen on " + where + ": " + ec.message()};
    log::event("listen", {{"addr", where}});
    acceptors_.push_back(std::move(acceptor));
  }
  return Ok{};
}

bool Server::listening() const {
  return !stopping_ && !acceptors_.empty() &&
         std::all_of(acceptors_.begin(), acceptors_.end(), [](const tcp::acceptor& a) { return a.is_open(); });
}

void Server::start() {
  for (auto& a : acceptors_) asio::co_spawn(io_, accept_loop(a), asio::detached);
}

awaitable<void> Server::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    tcp::socket socket(io_);
    error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: log, back off briefly, keep serving the connections we have.
      log::event("accept-error", {{"error", ec.message()}});
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto conn = std::make_shared<Conn>(std::move(socket));
    auto ex = conn->socket().get_executor();
    asio::co_spawn(ex, session(std::move(conn)), asio::detached);
  }
}

std::optional<proto::Reply> Server::admit(const std::string& ip) {
  error_code ec;
  auto addr = asio::ip::make_address(ip, ec);
  if (!networks_.empty()) {
    bool ok = !ec && std::any_of(networks_.begin(), networks_.end(),
                                 [&](const Network& n) { return n.contains(addr); });
    if (!ok) return proto::make_reply<ReplyKind::ClientNetworkDenied>();
  }
  if (stopping_) return proto::make_reply<ReplyKind::ShuttingDown>(cfg_.smtp.hostname);
  if (total_ >= cfg_.smtp.max_connections) return proto::make_reply<ReplyKind::TooManyConnections>(cfg_.smtp.hostname);
  if (per_ip_[ip] >= cfg_.smtp.max_connections_per_ip)
    return proto::make_reply<ReplyKind::TooManyConnectionsFromIp>(cfg_.smtp.hostname);
  return std::nullopt;
}

awaitable<void> Server::session(std::shared_ptr<Conn> conn) {
  const std::string ip = conn->remote_ip();
  auto refusal = admit(ip);
  ++total_;
  ++per_ip_[ip];
  live_[conn.get()] = conn;
  log::event("connect", {{"client", ip}});
  proto::ServerSession s(session_cfg_, ip);
  if (refusal) s.refuse(*refusal);

  // Reads share one deadline per command line (or per message, kept alive by smtp.min_data_rate),
  // not one per read: a client trickling a byte at a time must not hold the session forever.
  const auto command_timeout = std::chrono::duration_cast<Clock::duration>(cfg_.smtp.command_timeout);
  SessionDeadline deadline(command_timeout, cfg_.smtp.min_data_rate, Clock::now());
  unsigned messages = 0;
  error_code ec;
  Stream stream;  // the message being received, as it goes to tmp/
  for (bool open = true; open;) {
    auto action = s.process();
    if (auto out = s.take_output(); !out.empty()) {
      metrics::registry().count_smtp_replies(out);
      co_await conn->write(out, command_timeout, ec);
      if (ec) break;
      deadline.restart(Clock::now());
    }
    if (s.in_data()) {
      co_await stream_data(s, stream);
    } else if (action != proto::ServerSession::Action::Message) {
      // DATA ended without a message (refused, timed out, too big): what reached tmp/ goes.
      stream.drop();
    }
    switch (action) {
      case proto::ServerSession::Action::NeedInput: {
        const bool in_data = s.in_data();
        if (in_data)
          in_data_.insert(conn.get());
        else
          in_data_.erase(conn.get());
        if (stopping_ && !in_data) {
          s.refuse(proto::make_reply<ReplyKind::ShuttingDown>(cfg_.smtp.hostname));
          break;
        }
        // A passed deadline is not read at all: a read racing its own expired timer could still win.
        std::string_view bytes;
        if (const auto left = deadline.remaining(Clock::now()); left > Clock::duration::zero())
          bytes = co_await conn->read_some(left, ec);
        else
          ec = asio::error::timed_out;
        if (ec == asio::error::timed_out) {
          log::event("timeout", {{"client", ip}, {"phase", in_data ? "data" : "command"}});
          s.timed_out();
        } else if (ec == asio::error::operation_aborted) {
          continue;  // shutdown interrupted an idle read: the loop answers 421
        } else if (ec) {
          open = false;
        } else {
          if (in_data) deadline.data_received(bytes.size(), Clock::now());
          s.feed(bytes);
        }
        break;
      }
      case proto::ServerSession::Action::StartTls: {
        auto limit = std::chrono::duration_cast<Clock::duration>(cfg_.smtp.tls_handshake_timeout);
        co_await conn->handshake(*tls_, ssl::stream_base::server, limit, ec);
        if (ec) {
          log::event("tls-error", {{"client", ip}, {"error", ec.message()}});
          open = false;
        } else {
          s.tls_started();
          metrics::registry().tls_sessions.inc({"in"});
          deadline.restart(Clock::now());  // the handshake had its own limit
        }
        break;
      }
      case proto::ServerSession::Action::Message: {
        const auto size = s.message_size();
        auto id = co_await finish_message(s, stream);
        if (id) {
          ++messages;
          metrics::registry().messages_accepted.inc();
          log::event("accept", {{"id", *id}, {"client", ip}, {"from", s.envelope().mail_from},
                                {"rcpts", std::to_string(s.envelope().rcpt_to.size())},
                                {"size", std::to_string(size)}});
          s.queued(*id);
          scheduler_.enqueue(*id);
        } else {
          log::event("spool-error", {{"client", ip}, {"error", id.error().message}});
          s.queue_failed("spool write failed");
        }
        break;
      }
      case proto::ServerSession::Action::Close:
        open = false;
        break;
    }
  }
  stream.drop();  // a connection lost or closed mid-DATA: its tmp/ file goes
  conn->close();
  log::event("disconnect", {{"client", ip}, {"messages", std::to_string(messages)},
                            {"errors", std::to_string(s.errors())}});
  release(ip, conn.get());
}

awaitable<void> Server::stream_data(proto::ServerSession& s, Stream& stream) {
  if (s.data_failed() || stream.failure) {
    // The message will not be accepted: drop what it left in tmp/ and keep nothing more of it.
    stream.writer.reset();
    s.take_data();
    co_return;
  }
  if (s.message().size() < kStreamChunk) co_return;  // a small message is written whole at its end
  // Disk work (create, write) runs on the blocking pool so the event loop never waits on it; the
  // session reads no more until its chunk is written, which bounds what it holds to one chunk plus
  // one read.
  auto chunk = s.take_data();
  auto st = co_await run_blocking_or_error(blocking_, [&] { return append(stream, s.envelope(), chunk); });
  if (!st) {
    // Answered 451 once the client has sent the end of data; until then its bytes are only read.
    stream.failure = st.error();
    stream.writer.reset();
  }
}

Status Server::append(Stream& stream, const proto::Envelope& env, std::string_view bytes) {
  if (!stream.writer) {  // the first piece (or a message small enough to come whole) opens the file
    auto w = spool_.begin(env, static_cast<std::int64_t>(std::time(nullptr)));
    if (!w) return w.error();
    stream.writer.emplace(std::move(*w));
  }
  return stream.writer->append(bytes);
}

awaitable<Expected<std::string>> Server::finish_message(proto::ServerSession& s, Stream& stream) {
  // fsync blocks: run it on the blocking pool so one slow disk write never stalls other sessions.
  // A throw there is a failed write like any other (451, the client retries): the session must
  // still end through release(), or its connection slots would stay taken.
  auto rest = s.take_data();
  Stream done = std::move(stream);
  stream.drop();
  if (done.failure) co_return *done.failure;
  co_return co_await run_blocking_or_error(blocking_, [&]() -> Expected<std::string> {
    if (auto st = append(done, s.envelope(), rest); !st) return st.error();
    if (auto st = done.writer->commit(); !st) return st.error();
    return done.writer->id();
  });
}

void Server::release(const std::string& ip, Conn* conn) {
  --total_;
  if (--per_ip_[ip] == 0) per_ip_.erase(ip);
  live_.erase(conn);
  in_data_.erase(conn);
  if (stopping_ && total_ == 0 && on_drained_) asio::post(io_, std::exchange(on_drained_, nullptr));
}

void Server::shutdown(std::function<void()> done) {
  stopping_ = true;
  on_drained_ = std::move(done);
  if (total_ == 0) asio::post(io_, std::exchange(on_drained_, nullptr));
  for (auto& a : acceptors_) {
    error_code ignored;
    a.close(ignored);
  }
  // Idle sessions are woken from their read so they answer 421 now, not at their idle timeout.
  for (auto& [ptr, weak] : live_)
    if (!in_data_.count(ptr))
      if (auto c = weak.lock()) c->cancel();

  // Sessions still in DATA get server.shutdown_grace to finish; then every socket is closed.
  auto timer = std::make_shared<asio::steady_timer>(io_, cfg_.server.shutdown_grace);
  timer->async_wait([this, timer](error_code) {
    for (auto& [ptr, weak] : live_)
      if (auto c = weak.lock()) c->close();
  });
}

}  // namespace mugai::gateway
