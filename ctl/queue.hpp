// `mugaictl queue list|show|hold|unhold|delete|flush`: the spool as the running gateway sees it, and the
// operator's say over it (Postfix's postqueue/postsuper). Every subcommand is a request over the admin
// socket; exit 0 done, 1 error (naming the id), 2 bad usage.
#pragma once

#include <span>
#include <string_view>

namespace mugai::ctl {

int cmd_queue(std::span<const std::string_view> args);

}  // namespace mugai::ctl
