// The keyed, hash-chained audit trail. The chain links raw line bytes: prev = SHA-256 of the previous
// line without its newline; the first record links to 64 zeros. mac = HMAC-SHA-256 under the audit key
// of the record as written without its mac member (the line minus its last `,"mac":"…"` member). Appends hold an exclusive flock on the file
// across read-tail → write → fsync, so concurrent writers (gateway workers, mugaictl) never fork the chain.
#include "quarantine/audit.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>
#include <optional>

#include "common/hex.hpp"
#include "common/durable_file.hpp"
#include "common/json.hpp"
#include "common/fd.hpp"

namespace mugai::quarantine {
namespace {

constexpr std::string_view kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";
constexpr std::size_t kMaxValue = 4096;
constexpr std::size_t kTailWindow = 1 << 20;  // far above any record append() can write

std::string_view field(const AuditFields& fields, std::string_view key) {
  for (const auto& [k, v] : fields)
    if (k == key) return v;
  return {};
}

// The last line of the file (without its newline) and whether the file ends in one.
Expected<std::string> last_line(int fd, const std::string& path, bool& ends_with_newline) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return durable::errno_error("cannot stat", path);
  const auto size = static_cast<std::size_t>(st.st_size);
  ends_with_newline = true;
  if (size == 0) return std::string();
  const std::size_t window = std::min(size, kTailWindow);
  std::string tail(window, '\0');
  std::size_t got = 0;
  while (got < window) {
    const ssize_t n = ::pread(fd, tail.data() + got, window - got, static_cast<off_t>(size - window + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return durable::errno_error("cannot read", path);
    got += static_cast<std::size_t>(n);
  }
  ends_with_newline = tail.back() == '\n';
  if (ends_with_newline) tail.pop_back();
  const auto nl = tail.rfind('\n');
  if (nl == std::string::npos && window < size) {
    return Error{"audit log " + path + ": last record is longer than " + std::to_string(kTailWindow) +
                 " bytes; run `mugaictl audit verify`"};
  }
  return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

// The record as it was MAC'd: `line` without its trailing `,"mac":"<64 hex>"}`; nullopt when it has none.
std::optional<std::string> without_mac(std::string_view line) {
  constexpr std::string_view kMember = ",\"mac\":\"";
  constexpr std::size_t kTail = kMember.size() + 64 + 2;  // + `"}`
  if (line.size() < kTail + 1 || line.substr(line.size() - kTail, kMember.size()) != kMember ||
      line.substr(line.size() - 2) != "\"}") {
    return std::nullopt;
  }
  return std::string(line.substr(0, line.size() - kTail)) + "}";
}

std::string_view mac_of(std::string_view line) { return line.substr(line.size() - 66, 64); }

}  // namespace

std::string iso_time(std::int64_t unix) {
  const std::time_t t = static_cast<std::time_t>(unix);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}


std::string anchor_mac(std::string_view key, const AuditHead& head) {
  return hex::hmac_sha256(key, "anchor " + std::to_string(head.seq) + " " + head.sha256);
}

std::string_view AuditRecord::get(std::string_view key) const { return field(fields, key); }

Expected<AuditHead> AuditLog::append(std::string_view event, const Operator& by, const AuditFields& fields,
                                     std::int64_t now_unix) const {
  const auto slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto st = durable::make_dir(path_.substr(0, slash), true); !st) return st.error();
  }
  UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return durable::errno_error("cannot open audit log", path_);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return durable::errno_error("cannot lock audit log", path_);
  }
  bool ends_with_newline = true;
  auto prev_line = last_line(fd.get(), path_, ends_with_newline);
  if (!prev_line) return prev_line.error();
  std::uint64_t seq = 0;
  if (!prev_line->empty()) {
    auto prev = parse_flat_object(*prev_line);
    if (!prev || !parse_u64(field(*prev, "seq"), seq)) {
      // Chaining onto an unreadable record would hide where the damage is: refuse loudly instead.
      return Error{"audit log " + path_ + ": last record is damaged; run `mugaictl audit verify`"};
    }
  }
  const std::string torn = ends_with_newline ? "" : "\n";  // a torn last write stays a separate (bad) line
  json::Value record{{"seq", seq + 1}, {"unix", now_unix}, {"time", iso_time(now_unix)},
                     {"event", event.substr(0, kMaxValue)}, {"operator", std::string_view(by.name).substr(0, kMaxValue)},
                     {"uid", by.uid}};
  for (const auto& [k, v] : fields) record[std::string(std::string_view(k).substr(0, 64))] = std::string_view(v).substr(0, kMaxValue);
  record["prev"] = prev_line->empty() ? std::string(kGenesis) : hex::sha256(*prev_line);
  std::string line = json::dump(record);
  line.insert(line.size() - 1, ",\"mac\":\"" + hex::hmac_sha256(key_, line) + "\"");
  if (!durable::write_all(fd.get(), {torn, line, "\n"})) return durable::errno_error("cannot write audit log", path_);
  if (::fsync(fd.get()) != 0) return durable::errno_error("cannot fsync audit log", path_);
  AuditHead head{seq + 1, hex::sha256(line), {}};
  head.mac = anchor_mac(key_, head);
  if (on_append_) on_append_(event, head);
  return head;
}

