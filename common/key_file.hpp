// Secret keys in files of their own: exactly 32 random bytes, mode 0600, owned by the user the
// process runs as. A key that others can read or replace is refused, never used.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace mugai::keyfile {

inline constexpr std::size_t kKeyBytes = 32;

// The key at `path`; refused when group or others may access it. With `create` (the gateway, which owns
// the key) an absent key is made first (random, 0600, fsync'd; a concurrent creator's key wins) and a
// key owned by another user than ours or root is refused too. `what` names the key in errors
// ("quarantine key file", "spool key file").
Expected<std::string> load(const std::string& path, std::string_view what, bool create);

}  // namespace mugai::keyfile
