// The admin socket's protocol between `mugaictl` and the gateway: one JSON object on one LF-terminated
// line each way, one request per connection. I/O-free: bytes in, a bounded line, then a typed request
// (or response) whose every field has been checked for type and size, or an Error saying what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace mugai::proto::admin {

inline constexpr int kVersion = 1;
inline constexpr std::size_t kMaxRequest = 64 * 1024;         // a request line, LF included
inline constexpr std::size_t kMaxResponse = 8 * 1024 * 1024;  // a response line (purge lists every id)
inline constexpr std::size_t kMaxId = 64;
inline constexpr std::size_t kMaxRecipients = 100;
inline constexpr std::size_t kMaxAddress = 320;
inline constexpr std::size_t kMaxText = 4096;                     // a reason, a message
inline constexpr std::int64_t kMaxAge = 10LL * 366 * 24 * 3600;  // purge --older-than
inline constexpr std::size_t kMaxPassword = 128;                  // unlock: sanitize::kMaxPasswordSize
inline constexpr std::size_t kMaxQueueIds = 1000;                 // queue hold/unhold/delete/flush ID...
// queue list: rows in one response. At most ~1.5 KiB each (bounded fields below), so well within
// kMaxResponse; the response says when the queue held more.
inline constexpr std::int64_t kMaxQueueRows = 5000;
inline constexpr std::size_t kMaxQueueRecipients = 1000;  // queue show: recipients listed
inline constexpr std::size_t kMaxQueueHistory = 64;       // queue show: events remembered per message

// The state-changing commands; every one of them goes through the gateway (the one writer).
enum class Action {
  Release, RequestRelease, Approve, Delete, Purge, Unlock,
  // `mugaictl queue`: the spool as the scheduler sees it, and the operator's say over it.
  QueueList, QueueShow, QueueHold, QueueUnhold, QueueDelete, QueueFlush,
};
std::string_view action_name(Action a);

struct Request {
  Action action = Action::Release;
  std::string id;                          // as typed (the gateway normalizes it); empty for purge
  std::vector<std::string> to;             // release, request-release; empty = the original recipients
  std::string reason;
  std::optional<std::int64_t> older_than;  // purge: seconds; none = each entry's retention deadline
  // unlock: the archive password, which crosses only this socket; the gateway never stores or logs it.
  std::string password;
  std::vector<std::string> ids;            // queue hold/unhold/delete (needed), flush (empty = every deferred one)
  std::optional<std::int64_t> limit;       // queue list: at most this many rows (1..kMaxQueueRows)
  bool operator==(const Request&) const = default;
};

// One queued message as `queue list` / `queue show` report it. Strings are as the gateway found them
// (mugaictl escapes them for the terminal); times are Unix seconds, 0 = none.
struct QueueMessage {
  std::string id;
  std::string stage;  // "raw" (awaits sanitizing) or "clean" (awaits delivery)
  std::string route;  // "next-hop" or "bounce" (a DSN the gateway wrote)
  // "queued", "in-flight", "deferred", "waiting-password", "held", "deleting"
  std::string state;
  std::int64_t arrival_unix = 0;
  std::int64_t size = 0;
  std::string mail_from;
  std::int64_t rcpt_total = 0;
  std::int64_t rcpt_done = 0;
  std::int64_t attempts = 0;
  std::string last_error;
  std::int64_t next_attempt_unix = 0;
  std::string hold_reason;
  // queue show only:
  std::string client_ip, helo;
  std::vector<std::string> rcpt_to;    // every recipient (up to kMaxQueueRecipients)
  std::vector<std::string> rcpt_done_list;  // those the next hop accepted or that were bounced
  std::string subject, from, date;     // the message's headers, RFC 2047 decoded
  std::vector<std::string> history;    // "time event detail", oldest first
  bool operator==(const QueueMessage&) const = default;
};

struct Response {
  // Spelled out so `Response{ok, message, ids}` stays the short form for the quarantine actions.
  Response(bool ok = false, std::string message = {}, std::vector<std::string> ids = {},
           std::vector<QueueMessage> queue = {}, std::int64_t queue_total = 0)
      : ok(ok), message(std::move(message)), ids(std::move(ids)), queue(std::move(queue)), queue_total(queue_total) {}
  bool ok = false;
  std::string message;           // for the operator: what was done, or why not
  std::vector<std::string> ids;  // purge: the entries it expired
  std::vector<QueueMessage> queue;  // queue list (every row), queue show (one)
  std::int64_t queue_total = 0;     // queue list: messages in the queue, listed or not
  bool operator==(const Response&) const = default;
};

// Collects bytes up to the first LF and never holds more than `max` bytes. Whatever follows the LF is
// not consumed: one message per connection.
class LineReader {
 public:
  enum class State { NeedMore, Line, TooLong };
  explicit LineReader(std::size_t max) : max_(max) {}
  State feed(std::string_view bytes);
  State state() const { return state_; }
  std::string_view line() const { return line_; }  // without its LF; set in state Line

 private:
  std::size_t max_;
  std::string line_;
  State state_ = State::NeedMore;
};

// One LF-terminated line each.
std::string encode(const Request& r);
std::string encode(const Response& r);

// Strict: a JSON object with "v": kVersion, a known action, only the fields that action takes (its
// required ones present), strings without control characters and within the bounds above.
Expected<Request> parse_request(std::string_view untrusted_line);
Expected<Response> parse_response(std::string_view untrusted_line);

}  // namespace mugai::proto::admin
