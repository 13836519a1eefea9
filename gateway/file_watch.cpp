// The watched folder (file_watch.hpp). A file's way: listed and settled (event loop) → claimed: read
// with O_NOFOLLOW, written to <id>.claim, unlinked from the inbox (pool) → sanitized (a worker) →
// quarantined, names chosen into <id>.placed, result and report placed, audited, claim dropped (pool).
// Each step is redone safely after a crash: a claim's inbox file is recognised by its identity, a
// quarantine entry by its id, outbox names by <id>.placed.
#include "gateway/file_watch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>
#include <limits>

#include "common/durable_file.hpp"
#include "common/fd.hpp"
#include "common/hex.hpp"
#include "common/json.hpp"
#include "common/unix_time.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/spool.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/mime_builder.hpp"

namespace mugai::gateway {
namespace {

using Decision = files::Result::Decision;

constexpr std::array<std::string_view, 4> kPartialSuffixes{".part", ".tmp", ".filepart", ".crdownload"};


FileWatch::Identity identity_of(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// The names in `dir` but . and .., sorted (files are taken in name order).
Expected<std::vector<std::string>> entries(const std::string& dir) {
  auto names = durable::list_dir(dir);
  if (names) std::sort(names->begin(), names->end());
  return names;
}

// A directory the LGWAN side reads as another account (0755), created with its parents if missing; a
// symlink or a file in its place is an error, never followed.
Status make_shared_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0 && !durable::exists(path.substr(0, slash))) {
    if (auto st = make_shared_dir(path.substr(0, slash)); !st) return st;
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return durable::errno_error("cannot create", path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return durable::errno_error("cannot stat", path);
  if (!S_ISDIR(st.st_mode)) return Error{"'" + path + "' is not a directory"};
  return Ok{};
}

// A department's outbox folder: its inbox folder's name made safe like a file name (no separator,
// control character, device name or leading dot), "" for the inbox itself.
std::string dept_dir(const std::string& dept) { return dept.empty() ? "" : sanitize::safe_filename(dept, ""); }

// For logs and the audit trail: where in the inbox the file was found.
std::string where(const std::string& dept) {
  return dept.empty() ? "inbox" : "inbox/" + sanitize::escape_for_display(dept);
}

std::optional<std::string> unhex(std::string_view digits) {
  if (digits.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    const int hi = hex::value(digits[i]), lo = hex::value(digits[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// The claim's first line. Names are hex: they are whatever bytes the directory held, UTF-8 or not.
std::string header(const FileWatch::Claim& c) {
  const json::Value h = {{"id", c.id},
                         {"quarantine_id", c.quarantine_id},
                         {"dept", hex::encode(c.dept)},
                         {"name", hex::encode(c.name)},
                         {"dev", c.identity.dev},
                         {"ino", c.identity.ino},
                         {"size", c.identity.size},
                         {"mtime_ns", c.identity.mtime_ns},
                         {"received_unix", c.received_unix},
                         {"refused", c.refused}};
  return json::dump(h) + "\n";
}

// At most `limit` bytes of `fd` (`path` names it in errors).
Expected<std::string> read_up_to(int fd, const std::string& path, std::size_t limit) {
  std::string data;
  char buf[64 * 1024];
  while (data.size() < limit) {
    const ssize_t n = ::read(fd, buf, std::min(sizeof buf, limit - data.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return durable::errno_error("cannot read", path);
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

Expected<std::string> read_all(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return durable::errno_error("cannot open", path);
  return read_up_to(fd.get(), path, std::numeric_limits<std::size_t>::max());
}

files::Input input_of(const FileWatch::Claim& c) {
  return files::Input{c.name, c.bytes, c.id, c.quarantine_id, c.received_unix};
}

}  // namespace

FileWatch::FileWatch(asio::io_context& io, asio::thread_pool& pool, const config::Config& cfg, WorkerPool& sanitizers,
                     quarantine::QuarantineDb& quarantine)
    : io_(io),
      pool_(pool),
      cfg_(cfg),
      sanitizers_(sanitizers),
      quarantine_(quarantine),
      claims_dir_(cfg.spool.dir + "/files"),
      tmp_dir_(cfg.files.outbox + "/.mugai-tmp") {}

std::string FileWatch::inbox_dir(const std::string& dept) const {
  return dept.empty() ? cfg_.files.inbox : cfg_.files.inbox + "/" + dept;
}
std::string FileWatch::claim_path(const std::string& id) const { return claims_dir_ + "/" + id + ".claim"; }
std::string FileWatch::placed_path(const std::string& id) const { return claims_dir_ + "/" + id + ".placed"; }

Status FileWatch::start() {
  if (cfg_.files.inbox.empty()) return Ok{};
  struct stat st {};
  if (::stat(cfg_.files.inbox.c_str(), &st) != 0) {
    return Error{"files.inbox: " + durable::errno_error("cannot open", cfg_.files.inbox).message};
  }
  if (!S_ISDIR(st.st_mode)) return Error{"files.inbox: '" + cfg_.files.inbox + "' is not a directory"};
  if (auto ok = make_shared_dir(cfg_.files.outbox); !ok) return Error{"files.outbox: " + ok.error().message};
  if (auto ok = durable::make_dir(tmp_dir_, true); !ok) return Error{"files.outbox: " + ok.error().message};
  if (auto ok = durable::make_dir(claims_dir_, true); !ok) return Error{"spool.dir: " + ok.error().message};
  if (auto ok = recover(); !ok) return Error{"files: " + ok.error().message};
  timer_.emplace(io_);
  asio::co_spawn(io_, run(), [](std::exception_ptr e) {
    if (e) log::event("files-error", {{"error", "the watched folder stopped: " + exception_text(e)}});
  });
  log::event("files", {{"inbox", cfg_.files.inbox}, {"outbox", cfg_.files.outbox},
                       {"claims", std::to_string(claims_.size())}});
  return Ok{};
}

void FileWatch::stop(std::function<void()> done) {
  stopping_ = true;
  if (timer_) timer_->cancel();
  if (in_flight_ == 0) {
    done();
  } else {
    on_stopped_ = std::move(done);
  }
}

// Settles what a crash left: a claim whose inbox file is still there (same identity) had not removed
// it yet; a .placed without its claim was finished; anything in the outbox's temporary directory or a
// claim's temporary file was never renamed in. The claims are queued to be finished.
Status FileWatch::recover() {
  auto names = entries(claims_dir_);
  if (!names) return names.error();
  for (const auto& n : *names) {
    if (n.ends_with(".tmp")) {
      if (auto st = durable::unlink_if_exists(claims_dir_ + "/" + n); !st) return st;
    }
  }
  for (const auto& n : *names) {
    if (!n.ends_with(".placed")) continue;
    const std::string id = n.substr(0, n.size() - std::string_view(".placed").size());
    if (!durable::exists(claim_path(id))) {
      if (auto st = durable::unlink_if_exists(placed_path(id)); !st) return st;
      continue;
    }
    // Its names stay taken until it is placed: no new file may choose them meanwhile.
    auto p = read_placed(id);
    if (!p) {
      log::event("files-error", {{"claim", n}, {"error", p.error().message}});
    } else if (*p) {
      reserve(**p);
    }
  }
  for (const auto& n : *names) {
    if (!n.ends_with(".claim")) continue;
    const std::string id = n.substr(0, n.size() - std::string_view(".claim").size());
    auto c = load(id);
    if (!c) {
      log::event("files-error", {{"claim", n}, {"error", c.error().message}});
      continue;
    }
    const std::string path = inbox_dir(c->dept) + "/" + c->name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && identity_of(st) == c->identity) {
      if (c->refused) {
        if (auto ok = refuse(*c); !ok) return ok;
      } else {
        if (auto ok = durable::unlink_if_exists(path); !ok) return ok;
        if (auto ok = durable::sync_dir(inbox_dir(c->dept)); !ok) return ok;
      }
    }
    claims_.push_back(id);
  }
  auto strays = entries(tmp_dir_);
  if (!strays) return strays.error();
  for (const auto& n : *strays) {
    if (auto st = durable::unlink_if_exists(tmp_dir_ + "/" + n); !st) return st;
  }
  return durable::sync_dir(claims_dir_);
}

awaitable<void> FileWatch::run() {
  const std::size_t limit = cfg_.files.concurrency;
  // Retries wait an interval even when finished files make the loop scan sooner: a worker that keeps
  // asking to retry (no LibreOffice) or a full outbox must not turn into a busy loop.
  auto retry_at = Clock::now();
  while (!stopping_) {
    rescan_ = false;
    if (Clock::now() >= retry_at) {
      claims_.insert(claims_.end(), retry_.begin(), retry_.end());
      retry_.clear();
      retry_at = Clock::now() + cfg_.files.scan_interval;
    }
    // Claims first: found at start, or whose worker asked to try again.
    while (!claims_.empty() && in_flight_ < limit) {
      std::string id = std::move(claims_.front());
      claims_.pop_front();
      ++in_flight_;
      asio::co_spawn(io_, process_claim(std::move(id)), asio::detached);
    }
    auto listing = co_await run_blocking_or_error(pool_, [&] { return list(); });
    if (stopping_) break;
    if (!listing) {
      log::event("files-error", {{"error", listing.error().message}});
    } else {
      launch_ready(*listing);
    }
    metrics::registry().files_in_flight.set(static_cast<std::int64_t>(in_flight_));
    if (rescan_) continue;
    timer_->expires_after(cfg_.files.scan_interval);
    error_code ec;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

Expected<FileWatch::Listing> FileWatch::list() const {
  Listing out;
  std::vector<std::string> depts{""};
  for (std::size_t i = 0; i < depts.size(); ++i) {
    const std::string dept = depts[i];
    const std::string dir = inbox_dir(dept);
    auto names = entries(dir);
    if (!names) {
      if (dept.empty()) return names.error();
      continue;  // a department's folder removed meanwhile
    }
    for (const auto& n : *names) {
      if (n.front() == '.') continue;  // hidden: being written, or ours (.refused)
      Key key{dept, n};
      struct stat st {};
      if (::lstat((dir + "/" + n).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode) && dept.empty() && cfg_.files.subfolders) {
        depts.push_back(n);
      } else if (!S_ISREG(st.st_mode)) {
        out.skipped.emplace_back(std::move(key), S_ISDIR(st.st_mode)   ? "a directory"
                                                 : S_ISLNK(st.st_mode) ? "a symbolic link"
                                                                       : "not a regular file");
      } else if (std::any_of(kPartialSuffixes.begin(), kPartialSuffixes.end(),
                             [&n](std::string_view s) { return n.ends_with(s); })) {
        out.skipped.emplace_back(std::move(key), "still being written (by its name)");
      } else {
        out.files.push_back({std::move(key), identity_of(st)});
      }
    }
  }
  return out;
}

// A file is ready once its identity has not changed for files.settle; at most files.concurrency are
// taken at once, the rest wait in the inbox (which is the queue).
void FileWatch::launch_ready(const Listing& listing) {
  const auto now = Clock::now();
  std::set<Key> skipped;
  for (const auto& [key, why] : listing.skipped) {
    if (skipped_.count(key) == 0) {
      log::event("files-skipped", {{"where", where(key.first)}, {"file", sanitize::escape_for_display(key.second)},
                                   {"reason", why}});
    }
    skipped.insert(key);
  }
  skipped_.swap(skipped);
  std::map<Key, Seen> seen;
  std::map<Key, Clock::time_point> backoff;
  for (const auto& f : listing.files) {
    const auto it = seen_.find(f.key);
    const Seen s = it != seen_.end() && it->second.identity == f.identity ? it->second : Seen{f.identity, now};
    seen.emplace(f.key, s);
    if (const auto b = backoff_.find(f.key); b != backoff_.end() && now < b->second) {
      backoff.insert(*b);
      continue;
    }
    if (taking_.count(f.key) != 0 || in_flight_ >= cfg_.files.concurrency || now - s.since < cfg_.files.settle) continue;
    taking_.insert(f.key);
    ++in_flight_;
    asio::co_spawn(io_, take(f), asio::detached);
  }
  seen_.swap(seen);
  backoff_.swap(backoff);
}

void FileWatch::finished() {
  --in_flight_;
  metrics::registry().files_in_flight.set(static_cast<std::int64_t>(in_flight_));
  if (stopping_) {
    if (in_flight_ == 0 && on_stopped_) std::exchange(on_stopped_, nullptr)();
    return;
  }
  // A slot is free: look at the inbox now rather than at the next interval.
  rescan_ = true;
  timer_->cancel();
}

awaitable<void> FileWatch::take(Listed file) {
  auto claimed = co_await run_blocking_or_error(pool_, [&] { return claim(file); });
  taking_.erase(file.key);
  seen_.erase(file.key);
  if (!claimed) {
    log::event("files-error", {{"where", where(file.key.first)},
                               {"file", sanitize::escape_for_display(file.key.second)},
                               {"error", claimed.error().message}});
    backoff_[file.key] = Clock::now() + cfg_.files.scan_interval;
  } else if (*claimed && !stopping_) {
    co_await process(std::move(**claimed));
  }
  // Stopping: a claim just made is left for the next start.
  finished();
}

awaitable<void> FileWatch::process_claim(std::string id) {
  auto loaded = co_await run_blocking_or_error(pool_, [&] { return load(id); });
  if (!loaded) {
    log::event("files-error", {{"claim", id}, {"error", loaded.error().message}});
  } else {
    co_await process(std::move(*loaded));
  }
  finished();
}

awaitable<void> FileWatch::process(Claim c) {
  files::Result r;
  if (c.refused) {
    r = files::refused(cfg_.files.max_size);
  } else {
    const files::Input in = input_of(c);
    const sanitize::MessageContext ctx = files::context(cfg_, in);
    const auto started = Clock::now();
    auto outcome = co_await sanitizers_.sanitize(c.bytes, ctx);
    // Counted with the mail's: the same workers, the same parts and renderings.
    metrics::registry().sanitize_seconds.observe(std::chrono::duration<double>(Clock::now() - started).count());
    if (outcome) metrics::registry().count_report(outcome->report_json);
    // No worker could be had at all, or it could not run a converter: the host's trouble, not the
    // file's; tried again, up to sanitize.max_attempts runs (as a mail would be), then removed and kept.
    const bool unavailable = !outcome && outcome.error().kind == WorkerPool::kUnavailable;
    if (!unavailable) r = files::result(in, std::move(outcome));
    if (unavailable || r.decision == Decision::Retry) {
      const std::string reason = unavailable ? outcome.error().message : r.reason;
      const unsigned runs = ++failed_runs_[c.id];
      if (runs < cfg_.sanitize_max_attempts) {
        log::event("files-retry", {{"id", c.id}, {"file", sanitize::escape_for_display(c.name)}, {"reason", reason}});
        retry_.push_back(c.id);
        co_return;
      }
      Error gave_up{std::to_string(runs) + " runs, the last: " + reason};
      r = files::result(in, std::move(gave_up));
    }
    failed_runs_.erase(c.id);
  }
  auto placed = co_await run_blocking_or_error(pool_, [&] { return finish(c, r); });
  if (!placed) {
    log::event("files-error", {{"id", c.id}, {"file", sanitize::escape_for_display(c.name)},
                               {"error", placed.error().message}});
    retry_.push_back(c.id);
    co_return;
  }
  const std::string_view decision = c.refused                             ? "refused"
                                    : r.decision == Decision::Sanitized ? "sanitized"
                                                                        : "removed";
  metrics::registry().files.inc({decision});
  const std::string event = "files-" + std::string(decision);
  log::event(event, {{"id", c.id},
                     {"where", where(c.dept)},
                     {"file", sanitize::escape_for_display(c.name)},
                     {"result", placed->dir.empty() || placed->result.empty() ? placed->result
                                                                              : placed->dir + "/" + placed->result},
                     {"report", placed->dir.empty() ? placed->report : placed->dir + "/" + placed->report},
                     {"quarantine_id", c.refused ? "" : c.quarantine_id},
                     {"reason", r.reason}});
}

// Reads the file (no symlink followed; still the version that settled) and claims it: the claim is on
// disk, fsync'd, before the file leaves the inbox. std::nullopt: the file changed or went away.
Expected<std::optional<FileWatch::Claim>> FileWatch::claim(const Listed& file) const {
  const std::string path = inbox_dir(file.key.first) + "/" + file.key.second;
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ELOOP) return std::optional<Claim>();
    return durable::errno_error("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || identity_of(st) != file.identity) {
    return std::optional<Claim>();
  }
  auto qid = quarantine::QuarantineDb::new_id();
  if (!qid) return qid.error();
  Claim c;
  c.id = "F" + new_spool_id();
  c.quarantine_id = std::move(*qid);
  c.dept = file.key.first;
  c.name = file.key.second;
  c.identity = file.identity;
  c.received_unix = now_unix();
  c.refused = file.identity.size > cfg_.files.max_size;
  if (!c.refused) {
    auto bytes = read_up_to(fd.get(), path, file.identity.size + 1);  // one more: a file still growing is seen
    if (!bytes) return bytes.error();
    if (bytes->size() != file.identity.size) return std::optional<Claim>();
    c.bytes = std::move(*bytes);
  }
  const std::string final_path = claim_path(c.id);
  if (auto ok = durable::write_file(final_path + ".tmp", final_path, {header(c), c.bytes}, cfg_.spool.fsync, false);
      !ok) {
    return ok.error();
  }
  Status gone = Ok{};
  if (c.refused) {
    gone = refuse(c);
  } else if (::unlink(path.c_str()) != 0) {
    gone = durable::errno_error("cannot remove", path);
  } else {
    gone = durable::sync_dir(inbox_dir(c.dept));
  }
  if (!gone) {
    // Left in the inbox, it must not be claimed twice: the claim goes (it is taken again next scan).
    ::unlink(final_path.c_str());
    return gone.error();
  }
  return std::optional<Claim>(std::move(c));
}

Expected<FileWatch::Claim> FileWatch::load(const std::string& id) const {
  auto text = read_all(claim_path(id));
  if (!text) return text.error();
  const auto nl = text->find('\n');
  const json::Value h = json::parse(std::string_view(*text).substr(0, nl));
  const auto bad = [&] { return Error{"claim " + claim_path(id) + " is not one this gateway wrote"}; };
  if (nl == std::string::npos || !h.is_object()) return bad();
  Claim c;
  try {
    c.id = h.at("id").get<std::string>();
    c.quarantine_id = h.at("quarantine_id").get<std::string>();
    auto dept = unhex(h.at("dept").get<std::string>());
    auto name = unhex(h.at("name").get<std::string>());
    if (!dept || !name || name->empty() || c.id != id) return bad();
    c.dept = std::move(*dept);
    c.name = std::move(*name);
    c.identity = {h.at("dev").get<std::uint64_t>(), h.at("ino").get<std::uint64_t>(), h.at("size").get<std::uint64_t>(),
                  h.at("mtime_ns").get<std::int64_t>()};
    c.received_unix = h.at("received_unix").get<std::int64_t>();
    c.refused = h.at("refused").get<bool>();
  } catch (const json::Value::exception&) {
    return bad();
  }
  // Names from our own listing: never a separator, never a climb out of the inbox.
  if (c.name.find('/') != std::string::npos || c.dept.find('/') != std::string::npos ||
      c.name.front() == '.' || (!c.dept.empty() && c.dept.front() == '.')) {
    return bad();
  }
  c.bytes = text->substr(nl + 1);
  if (!c.refused && c.bytes.size() != c.identity.size) return bad();
  return c;
}

// A file over files.max_size moves to inbox/.refused/ (never replacing one there); the LGWAN side gets
// only the report. Done already (after a crash) when the inbox no longer holds that version of it.
Status FileWatch::refuse(const Claim& c) const {
  const std::string from = inbox_dir(c.dept) + "/" + c.name;
  struct stat st {};
  if (::lstat(from.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || identity_of(st) != c.identity) return Ok{};
  const std::string dir = cfg_.files.inbox + "/.refused";
  if (auto ok = durable::make_dir(dir, true); !ok) return ok;
  const std::string to = dir + "/" + files::free_name(c.name, [&](const std::string& n) { return durable::exists(dir + "/" + n); });
  if (auto ok = durable::rename_noreplace(from, to); !ok) return ok;
  if (auto ok = durable::sync_dir(dir); !ok) return ok;
  return durable::sync_dir(inbox_dir(c.dept));
}

// The outbox names of a claim: those <id>.placed recorded, or free ones chosen now and recorded before
// anything is placed under them. Sets r.name to the result's name (the report gives it).
Expected<FileWatch::Placed> FileWatch::names(const Claim& c, files::Result& r) {
  auto recorded = read_placed(c.id);
  if (!recorded) return recorded.error();
  if (*recorded) {
    if (r.decision == Decision::Sanitized) r.name = (*recorded)->result;
    return **recorded;
  }
  Placed p;
  p.dir = dept_dir(c.dept);
  const std::string out = p.dir.empty() ? cfg_.files.outbox : cfg_.files.outbox + "/" + p.dir;
  {
    std::lock_guard lock(names_mu_);
    const auto taken = [&](const std::string& n) { return reserved_.count(p.dir + "/" + n) != 0 || durable::exists(out + "/" + n); };
    if (r.decision == Decision::Sanitized) {
      p.result = files::free_name(r.name, taken);
      r.name = p.result;
      reserved_.insert(p.dir + "/" + p.result);
    }
    p.report = files::free_name(files::report_name(input_of(c), r), taken);
    reserved_.insert(p.dir + "/" + p.report);
  }
  const json::Value j = {{"dir", p.dir}, {"result", p.result}, {"report", p.report}};
  const std::string text = json::dump(j) + "\n";
  if (auto ok = durable::write_file(placed_path(c.id) + ".tmp", placed_path(c.id), {text}, cfg_.spool.fsync, false);
      !ok) {
    return ok.error();
  }
  return p;
}

Expected<std::optional<FileWatch::Placed>> FileWatch::read_placed(const std::string& id) const {
  if (!durable::exists(placed_path(id))) return std::optional<Placed>();
  auto text = read_all(placed_path(id));
  if (!text) return text.error();
  const json::Value j = json::parse(*text);
  if (!j.is_object() || !j.contains("dir") || !j.contains("result") || !j.contains("report") || !j["dir"].is_string() ||
      !j["result"].is_string() || !j["report"].is_string()) {
    return Error{placed_path(id) + " is not one this gateway wrote"};
  }
  return std::optional<Placed>(Placed{j["dir"].get<std::string>(), j["result"].get<std::string>(),
                                      j["report"].get<std::string>(), true});
}

void FileWatch::reserve(const Placed& p) {
  std::lock_guard lock(names_mu_);
  if (!p.result.empty()) reserved_.insert(p.dir + "/" + p.result);
  reserved_.insert(p.dir + "/" + p.report);
}

Expected<FileWatch::Placed> FileWatch::finish(const Claim& c, files::Result& r) {
  const files::Input in = input_of(c);
  // A crash after put() left the original stored under this id already.
  if (!c.refused && !quarantine_.get(c.quarantine_id)) {
    if (auto ok = quarantine_.put(c.bytes, *r.quarantine, c.quarantine_id); !ok) return ok.error();
  }
  const std::string dir = dept_dir(c.dept);
  const std::string out = dir.empty() ? cfg_.files.outbox : cfg_.files.outbox + "/" + dir;
  if (auto ok = make_shared_dir(out); !ok) return ok.error();
  auto p = names(c, r);
  if (!p) return p.error();
  if (r.decision == Decision::Sanitized) {
    if (auto ok = files::place(tmp_dir_, out, p->result, r.bytes, true); !ok) return ok.error();
  }
  const std::int64_t now = now_unix();
  const std::string report =
      c.refused ? files::refused_report_json(in, c.identity.size, r, now) : files::report_json(in, r, c.quarantine_id, now);
  if (auto ok = files::place(tmp_dir_, out, p->report, report, true); !ok) return ok.error();
  const auto fields = c.refused ? files::refused_audit_fields(in, c.identity.size, r, where(c.dept))
                                : files::audit_fields(in, r, c.quarantine_id, where(c.dept));
  // The audit record and the claim's removal cannot be one step: a claim that was under way when the
  // gateway died may have been audited already, which the trail itself tells.
  auto done = p->again ? audited(c) : Expected<bool>(false);
  if (!done) return done.error();
  if (!*done) {
    if (auto ok = quarantine_.audit(files::audit_event(r), fields); !ok) return ok.error();
  }
  if (auto ok = forget_claim(c.id); !ok) return ok.error();
  std::lock_guard lock(names_mu_);
  reserved_.erase(p->dir + "/" + p->result);
  reserved_.erase(p->dir + "/" + p->report);
  return p;
}

// Whether the audit trail holds this claim's outcome already (file-sanitized or file-removed, by file_id).
Expected<bool> FileWatch::audited(const Claim& c) const {
  auto records = quarantine::read_audit(quarantine_.options().audit_log, c.received_unix);
  if (!records) return records.error();
  return std::any_of(records->begin(), records->end(), [&c](const quarantine::AuditRecord& rec) {
    const std::string_view event = rec.get("event");
    return (event == "file-sanitized" || event == "file-removed") && rec.get("file_id") == c.id;
  });
}

Status FileWatch::forget_claim(const std::string& id) const {
  if (auto ok = durable::unlink_if_exists(claim_path(id)); !ok) return ok;
  if (auto ok = durable::unlink_if_exists(placed_path(id)); !ok) return ok;
  return durable::sync_dir(claims_dir_);
}

}  // namespace mugai::gateway
