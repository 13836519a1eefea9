// The delivered message, written from the walk's values only (DESIGN.md principle 3): a Received trace,
// the allowlisted header re-encoded (headers.hpp), the MIME body (mime_builder.hpp) whose text opens
// with the notice, and the X-Mugai-* trace headers. Nothing of the original structure is copied.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "sanitizers/headers.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/walk.hpp"

namespace mugai::sanitize {

struct RebuiltMessage {
  std::string bytes;                // CRLF line ends
  std::size_t unrepresentable = 0;  // characters the output charset lacks
};

// `quarantine_id`: cited by the notice and X-Mugai-Quarantine-Id; empty when nothing is held.
RebuiltMessage rebuild_message(const Walk& walk, const RebuiltHeaders& headers, const MessageContext& ctx,
                               const Policy& policy, std::string_view quarantine_id);

}  // namespace mugai::sanitize
