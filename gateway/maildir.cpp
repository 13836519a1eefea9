// The maildir: delivery backend (see maildir.hpp). File names follow the Maildir convention
// time.M<usec>P<pid>Q<counter>.<host>, unique per process and host; new/ never holds a partial file.
#include "gateway/maildir.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/durable_file.hpp"

namespace mugai::gateway {

namespace {

constexpr std::size_t kMaxComponent = 255;  // NAME_MAX on every Linux file system we care about

// The host part of a Maildir name; '/' and ':' are encoded as the Maildir spec asks.
const std::string& maildir_host() {
  static const std::string host = [] {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return std::string("localhost");
    std::string out;
    for (const char* p = buf; *p != '\0'; ++p) {
      if (*p == '/') {
        out += "\\057";
      } else if (*p == ':') {
        out += "\\072";
      } else {
        out += *p;
      }
    }
    return out;
  }();
  return host;
}

std::string unique_name() {
  static std::atomic<unsigned long> counter{0};
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return std::to_string(now / 1000000) + ".M" + std::to_string(now % 1000000) + "P" +
         std::to_string(::getpid()) + "Q" + std::to_string(counter.fetch_add(1) + 1) + "." +
         maildir_host();
}

}  // namespace

bool maildir_accepts(std::string_view rcpt) {
  return !rcpt.empty() && rcpt.size() <= kMaxComponent && rcpt.front() != '.' &&
         std::none_of(rcpt.begin(), rcpt.end(), [](char c) {
           auto u = static_cast<unsigned char>(c);
           return c == '/' || u < 0x20 || u == 0x7f;
         });
}

Status deliver_maildir(const std::string& root, std::string_view rcpt, std::string_view message,
                       bool fsync) {
  if (!maildir_accepts(rcpt)) return Error{"recipient is not a safe maildir name: " + std::string(rcpt)};
  auto box = root + "/" + std::string(rcpt);
  for (const auto& dir : {box + "/tmp", box + "/new", box + "/cur"}) {  // parents as needed
    auto st = durable::make_dir(dir, fsync);
    if (!st) return st;
  }
  auto name = unique_name();
  return durable::write_file(box + "/tmp/" + name, box + "/new/" + name, {message}, fsync, false);
}

}  // namespace mugai::gateway
