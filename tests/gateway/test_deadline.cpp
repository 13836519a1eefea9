// Tests of the session deadline arithmetic: a command line gets command_timeout from the previous
// reply whatever arrives, and DATA follows Postfix's smtpd_min_data_rate rule (N/rate per read,
// capped at command_timeout from the read).
#include <doctest/doctest.h>

#include <chrono>

#include "gateway/deadline.hpp"

using mugai::gateway::SessionDeadline;
using namespace std::chrono_literals;

namespace {
const SessionDeadline::Clock::time_point t0{};
}

TEST_CASE("deadline: a command line has command_timeout from the previous reply, bytes or not") {
  SessionDeadline d(3s, 1000, t0);
  CHECK(d.remaining(t0) == 3s);
  CHECK(d.remaining(t0 + 2s) == 1s);
  CHECK(d.remaining(t0 + 3s) == 0s);
  CHECK(d.remaining(t0 + 4s) == -1s);
  d.restart(t0 + 10s);
  CHECK(d.remaining(t0 + 10s) == 3s);
}

TEST_CASE("deadline: DATA earns N/min_data_rate per read, never beyond command_timeout from the read") {
  SessionDeadline d(3s, 1000, t0);  // 354 sent at t0
  d.data_received(500, t0 + 1s);    // +0.5 s
  CHECK(d.remaining(t0 + 1s) == 2500ms);
  d.data_received(1, t0 + 2s);      // +1 ms
  CHECK(d.remaining(t0 + 2s) == 1501ms);
  d.data_received(1'000'000, t0 + 2s);  // 1000 s earned, but at most 3 s from now
  CHECK(d.remaining(t0 + 2s) == 3s);

  SUBCASE("a trickle below the rate runs out") {
    SessionDeadline slow(3s, 1000, t0);
    int reads = 0;
    for (auto now = t0 + 1s; slow.remaining(now) > 0s; now += 1s, ++reads)
      slow.data_received(1, now);  // one byte a second earns 1 ms per second spent
    CHECK(reads == 3);
    CHECK(slow.remaining(t0 + 3003ms) == 0s);
  }
  SUBCASE("a sender at the rate never runs out") {
    SessionDeadline steady(3s, 1000, t0);
    for (int i = 1; i <= 1000; ++i) {
      steady.data_received(1000, t0 + std::chrono::seconds(i));
      REQUIRE(steady.remaining(t0 + std::chrono::seconds(i)) == 3s);
    }
  }
  SUBCASE("credit is exact to the nanosecond") {
    SessionDeadline odd(300s, 3, t0);
    odd.data_received(1, t0);  // already at the cap: nothing changes
    CHECK(odd.remaining(t0) == 300s);
    odd.data_received(1, t0 + 1s);
    CHECK(odd.remaining(t0 + 1s) == 299s + 333'333'333ns);
    odd.data_received(7, t0 + 2s);  // 2 s + 1/3 s
    CHECK(odd.remaining(t0 + 2s) == 300s);
  }
}
