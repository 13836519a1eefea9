// The SMTP server session: strict CRLF framing, a command table split into check/proceed, and a
// streaming DATA parser. Guarantees: memory stays bounded by the configured limits, DATA bytes are
// scanned once (linear in message size), and only <CRLF>.<CRLF> ends DATA (no smuggling).
#include "proto/smtp_server.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>

#include "common/ascii.hpp"
#include "proto/address.hpp"
#include "proto/replies.hpp"

namespace mugai::proto {

namespace {

// "FROM:" / "TO:" case-insensitively; tolerates spaces after the colon as most MTAs do.
std::optional<std::string_view> after_keyword(std::string_view args, std::string_view keyword) {
  if (args.size() < keyword.size() || !ascii::iequals(args.substr(0, keyword.size()), keyword)) return std::nullopt;
  return ascii::trim(args.substr(keyword.size()), " ");
}

// A HELO/EHLO argument is one printable ASCII token (a domain or an address literal).
bool valid_helo(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

// The command table: `check` validates state and syntax and yields the error reply; `proceed`
// changes state and answers. A row with no error path uses `accept`.
struct ServerCommands {
  struct Parsed {
    std::string_view args;  // after the verb, spaces trimmed
    PathParams path;        // MAIL/RCPT
    bool eight_bit = false; // MAIL BODY=8BITMIME
  };
  // A check's error reply; most count towards max_errors, an excess recipient within the
  // overshoot limit does not.
  struct Refusal {
    Refusal(Reply r, bool counted = true) : reply(std::move(r)), counts(counted) {}
    Reply reply;
    bool counts;
  };
  using Check = std::optional<Refusal> (*)(ServerSession&, Parsed&);
  using Proceed = void (*)(ServerSession&, const Parsed&);
  struct Row {
    std::string_view verb;
    Check check;
    Proceed proceed;
  };

  static std::optional<Refusal> accept(ServerSession&, Parsed&) { return std::nullopt; }
  static std::optional<Refusal> no_args(ServerSession&, Parsed& p) {
    if (!p.args.empty()) return make_reply<ReplyKind::NoParameters>();
    return std::nullopt;
  }

  static std::optional<Refusal> check_helo(ServerSession&, Parsed& p) {
    if (!valid_helo(p.args)) return make_reply<ReplyKind::HeloSyntax>();
    return std::nullopt;
  }
  static void greet(ServerSession& s, const Parsed& p, bool esmtp) {
    s.reset_transaction();
    s.have_helo_ = true;
    s.envelope_.helo = std::string(p.args);
    s.envelope_.esmtp = esmtp;
  }
  static void proceed_ehlo(ServerSession& s, const Parsed& p) {
    greet(s, p, true);
    Reply r = make_reply<ReplyKind::Ehlo>(s.config_.hostname);
    r.lines.insert(r.lines.end(), {"PIPELINING", "SIZE " + std::to_string(s.config_.limits.max_message_size),
                                   "8BITMIME", "ENHANCEDSTATUSCODES"});
    if (s.config_.tls_available && !s.tls_active_) r.lines.emplace_back("STARTTLS");
    s.reply(std::move(r));
  }
  static void proceed_helo(ServerSession& s, const Parsed& p) {
    greet(s, p, false);
    s.reply(make_reply<ReplyKind::Helo>(s.config_.hostname));
  }

  static std::optional<Refusal> check_mail(ServerSession& s, Parsed& p) {
    if (!s.have_helo_) return make_reply<ReplyKind::NeedHelo>();
    if (s.have_mail_) return make_reply<ReplyKind::NestedMail>();
    if (s.config_.tls_required && !s.tls_active_) return make_reply<ReplyKind::TlsRequired>();
    const auto arg = after_keyword(p.args, "FROM:");
    if (!arg) return make_reply<ReplyKind::MailSyntax>();
    auto parsed = parse_path(*arg, true);
    if (!parsed) return make_reply<ReplyKind::BadSender>(parsed.error().message);
    p.path = std::move(*parsed);
    for (const auto& [key, value] : p.path.params) {
      if (ascii::iequals(key, "SIZE")) {
        std::uint64_t size = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
        const bool out_of_range = ec == std::errc::result_out_of_range;
        if ((ec != std::errc{} && !out_of_range) || end != value.data() + value.size()) {
          return make_reply<ReplyKind::SizeSyntax>();
        }
        if (out_of_range || size > s.config_.limits.max_message_size) return make_reply<ReplyKind::MessageTooBig>();
      } else if (ascii::iequals(key, "BODY") && ascii::iequals(value, "8BITMIME")) {
        p.eight_bit = true;
      } else if (!(ascii::iequals(key, "BODY") && ascii::iequals(value, "7BIT"))) {
        return make_reply<ReplyKind::UnsupportedMailParameter>();
      }
    }
    return std::nullopt;
  }
  static void proceed_mail(ServerSession& s, const Parsed& p) {
    s.have_mail_ = true;
    s.envelope_.mail_from = p.path.mailbox.str();
    s.envelope_.eight_bit_mime = p.eight_bit;
    s.reply(make_reply<ReplyKind::SenderOk>());
  }

  static std::optional<Refusal> check_rcpt(ServerSession& s, Parsed& p) {
    if (!s.have_mail_) return make_reply<ReplyKind::NeedMail>();
    const auto arg = after_keyword(p.args, "TO:");
    if (!arg) return make_reply<ReplyKind::RcptSyntax>();
    auto parsed = parse_path(*arg, false);
    if (!parsed && parsed.error().kind == kRoutingRefused)
      return make_reply<ReplyKind::RoutingRefused>(parsed.error().message);
    if (!parsed) return make_reply<ReplyKind::BadRecipient>(parsed.error().message);
    p.path = std::move(*parsed);
    if (!p.path.params.empty()) return make_reply<ReplyKind::UnsupportedRcptParameter>();
    if (s.envelope_.rcpt_to.size() >= s.config_.limits.max_recipients) {
      const bool beyond_overshoot = ++s.excess_recipients_ > s.config_.limits.recipient_overshoot_limit;
      return Refusal{make_reply<ReplyKind::TooManyRecipients>(), beyond_overshoot};
    }
    if (!recipient_allowed(p.path.mailbox, s.config_.accept_domains)) {
      return make_reply<ReplyKind::RelayDenied>(p.path.mailbox.str());
    }
    if (s.config_.route_accepts && !s.config_.route_accepts(p.path.mailbox.str())) {
      return make_reply<ReplyKind::MailboxNameNotAllowed>(p.path.mailbox.str());
    }
    return std::nullopt;
  }
  static void proceed_rcpt(ServerSession& s, const Parsed& p) {
    s.envelope_.rcpt_to.push_back(p.path.mailbox.str());
    s.reply(make_reply<ReplyKind::RecipientOk>());
  }

  static std::optional<Refusal> check_data(ServerSession& s, Parsed& p) {
    if (!s.have_mail_) return make_reply<ReplyKind::NeedMail>();
    if (s.envelope_.rcpt_to.empty()) return make_reply<ReplyKind::NoValidRecipients>();
    return no_args(s, p);
  }
  static void proceed_data(ServerSession& s, const Parsed&) {
    s.begin_data();
    s.reply(make_reply<ReplyKind::StartData>());
  }

  static void proceed_rset(ServerSession& s, const Parsed&) {
    s.reset_transaction();
    s.reply(make_reply<ReplyKind::Ok>());
  }
  static void proceed_noop(ServerSession& s, const Parsed&) { s.reply(make_reply<ReplyKind::Ok>()); }
  static void proceed_quit(ServerSession& s, const Parsed&) {
    s.reply(make_reply<ReplyKind::Bye>());
    s.state_ = ServerSession::State::Closing;
  }
  static void proceed_vrfy(ServerSession& s, const Parsed&) {
    s.reply(make_reply<ReplyKind::CannotVrfy>());
  }
  static void proceed_help(ServerSession& s, const Parsed&) {
    s.reply(make_reply<ReplyKind::Help>());
  }

  static std::optional<Refusal> check_starttls(ServerSession& s, Parsed& p) {
    if (!s.config_.tls_available) return make_reply<ReplyKind::NotImplemented>();
    if (s.tls_active_) return make_reply<ReplyKind::TlsAlreadyActive>();
    return no_args(s, p);
  }
  static void proceed_starttls(ServerSession& s, const Parsed&) {
    s.reply(make_reply<ReplyKind::ReadyToStartTls>());
    s.state_ = ServerSession::State::StartTls;
  }

  static constexpr std::array<Row, 11> table{{
      {"EHLO", check_helo, proceed_ehlo},
      {"HELO", check_helo, proceed_helo},
      {"MAIL", check_mail, proceed_mail},
      {"RCPT", check_rcpt, proceed_rcpt},
      {"DATA", check_data, proceed_data},
      {"RSET", no_args, proceed_rset},
      {"NOOP", accept, proceed_noop},
      {"QUIT", accept, proceed_quit},
      {"VRFY", accept, proceed_vrfy},
      {"HELP", accept, proceed_help},
      {"STARTTLS", check_starttls, proceed_starttls},
  }};
};

ServerSession::ServerSession(ServerConfig config, std::string client_ip) : config_(std::move(config)) {
  envelope_.client_ip = std::move(client_ip);
  reply(make_reply<ReplyKind::Greeting>(config_.hostname));
}

void ServerSession::feed(std::string_view untrusted_bytes) {
  // Drop what was consumed before growing, so the buffer only ever holds unconsumed input.
  in_.erase(0, in_pos_);
  in_pos_ = 0;
  in_.append(untrusted_bytes);
}

ServerSession::Action ServerSession::process() {
  for (;;) {
    switch (state_) {
      case State::Closing:
        return Action::Close;
      case State::StartTls:
        return Action::StartTls;
      case State::AwaitQueue:
        return Action::Message;
      case State::Command:
        if (!process_command_line()) return Action::NeedInput;
        break;
      case State::Data:
        if (!process_data()) return Action::NeedInput;
        break;
    }
  }
}

std::string ServerSession::take_output() {
  greeting_taken_ = true;
  return std::exchange(out_, {});
}

void ServerSession::reply(Reply r) { out_ += r.wire(); }

void ServerSession::error_reply(Reply r) {
  reply(std::move(r));
  if (++errors_ >= config_.limits.max_errors) {
    reply(make_reply<ReplyKind::TooManyErrors>(config_.hostname));
    state_ = State::Closing;
  }
}

void ServerSession::reset_transaction() {
  have_mail_ = false;
  excess_recipients_ = 0;
  envelope_.mail_from.clear();
  envelope_.rcpt_to.clear();
  envelope_.eight_bit_mime = false;
  // A finished message can be 25 MB: give the memory back rather than keep it per idle connection.
  std::string().swap(data_);
}

// Handles one complete command line; false when no complete line is buffered.
bool ServerSession::process_command_line() {
  const std::string_view pending = std::string_view(in_).substr(in_pos_);
  const std::size_t crlf = pending.find("\r\n");
  const std::size_t max_line = config_.limits.max_command_line;
  if (crlf == std::string_view::npos) {
    // Without a CRLF in max_line bytes the line is already too long: drop it as it arrives (keeping
    // a trailing CR that may pair with the next LF) and answer once its CRLF shows up.
    if (discarding_long_line_ || pending.size() >= max_line) {
      discarding_long_line_ = true;
      in_pos_ += pending.size() - (pending.ends_with('\r') ? 1 : 0);
    }
    return false;
  }
  in_pos_ += crlf + 2;
  if (std::exchange(discarding_long_line_, false) || crlf + 2 > max_line) {
    error_reply(make_reply<ReplyKind::LineTooLong>());
    return true;
  }
  const std::string_view line = pending.substr(0, crlf);
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    // A bare LF is exactly what SMTP smuggling hides a second command or a fake end of DATA behind.
    reset_transaction();
    error_reply(make_reply<ReplyKind::BareLineEndInCommand>());
    return true;
  }
  dispatch(line);
  return true;
}

void ServerSession::dispatch(std::string_view line) {
  const std::size_t space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  for (const auto& row : ServerCommands::table) {
    if (!ascii::iequals(verb, row.verb)) continue;
    ServerCommands::Parsed parsed;
    parsed.args = space == std::string_view::npos ? std::string_view{} : ascii::trim(line.substr(space + 1), " ");
    if (auto refusal = row.check(*this, parsed)) {
      if (refusal->counts) {
        error_reply(std::move(refusal->reply));
      } else {
        reply(std::move(refusal->reply));
      }
    } else {
      row.proceed(*this, parsed);
    }
    return;
  }
  error_reply(make_reply<ReplyKind::UnknownCommand>());
}

void ServerSession::begin_data() {
  state_ = State::Data;
  data_state_ = DataState::LineStart;
  data_failure_.reset();
  data_in_headers_ = true;
  data_line_len_ = 0;
  data_header_bytes_ = 0;
  data_size_ = 0;
}

void ServerSession::data_fail(Reply r) {
  if (data_failure_) return;
  data_failure_ = std::move(r);
  // The message is lost anyway: release it now and store nothing more.
  std::string().swap(data_);
}

void ServerSession::data_count(std::size_t wire_bytes) {
  data_line_len_ += wire_bytes;
  if (data_line_len_ > config_.limits.max_text_line) {
    data_fail(make_reply<ReplyKind::TextLineTooLong>());
  }
}

void ServerSession::data_store(std::string_view unstuffed) {
  data_size_ += unstuffed.size();
  if (data_in_headers_) {
    data_header_bytes_ += unstuffed.size();
    if (data_header_bytes_ > config_.limits.max_header_section) {
      data_fail(make_reply<ReplyKind::HeaderSectionTooBig>());
    }
  }
  if (data_size_ > config_.limits.max_message_size) {
    // Reading the rest only to refuse it would let a client make us take in any amount: answer
    // now and close (the client learns the limit from SIZE in EHLO; a 5xx makes it bounce).
    reset_transaction();
    reply(make_reply<ReplyKind::MessageTooBig>());
    state_ = State::Closing;
    return;
  }
  if (!data_failure_) data_.append(unstuffed);
}

// Consumes DATA bytes; true once <CRLF>.<CRLF> was seen. Runs of ordinary bytes are copied in one
// step; CR, LF, NUL and a dot at line start are decided one byte at a time, carrying the state
// across calls so a terminator split over reads is still recognised and nothing is rescanned.
bool ServerSession::process_data() {
  static constexpr std::string_view specials("\r\n\0", 3);
  const std::string_view buf(in_);
  const auto bare = [this] {
    data_fail(make_reply<ReplyKind::BareLineEndInData>());
  };
  std::size_t pos = in_pos_;
  while (pos < buf.size()) {
    if (state_ != State::Data) {  // data_store() refused an oversized message
      in_pos_ = pos;
      return true;
    }
    const char c = buf[pos];
    switch (data_state_) {
      case DataState::LineStart:
        data_state_ = DataState::Mid;
        if (c == '.') {
          data_count(1);
          data_state_ = DataState::Dot;
          ++pos;
        }
        break;
      case DataState::Dot:  // the leading dot is dropped: that is the unstuffing
        data_state_ = DataState::Mid;
        if (c == '\r') {
          data_count(1);
          data_state_ = DataState::DotCr;
          ++pos;
        }
        break;
      case DataState::DotCr:
        if (c == '\n') {
          in_pos_ = pos + 1;
          finish_data();
          return true;
        }
        bare();
        data_state_ = DataState::Mid;  // the byte after the bare CR is judged on its own
        break;
      case DataState::Cr:
        if (c == '\n') {
          data_count(1);
          ++pos;
          // The first empty line closes the header section; it is not part of it.
          if (data_line_len_ == 2) data_in_headers_ = false;
          data_store("\r\n");
          data_line_len_ = 0;
          data_state_ = DataState::LineStart;
        } else {
          bare();
          data_state_ = DataState::Mid;
        }
        break;
      case DataState::Mid: {
        const std::size_t stop = std::min(buf.find_first_of(specials, pos), buf.size());
        if (stop > pos) {
          data_count(stop - pos);
          data_store(buf.substr(pos, stop - pos));
          pos = stop;
          break;
        }
        data_count(1);
        ++pos;
        if (c == '\r') {
          data_state_ = DataState::Cr;
        } else if (c == '\n') {
          bare();
        } else {
          data_fail(make_reply<ReplyKind::NulInData>());
        }
        break;
      }
    }
  }
  in_pos_ = pos;
  return state_ != State::Data;
}

void ServerSession::finish_data() {
  if (!data_failure_) {
    state_ = State::AwaitQueue;
    return;
  }
  state_ = State::Command;
  reset_transaction();
  error_reply(std::move(*data_failure_));
  data_failure_.reset();
}

// Outside AwaitQueue there is no message to answer for; a stray call must not emit a reply.
void ServerSession::queued(std::string_view queue_id) {
  if (state_ != State::AwaitQueue) return;
  state_ = State::Command;
  reset_transaction();
  reply(make_reply<ReplyKind::Queued>(queue_id));
}

// The reason stays in the gateway's log: internal errors are not the client's business.
void ServerSession::queue_failed(std::string_view) {
  if (state_ != State::AwaitQueue) return;
  state_ = State::Command;
  reset_transaction();
  error_reply(make_reply<ReplyKind::QueueWriteFailed>());
}

void ServerSession::tls_started() {
  // Anything sent in the clear after STARTTLS was injectable by a man in the middle (CVE-2011-0411).
  in_.clear();
  in_pos_ = 0;
  discarding_long_line_ = false;
  reset_transaction();
  have_helo_ = false;
  tls_active_ = true;
  envelope_.helo.clear();
  envelope_.esmtp = false;
  envelope_.tls = true;
  state_ = State::Command;
}

void ServerSession::timed_out() {
  if (state_ == State::Data) {
    reply(make_reply<ReplyKind::DataTooSlow>(config_.hostname));
    reset_transaction();
  } else {
    reply(make_reply<ReplyKind::CommandTimeout>(config_.hostname));
  }
  state_ = State::Closing;
}

void ServerSession::refuse(Reply r) {
  if (!greeting_taken_) out_.clear();
  reply(std::move(r));
  state_ = State::Closing;
}

}  // namespace mugai::proto
