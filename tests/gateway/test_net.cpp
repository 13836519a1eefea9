// Tests of run_blocking's exception barrier (gateway/net.hpp): what the work throws on the pool
// reaches the awaiting coroutine on its own executor, and the pool goes on running later work.
#include <doctest/doctest.h>

#include <new>
#include <stdexcept>
#include <string>

#include "gateway/net.hpp"

using namespace mugai;
using namespace mugai::gateway;

namespace {

// Results need not be default-constructible (the exception path carries no value).
struct NoDefault {
  explicit NoDefault(int v) : value(v) {}
  int value;
};

}  // namespace

TEST_CASE("run_blocking: a throw on the worker is rethrown in the awaiting coroutine") {
  asio::io_context io;
  asio::thread_pool pool(2);
  std::string caught;
  bool resumed_on_loop = false;
  int after = 0;
  std::string as_error;
  int as_value = 0;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        try {
          co_await run_blocking(pool, []() -> NoDefault { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error& e) {
          caught = e.what();
        }
        resumed_on_loop = io.get_executor().running_in_this_thread();
        after = (co_await run_blocking(pool, [] { return NoDefault(42); })).value;
        auto failed = co_await run_blocking_or_error(pool, []() -> Status { throw std::bad_alloc(); });
        if (!failed) as_error = failed.error().message;
        auto fine = co_await run_blocking_or_error(pool, []() -> Expected<int> { return 7; });
        if (fine) as_value = *fine;
      },
      asio::detached);
  io.run();
  pool.join();
  CHECK(caught == "boom");
  CHECK(resumed_on_loop);
  CHECK(after == 42);
  CHECK(as_error.starts_with("exception: "));
  CHECK(as_error.find("bad_alloc") != std::string::npos);
  CHECK(as_value == 7);
}

TEST_CASE("run_blocking: a coroutine that lets it through ends with the exception, not the process") {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::string ended_with;
  asio::co_spawn(
      io, [&]() -> awaitable<int> { co_return co_await run_blocking(pool, []() -> int { throw 3; }); },
      [&](std::exception_ptr e, int) { ended_with = e ? exception_text(e) : "no exception"; });
  io.run();
  pool.join();
  CHECK(ended_with == "unknown exception");
}
