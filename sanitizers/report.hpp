// The per-message report (JSON, keys in a fixed order): the verdict and its reason, every part with its
// decision, reason, hashes and the artefacts that replaced it, the limits crossed and the counts.
// Written for every verdict, so an admin always learns what was held back and why.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sanitizers/pipeline.hpp"
#include "sanitizers/walk.hpp"

namespace mugai::sanitize {

struct ReportInput {
  const Outcome& outcome;
  const Walk& walk;
  const MessageContext& ctx;
  const Policy& policy;
  const std::vector<std::string>& header_notes;
  std::size_t unrepresentable = 0;
  Clock::time_point start;
};

std::string report_json(const ReportInput& in);

}  // namespace mugai::sanitize
