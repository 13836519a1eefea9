// SMTP delivery over proto::ClientSession (see delivery.hpp). Every network step has a deadline:
// connect_timeout for resolve+connect, command_timeout for each reply and write.
#include "gateway/delivery.hpp"

#include "gateway/log.hpp"
#include "proto/replies.hpp"

namespace mugai::gateway {

using proto::ReplyKind;

namespace {
proto::TransactionResult fail_all(const std::vector<std::string>& rcpts, proto::Reply reply) {
  proto::TransactionResult r;
  r.reply = reply;
  for (const auto& rc : rcpts) r.recipients.push_back({rc, reply});
  return r;
}
}  // namespace

SmtpDelivery::SmtpDelivery(asio::io_context& io, const config::Config& cfg, config::Endpoint target,
                           std::shared_ptr<const ClientTls> client_tls)
    : io_(io), cfg_(cfg), target_(std::move(target)), tls_(std::move(client_tls)) {}

awaitable<proto::ClientSession::Action> SmtpDelivery::drive(Link& link) {
  const auto limit = std::chrono::duration_cast<Clock::duration>(cfg_.delivery.command_timeout);
  for (;;) {
    auto action = link.session.process();
    error_code ec;
    if (auto out = link.session.take_output(); !out.empty()) {
      co_await link.conn->write(out, limit, ec);
      if (ec) {
        link.session.connection_lost("write to next hop failed: " + ec.message());
        continue;
      }
    }
    switch (action) {
      case proto::ClientSession::Action::NeedInput: {
        auto bytes = co_await link.conn->read_some(limit, ec);
        if (ec)
          link.session.connection_lost(ec == asio::error::timed_out ? "timeout waiting for next hop"
                                                                    : "next hop: " + ec.message());
        else
          link.session.feed(bytes);
        break;
      }
      case proto::ClientSession::Action::StartTls:
      {
        std::string why = co_await link.conn->client_handshake(*tls_, target_.host, limit);
        if (why.empty()) {
          link.session.tls_started();
          break;
        }
        // The reason also reaches the deferral ("421 4.7.5 TLS handshake failed: ..."), so the queue says it.
        log::event("tls-error", {{"relay", name()}, {"error", why}});
        link.session.tls_failed(why);
        break;
      }
      default:
        co_return action;
    }
  }
}

awaitable<std::unique_ptr<SmtpDelivery::Link>> SmtpDelivery::connect(proto::TransactionResult& failure) {
  const auto limit = std::chrono::duration_cast<Clock::duration>(cfg_.delivery.connect_timeout);
  tcp::resolver resolver(io_);
  asio::steady_timer timer(io_, limit);
  // Resolvers have no deadline of their own: the timer cancels the resolve and the connect.
  bool expired = false;
  timer.async_wait([&](error_code ec) {
    if (!ec) {
      expired = true;
      resolver.cancel();
    }
  });
  error_code ec;
  auto endpoints = co_await resolver.async_resolve(target_.host, std::to_string(target_.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  auto conn = std::make_shared<Conn>(tcp::socket(io_));
  if (!ec) {
    timer.async_wait([&, conn](error_code e) {
      if (!e) conn->cancel();
    });
    co_await asio::async_connect(conn->socket(), endpoints, asio::redirect_error(asio::use_awaitable, ec));
  }
  timer.cancel();
  if (ec) {
    std::string why = expired ? "connect timeout" : ec.message();
    failure.reply = proto::make_reply<ReplyKind::ConnectFailed>(name() + ": " + why);
    co_return nullptr;
  }
  proto::ClientConfig cc;
  cc.helo_name = cfg_.delivery.helo_name;
  cc.tls = cfg_.delivery.tls;
  auto link = std::make_unique<Link>(Link{conn, proto::ClientSession(cc), 0, Clock::now()});
  auto action = co_await drive(*link);
  if (action != proto::ClientSession::Action::Ready) {
    failure.reply = link->session.failure();
    conn->close();
    co_return nullptr;
  }
  co_return link;
}

awaitable<proto::TransactionResult> SmtpDelivery::deliver(std::string mail_from,
                                                          std::vector<std::string> rcpt_to,
                                                          std::string message) {
  std::unique_ptr<Link> link;
  if (!idle_.empty()) {
    link = std::move(idle_.back());
    idle_.pop_back();
  }
  if (!link) {
    proto::TransactionResult failure;
    link = co_await connect(failure);
    if (!link) co_return fail_all(rcpt_to, failure.reply);
  }
  // A pooled connection may have been closed by the next hop while idle: then the transaction
  // fails with 421 from connection_lost and is retried like any other deferral.
  link->session.begin(std::move(mail_from), rcpt_to, std::move(message));
  auto action = co_await drive(*link);
  proto::TransactionResult result = link->session.result();
  if (action != proto::ClientSession::Action::Done && result.recipients.size() != rcpt_to.size()) {
    const proto::Reply& why = link->session.failure();
    result = fail_all(rcpt_to, why.code ? why : proto::make_reply<ReplyKind::ConnectionLost>("connection lost"));
  }
  ++link->used;
  if (action == proto::ClientSession::Action::Done && !link->session.closed() &&
      link->used < cfg_.delivery.max_messages_per_connection) {
    link->idle_since = Clock::now();
    idle_.push_back(std::move(link));
  } else if (!link->session.closed()) {
    link->session.quit();
    co_await drive(*link);
    link->conn->close();
  } else {
    link->conn->close();
  }
  co_return result;
}

void SmtpDelivery::close_idle(Clock::duration idle) {
  std::vector<std::unique_ptr<Link>> old;
  {
    auto now = Clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (now - (*it)->idle_since >= idle) {
        old.push_back(std::move(*it));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& l : old) {
    auto link = std::shared_ptr<Link>(std::move(l));
    asio::co_spawn(link->conn->socket().get_executor(),
                   [this, link]() -> awaitable<void> {
                     link->session.quit();
                     co_await drive(*link);
                     link->conn->close();
                   },
                   asio::detached);
  }
}

}  // namespace mugai::gateway
