// mugaictl's side of the admin socket: one request to the gateway, one response back, each within a
// deadline and the protocol's bounds. The errors say what to do, e.g. when the gateway is not running.
#pragma once

#include <string>

#include "common/expected.hpp"
#include "proto/admin.hpp"

namespace mugai::ctl {

Expected<proto::admin::Response> ask_gateway(const std::string& socket_path, const proto::admin::Request& request);

}  // namespace mugai::ctl
