// SMTP client state machine for delivery (RFC 5321, 1870, 2920 keywords, 3207, 6152): one command
// at a time, replies parsed under line/count limits. Guarantees: a recipient is only ever reported
// with a 2xx after the server said 2xx to the end of DATA; anything unparsable or out of protocol
// ends the connection with a 4xx, and bytes received in the clear before TLS are dropped.
#include "proto/smtp_client.hpp"

#include <limits>
#include <utility>

#include "proto/address.hpp"
#include "proto/replies.hpp"

namespace mugai::proto {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// Length of a leading RFC 3463 "class.subject.detail" whose class matches the reply, else 0.
std::size_t enhanced_code_length(std::string_view text, char reply_class) {
  if (text.size() < 5 || text[0] != reply_class || text[1] != '.') return 0;
  std::size_t pos = 2;
  for (int field = 0; field < 2; ++field) {
    const std::size_t start = pos;
    while (pos < text.size() && is_digit(text[pos]) && pos - start < 4) ++pos;
    if (pos == start || pos - start > 3) return 0;
    if (field == 0) {
      if (pos >= text.size() || text[pos] != '.') return 0;
      ++pos;
    }
  }
  return (pos == text.size() || text[pos] == ' ') ? pos : 0;
}

// Reply text ends up in logs and bounces: control bytes from the next hop must not reach them.
std::string printable(std::string_view text) {
  std::string out{text};
  for (char& c : out) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) c = '?';
  }
  return out;
}

std::string_view default_enhanced(int code) {
  if (code >= 500) return "5.0.0";
  if (code >= 400) return "4.0.0";
  return "2.0.0";
}

ServerExtensions parse_extensions(const Reply& ehlo) {
  ServerExtensions ext;
  // The first line is the greeting text; every following line is "KEYWORD [params]".
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    const std::string_view line = ehlo.lines[i];
    const std::size_t space = line.find(' ');
    std::string keyword;
    for (const char c : line.substr(0, space)) keyword.push_back(upper(c));
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "8BITMIME") {
      ext.eight_bit_mime = true;
    } else if (keyword == "SIZE") {
      ext.size_offered = true;
      ext.size = 0;
      const std::string_view digits = space == std::string_view::npos ? "" : line.substr(space + 1);
      for (const char c : digits) {
        // A limit we cannot represent or read is no limit we can enforce: the server still checks.
        if (!is_digit(c) || ext.size > (std::numeric_limits<std::size_t>::max() - 9) / 10) {
          ext.size = 0;
          break;
        }
        ext.size = ext.size * 10 + static_cast<std::size_t>(c - '0');
      }
    }
  }
  return ext;
}

bool has_8bit(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// A path we put on the wire must be one our own server would accept, and nothing more:
// no parameters can ride in on an address.
bool sendable_address(const std::string& address) {
  auto parsed = parse_path("<" + address + ">", false);
  return parsed && parsed->params.empty();
}

}  // namespace

ClientSession::ClientSession(ClientConfig config) : config_(std::move(config)) {}

void ClientSession::feed(std::string_view untrusted_bytes) {
  if (state_ == State::Closed || in_overflow_) return;
  // Without pipelining at most one reply is outstanding; a few replies' worth is generous.
  const std::size_t cap = (config_.max_reply_line + 2) * config_.max_reply_lines;
  if (in_.size() + untrusted_bytes.size() > cap) {
    in_overflow_ = true;
    in_.clear();
    return;
  }
  in_.append(untrusted_bytes);
}

std::string ClientSession::take_output() { return std::exchange(out_, {}); }

bool ClientSession::closed() const { return state_ == State::Closed; }

ClientSession::Parsed ClientSession::parse_reply(Reply& out) {
  Reply reply;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t lf = in_.find('\n', pos);
    if (lf == std::string::npos) {
      // +1: the CR of a line exactly at the limit may already be here without its LF.
      return in_.size() - pos > config_.max_reply_line + 1 ? Parsed::Malformed : Parsed::Incomplete;
    }
    std::string_view line{in_.data() + pos, lf - pos};
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // bare LF is tolerated
    pos = lf + 1;
    if (line.size() > config_.max_reply_line || reply.lines.size() >= config_.max_reply_lines) {
      return Parsed::Malformed;
    }
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) || !is_digit(line[2])) {
      return Parsed::Malformed;
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (reply.code != 0 && code != reply.code) return Parsed::Malformed;
    reply.code = code;
    const bool last = line.size() == 3 || line[3] == ' ';
    if (!last && line[3] != '-') return Parsed::Malformed;

    std::string_view text = line.substr(line.size() > 3 ? 4 : 3);
    if (const std::size_t n = enhanced_code_length(text, line[0]); n > 0 && line[0] != '3') {
      if (reply.enhanced.empty()) reply.enhanced = std::string{text.substr(0, n)};
      text.remove_prefix(n < text.size() ? n + 1 : n);
    }
    reply.lines.push_back(printable(text));
    if (last) break;
  }
  if (reply.enhanced.empty()) reply.enhanced = std::string{default_enhanced(reply.code)};
  in_.erase(0, pos);
  out = std::move(reply);
  return Parsed::Complete;
}

