// The durable queue (see spool.hpp). Each entry is one file: a text header, the message, and an end
// record "END <n> <mac>": n is checked against the file's size (and, in format 2, the header's), so a
// torn or truncated file is never mistaken for a message, and mac (HMAC-SHA-256 under the spool key, over the stage and every byte
// before the end record) shows the gateway wrote it, so a file planted in queue/ or a raw file renamed
// to .clean is never delivered. Such files are moved to corrupt/, never deleted.
#include "gateway/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <utility>

#include "common/id.hpp"
#include "common/fd.hpp"
#include "common/durable_file.hpp"
#include "common/hex.hpp"
#include "common/key_file.hpp"
#include "gateway/log.hpp"

namespace mugai::gateway {

namespace {

constexpr std::string_view kMagic = "MUGAI-SPOOL 3\n";
constexpr std::string_view kMagicV2 = "MUGAI-SPOOL 2\n";  // read only: size in the header too
constexpr std::size_t kTimeChars = 12;
constexpr std::size_t kSeqChars = 4;
constexpr std::uint32_t kSeqMax = (1u << (5 * kSeqChars)) - 1;
// Enough for the header of any ordinary entry; recover() reads more only for huge recipient lists.
constexpr std::size_t kHeaderProbe = 64 * 1024;

const char* suffix(Stage stage) { return stage == Stage::Raw ? ".raw" : ".clean"; }

bool safe_value(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// The tag covers the stage, the header and the message, in that order (formats 2 and 3 alike). It
// binds the stage too: the same bytes under another suffix are a different (unwritten) file.
hex::HmacSha256 start_mac(std::string_view key, Stage stage) {
  hex::HmacSha256 m(key);
  m.update(suffix(stage));
  m.update("\n");
  return m;
}

constexpr std::size_t kMacChars = 64;

std::string trailer(std::size_t n, std::string_view tag) {
  return "\nEND " + std::to_string(n) + " " + std::string(tag) + "\n";
}

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
  std::optional<std::size_t> message_size;  // format 2 only; format 3 has it in the end record alone
};

// Parses the header of an entry whose file name says `id`; fills everything but message and stage.
Expected<Header> parse_header(std::string_view data, std::string_view id, SpoolEntry& e) {
  std::string_view rest = data;
  const bool v2 = rest.substr(0, kMagicV2.size()) == kMagicV2;
  if (!v2 && rest.substr(0, kMagic.size()) != kMagic) return Error{"bad magic"};
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
  if (v2) {
    std::size_t size = 0;
    if (!field(line, "size", v) || !parse_int(v, size)) return Error{"bad size"};
    h.message_size = size;
    if (!next_line(rest, line)) return Error{"header not terminated"};
  }
  if (!line.empty()) return Error{"header not terminated"};
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

// Reads and verifies a spool file. With `key`, the message is loaded into e.message and its tag
// checked; without, only the header and the end record's shape are read (recovery of a large queue
// stays cheap; every entry is authenticated when it is loaded to be processed).
Status read_entry(const std::string& path, std::string_view id, Stage stage, const std::string* key, SpoolEntry& e,
                  std::size_t* size_out = nullptr) {
  const bool whole = key != nullptr;
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
  if (file_size < h->length) return Error{spool_error(path, "size does not match (truncated?)")};
  std::string tail;
  // The end record's longest form; only its "\nEND <n> " is looked for here, the rest checked below.
  const std::size_t probe = std::min(file_size - h->length, trailer(SIZE_MAX, std::string(kMacChars, '0')).size());
  if (whole) {
    tail = buf.substr(file_size - probe);
  } else if (!read_at(fd.get(), file_size - probe, probe, tail)) {
    return Error{spool_error(path, "short read")};
  }
  std::size_t message_size = 0;
  if (h->message_size) {
    message_size = *h->message_size;
  } else {
    const auto end = tail.rfind("\nEND ");
    const auto space = end == std::string::npos ? end : tail.find(' ', end + 5);
    if (space == std::string::npos || !parse_int(std::string_view(tail).substr(end + 5, space - end - 5), message_size))
      return Error{spool_error(path, "missing end record")};
  }
  const std::string end_shape = trailer(message_size, std::string(kMacChars, '0'));
  // Overflow-safe form of "length + size + end == file_size".
  if (file_size - h->length < end_shape.size() || file_size - h->length - end_shape.size() != message_size)
    return Error{spool_error(path, "size does not match (truncated?)")};
  const auto end_at = h->length + message_size;
  tail.erase(0, tail.size() - end_shape.size());
  const std::size_t tag_at = end_shape.size() - 1 - kMacChars;
  if (tail.compare(0, tag_at, end_shape, 0, tag_at) != 0 || tail.back() != '\n') {
    return Error{spool_error(path, "missing end record")};
  }
  if (size_out != nullptr) *size_out = message_size;
  if (!whole) return Ok{};
  auto tag = start_mac(*key, stage);
  tag.update(std::string_view(buf).substr(0, end_at));
  if (!hex::equal_constant_time(std::string_view(tail).substr(tag_at, kMacChars), tag.final_hex())) {
    return Error{spool_error(path, "authentication failed: not written by this gateway (planted or edited)")};
  }
  buf.resize(end_at);
  buf.erase(0, h->length);
  e.message = std::move(buf);
  return Ok{};
}

// Moves queue/<name> to corrupt/, under "<name>.<n>" when an earlier file of that name is there:
// corrupt files are evidence, never replaced. Returns the name it got.
Expected<std::string> move_to_corrupt(const std::string& dir, const std::string& name) {
  for (int n = 0; n < 100; ++n) {
    const std::string to = n == 0 ? name : name + "." + std::to_string(n);
    auto st = durable::rename_noreplace(dir + "/queue/" + name, dir + "/corrupt/" + to);
    if (st) return to;
    if (errno != EEXIST) return st.error();
  }
  return Error{"cannot move " + dir + "/queue/" + name + " to corrupt/: 100 files of that name are there"};
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

std::int64_t spool_id_unix(std::string_view id) {
  if (!valid_spool_id(id)) return 0;
  return static_cast<std::int64_t>(id::from_crockford(id.substr(0, kTimeChars)) / 1'000'000);
}

Spool::Spool(std::string dir, bool fsync, std::string key_file)
    : dir_(std::move(dir)), key_file_(std::move(key_file)), fsync_(fsync) {}

namespace {

// Removes leftovers of interrupted writes: they were never acknowledged.
Status clear_tmp(const std::string& dir) {
  auto names = durable::list_dir(dir + "/tmp");
  if (!names) return names.error();
  for (const auto& n : *names) {
    auto st = durable::unlink_if_exists(dir + "/tmp/" + n);
    if (!st) return st;
  }
  return Ok{};
}

}  // namespace

SpoolWriter::SpoolWriter(std::string id, std::string tmp_path, std::string final_path, int fd, Stage stage,
                         bool fsync, bool replace, hex::HmacSha256 mac)
    : id_(std::move(id)), tmp_path_(std::move(tmp_path)), final_path_(std::move(final_path)), fd_(fd),
      stage_(stage), fsync_(fsync), replace_(replace), mac_(std::move(mac)) {}

SpoolWriter::SpoolWriter(SpoolWriter&& o) noexcept
    : id_(std::move(o.id_)), tmp_path_(std::move(o.tmp_path_)), final_path_(std::move(o.final_path_)),
      fd_(std::exchange(o.fd_, -1)), stage_(o.stage_), fsync_(o.fsync_), replace_(o.replace_), failed_(o.failed_),
      size_(o.size_), mac_(std::move(o.mac_)) {}

SpoolWriter::~SpoolWriter() { abort(); }

void SpoolWriter::abort() {
  if (fd_ < 0) return;
  ::close(std::exchange(fd_, -1));
  ::unlink(tmp_path_.c_str());
}

Status SpoolWriter::append(std::string_view bytes) {
  if (fd_ < 0 || failed_) return Error{"spool file " + tmp_path_ + ": write after a failure or the end"};
  if (!durable::write_all(fd_, {bytes})) {
    failed_ = true;
    return durable::errno_error("cannot write", tmp_path_);
  }
  mac_.update(bytes);
  size_ += bytes.size();
  return Ok{};
}

Status SpoolWriter::commit() {
  if (fd_ < 0 || failed_) {
    abort();
    return Error{"spool file " + tmp_path_ + ": commit after a failure or the end"};
  }
  const std::string tag = mac_.final_hex();
  if (tag.size() != kMacChars) {
    abort();
    return Error{"spool file " + tmp_path_ + ": cannot compute its authenticator"};
  }
  if (!durable::write_all(fd_, {trailer(size_, tag)})) {
    auto err = durable::errno_error("cannot write", tmp_path_);
    abort();
    return err;
  }
  // commit_file closes the descriptor and removes the tmp file on failure, whatever happens.
  return durable::commit_file(std::exchange(fd_, -1), tmp_path_, final_path_, fsync_, replace_);
}

Expected<SpoolWriter> Spool::open_writer(const SpoolEntry& e, Stage stage, bool replace) const {
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
  header += "\n\n";
  const auto name = e.id + suffix(stage);
  const auto tmp = dir_ + "/tmp/" + name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return durable::errno_error("cannot create", tmp);
  auto mac = start_mac(key_, stage);
  mac.update(header);
  SpoolWriter w(e.id, tmp, dir_ + "/queue/" + name, fd, stage, fsync_, replace, std::move(mac));
  if (!durable::write_all(fd, {header})) return durable::errno_error("cannot write", tmp);  // ~w removes it
  return w;
}

// Writes `e`'s envelope with `message` as queue/<id><suffix>; `e.message` is ignored so callers
// need not copy the message into the entry.
Status Spool::write_entry(const SpoolEntry& e, std::string_view message, Stage stage, bool replace) const {
  auto w = open_writer(e, stage, replace);
  if (!w) return w.error();
  if (auto st = w->append(message); !st) return st;
  return w->commit();
}

Expected<SpoolWriter> Spool::begin(const proto::Envelope& env, std::int64_t now_unix) {
  SpoolEntry e;
  e.id = new_spool_id();
  e.arrival_unix = now_unix;
  e.client_ip = env.client_ip;
  e.helo = env.helo;
  e.mail_from = env.mail_from;
  e.rcpt_to = env.rcpt_to;
  return open_writer(e, Stage::Raw, false);
}

Status Spool::open() {
  for (const char* sub : {"/tmp", "/queue", "/corrupt", "/hold"}) {
    auto st = durable::make_dir(dir_ + sub, fsync_);
    if (!st) return st;
  }
  for (const char* sub : {"", "/tmp", "/queue", "/hold"}) {
    if (auto st = durable::check_private_dir(dir_ + sub, "spool directory"); !st) return st;
  }
  auto key = keyfile::load(key_file_, "spool key file", true);
  if (!key) return key.error();
  key_ = std::move(*key);
  return clear_tmp(dir_);
}

Expected<std::string> Spool::accept(const proto::Envelope& env, std::string_view message,
                                    std::int64_t now_unix) {
  auto w = begin(env, now_unix);
  if (!w) return w.error();
  if (auto st = w->append(message); !st) return st.error();
  if (auto st = w->commit(); !st) return st.error();
  return w->id();
}

Expected<std::string> Spool::add(SpoolEntry entry) {
  if (entry.id.empty()) entry.id = new_spool_id();
  auto st = write_entry(entry, entry.message, Stage::Clean, false);
  if (!st) return st.error();
  return std::move(entry.id);
}

Status Spool::store_clean(const SpoolEntry& raw, std::string_view sanitized_message) {
  // The raw file stays until remove(): should the clean one fail authentication later, the message is
  // sanitized again from it instead of being lost. replace=true: a crash after an earlier attempt's
  // rename left a .clean that is equally valid.
  return write_entry(raw, sanitized_message, Stage::Clean, true);
}

Expected<SpoolEntry> Spool::load(std::string_view id) {
  if (!valid_spool_id(id)) return Error{"invalid spool id: " + std::string(id)};
  const std::string name(id);
  const auto base = dir_ + "/queue/" + name;
  // Never delivered or sanitized as found: a file that fails is moved aside (and logged); a failed
  // Clean form falls back to the Raw one, which is then sanitized again.
  const auto reject = [&](Stage stage, const Error& why) {
    auto moved = move_to_corrupt(dir_, name + suffix(stage));
    log::event("spool-rejected", {{"id", name}, {"file", name + suffix(stage)}, {"error", why.message},
                                  {"moved", moved ? "corrupt/" + *moved : moved.error().message}});
  };
  for (const Stage stage : {Stage::Clean, Stage::Raw}) {
    if (!durable::exists(base + suffix(stage))) continue;
    SpoolEntry e;
    auto st = read_entry(base + suffix(stage), id, stage, &key_, e);
    if (st) {
      e.stage = stage;
      return e;
    }
    reject(stage, st.error());
    if (stage == Stage::Raw || !durable::exists(base + ".raw")) {
      return Error{st.error().message + (stage == Stage::Clean ? "; no raw original left to sanitize again" : "")};
    }
  }
  return Error{"no spool entry " + name};
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
    auto st = durable::unlink_if_exists(base + ext);
    if (!st) return st;
  }
  if (fsync_) {
    if (auto st = durable::sync_dir(dir_ + "/queue"); !st) return st;
  }
  // After the entry: a crash in between leaves a hold without an entry, which recover() clears.
  return durable::unlink_if_exists(dir_ + "/hold/" + std::string(id));
}

Expected<SpoolEntry> Spool::peek(std::string_view id, std::size_t& message_size) const {
  if (!valid_spool_id(id)) return Error{"invalid spool id: " + std::string(id)};
  const auto base = dir_ + "/queue/" + std::string(id);
  for (const Stage stage : {Stage::Clean, Stage::Raw}) {
    if (!durable::exists(base + suffix(stage))) continue;
    SpoolEntry e;
    if (auto st = read_entry(base + suffix(stage), id, stage, nullptr, e, &message_size); !st) return st.error();
    e.stage = stage;
    return e;
  }
  return Error{"no spool entry " + std::string(id)};
}

Status Spool::hold(std::string_view id, std::string_view reason) {
  if (!valid_spool_id(id)) return Error{"invalid spool id: " + std::string(id)};
  const std::string name(id);
  return durable::write_file(dir_ + "/tmp/" + name + ".hold", dir_ + "/hold/" + name, {reason}, fsync_, true);
}

Status Spool::unhold(std::string_view id) {
  if (!valid_spool_id(id)) return Error{"invalid spool id: " + std::string(id)};
  if (auto st = durable::unlink_if_exists(dir_ + "/hold/" + std::string(id)); !st) return st;
  return fsync_ ? durable::sync_dir(dir_ + "/hold") : Status(Ok{});
}

std::map<std::string, std::string> Spool::holds() const {
  std::map<std::string, std::string> out;
  auto names = durable::list_dir(dir_ + "/hold");
  if (!names) return out;
  for (const auto& name : *names) {
    if (!valid_spool_id(name)) continue;
    std::string reason;
    UniqueFd fd(::open((dir_ + "/hold/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    // The reason is the operator's, bounded by the admin protocol; a larger file is not ours to show.
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || st.st_size > 64 * 1024 ||
        !read_at(fd.get(), 0, static_cast<std::size_t>(st.st_size), reason)) {
      reason.clear();
    }
    out.emplace(name, std::move(reason));
  }
  return out;
}

std::size_t Spool::stored_size(std::string_view id) const {
  if (!valid_spool_id(id)) return 0;
  const auto base = dir_ + "/queue/" + std::string(id);
  struct stat st {};
  for (const Stage stage : {Stage::Clean, Stage::Raw})
    if (::stat((base + suffix(stage)).c_str(), &st) == 0) return static_cast<std::size_t>(st.st_size);
  return 0;
}

std::vector<std::string> Spool::list() const {
  std::vector<std::string> ids;
  auto names = durable::list_dir(dir_ + "/queue");
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
  auto names = durable::list_dir(dir_ + "/queue");
  if (!names) {
    problems.push_back(names.error().message);
    return ids;
  }

  auto to_corrupt = [&](const std::string& name, std::string_view why) {
    auto st = move_to_corrupt(dir_, name);
    problems.push_back(st ? "moved " + name + " to corrupt/" + *st + ": " + std::string(why)
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
    // Both files: store_clean() ran; the raw one stays as the fallback until remove().
    for (const auto& [present, stage] : {std::pair{f.clean, Stage::Clean}, std::pair{f.raw, Stage::Raw}}) {
      if (!present) continue;
      if (auto st = read_entry(base + suffix(stage), id, stage, nullptr, scratch); st) {
        have_entry = true;
      } else {
        to_corrupt(id + suffix(stage), st.error().message);
      }
    }
    if (have_entry) {
      ids.push_back(id);
    } else if (f.done && (f.raw || f.clean)) {
      to_corrupt(id + ".done", "progress of a corrupt entry");
    } else if (f.done) {
      // remove() crashed after unlinking the entry: the progress file has nothing left to track.
      if (auto un = durable::unlink_if_exists(base + ".done"); !un) problems.push_back(un.error().message);
    }
  }
  // A hold whose entry is gone (remove() crashed between the two) holds nothing any more.
  for (const auto& [id, reason] : holds()) {
    if (!std::binary_search(ids.begin(), ids.end(), id)) {
      if (auto un = durable::unlink_if_exists(dir_ + "/hold/" + id); !un) problems.push_back(un.error().message);
    }
  }
  return ids;
}

}  // namespace mugai::gateway
