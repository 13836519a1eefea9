// SMTP delivery to a next hop (the LGWAN-side MTA or the bounce relay): connects with deadlines,
// negotiates STARTTLS per policy, and reuses idle connections for later messages up to
// delivery.max_messages_per_connection. Results are per recipient; nothing here touches the spool.
#pragma once

#include "gateway/net.hpp"

#include <deque>

#include "config/config.hpp"
#include "proto/smtp_client.hpp"

namespace mugai::gateway {

class SmtpDelivery {
 public:
  SmtpDelivery(asio::io_context& io, const config::Config& cfg, config::Endpoint target,
               std::shared_ptr<const ClientTls> client_tls);

  // One transaction; every recipient gets a reply (a connection failure is a 4xx for all).
  awaitable<proto::TransactionResult> deliver(std::string mail_from, std::vector<std::string> rcpt_to,
                                              std::string message);
  // Sends QUIT on connections idle longer than `idle` (called periodically) or on all (shutdown).
  void close_idle(Clock::duration idle);
  std::string name() const { return target_.host + ":" + std::to_string(target_.port); }

 private:
  struct Link {
    std::shared_ptr<Conn> conn;
    proto::ClientSession session;
    std::size_t used = 0;
    Clock::time_point idle_since;
  };
  awaitable<std::unique_ptr<Link>> connect(proto::TransactionResult& failure);
  // Runs the client session until it needs the caller (Ready, Done or Closed).
  awaitable<proto::ClientSession::Action> drive(Link& link);

  asio::io_context& io_;
  const config::Config& cfg_;
  config::Endpoint target_;
  std::shared_ptr<const ClientTls> tls_;
  std::deque<std::unique_ptr<Link>> idle_;
};

}  // namespace mugai::gateway