ClientSession::Action ClientSession::process() {
  for (;;) {
    if (in_overflow_ && state_ != State::Closed) {
      fail_connection(make_reply<ReplyKind::ReplyFlood>(), false);
    }
    switch (state_) {
      case State::AwaitTls:
        return Action::StartTls;
      case State::Ready:
        return Action::Ready;
      case State::Done:
        state_ = State::Ready;
        return Action::Done;
      case State::Closed:
        return Action::Closed;
      default:
        break;
    }
    Reply reply;
    switch (parse_reply(reply)) {
      case Parsed::Incomplete:
        return Action::NeedInput;
      case Parsed::Malformed:
        fail_connection(make_reply<ReplyKind::MalformedReply>(), false);
        break;
      case Parsed::Complete:
        on_reply(reply);
        break;
    }
  }
}

void ClientSession::on_reply(const Reply& r) {
  if (r.code == 421 && state_ != State::Quit) {
    // The server is closing the channel (RFC 5321 §3.8): nothing more will be answered.
    fail_connection(r, false);
    return;
  }
  // Only DATA may be answered with 3xx, and only with 3xx: anything else would let a confused or
  // hostile server make an undelivered message look delivered.
  const bool expects_intermediate = state_ == State::Data;
  if (r.positive() && (r.code / 100 == 3) != expects_intermediate && state_ != State::Quit) {
    fail_connection(make_reply<ReplyKind::UnexpectedReply>(), false);
    return;
  }
  switch (state_) {
    case State::Greeting:
      if (r.code != 220) return fail_connection(r.positive() ? make_reply<ReplyKind::UnexpectedGreeting>() : r, true);
      send("EHLO " + config_.helo_name);
      state_ = State::Ehlo;
      return;
    case State::Ehlo:
      if (r.permanent()) {
        send("HELO " + config_.helo_name);
        state_ = State::Helo;
        return;
      }
      if (!r.positive()) return fail_connection(r, true);
      ext_ = parse_extensions(r);
      return after_hello();
    case State::Helo:
      if (!r.positive()) return fail_connection(r, true);
      ext_ = {};
      return after_hello();
    case State::StartTls:
      if (r.code == 220) {
        state_ = State::AwaitTls;
        return;
      }
      if (tls_mandatory(config_.tls)) {
        return fail_connection(make_reply<ReplyKind::TlsRefusedByNextHop>(), true);
      }
      state_ = State::Ready;  // opportunistic: carry on in the clear, as before STARTTLS
      return;
    case State::Mail:
      if (!r.positive()) {
        settle_pending(r);
        send("RSET");
        state_ = State::Rset;
        return;
      }
      return next_rcpt();
    case State::Rcpt:
      if (r.positive()) {
        accepted_.push_back(rcpt_index_);
      } else {
        result_.recipients[rcpt_index_].reply = r;
        result_.reply = r;
      }
      ++rcpt_index_;
      return next_rcpt();
    case State::Data:
      if (r.code / 100 == 3) {
        send_message();
        state_ = State::Body;
        return;
      }
      settle_pending(r);
      send("RSET");
      state_ = State::Rset;
      return;
    case State::Body:
      settle_pending(r);
      state_ = State::Done;
      return;
    case State::Rset:
      if (!r.positive()) return fail_connection(r, true);
      state_ = State::Done;
      return;
    case State::Quit:
      state_ = State::Closed;
      return;
    case State::AwaitTls:
    case State::Ready:
    case State::Done:
    case State::Closed:
      return;  // process() never parses replies in these states
  }
}

void ClientSession::after_hello() {
  if (!tls_active_ && ext_.starttls && config_.tls != TlsPolicy::None) {
    send("STARTTLS");
    state_ = State::StartTls;
    return;
  }
  if (!tls_active_ && tls_mandatory(config_.tls)) {
    return fail_connection(make_reply<ReplyKind::TlsNotOfferedByNextHop>(), true);
  }
  state_ = State::Ready;
}

