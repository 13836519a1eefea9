// The read deadline of one SMTP server session, as arithmetic on time values it is given (it never
// reads a clock). Guarantees: no byte received postpones the end of a command line, and in DATA no
// trickle keeps a session alive below smtp.min_data_rate or past smtp.command_timeout without data.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mugai::gateway {

class SessionDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  // `min_data_rate` in bytes per second, 1..10^9 (config guarantees it).
  SessionDeadline(Clock::duration command_timeout, std::uint64_t min_data_rate, Clock::time_point now)
      : timeout_(command_timeout), rate_(min_data_rate), at_(now + command_timeout) {}

  // A reply was sent (or TLS started): the next command line, or the message after 354, has a whole
  // command_timeout. Bytes of a command line never extend it, however they trickle in.
  void restart(Clock::time_point now) { at_ = now + timeout_; }

  // `bytes` of DATA arrived at `now`. Postfix 3.7's smtpd_min_data_rate rule: after a read of N
  // bytes (plaintext, after TLS) the deadline, already reduced by the time that read waited, is
  // extended by N / min_data_rate seconds, but never beyond smtpd_timeout (here command_timeout)
  // from now.
  void data_received(std::size_t bytes, Clock::time_point now) {
    // Whole seconds, then the remainder in nanoseconds: exact, and with min_data_rate <= 10^9 (the
    // config's bound) the product stays below 2^63.
    const std::uint64_t n = bytes;
    const auto credit = std::chrono::seconds(n / rate_) + std::chrono::nanoseconds((n % rate_) * 1'000'000'000 / rate_);
    at_ = std::min(at_ + std::chrono::duration_cast<Clock::duration>(credit), now + timeout_);
  }

  // What is left for the next read: zero or less once the deadline passed.
  Clock::duration remaining(Clock::time_point now) const { return at_ - now; }

 private:
  Clock::duration timeout_;
  std::uint64_t rate_;
  Clock::time_point at_;
};

}  // namespace mugai::gateway
