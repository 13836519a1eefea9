// DirectoryQuarantine: one `<id>.eml` (the original, byte for byte) and one `<id>.json` (the record)
// per entry. Each file is written under a temporary name, fsync'd, renamed without replacing anything,
// and the directory fsync'd, so an id returned by put() always resolves after a crash.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "sanitizers/codec.hpp"
#include "sanitizers/json.hpp"
#include "sanitizers/quarantine.hpp"

namespace mugai::sanitize {
namespace {

Error sys_error(const std::string& what) { return Error{what + ": " + std::strerror(errno)}; }

// "Q" + 12 base32 characters: 35 bits of seconds (sortable by time) and 25 random bits.
Expected<std::string> new_id() {
  std::uint32_t rnd = 0;
  if (getrandom(&rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd)) return sys_error("getrandom");
  const auto secs = static_cast<std::uint64_t>(std::time(nullptr)) & ((1ull << 35) - 1);
  std::uint64_t v = (secs << 25) | (rnd & ((1u << 25) - 1));
  static constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string id(13, 'Q');
  for (int i = 12; i >= 1; --i) {
    id[static_cast<std::size_t>(i)] = kBase32[v & 31];
    v >>= 5;
  }
  return id;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close() reports deferred write errors, so the final close is checked.
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

Status write_file(int dirfd, const std::string& name, std::string_view data) {
  Fd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return sys_error("create " + name);
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys_error("write " + name);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd.get()) != 0) return sys_error("fsync " + name);
  if (!fd.close()) return sys_error("close " + name);
  return Ok{};
}

// Writes `data` to `final_name` via a temporary; fails with EEXIST rather than replace an entry.
Status publish(int dirfd, const std::string& final_name, std::string_view data) {
  const std::string tmp = "." + final_name + ".tmp";
  ::unlinkat(dirfd, tmp.c_str(), 0);  // a leftover from a crash before the rename
  if (auto st = write_file(dirfd, tmp, data); !st) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return st;
  }
  if (::renameat2(dirfd, tmp.c_str(), dirfd, final_name.c_str(), RENAME_NOREPLACE) != 0) {
    const int saved = errno;
    ::unlinkat(dirfd, tmp.c_str(), 0);
    errno = saved;
    return sys_error("rename " + final_name);
  }
  return Ok{};
}

std::string record_json(const std::string& id, std::string_view original, const QuarantineRecord& r) {
  using json::append_string;
  std::string j = "{\"id\":";
  append_string(j, id);
  j += ",\"stored_unix\":" + std::to_string(static_cast<long long>(std::time(nullptr)));
  j += ",\"size\":" + std::to_string(original.size()) + ",\"sha256\":";
  append_string(j, sha256_hex(original));
  const std::pair<const char*, const std::string*> fields[] = {
      {"queue_id", &r.queue_id}, {"client_ip", &r.client_ip}, {"helo", &r.helo},     {"mail_from", &r.mail_from},
      {"subject", &r.subject},   {"message_id", &r.message_id}, {"reason", &r.reason}};
  for (const auto& [name, value] : fields) {
    j += ",\"";
    j += name;
    j += "\":";
    append_string(j, *value);
  }
  j += ",\"rcpt_to\":[";
  for (std::size_t i = 0; i < r.rcpt_to.size(); ++i) {
    if (i) j += ",";
    append_string(j, r.rcpt_to[i]);
  }
  j += "],\"parts\":[";
  for (std::size_t i = 0; i < r.parts.size(); ++i) {
    const RemovedPart& p = r.parts[i];
    j += i ? ",{\"filename\":" : "{\"filename\":";
    append_string(j, p.filename);
    j += ",\"declared_type\":";
    append_string(j, p.declared_type);
    j += ",\"detected_type\":";
    append_string(j, p.detected_type);
    j += ",\"size\":" + std::to_string(p.size) + ",\"sha256\":";
    append_string(j, p.sha256);
    j += ",\"reason\":";
    append_string(j, p.reason);
    j += ",\"sanitizer\":";
    append_string(j, p.sanitizer);
    j += "}";
  }
  j += "]}\n";
  return j;
}

Status ensure_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Ok{};
  if (errno != ENOENT) return sys_error("mkdir " + dir);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (ec) return Error{"mkdir " + dir + ": " + ec.message()};
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("mkdir " + dir);
  return Ok{};
}

}  // namespace

DirectoryQuarantine::DirectoryQuarantine(std::string dir) : dir_(std::move(dir)) {}

Expected<std::string> DirectoryQuarantine::put(std::string_view original, const QuarantineRecord& record) {
  if (auto st = ensure_dir(dir_); !st) return st.error();
  Fd dirfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.get() < 0) return sys_error("open " + dir_);
  // A collision needs two entries in the same second with the same 25 random bits: retry a few times.
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto id = new_id();
    if (!id) return id.error();
    if (auto st = publish(dirfd.get(), *id + ".eml", original); !st) {
      if (errno == EEXIST) continue;
      return st.error();
    }
    if (auto st = publish(dirfd.get(), *id + ".json", record_json(*id, original, record)); !st) {
      ::unlinkat(dirfd.get(), (*id + ".eml").c_str(), 0);
      return st.error();
    }
    if (::fsync(dirfd.get()) != 0) return sys_error("fsync " + dir_);
    return *id;
  }
  return Error{"could not allocate a unique quarantine id in " + dir_};
}

}  // namespace mugai::sanitize
