// Account lookups (see account.hpp). Each call retries with a larger buffer on ERANGE: entries of
// groups with many members outgrow any fixed size.
#include "common/account.hpp"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <vector>

namespace mugai::account {
namespace {

constexpr std::size_t kMaxBuffer = 1 << 20;

// Calls `lookup(buffer)` (a *_r call returning an errno value) with growing buffers; false when the
// entry does not exist or the lookup failed.
template <typename Lookup>
bool with_buffer(Lookup lookup) {
  for (std::size_t size = 1024; size <= kMaxBuffer; size *= 4) {
    std::vector<char> buf(size);
    const int rc = lookup(buf);
    if (rc != ERANGE) return rc == 0;
  }
  return false;
}

bool find_user(std::int64_t uid, std::string& name, gid_t& gid) {
  return with_buffer([&](std::vector<char>& buf) {
    passwd pw{};
    passwd* found = nullptr;
    const int rc = ::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found);
    if (rc == 0 && found == nullptr) return ENOENT;
    if (rc == 0) {
      name = pw.pw_name;
      gid = pw.pw_gid;
    }
    return rc;
  });
}

}  // namespace

std::string user_name(std::int64_t uid) {
  std::string name;
  gid_t gid = 0;
  return uid >= 0 && find_user(uid, name, gid) ? name : "uid:" + std::to_string(uid);
}

std::optional<std::int64_t> group_id(std::string_view name) {
  const std::string wanted(name);
  gid_t gid = 0;
  const bool found = with_buffer([&](std::vector<char>& buf) {
    group gr{};
    group* result = nullptr;
    const int rc = ::getgrnam_r(wanted.c_str(), &gr, buf.data(), buf.size(), &result);
    if (rc == 0 && result == nullptr) return ENOENT;
    if (rc == 0) gid = gr.gr_gid;
    return rc;
  });
  return found ? std::optional<std::int64_t>(gid) : std::nullopt;
}

bool member_of(std::int64_t uid, std::int64_t gid) {
  std::string name;
  gid_t primary = 0;
  if (uid < 0 || !find_user(uid, name, primary)) return false;
  if (primary == static_cast<gid_t>(gid)) return true;
  std::vector<gid_t> groups(64);
  for (;;) {
    int n = static_cast<int>(groups.size());
    if (::getgrouplist(name.c_str(), primary, groups.data(), &n) >= 0) {
      groups.resize(static_cast<std::size_t>(n));
      break;
    }
    if (n <= static_cast<int>(groups.size()) || static_cast<std::size_t>(n) > kMaxBuffer) return false;
    groups.resize(static_cast<std::size_t>(n));
  }
  for (const gid_t g : groups)
    if (g == static_cast<gid_t>(gid)) return true;
  return false;
}

}  // namespace mugai::account
