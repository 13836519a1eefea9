// The SMTP client side used for delivery to the next hop, as an I/O-free state machine:
// reply bytes in, command bytes and actions out. One session can carry several transactions
// over one connection (connection reuse). Multi-line and malformed replies are handled: a reply
// that does not parse is treated as a transient failure of the connection (never as success).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "proto/reply.hpp"

namespace mugai::proto {

// delivery.tls, Postfix's smtp_tls_security_level: `May` uses STARTTLS when offered; the other three
// never send in clear. `Verify` and `Fingerprint` also authenticate the next hop's certificate, which
// the connection layer checks after the handshake (this session only knows that TLS is mandatory).
enum class TlsPolicy { None, May, Encrypt, Verify, Fingerprint };
inline bool tls_mandatory(TlsPolicy p) { return p != TlsPolicy::None && p != TlsPolicy::May; }

struct ClientConfig {
  std::string helo_name = "localhost";
  TlsPolicy tls = TlsPolicy::May;
  std::size_t max_reply_line = 4096;   // a longer reply line is malformed
  std::size_t max_reply_lines = 100;
};

// Outcome of one transaction, per recipient.
struct RecipientResult {
  std::string rcpt;
  Reply reply;  // the RCPT reply if it failed, else the final DATA reply
};

// What the next hop's EHLO reply advertised (empty after HELO).
struct ServerExtensions {
  bool pipelining = false;
  bool starttls = false;
  bool eight_bit_mime = false;
  bool size_offered = false;
  std::size_t size = 0;  // 0: SIZE offered without a limit
};

struct TransactionResult {
  Reply reply;                            // final reply (or the failing MAIL/DATA/connection reply)
  std::vector<RecipientResult> recipients;  // one per recipient, same order as given
};

class ClientSession {
 public:
  enum class Action {
    NeedInput,   // write take_output(), then read a reply and feed() it
    StartTls,    // write take_output(); do the TLS handshake, then tls_started() (or tls_failed())
    Ready,       // connection is idle: call begin() for a transaction, or quit()
    Done,        // the transaction begun with begin() finished: see result(); session is Ready again
                 // unless closed() is true
    Closed,      // QUIT answered, or the connection is unusable (see result()/failure()); a QUIT
                 // may wait in take_output(): writing it is a courtesy, then close the connection
  };

  explicit ClientSession(ClientConfig config);

  void feed(std::string_view untrusted_bytes);
  Action process();
  std::string take_output();

  // Start a transaction when process() returned Ready. `message` uses CRLF line ends, unstuffed;
  // the session dot-stuffs it and appends <CRLF>.<CRLF>. SIZE= is sent when the server offers SIZE,
  // and a message larger than the advertised SIZE fails with 552 without sending it. An address that
  // parse_path() would refuse (or that carries parameters) is never sent: it fails with 553.
  void begin(std::string mail_from, std::vector<std::string> rcpt_to, std::string message);
  const TransactionResult& result() const { return result_; }

  void quit();
  void tls_started();
  void tls_failed(std::string_view why);
  // The driver's deadline or connection failed: the current transaction (if any) ends with a 4xx.
  void connection_lost(std::string_view why);

  bool tls_active() const { return tls_active_; }
  const ServerExtensions& extensions() const { return ext_; }
  bool closed() const;
  // Why the session closed before being usable (greeting 554, EHLO refused, TLS required but absent).
  const Reply& failure() const { return failure_; }

 private:
  enum class State { Greeting, Ehlo, Helo, StartTls, AwaitTls, Ready, Mail, Rcpt, Data, Body, Rset, Done, Quit, Closed };
  enum class Parsed { Incomplete, Complete, Malformed };

  Parsed parse_reply(Reply& out);
  void on_reply(const Reply& r);
  void after_hello();
  void send(std::string_view line);
  void send_message();
  void next_rcpt();
  bool in_transaction() const;
  void settle_pending(const Reply& r);
  void fail_connection(const Reply& r, bool send_quit);

  ClientConfig config_;
  TransactionResult result_;
  Reply failure_;
  bool tls_active_ = false;
  State state_ = State::Greeting;
  ServerExtensions ext_;
  std::string in_;
  bool in_overflow_ = false;  // the next hop sent more than any sequence of valid replies could hold
  std::string out_;
  std::string message_;               // kept from begin() until DATA's 354
  std::vector<std::size_t> accepted_;  // indexes into result_.recipients whose RCPT got 2xx
  std::size_t rcpt_index_ = 0;
};

}  // namespace mugai::proto
