// The durable queue (see spool.hpp). Each entry is one file: a text header, the message, and an end
// record "END <n>" that is checked against the header's size, so a torn or truncated file is never
// mistaken for a message; such files are moved to corrupt/, never deleted.
#include "gateway/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <random>

#include "common/id.hpp"
#include "common/fd.hpp"
#include "common/durable_file.hpp"

namespace mugai::gateway {

namespace {

constexpr std::string_view kMagic = "MUGAI-SPOOL 1\n";
constexpr std::size_t kTimeChars = 12;
constexpr std::size_t kSeqChars = 4;
constexpr std::uint32_t kSeqMax = (1u << (5 * kSeqChars)) - 1;
// Enough for the header of any ordinary entry; recover() reads more only for huge recipient lists.
constexpr std::size_t kHeaderProbe = 64 * 1024;

const char* suffix(Stage stage) { return stage == Stage::Raw ? ".raw" : ".clean"; }

bool safe_value(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string trailer(std::size_t n) { return "\nEND " + std::to_string(n) + "\n"; }

// Cuts the next '\n'-terminated line off `rest`; false when no complete line is left.
bool next_line(std::string_view& rest, std::string_view& line) {
  auto nl = rest.find('\n');
  if (nl == std::string_view::npos) return false;
  line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return true;
}

// The value of a "key value" line, or false when the line has another key.
bool field(std::string_view line, std::string_view key, std::string_view& value) {
  if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ' ')
    return false;
  value = line.substr(key.size() + 1);
  return true;
}

template <typename Int>
bool parse_int(std::string_view s, Int& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

struct Header {
  std::size_t length = 0;        // bytes up to and including the blank line
  std::size_t message_size = 0;
};

// Parses the header of an entry whose file name says `id`; fills everything but message and stage.
Expected<Header> parse_header(std::string_view data, std::string_view id, SpoolEntry& e) {
  std::string_view rest = data;
  if (rest.substr(0, kMagic.size()) != kMagic) return Error{"bad magic"};
  rest.remove_prefix(kMagic.size());
  std::string_view line, v;
  auto expect = [&](std::string_view key) { return next_line(rest, line) && field(line, key, v); };

  if (!expect("id") || v != id) return Error{"missing or mismatched id"};
  e.id = v;
  if (!expect("route")) return Error{"missing route"};
  if (v == "next-hop") {
    e.route = Route::NextHop;
  } else if (v == "bounce") {
    e.route = Route::Bounce;
  } else {
    return Error{"bad route"};
  }
  if (!expect("arrival") || !parse_int(v, e.arrival_unix)) return Error{"bad arrival"};
  if (!expect("client")) return Error{"missing client"};
  e.client_ip = v;
  if (!expect("helo")) return Error{"missing helo"};
  e.helo = v;
  if (!expect("from")) return Error{"missing from"};
  e.mail_from = v;
  e.rcpt_to.clear();
  while (expect("rcpt")) e.rcpt_to.emplace_back(v);
  if (e.rcpt_to.empty()) return Error{"no recipients"};
  Header h;
  if (!field(line, "size", v) || !parse_int(v, h.message_size)) return Error{"bad size"};
  if (!next_line(rest, line) || !line.empty()) return Error{"header not terminated"};
  h.length = data.size() - rest.size();
  return h;
}

std::string spool_error(const std::string& path, std::string_view what) {
  return "spool file " + path + ": " + std::string(what);
}

// pread() until `len` bytes are in `out` (which is resized); false on error or early end of file.
bool read_at(int fd, std::size_t offset, std::size_t len, std::string& out) {
  out.resize(len);
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, out.data() + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads and verifies a spool file. With `whole`, the message is loaded into e.message; without,
// only the header and the end record are read (recovery of a large queue stays cheap).
Status read_entry(const std::string& path, std::string_view id, bool whole, SpoolEntry& e) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return durable::errno_error("cannot open spool file", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return durable::errno_error("cannot stat spool file", path);
  auto file_size = static_cast<std::size_t>(st.st_size);

  std::string buf;
  std::size_t first = whole ? file_size : std::min(file_size, kHeaderProbe);
  if (!read_at(fd.get(), 0, first, buf)) return Error{spool_error(path, "short read")};
  if (first < file_size && buf.find("\n\n") == std::string::npos &&
      !read_at(fd.get(), 0, file_size, buf))
    return Error{spool_error(path, "short read")};

  auto h = parse_header(buf, id, e);
  if (!h) return Error{spool_error(path, h.error().message)};
  auto end = trailer(h->message_size);
  // Overflow-safe form of "length + size + end == file_size".
  if (file_size < h->length || file_size - h->length < end.size() ||
      file_size - h->length - end.size() != h->message_size)
    return Error{spool_error(path, "size does not match (truncated?)")};
  auto end_at = h->length + h->message_size;
  std::string tail;
  if (whole) {
    tail = buf.substr(end_at);
  } else if (!read_at(fd.get(), end_at, end.size(), tail)) {
    return Error{spool_error(path, "short read")};
  }
  if (tail != end) return Error{spool_error(path, "missing end record")};
  if (whole) {
    buf.resize(end_at);
    buf.erase(0, h->length);
    e.message = std::move(buf);
  }
  return Ok{};
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Status unlink_if_exists(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return durable::errno_error("cannot remove", path);
  return Ok{};
}

// Names in `dir` other than "." and "..", or an error.
Expected<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return durable::errno_error("cannot list", dir);
  std::vector<std::string> names;
  while (auto* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

}  // namespace

std::string new_spool_id() {
  static std::mutex mu;
  static std::mt19937 rng{std::random_device{}()};
  static std::uint64_t last_us = 0;
  static std::uint32_t seq = 0;

  auto now_us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
  std::uint64_t t;
  std::uint32_t s;
  {
    std::lock_guard lock(mu);
    // A random start per microsecond keeps ids from concurrent processes apart; within the process
    // the (time, seq) pair only ever grows, even if the clock steps back.
    if (now_us > last_us) {
      last_us = now_us;
      seq = rng() & kSeqMax;
    } else if (seq == kSeqMax) {
      ++last_us;
      seq = rng() & kSeqMax;
    } else {
      ++seq;
    }
    t = last_us;
    s = seq;
  }
  return id::crockford(t, kTimeChars) + id::crockford(s, kSeqChars);
}

bool valid_spool_id(std::string_view id) {
  return id.size() == kTimeChars + kSeqChars &&
         std::all_of(id.begin(), id.end(),
                     id::is_crockford);
}

Spool::Spool(std::string dir, bool fsync) : dir_(std::move(dir)), fsync_(fsync) {}

namespace {

// Writes `e`'s envelope with `message` as queue/<id><suffix>; `e.message` is ignored so callers
// need not copy the message into the entry.
Status write_entry(const std::string& dir, bool fsync, const SpoolEntry& e, std::string_view message,
                   Stage stage, bool replace) {
  if (!valid_spool_id(e.id)) return Error{"invalid spool id: " + e.id};
  if (e.rcpt_to.empty()) return Error{"spool entry without recipients"};
  std::size_t rcpt_bytes = 0;
  for (const auto& r : e.rcpt_to) {
    if (!safe_value(r)) return Error{"spool: recipient holds CR, LF or NUL"};
    rcpt_bytes += r.size() + 6;
  }
  if (!safe_value(e.client_ip) || !safe_value(e.helo) || !safe_value(e.mail_from))
    return Error{"spool: envelope field holds CR, LF or NUL"};

  std::string header;
  header.reserve(128 + e.id.size() + e.client_ip.size() + e.helo.size() + e.mail_from.size() +
                 rcpt_bytes);
  header += kMagic;
  header += "id " + e.id;
  header += e.route == Route::Bounce ? "\nroute bounce" : "\nroute next-hop";
  header += "\narrival " + std::to_string(e.arrival_unix);
  header += "\nclient " + e.client_ip;
  header += "\nhelo " + e.helo;
  header += "\nfrom " + e.mail_from;
  for (const auto& r : e.rcpt_to) header += "\nrcpt " + r;
  header += "\nsize " + std::to_string(message.size()) + "\n\n";
  auto name = e.id + suffix(stage);
  return durable::write_file(dir + "/tmp/" + name, dir + "/queue/" + name,
                             {header, message, trailer(message.size())}, fsync, replace);
}

// Removes leftovers of interrupted writes: they were never acknowledged.
Status clear_tmp(const std::string& dir) {
  auto names = list_dir(dir + "/tmp");
  if (!names) return names.error();
  for (const auto& n : *names) {
    auto st = unlink_if_exists(dir + "/tmp/" + n);
    if (!st) return st;
  }
  return Ok{};
}

}  // namespace

Status Spool::open() {
  for (const char* sub : {"/tmp", "/queue", "/corrupt"}) {
    auto st = durable::make_dir(dir_ + sub, fsync_);
    if (!st) return st;
  }
  return clear_tmp(dir_);
}

Expected<std::string> Spool::accept(const proto::Envelope& env, std::string_view message,
                                    std::int64_t now_unix) {
  SpoolEntry e;
  e.id = new_spool_id();
  e.arrival_unix = now_unix;
  e.client_ip = env.client_ip;
  e.helo = env.helo;
  e.mail_from = env.mail_from;
  e.rcpt_to = env.rcpt_to;
  auto st = write_entry(dir_, fsync_, e, message, Stage::Raw, false);
  if (!st) return st.error();
  return e.id;
}

Expected<std::string> Spool::add(SpoolEntry entry) {
  entry.id = new_spool_id();
  auto st = write_entry(dir_, fsync_, entry, entry.message, Stage::Clean, false);
  if (!st) return st.error();
  return std::move(entry.id);
}

Status Spool::store_clean(const SpoolEntry& raw, std::string_view sanitized_message) {
  // replace=true: a crash between this rename and the unlink below may have left a .clean from an
  // earlier attempt; the new one is equally valid.
  auto st = write_entry(dir_, fsync_, raw, sanitized_message, Stage::Clean, true);
  if (!st) return st;
  // No directory fsync after the unlink: if it is lost, recover() sees both files and keeps .clean.
  return unlink_if_exists(dir_ + "/queue/" + raw.id + ".raw");
}

Expected<SpoolEntry> Spool::load(std::string_view id) const {
  if (!valid_spool_id(id)) return Error{"invalid spool id: " + std::string(id)};
  auto base = dir_ + "/queue/" + std::string(id);
  SpoolEntry e;
  e.stage = exists(base + ".clean") ? Stage::Clean : Stage::Raw;
  auto st = read_entry(base + suffix(e.stage), id, true, e);
  if (!st) return st.error();
  return e;
}

Status Spool::mark_done(std::string_view id, std::string_view rcpt) {
  if (!valid_spool_id(id)) return Error{"invalid spool id: " + std::string(id)};
  if (!safe_value(rcpt)) return Error{"spool: recipient holds CR, LF or NUL"};
  auto path = dir_ + "/queue/" + std::string(id) + ".done";
  bool created = false;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    created = true;
  }
  if (fd < 0) return durable::errno_error("cannot open", path);
  UniqueFd guard(fd);
  std::string line = "rcpt " + std::string(rcpt) + "\n";
  // O_APPEND makes the single write land whole at the end; a crash may leave a torn last line,
  // which done() ignores.
  ssize_t n;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(line.size())) return durable::errno_error("cannot append to", path);
  if (fsync_ && ::fdatasync(fd) != 0) return durable::errno_error("cannot fsync", path);
  if (created && fsync_) return durable::sync_dir(dir_ + "/queue");
  return Ok{};
}

std::set<std::string> Spool::done(std::string_view id) const {
  std::set<std::string> out;
  if (!valid_spool_id(id)) return out;
  auto path = dir_ + "/queue/" + std::string(id) + ".done";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  std::string buf;
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 ||
      !read_at(fd.get(), 0, static_cast<std::size_t>(st.st_size), buf))
    return out;
  std::string_view rest = buf, line, rcpt;
  while (next_line(rest, line))
    if (field(line, "rcpt", rcpt)) out.emplace(rcpt);
  return out;
}

Status Spool::remove(std::string_view id) {
  if (!valid_spool_id(id)) return Error{"invalid spool id: " + std::string(id)};
  auto base = dir_ + "/queue/" + std::string(id);
  // .done goes last: if we crash before, a retry still knows who already has the message.
  for (const char* ext : {".clean", ".raw", ".done"}) {
    auto st = unlink_if_exists(base + ext);
    if (!st) return st;
  }
  if (fsync_) return durable::sync_dir(dir_ + "/queue");
  return Ok{};
}

std::vector<std::string> Spool::list() const {
  std::vector<std::string> ids;
  auto names = list_dir(dir_ + "/queue");
  if (!names) return ids;
  for (const auto& name : *names) {
    auto dot = name.find('.');
    if (dot == std::string::npos || !valid_spool_id(std::string_view(name).substr(0, dot))) continue;
    auto ext = std::string_view(name).substr(dot);
    if (ext == ".raw" || ext == ".clean") ids.push_back(name.substr(0, dot));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::vector<std::string> Spool::recover(std::vector<std::string>& problems) {
  std::vector<std::string> ids;
  if (auto st = clear_tmp(dir_); !st) problems.push_back(st.error().message);
  auto names = list_dir(dir_ + "/queue");
  if (!names) {
    problems.push_back(names.error().message);
    return ids;
  }

  auto to_corrupt = [&](const std::string& name, std::string_view why) {
    auto st = durable::rename_noreplace(dir_ + "/queue/" + name, dir_ + "/corrupt/" + name);
    problems.push_back(st ? "moved " + name + " to corrupt/: " + std::string(why)
                          : st.error().message + " (" + std::string(why) + ")");
  };

  struct Files {
    bool raw = false, clean = false, done = false;
  };
  std::map<std::string, Files> by_id;  // ordered: ids sort by arrival
  for (const auto& name : *names) {
    auto dot = name.find('.');
    std::string_view id = std::string_view(name).substr(0, dot);
    std::string_view ext = dot == std::string::npos ? "" : std::string_view(name).substr(dot);
    if (!valid_spool_id(id)) {
      to_corrupt(name, "not a spool file name");
    } else if (ext == ".raw") {
      by_id[std::string(id)].raw = true;
    } else if (ext == ".clean") {
      by_id[std::string(id)].clean = true;
    } else if (ext == ".done") {
      by_id[std::string(id)].done = true;
    } else {
      to_corrupt(name, "not a spool file name");
    }
  }

  for (const auto& [id, f] : by_id) {
    auto base = dir_ + "/queue/" + id;
    SpoolEntry scratch;
    bool have_entry = false;
    if (f.clean) {
      if (auto st = read_entry(base + ".clean", id, false, scratch); st) {
        have_entry = true;
        // store_clean() crashed before unlinking the raw file: the clean one supersedes it.
        if (f.raw) {
          if (auto un = unlink_if_exists(base + ".raw"); !un) problems.push_back(un.error().message);
        }
      } else {
        to_corrupt(id + ".clean", st.error().message);
      }
    }
    if (!have_entry && f.raw) {
      if (auto st = read_entry(base + ".raw", id, false, scratch); st) {
        have_entry = true;
      } else {
        to_corrupt(id + ".raw", st.error().message);
      }
    }
    if (have_entry) {
      ids.push_back(id);
    } else if (f.done && (f.raw || f.clean)) {
      to_corrupt(id + ".done", "progress of a corrupt entry");
    } else if (f.done) {
      // remove() crashed after unlinking the entry: the progress file has nothing left to track.
      if (auto un = unlink_if_exists(base + ".done"); !un) problems.push_back(un.error().message);
    }
  }
  return ids;
}

}  // namespace mugai::gateway
