// The one table of every reply mugai composes itself: per outcome its SMTP code, RFC 3463 enhanced
// status code and text. Guarantees: no reply is built from loose literals, and a detail can be given
// exactly to the outcomes whose text has a place for it (checked at compile time).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/reply.hpp"

namespace mugai::proto {

enum class ReplyKind : std::uint8_t {
  // Replies to our SMTP clients.
  Greeting,
  Ehlo,  // first line only; the session appends the extension keywords
  Helo,
  Ok,
  SenderOk,
  RecipientOk,
  StartData,
  Queued,
  CannotVrfy,
  Help,
  ReadyToStartTls,
  Bye,
  ClientNetworkDenied,
  ShuttingDown,
  TooManyConnections,
  TooManyConnectionsFromIp,
  CommandTimeout,
  DataTooSlow,
  TooManyErrors,
  LineTooLong,
  BareLineEndInCommand,
  UnknownCommand,
  NoParameters,
  HeloSyntax,
  NeedHelo,
  NestedMail,
  NeedMail,
  TlsRequired,
  NotImplemented,
  TlsAlreadyActive,
  MailSyntax,
  BadSender,
  SizeSyntax,
  UnsupportedMailParameter,
  MessageTooBig,
  RcptSyntax,
  BadRecipient,
  RoutingRefused,
  RelayDenied,
  MailboxNameNotAllowed,
  UnsupportedRcptParameter,
  TooManyRecipients,
  NoValidRecipients,
  TextLineTooLong,
  BareLineEndInData,
  NulInData,
  HeaderSectionTooBig,
  QueueWriteFailed,
  // Outcomes of our own deliveries, recorded per recipient (logs, retries, bounces); never sent.
  ConnectFailed,
  ConnectionLost,
  ConnectionNotReady,
  AbortedByQuit,
  TlsRefusedByNextHop,
  TlsNotOfferedByNextHop,
  TlsHandshakeFailed,
  ReplyFlood,
  MalformedReply,
  UnexpectedReply,
  UnexpectedGreeting,
  InvalidSender,
  InvalidRecipient,
  NoSendableRecipients,
  TooBigForNextHop,
  DeliveredToMaildir,
  MaildirFailed,
  Count  // not an outcome: the number of them
};

struct ReplyRow {
  ReplyKind kind;             // the row's own index, so a missing or misplaced row is caught
  int code;
  std::string_view enhanced;  // "" only where RFC 2034 §3 has none: the greeting, EHLO, 354
  std::string_view text;      // "{}" is where the detail goes (a host name, queue id, address, reason)
};

inline constexpr std::array<ReplyRow, static_cast<std::size_t>(ReplyKind::Count)> kReplyTable{{
    {ReplyKind::Greeting, 220, "", "{} ESMTP mugai"},
    {ReplyKind::Ehlo, 250, "", "{}"},
    {ReplyKind::Helo, 250, "2.0.0", "{}"},
    {ReplyKind::Ok, 250, "2.0.0", "Ok"},
    {ReplyKind::SenderOk, 250, "2.1.0", "Ok"},
    {ReplyKind::RecipientOk, 250, "2.1.5", "Ok"},
    {ReplyKind::StartData, 354, "", "End data with <CR><LF>.<CR><LF>"},
    {ReplyKind::Queued, 250, "2.0.0", "Ok: queued as {}"},
    {ReplyKind::CannotVrfy, 252, "2.5.0", "Cannot VRFY user, but will accept message"},
    {ReplyKind::Help, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS"},
    {ReplyKind::ReadyToStartTls, 220, "2.0.0", "Ready to start TLS"},
    {ReplyKind::Bye, 221, "2.0.0", "Bye"},
    {ReplyKind::ClientNetworkDenied, 554, "5.7.1", "Access denied: client network not allowed"},
    {ReplyKind::ShuttingDown, 421, "4.3.2", "{} Service shutting down"},
    {ReplyKind::TooManyConnections, 421, "4.7.0", "{} Too many connections, try again later"},
    {ReplyKind::TooManyConnectionsFromIp, 421, "4.7.0", "{} Too many connections from your address"},
    {ReplyKind::CommandTimeout, 421, "4.4.2", "{} Error: timeout exceeded"},
    {ReplyKind::DataTooSlow, 421, "4.4.2", "{} Error: timeout exceeded: DATA below the minimum rate"},
    {ReplyKind::TooManyErrors, 421, "4.7.0", "{} Error: too many errors"},
    {ReplyKind::LineTooLong, 500, "5.5.2", "Error: line too long"},
    {ReplyKind::BareLineEndInCommand, 500, "5.5.2", "Syntax error: bare <CR> or <LF> in command"},
    {ReplyKind::UnknownCommand, 500, "5.5.2", "Error: command not recognized"},
    {ReplyKind::NoParameters, 501, "5.5.4", "Syntax error: no parameters allowed"},
    {ReplyKind::HeloSyntax, 501, "5.5.4", "Syntax: EHLO/HELO hostname"},
    {ReplyKind::NeedHelo, 503, "5.5.1", "Error: send HELO/EHLO first"},
    {ReplyKind::NestedMail, 503, "5.5.1", "Error: nested MAIL command"},
    {ReplyKind::NeedMail, 503, "5.5.1", "Error: need MAIL command"},
    {ReplyKind::TlsRequired, 530, "5.7.0", "Must issue a STARTTLS command first"},
    {ReplyKind::NotImplemented, 502, "5.5.1", "Error: command not implemented"},
    {ReplyKind::TlsAlreadyActive, 503, "5.5.1", "Error: TLS already active"},
    {ReplyKind::MailSyntax, 501, "5.5.4", "Syntax: MAIL FROM:<address>"},
    {ReplyKind::BadSender, 501, "5.5.4", "{}"},
    {ReplyKind::SizeSyntax, 501, "5.5.4", "Syntax error in SIZE parameter"},
    {ReplyKind::UnsupportedMailParameter, 555, "5.5.4", "Unsupported MAIL parameter"},
    {ReplyKind::MessageTooBig, 552, "5.3.4", "Message size exceeds fixed limit"},
    {ReplyKind::RcptSyntax, 501, "5.1.3", "Syntax: RCPT TO:<address>"},
    {ReplyKind::BadRecipient, 501, "5.1.3", "{}"},
    {ReplyKind::RoutingRefused, 550, "5.7.1", "Relay access denied: {}"},
    {ReplyKind::RelayDenied, 550, "5.7.1", "<{}>: Relay access denied"},
    // RFC 5321's 553 is "mailbox name not allowed", RFC 3463's X.1.3 "bad destination mailbox address
    // syntax": the address is valid SMTP but not one the delivery route can name. Not 5.1.1 (no mailbox
    // was looked up) and not 5.7.1 (no policy refused it).
    {ReplyKind::MailboxNameNotAllowed, 553, "5.1.3", "<{}>: Recipient address rejected: mailbox name not allowed"},
    {ReplyKind::UnsupportedRcptParameter, 555, "5.5.4", "Unsupported RCPT parameter"},
    {ReplyKind::TooManyRecipients, 452, "4.5.3", "Error: too many recipients"},
    {ReplyKind::NoValidRecipients, 554, "5.5.1", "Error: no valid recipients"},
    {ReplyKind::TextLineTooLong, 554, "5.6.0", "Message rejected: line too long"},
    {ReplyKind::BareLineEndInData, 554, "5.6.0", "Message rejected: bare <CR> or <LF> in DATA"},
    {ReplyKind::NulInData, 554, "5.6.0", "Message rejected: NUL byte in DATA"},
    {ReplyKind::HeaderSectionTooBig, 552, "5.3.4", "Message header section exceeds fixed limit"},
    {ReplyKind::QueueWriteFailed, 451, "4.3.0", "Error: queue file write error, try again later"},
    {ReplyKind::ConnectFailed, 451, "4.4.1", "cannot connect to {}"},
    {ReplyKind::ConnectionLost, 421, "4.4.2", "{}"},
    {ReplyKind::ConnectionNotReady, 421, "4.4.2", "connection not ready"},
    {ReplyKind::AbortedByQuit, 421, "4.4.2", "transaction aborted by quit"},
    {ReplyKind::TlsRefusedByNextHop, 421, "4.7.5", "TLS required but refused by next hop"},
    {ReplyKind::TlsNotOfferedByNextHop, 421, "4.7.5", "TLS required but not offered by next hop"},
    {ReplyKind::TlsHandshakeFailed, 421, "4.7.5", "TLS handshake failed: {}"},
    {ReplyKind::ReplyFlood, 421, "4.5.0", "reply flood from next hop"},
    {ReplyKind::MalformedReply, 421, "4.5.0", "malformed reply from next hop"},
    {ReplyKind::UnexpectedReply, 421, "4.5.0", "unexpected reply from next hop"},
    {ReplyKind::UnexpectedGreeting, 421, "4.5.0", "unexpected greeting"},
    {ReplyKind::InvalidSender, 553, "5.1.7", "invalid sender address"},
    {ReplyKind::InvalidRecipient, 553, "5.1.3", "invalid recipient address"},
    {ReplyKind::NoSendableRecipients, 554, "5.5.1", "no valid recipients"},
    {ReplyKind::TooBigForNextHop, 552, "5.3.4", "message too big for next hop"},
    {ReplyKind::DeliveredToMaildir, 250, "2.0.0", "delivered to maildir"},
    {ReplyKind::MaildirFailed, 451, "4.3.0", "{}"},
}};

constexpr const ReplyRow& reply_row(ReplyKind kind) { return kReplyTable[static_cast<std::size_t>(kind)]; }
constexpr bool takes_detail(ReplyKind kind) { return reply_row(kind).text.find("{}") != std::string_view::npos; }

template <ReplyKind K>
  requires(!takes_detail(K))
Reply make_reply() {
  constexpr const ReplyRow& row = reply_row(K);
  return Reply{row.code, std::string(row.enhanced), {std::string(row.text)}};
}

// `detail` may be client input: Reply::wire() masks its control bytes.
template <ReplyKind K>
  requires(takes_detail(K))
Reply make_reply(std::string_view detail) {
  constexpr const ReplyRow& row = reply_row(K);
  constexpr std::size_t at = row.text.find("{}");
  std::string text(row.text.substr(0, at));
  text.append(detail).append(row.text.substr(at + 2));
  return Reply{row.code, std::string(row.enhanced), {std::move(text)}};
}

}  // namespace mugai::proto
