// The wall clock in whole seconds since the epoch, as spool ids, records, audit lines and reports store
// time: one definition for every room.
#pragma once

#include <cstdint>
#include <ctime>

namespace mugai {

inline std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace mugai
