// sd_notify for the gateway (see systemd.hpp). libsystemd reads NOTIFY_SOCKET itself; a message that cannot
// be sent is not an error, because the manager then is not waiting for it.
#include "gateway/systemd.hpp"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "gateway/log.hpp"

namespace mugai::gateway::systemd {

void ready(const std::string& status) { ::sd_notify(0, ("READY=1\nSTATUS=" + status).c_str()); }

void stopping() { ::sd_notify(0, "STOPPING=1\nSTATUS=draining"); }

namespace {

awaitable<void> ping(std::chrono::microseconds every) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    ::sd_notify(0, "WATCHDOG=1");
    timer.expires_after(every);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

}  // namespace

void start_watchdog(asio::io_context& io) {
  std::uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  const std::chrono::microseconds every(usec / 2);
  log::event("watchdog", {{"interval_ms", std::to_string(every.count() / 1000)}});
  asio::co_spawn(io, ping(every), asio::detached);
}

}  // namespace mugai::gateway::systemd
