// The system's accounts, for saying who did something: a uid's user name and its groups, looked up
// with the reentrant NSS calls (getpwuid_r, getgrnam_r, getgrouplist), so any thread may ask.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mugai::account {

// The user name of `uid`, or "uid:N" when the account database has none.
std::string user_name(std::int64_t uid);

// The gid of the group `name`; nullopt when there is no such group.
std::optional<std::int64_t> group_id(std::string_view name);

// True when the account `uid` has group `gid`, as its primary group or a supplementary one (in the
// account database, as login would set them).
bool member_of(std::int64_t uid, std::int64_t gid);

}  // namespace mugai::account
