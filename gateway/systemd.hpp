// systemd's service notification (sd_notify(3)) for a Type=notify unit: READY=1 once the gateway listens,
// STOPPING=1 when it starts draining, and WATCHDOG=1 from the event loop, so a loop that hangs gets the
// gateway restarted. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
#pragma once

#include "gateway/net.hpp"

#include <string>

namespace mugai::gateway::systemd {

void ready(const std::string& status);
void stopping();

// When the unit sets WatchdogSec (WATCHDOG_USEC for this process), pings at half that interval from a
// timer on `io`: the pings stop when the event loop stops turning, which is what the watchdog is for.
void start_watchdog(asio::io_context& io);

}  // namespace mugai::gateway::systemd