Expected<AuditFields> parse_flat_object(std::string_view s) {
  const json::Value v = json::parse(s);
  if (!v.is_object()) return Error{"not a JSON object"};
  AuditFields out;
  for (const auto& [key, value] : v.items()) {
    if (value.is_string()) {
      out.emplace_back(key, value.get<std::string>());
    } else if (value.is_number_integer()) {
      out.emplace_back(key, value.dump());
    } else {
      return Error{"value of " + key + " is neither a string nor an integer"};
    }
  }
  return out;
}

Expected<std::vector<AuditRecord>> read_audit(const std::string& path, std::int64_t since_unix) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return durable::errno_error("cannot open audit log", path);
  std::vector<AuditRecord> out;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    auto fields = parse_flat_object(line);
    if (!fields) return Error{path + ":" + std::to_string(n) + ": not an audit record"};
    std::int64_t unix = 0;
    try {
      unix = std::stoll(std::string(field(*fields, "unix")));
    } catch (...) {
      return Error{path + ":" + std::to_string(n) + ": audit record without a time"};
    }
    if (unix >= since_unix) out.push_back(AuditRecord{n, std::move(*fields), line});
  }
  return out;
}

Expected<AuditCheck> verify_audit(const std::string& path, std::string_view key, const AnchorState& anchor) {
  std::ifstream in(path, std::ios::binary);
  if (!in && anchor.entries == 0 && !anchor.head) return AuditCheck{};  // nothing stored, nothing audited yet
  if (!in) return durable::errno_error("cannot open audit log", path);
  AuditCheck check;
  std::string line, expected_prev(kGenesis);
  const auto broken = [&](std::size_t n, std::string problem) {
    check.first_bad_line = n;
    check.problem = std::move(problem);
    return check;
  };
  const std::optional<AuditHead>& head = anchor.head;
  if (head && !hex::equal_constant_time(head->mac, anchor_mac(key, *head))) {
    return broken(head->seq, "the quarantine index's anchor of this record is not keyed by the audit key: "
                             "the anchor was edited (or the key is not this log's)");
  }
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    check.records = n;
    if (in.eof()) return broken(n, "record is incomplete (no newline): a write was torn or the line edited");
    const auto unsigned_text = without_mac(line);
    if (!unsigned_text) return broken(n, "record carries no MAC (edited, or written without the audit key)");
    if (!hex::equal_constant_time(mac_of(line), hex::hmac_sha256(key, *unsigned_text))) {
      return broken(n, "record's MAC does not match: edited, or forged without the audit key");
    }
    auto fields = parse_flat_object(line);
    if (!fields) return broken(n, "not an audit record (edited?)");
    std::uint64_t seq = 0;
    if (!parse_u64(field(*fields, "seq"), seq)) return broken(n, "record has no sequence number (edited?)");
    if (seq != n) {
      return broken(n, "sequence number " + std::to_string(seq) + " where " + std::to_string(n) +
                           " belongs: records were deleted, inserted or reordered");
    }
    if (field(*fields, "prev") != expected_prev) {
      return broken(n, n == 1 ? "the first record does not start the chain (records before it removed?)"
                              : "record does not chain onto record " + std::to_string(n - 1) +
                                    ": records were removed or replaced before it");
    }
    expected_prev = hex::sha256(line);
    if (head && head->seq == n && head->sha256 != expected_prev) {
      return broken(n, "record differs from the one the quarantine index anchored when it was written: replaced");
    }
  }
  if (!head && anchor.entries > 0) {
    return broken(check.records + 1, "the quarantine index holds " + std::to_string(anchor.entries) +
                                         " entries but no audit anchor: the anchor was deleted");
  }
  if (head && head->seq > check.records) {
    return broken(check.records + 1, "missing: the quarantine index anchors record " + std::to_string(head->seq) +
                                         ", so records were removed from the end of the log");
  }
  if (head && check.records - head->seq > kAnchorLag) {
    return broken(head->seq + 1, "the quarantine index anchors record " + std::to_string(head->seq) + " of " +
                                     std::to_string(check.records) +
                                     ": the anchor is older than the log (replaced by an old copy?)");
  }
  return check;
}

}  // namespace mugai::quarantine
