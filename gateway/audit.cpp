// The hash-chained audit trail. The chain links raw line bytes: prev = SHA-256 of the previous line
// without its newline; the first record links to 64 zeros. Appends hold an exclusive flock on the file
// across read-tail → write → fsync, so concurrent writers (gateway workers, mugaictl) never fork the chain.
#include "gateway/audit.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>

#include "gateway/durable_file.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/json.hpp"

namespace mugai::gateway {
namespace {

constexpr std::string_view kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";
constexpr std::size_t kMaxValue = 4096;
constexpr std::size_t kTailWindow = 1 << 20;  // far above any record append() can write

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);  // also drops the flock
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string iso_time(std::int64_t unix) {
  const std::time_t t = static_cast<std::time_t>(unix);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

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

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string_view AuditRecord::get(std::string_view key) const { return field(fields, key); }

Expected<AuditHead> AuditLog::append(std::string_view event, std::string_view operator_name,
                                     const AuditFields& fields, std::int64_t now_unix) const {
  const auto slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto st = durable::make_dir(path_.substr(0, slash), true); !st) return st.error();
  }
  FdGuard fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
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
  std::string line = "{\"seq\":" + std::to_string(seq + 1) + ",\"unix\":" + std::to_string(now_unix) + ",\"time\":";
  json::append_string(line, iso_time(now_unix));
  line += ",\"event\":";
  json::append_string(line, event.substr(0, kMaxValue));
  line += ",\"operator\":";
  json::append_string(line, operator_name.substr(0, kMaxValue));
  for (const auto& [k, v] : fields) {
    line += ',';
    json::append_string(line, std::string_view(k).substr(0, 64));
    line += ':';
    json::append_string(line, std::string_view(v).substr(0, kMaxValue));
  }
  line += ",\"prev\":";
  json::append_string(line, prev_line->empty() ? std::string(kGenesis) : sanitize::sha256_hex(*prev_line));
  line += "}";
  if (!durable::write_all(fd.get(), {torn, line, "\n"})) return durable::errno_error("cannot write audit log", path_);
  if (::fsync(fd.get()) != 0) return durable::errno_error("cannot fsync audit log", path_);
  return AuditHead{seq + 1, sanitize::sha256_hex(line)};
}

Expected<AuditFields> parse_flat_object(std::string_view s) {
  AuditFields out;
  std::size_t i = 0;
  const auto bad = [&](std::string_view what) { return Error{what.empty() ? "not a JSON object" : std::string(what)}; };
  const auto parse_string = [&](std::string& dst) -> bool {
    if (i >= s.size() || s[i] != '"') return false;
    for (++i; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '"') {
        ++i;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        dst.push_back(c);
        continue;
      }
      if (++i >= s.size()) return false;
      switch (s[i]) {
        case '"': case '\\': case '/': dst.push_back(s[i]); break;
        case 'n': dst.push_back('\n'); break;
        case 'r': dst.push_back('\r'); break;
        case 't': dst.push_back('\t'); break;
        case 'b': dst.push_back('\b'); break;
        case 'f': dst.push_back('\f'); break;
        case 'u': {
          if (i + 4 >= s.size()) return false;
          std::uint32_t cp = 0;
          for (std::size_t k = 1; k <= 4; ++k) {
            const char h = s[i + k];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= static_cast<std::uint32_t>(h - '0');
            else if (h >= 'a' && h <= 'f') cp |= static_cast<std::uint32_t>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') cp |= static_cast<std::uint32_t>(h - 'A' + 10);
            else return false;
          }
          // append() only writes \u00XX and \ufffd; a lone surrogate is shown as U+FFFD.
          append_utf8(dst, cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp);
          i += 4;
          break;
        }
        default: return false;
      }
    }
    return false;
  };
  if (s.empty() || s[0] != '{') return bad("");
  i = 1;
  while (true) {
    std::string key, value;
    if (!parse_string(key) || i >= s.size() || s[i] != ':') return bad("");
    ++i;
    if (i < s.size() && s[i] == '"') {
      if (!parse_string(value)) return bad("");
    } else {
      const std::size_t start = i;
      if (i < s.size() && s[i] == '-') ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      if (i == start) return bad("");
      value = s.substr(start, i - start);
    }
    out.emplace_back(std::move(key), std::move(value));
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i + 1 == s.size() && s[i] == '}') return out;
    return bad("");
  }
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

Expected<AuditCheck> verify_audit(const std::string& path, const std::optional<AuditHead>& anchor) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return durable::errno_error("cannot open audit log", path);
  AuditCheck check;
  std::string line, expected_prev(kGenesis);
  const auto broken = [&](std::size_t n, std::string problem) {
    check.first_bad_line = n;
    check.problem = std::move(problem);
    return check;
  };
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    check.records = n;
    if (in.eof()) return broken(n, "record is incomplete (no newline): a write was torn or the line edited");
    auto fields = parse_flat_object(line);
    if (!fields) return broken(n, "not an audit record (edited?)");
    std::uint64_t seq = 0;
    if (!parse_u64(field(*fields, "seq"), seq)) return broken(n, "record has no sequence number (edited?)");
    if (seq != n) {
      return broken(n, "sequence number " + std::to_string(seq) + " where " + std::to_string(n) +
                           " belongs: records were deleted, inserted or reordered");
    }
    if (fields->empty() || fields->back().first != "prev" || fields->back().second != expected_prev) {
      // The sequence numbers agree, so the record before this one is the one whose bytes changed.
      if (n == 1) return broken(1, "the first record does not start the chain (records before it removed?)");
      return broken(n - 1, "record was edited: its SHA-256 does not match the one record " + std::to_string(n) +
                               " carries");
    }
    expected_prev = sanitize::sha256_hex(line);
    if (anchor && anchor->seq == n && anchor->sha256 != expected_prev) {
      return broken(n, "record differs from the one the quarantine index anchored when it was written: edited");
    }
  }
  if (anchor && anchor->seq > check.records) {
    return broken(check.records + 1, "missing: the quarantine index anchors record " + std::to_string(anchor->seq) +
                                         ", so records were removed from the end of the log");
  }
  return check;
}

}  // namespace mugai::gateway