void ClientSession::tls_started() {
  if (state_ != State::AwaitTls) return;
  // Anything that arrived before the handshake was injected in the clear (CVE-2011-0411).
  in_.clear();
  in_overflow_ = false;
  tls_active_ = true;
  ext_ = {};  // RFC 3207 §4.2: forget what was learned before TLS
  send("EHLO " + config_.helo_name);
  state_ = State::Ehlo;
}

void ClientSession::tls_failed(std::string_view why) {
  if (state_ == State::Closed) return;
  fail_connection(make_reply<ReplyKind::TlsHandshakeFailed>(why), false);
}

void ClientSession::connection_lost(std::string_view why) {
  if (state_ == State::Closed) return;
  fail_connection(make_reply<ReplyKind::ConnectionLost>(why), false);
}

void ClientSession::begin(std::string mail_from, std::vector<std::string> rcpt_to, std::string message) {
  result_ = {};
  accepted_.clear();
  rcpt_index_ = 0;
  for (std::string& rcpt : rcpt_to) result_.recipients.push_back({std::move(rcpt), {}});
  if (state_ != State::Ready) {
    // Misuse by the driver: fail this transaction and the connection rather than interleave.
    const Reply not_ready = make_reply<ReplyKind::ConnectionNotReady>();
    if (state_ != State::Closed) fail_connection(not_ready, false);
    settle_pending(not_ready);
    return;
  }
  state_ = State::Done;  // every early exit below reports without touching the wire
  if (!mail_from.empty() && !sendable_address(mail_from)) {
    return settle_pending(make_reply<ReplyKind::InvalidSender>());
  }
  bool any_valid = false;
  for (RecipientResult& rcpt : result_.recipients) {
    if (sendable_address(rcpt.rcpt)) {
      any_valid = true;
    } else {
      rcpt.reply = make_reply<ReplyKind::InvalidRecipient>();
    }
  }
  if (!any_valid) {
    result_.reply = make_reply<ReplyKind::NoSendableRecipients>();
    return;
  }
  if (ext_.size > 0 && message.size() > ext_.size) {
    return settle_pending(make_reply<ReplyKind::TooBigForNextHop>());
  }

  std::string command = "MAIL FROM:<" + mail_from + ">";
  if (ext_.size_offered) command += " SIZE=" + std::to_string(message.size());
  if (ext_.eight_bit_mime && has_8bit(message)) command += " BODY=8BITMIME";
  send(command);
  message_ = std::move(message);
  state_ = State::Mail;
}

void ClientSession::next_rcpt() {
  // Recipients refused locally already carry their reply and are never sent.
  while (rcpt_index_ < result_.recipients.size() && result_.recipients[rcpt_index_].reply.code != 0) {
    ++rcpt_index_;
  }
  if (rcpt_index_ < result_.recipients.size()) {
    send("RCPT TO:<" + result_.recipients[rcpt_index_].rcpt + ">");
    state_ = State::Rcpt;
  } else if (accepted_.empty()) {
    send("RSET");
    state_ = State::Rset;
  } else {
    send("DATA");
    state_ = State::Data;
  }
}

void ClientSession::send_message() {
  // Dot-stuff (RFC 5321 §4.5.2), and turn any bare CR or LF into CRLF so that the next hop
  // cannot see a line boundary, or an end of data, where we did not mean one (SMTP smuggling).
  out_.reserve(out_.size() + message_.size() + message_.size() / 64 + 5);
  bool line_start = true;
  for (std::size_t i = 0; i < message_.size(); ++i) {
    const char c = message_[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < message_.size() && message_[i + 1] == '\n') ++i;
      out_ += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out_ += '.';
    out_ += c;
    line_start = false;
  }
  if (!line_start) out_ += "\r\n";
  out_ += ".\r\n";
  message_ = {};
}

void ClientSession::quit() {
  if (state_ == State::Closed) return;
  if (in_transaction()) settle_pending(make_reply<ReplyKind::AbortedByQuit>());
  send("QUIT");
  state_ = State::Quit;
}

void ClientSession::send(std::string_view line) {
  out_ += line;
  out_ += "\r\n";
}

bool ClientSession::in_transaction() const {
  return state_ == State::Mail || state_ == State::Rcpt || state_ == State::Data || state_ == State::Body;
}

void ClientSession::settle_pending(const Reply& r) {
  for (RecipientResult& rcpt : result_.recipients) {
    if (rcpt.reply.code == 0) rcpt.reply = r;
  }
  result_.reply = r;
}

void ClientSession::fail_connection(const Reply& r, bool send_quit) {
  if (in_transaction()) {
    settle_pending(r);
  } else {
    failure_ = r;
  }
  if (send_quit) send("QUIT");
  message_ = {};
  state_ = State::Closed;
}

}  // namespace mugai::proto
