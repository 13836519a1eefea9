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

// The state-changing commands; every one of them goes through the gateway (the one writer).
enum class Action { Release, RequestRelease, Approve, Delete, Purge, Unlock };
std::string_view action_name(Action a);

struct Request {
  Action action = Action::Release;
  std::string id;                          // as typed (the gateway normalizes it); empty for purge
  std::vector<std::string> to;             // release, request-release; empty = the original recipients
  std::string reason;
  std::optional<std::int64_t> older_than;  // purge: seconds; none = each entry's retention deadline
  // unlock: the archive password, which crosses only this socket; the gateway never stores or logs it.
  std::string password;
  bool operator==(const Request&) const = default;
};

struct Response {
  bool ok = false;
  std::string message;           // for the operator: what was done, or why not
  std::vector<std::string> ids;  // purge: the entries it expired
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
