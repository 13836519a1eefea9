// Byte counts as an administrator reads them in logs and reasons: "64 MiB", "1 GiB", "1536 KiB", or
// bytes when no binary unit divides them exactly (so the text always names the configured value).
#pragma once

#include <cstdint>
#include <string>

namespace mugai {

inline std::string size_text(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"GiB", "MiB", "KiB"};
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t unit = 1ull << (10 * (3 - i));
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + " " + kUnits[i];
  }
  return std::to_string(bytes) + " bytes";
}

}  // namespace mugai
