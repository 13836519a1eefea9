// A cheap, linear, bounded look at raw message bytes before mimetic sees them. mimetic parses the
// whole tree recursively (one stack frame chain per nesting level) and grows header buffers 128
// bytes at a time (quadratic in a header's length), so bytes reach it only when this scan shows
// that neither can get out of hand, that the estimated depth and part count fit the limits, and that
// the line ends are not a CR/LF mixture mimetic misreads (it throws mid-parse on some of them).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "sanitizers/pipeline.hpp"

namespace mugai::sanitize {

// A limit the message crossed; `limit` names it ("max_depth", "max_parts", "header_block", ...).
struct LimitBreach {
  std::string limit;
  std::string detail;
};

// Internal bounds protecting the parser, not policy: no header block (top level, after a boundary,
// or inside message/rfc822) may exceed Limits::max_header_section, and all of them together
// kHeaderTotalFactor times that.
inline constexpr std::size_t kHeaderTotalFactor = 16;

struct PrescanResult {
  std::size_t content_type_fields = 0;  // every "Content-Type" occurrence: bounds mimetic's recursion
  std::size_t estimated_parts = 1;      // boundary delimiters of declared boundaries, plus the root
  std::size_t estimated_depth = 0;      // nesting of declared boundaries (root = 0)
  std::optional<LimitBreach> breach;
};

PrescanResult prescan(std::string_view untrusted_message, const Limits& limits);

}  // namespace mugai::sanitize
