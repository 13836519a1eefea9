// The SMTP server side (RFC 5321 + ESMTP PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS)
// as an I/O-free state machine: bytes in, reply bytes and actions out. No sockets, no clock.
// Guarantees: framing is strict (a bare CR or LF in a command or in DATA fails that command or
// transaction with a 5xx and is never normalized), only <CRLF>.<CRLF> ends DATA, input buffered
// before STARTTLS is discarded, and pipelined commands are answered strictly in order. DATA is
// handed out as it is parsed (take_data()), so a driver that streams it holds no whole message; a
// message past max_message_size is refused (552) and the session closed as soon as the limit is crossed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/reply.hpp"

namespace mugai::proto {

struct ServerLimits {
  std::size_t max_command_line = 512;            // bytes incl. CRLF (RFC 5321 §4.5.3.1.4)
  std::size_t max_text_line = 1000;              // bytes incl. CRLF, in DATA (§4.5.3.1.6)
  std::size_t max_header_section = 256 * 1024;   // bytes of the header section in DATA
  std::size_t max_message_size = 25 * 1024 * 1024;  // bytes of unstuffed DATA; advertised as SIZE
  std::size_t max_recipients = 100;
  // Recipients past max_recipients in one transaction answered 452 without counting towards
  // max_errors: a client that pipelines too many sends the rest later (RFC 5321 §4.5.3.1.10), and
  // is not disconnected for it. Each one beyond this counts (as Postfix's
  // smtpd_recipient_overshoot_limit).
  std::size_t recipient_overshoot_limit = 1000;
  unsigned max_errors = 10;                      // 4xx/5xx replies before 421 and close
};

struct ServerConfig {
  std::string hostname = "localhost";
  ServerLimits limits;
  bool tls_available = false;  // advertise and accept STARTTLS
  bool tls_required = false;   // refuse MAIL with 530 5.7.0 until TLS is active
  std::vector<std::string> accept_domains;  // recipient domains (see recipient_allowed)
  // Whether the delivery route can take a recipient ("local@domain" as stored in the envelope), asked
  // after relay control; empty: every accepted recipient. The gateway hands over the check its
  // delivery backend itself applies, so RCPT never says 250 to what delivery must refuse.
  std::function<bool(std::string_view mailbox)> route_accepts;
};

// What the transaction carried; handed to the gateway when DATA completes.
struct Envelope {
  std::string client_ip;
  std::string helo;
  bool esmtp = false;
  bool tls = false;
  std::string mail_from;                // "" for the null sender <>
  std::vector<std::string> rcpt_to;     // accepted recipients, in order
  bool eight_bit_mime = false;          // BODY=8BITMIME was given
};

class ServerSession {
 public:
  enum class Action {
    NeedInput,    // write take_output(), then read more and feed() it
    StartTls,     // write take_output() (the 220), do the TLS handshake, then tls_started()
    Message,      // DATA completed: spool message() (or the rest of take_data()), then queued() or queue_failed()
    Close,        // write take_output(), then close the connection
  };

  ServerSession(ServerConfig config, std::string client_ip);

  // The 220 greeting (already placed in the output buffer by the constructor).
  // Bytes from the client; they are only buffered until process() runs.
  void feed(std::string_view untrusted_bytes);

  // Consume buffered input until the session needs something from its driver.
  Action process();

  // Reply bytes produced so far; the caller writes them before acting on the Action.
  std::string take_output();

  // The transaction's envelope (complete once DATA began) and the unstuffed message bytes (CRLF line
  // ends) parsed and not yet taken: after Action::Message the whole message when the driver never
  // called take_data().
  const Envelope& envelope() const { return envelope_; }
  const std::string& message() const { return data_; }
  // In DATA (and at Action::Message): hands over the unstuffed bytes parsed so far, so the driver
  // can stream them out (to the spool) and memory stays bounded by what one feed() brings.
  std::string take_data() { return std::exchange(data_, {}); }
  // Unstuffed bytes of the current message so far, taken or not.
  std::size_t message_size() const { return data_size_; }
  // In DATA, the message is already refused (bare line end, long line, header section): the rest is
  // only read to find its end, and whatever the driver streamed out should be dropped now.
  bool data_failed() const { return state_ == State::Data && data_failure_.has_value(); }
  // Spool outcome; queued() answers "250 2.0.0 Ok: queued as <id>", queue_failed() a 451 4.3.0.
  void queued(std::string_view queue_id);
  void queue_failed(std::string_view why);

  // After Action::StartTls and a successful handshake: discards any input that arrived in the
  // clear after the STARTTLS command (CVE-2011-0411) and resets to the pre-EHLO state (RFC 3207 §4.2).
  void tls_started();

  // The driver's deadline passed (smtp.command_timeout, or in DATA smtp.min_data_rate): emits 421
  // 4.4.2 saying which, drops a partial message, and the next process() returns Close.
  void timed_out();
  // Ends the session with `reply` (421/554), e.g. too many connections, a refused client network or
  // shutdown. Called before the greeting was taken, the reply replaces the 220 (RFC 5321 §3.1).
  void refuse(Reply reply);

  bool in_data() const { return state_ == State::Data; }
  unsigned errors() const { return errors_; }
  // Input bytes held but not yet consumed. In the command phase this never exceeds
  // max_command_line: an over-long line is discarded as it arrives, not buffered.
  std::size_t buffered() const { return in_.size() - in_pos_; }

 private:
  // Implementation detail (see smtp_server.cpp): state machine over a command table.
  enum class State { Command, Data, AwaitQueue, StartTls, Closing };
  // Where the DATA parser stands within the current line (dot-stuffing and CRLF framing).
  enum class DataState { LineStart, Dot, DotCr, Mid, Cr };
  friend struct ServerCommands;

  void reply(Reply r);
  void error_reply(Reply r);  // counts towards max_errors
  void reset_transaction();
  bool process_command_line();
  void dispatch(std::string_view line);
  void begin_data();
  bool process_data();
  void finish_data();
  void data_count(std::size_t wire_bytes);
  void data_store(std::string_view unstuffed);
  void data_fail(Reply r);

  ServerConfig config_;
  State state_ = State::Command;
  std::string in_;
  std::size_t in_pos_ = 0;
  bool discarding_long_line_ = false;
  std::string out_;
  Envelope envelope_;
  std::string data_;
  bool have_helo_ = false;
  bool have_mail_ = false;
  bool tls_active_ = false;
  unsigned errors_ = 0;
  std::size_t excess_recipients_ = 0;  // RCPTs past max_recipients in this transaction
  bool greeting_taken_ = false;  // until then refuse() replaces the 220 instead of following it
  // DATA framing state; the first failure is kept and answered once the terminator arrives.
  DataState data_state_ = DataState::LineStart;
  std::optional<Reply> data_failure_;
  bool data_in_headers_ = true;
  std::size_t data_line_len_ = 0;      // wire bytes of the current line so far
  std::size_t data_header_bytes_ = 0;
  std::size_t data_size_ = 0;          // unstuffed bytes, counted even when no longer stored
};

}  // namespace mugai::proto
