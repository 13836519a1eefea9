// `mugaictl quarantine …` and `mugaictl audit …`: the admin review of quarantined originals and the
// audit trail. Same exit codes as the rest of mugaictl: 0 done, 1 error (naming the id or file), 2 usage.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace mugai::ctl {

int cmd_quarantine(std::span<const std::string_view> args);
int cmd_audit(std::span<const std::string_view> args);

// The operator recorded in the audit trail: `given` (--operator), else $SUDO_USER, else $USER.
std::string resolve_operator(const std::string& given);

}  // namespace mugai::ctl
