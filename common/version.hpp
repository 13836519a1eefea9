// The mugai version, one value for every binary (the project() version in CMakeLists.txt): what
// `mugaictl version`, the gateway-start audit record and mugai_build_info report.
#pragma once

#include <string_view>

namespace mugai {

std::string_view version();

}  // namespace mugai
