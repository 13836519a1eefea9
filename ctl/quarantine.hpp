// `mugaictl quarantine …` and `mugaictl audit …`: the admin review of quarantined originals and the
// audit trail. Same exit codes as the rest of mugaictl: 0 done, 1 error (naming the id or file), 2 usage.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "quarantine/audit.hpp"

namespace mugai::ctl {

int cmd_quarantine(std::span<const std::string_view> args);
// `mugaictl report` (ctl/report.cpp).
int cmd_report(std::span<const std::string_view> args);

int cmd_audit(std::span<const std::string_view> args);

// The account running mugaictl, as the audit trail names it when mugaictl writes a record itself
// (shown, exported, a sanitized message's quarantine); the gateway takes the same from the socket.
quarantine::Operator local_operator();

}  // namespace mugai::ctl
