// Event logging (see log.hpp). Whatever bytes a field holds, one event stays one line: the text
// format quotes and escapes, the JSON format uses the shared escaper (invalid UTF-8 → U+FFFD).
#include "gateway/log.hpp"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <mutex>

#include "common/hex.hpp"
#include "common/json.hpp"

namespace mugai::log {

namespace {

std::mutex g_mu;
Format g_format = Format::Text;
Target g_target = Target::Stderr;
int g_fd = STDERR_FILENO;
Observer g_observer;  // written before other threads start, then only read


bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

void put_timestamp(std::string& out) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[40];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf, n);
  auto ms = static_cast<int>(ts.tv_nsec / 1000000);
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
}

// Event names and keys come from our code, but a stray space or newline must not break the line.
void put_text_token(std::string& out, std::string_view s) {
  for (char c : s) out += (c == ' ' || c == '=' || c == '"' || is_control(c)) ? '_' : c;
}

void put_text_value(std::string& out, std::string_view v) {
  bool plain = !v.empty() && v.find_first_of(" \"\\=") == std::string_view::npos;
  for (char c : v) plain = plain && !is_control(static_cast<unsigned char>(c));
  if (plain) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (is_control(u)) {
      out += "\\x";
      out += hex::kLower[u >> 4];
      out += hex::kLower[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

void write_line(std::string_view name, std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(128);
  std::lock_guard lock(g_mu);
  // Syslog stamps each message itself; a second timestamp would only disagree with it.
  const bool stamped = g_target != Target::Syslog;
  if (g_format == Format::Json) {
    json::Value record;
    if (stamped) {
      std::string ts;
      put_timestamp(ts);
      record["ts"] = ts;
    }
    record["event"] = name;
    for (const auto& [key, value] : fields) record[std::string(key)] = value;
    line += json::dump(record);
  } else {
    if (stamped) {
      put_timestamp(line);
      line += ' ';
    }
    put_text_token(line, name);
    for (const auto& [key, value] : fields) {
      line += ' ';
      put_text_token(line, key);
      line += '=';
      put_text_value(line, value);
    }
  }
  if (g_target == Target::Syslog) {
    // Events whose name says they failed are errors to syslog's filters; the rest are information.
    ::syslog(name.ends_with("-error") || name.ends_with("-failed") ? LOG_ERR : LOG_INFO, "%s", line.c_str());
    return;
  }
  line += '\n';
  // One write(2) per line; the loop only matters for short writes to pipes, which the mutex keeps
  // from interleaving with other threads' lines.
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(g_fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to report a logging failure
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

int facility_code(std::string_view name) {
  constexpr std::pair<std::string_view, int> kFacilities[] = {
      {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
      {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
      {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
  for (const auto& [n, code] : kFacilities)
    if (n == name) return code;
  return LOG_MAIL;  // the config accepts only the names above
}

}  // namespace

bool init(Format format, Target target, const std::string& path, std::string_view facility) {
  int fd = STDERR_FILENO;
  if (target == Target::File) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return false;
  }
  std::lock_guard lock(g_mu);
  if (g_fd != STDERR_FILENO) ::close(g_fd);
  g_fd = fd;
  g_format = format;
  g_target = target;
  // LOG_NDELAY: the socket is opened now, before a sandbox or chroot could make /dev/log unreachable.
  if (target == Target::Syslog) ::openlog("mugai-gateway", LOG_PID | LOG_NDELAY, facility_code(facility));
  return true;
}

void observe(Observer observer) { g_observer = std::move(observer); }

void event(std::string_view name, std::initializer_list<Field> fields) {
  write_line(name, fields);
  if (g_observer) g_observer(name, fields);
}

}  // namespace mugai::log
