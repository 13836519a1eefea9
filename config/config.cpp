// Loads the gateway configuration from TOML and `--set` overrides. Unknown sections and keys are errors,
// every problem is reported (source:line:col: key: problem), and a Config is returned only when the
// merged result is valid as a whole. toml++ exceptions are caught here and never leave this file.
#include "config/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <tuple>

#include <toml++/toml.h>

#include "common/hex.hpp"
#include "common/utf8.hpp"
#include "proto/address.hpp"

namespace mugai::config {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;
// A config file is written by an admin, but a wrong path (a log, a mail spool) must not be slurped.
constexpr std::size_t kMaxConfigFile = 1 * kMiB;
// The pipeline holds a whole message in memory while rebuilding it.
constexpr std::uint64_t kMaxMessageSize = 2 * kGiB;
constexpr std::int64_t kMaxDuration = 365LL * 24 * 3600;

// Where a value came from. `text` is the error prefix: "mugai.toml:12:20", "mugai.toml" or "--set k=v".
// The rest orders problems the way an admin reads them: the file top to bottom, then problems without
// a position (missing keys), then overrides in command-line order.
struct Location {
  std::string text;
  int group = 1;
  std::uint64_t line = 0;
  std::uint64_t column = 0;

  auto order() const { return std::tuple(group, line, column); }
};

struct Entry {
  const toml::node* node = nullptr;
  Location at;
};

class Problems {
 public:
  void add(const Location& at, std::string_view key, std::string_view problem) {
    std::string line(at.text);
    line += ": ";
    if (!key.empty()) {
      line += key;
      line += ": ";
    }
    line += problem;
    lines_.emplace_back(at, std::move(line));
    failed_.insert(std::string(key));
  }
  bool failed(std::string_view key) const { return failed_.count(std::string(key)) != 0; }
  bool empty() const { return lines_.empty(); }
  std::string joined() {
    std::stable_sort(lines_.begin(), lines_.end(),
                     [](const auto& a, const auto& b) { return a.first.order() < b.first.order(); });
    std::string out;
    for (const auto& [at, l] : lines_) {
      if (!out.empty()) out += '\n';
      out += l;
    }
    return out;
  }

 private:
  std::vector<std::pair<Location, std::string>> lines_;
  std::set<std::string> failed_;
};

// Values are echoed back in errors: keep them on one line and short.
std::string shown(std::string_view s) {
  constexpr std::size_t kShown = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kShown) out += "...";
  return out + "\"";
}

std::string describe(const toml::node& n) {
  if (const auto* s = n.as_string()) return shown(s->get());
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* f = n.as_floating_point()) {
    std::ostringstream os;
    os << f->get();
    return os.str();
  }
  if (n.is_array()) return "an array";
  if (n.is_table()) return "a table";
  return "a date/time";
}

Location in_file(std::string_view source, const toml::source_position& pos) {
  return {std::string(source) + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column), 0, pos.line,
          pos.column};
}

std::optional<std::uint64_t> parse_digits(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};
constexpr Unit kSizeUnits[] = {{"", 1}, {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}};
constexpr Unit kDurationUnits[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};

// "25MiB" -> 26214400. nullopt when malformed or when the product overflows.
std::optional<std::uint64_t> parse_scaled(std::string_view s, std::span<const Unit> units) {
  const auto digits_end = std::find_if(s.begin(), s.end(), [](char c) { return c < '0' || c > '9'; });
  const auto n = parse_digits(std::string_view(s.begin(), digits_end));
  const std::string_view suffix(digits_end, s.end());
  if (!n) return std::nullopt;
  for (const auto& u : units) {
    if (u.suffix != suffix) continue;
    if (*n > std::numeric_limits<std::uint64_t>::max() / u.factor) return std::nullopt;
    return *n * u.factor;
  }
  return std::nullopt;
}

bool is_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = s.find('.', start);
    const auto label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_ip(int family, std::string_view s) {
  unsigned char buf[16];
  // inet_pton stops at a NUL, which a TOML "\u0000" escape can smuggle in.
  return s.find('\0') == std::string_view::npos && inet_pton(family, std::string(s).c_str(), buf) == 1;
}

// "host:port" or "[v6]:port" with port 1..65535.
Expected<Endpoint> parse_endpoint(std::string_view s) {
  const std::string_view example = "like \"127.0.0.1:25\", \"mx.example.jp:25\" or \"[::1]:25\"";
  Endpoint ep;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return Error{"expected host:port " + std::string(example) + ", got " + shown(s)};
    ep.host = std::string(s.substr(1, close - 1));
    if (!is_ip(AF_INET6, ep.host)) return Error{shown(ep.host) + " is not an IPv6 address"};
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos)
      return Error{"expected host:port " + std::string(example) + ", got " + shown(s)};
    ep.host = std::string(s.substr(0, colon));
    if (ep.host.find(':') != std::string::npos)
      return Error{"IPv6 addresses need brackets, like \"[::1]:25\", got " + shown(s)};
    if (!is_dns_name(ep.host)) return Error{shown(ep.host) + " is not a host name or IPv4 address"};
    port = s.substr(colon + 1);
  }
  const auto p = parse_digits(port);
  if (!p || *p < 1 || *p > 65535) return Error{"port must be 1..65535, got " + shown(port)};
  ep.port = static_cast<std::uint16_t>(*p);
  return ep;
}

bool is_cidr(std::string_view s) {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  const auto addr = s.substr(0, slash);
  const auto bits = parse_digits(s.substr(slash + 1));
  if (!bits) return false;
  if (is_ip(AF_INET, addr)) return *bits <= 32;
  if (is_ip(AF_INET6, addr)) return *bits <= 128;
  return false;
}

// What a policy file may hold: the sections that make up a sanitize::Policy.
constexpr std::array<std::string_view, 3> kPolicySections{"sanitize", "render", "archive"};

std::string readable_problem(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return "cannot read '" + path + "': is a directory";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "cannot read '" + path + "': " + std::strerror(errno);
  std::fclose(f);
  return {};
}

// One key's value, with typed accessors that report a problem against the key and return false.
class Field {
 public:
  Field(std::string_view key, const Entry& entry, Problems& problems)
      : key_(key), entry_(entry), problems_(problems) {}

  void fail(std::string_view problem) { problems_.add(entry_.at, key_, problem); }
  const toml::node& node() const { return *entry_.node; }

  bool text(std::string& out) {
    const auto* s = entry_.node->as_string();
    if (s == nullptr) return wrong_type("a string");
    out = s->get();
    return true;
  }

  bool flag(bool& out) {
    const auto* b = entry_.node->as_boolean();
    if (b == nullptr) return wrong_type("true or false");
    out = b->get();
    return true;
  }

  template <typename T>
  bool integer(T& out, std::int64_t min, std::int64_t max) {
    const auto* i = entry_.node->as_integer();
    if (i == nullptr) return wrong_type("an integer");
    return in_range(out, i->get(), min, max, "");
  }

  bool real(double& out) {
    if (const auto* i = entry_.node->as_integer()) {
      out = static_cast<double>(i->get());
      return true;
    }
    const auto* f = entry_.node->as_floating_point();
    if (f == nullptr || !std::isfinite(f->get())) return wrong_type("a number");
    out = f->get();
    return true;
  }

  bool size(std::size_t& out, std::uint64_t min = 1, std::uint64_t max = kMaxMessageSize,
            std::string_view why = "") {
    std::int64_t bytes = 0;
    if (const auto* i = entry_.node->as_integer()) {
      bytes = i->get();
    } else if (const auto* s = entry_.node->as_string()) {
      const auto v = parse_scaled(s->get(), kSizeUnits);
      if (!v) {
        // "10KB", "25M": a number with a unit we refuse on purpose, so say which units we take.
        const bool has_unit = !s->get().empty() && std::isdigit(static_cast<unsigned char>(s->get()[0]));
        fail("expected a size like 26214400 or \"25MiB\", got " + shown(s->get()) +
             (has_unit ? " (binary units only: KiB, MiB, GiB)" : ""));
        return false;
      }
      bytes = static_cast<std::int64_t>(std::min<std::uint64_t>(*v, kMaxMessageSize + 1));
    } else {
      return wrong_type("a size like 26214400 or \"25MiB\"");
    }
    return in_range(out, bytes, static_cast<std::int64_t>(min), static_cast<std::int64_t>(max), why);
  }

  bool duration(Seconds& out, std::int64_t min = 1) {
    std::int64_t secs = 0;
    if (const auto* i = entry_.node->as_integer()) {
      secs = i->get();
    } else if (const auto* s = entry_.node->as_string()) {
      const auto v = parse_scaled(s->get(), kDurationUnits);
      if (!v) {
        fail("expected a duration like 30 (seconds), \"30s\", \"5m\", \"2h\" or \"5d\", got " + shown(s->get()));
        return false;
      }
      secs = static_cast<std::int64_t>(std::min<std::uint64_t>(*v, kMaxDuration + 1));
    } else {
      return wrong_type("a duration like 30 (seconds), \"30s\", \"5m\", \"2h\" or \"5d\"");
    }
    std::int64_t checked = 0;
    if (!in_range(checked, secs, min, kMaxDuration, "s")) return false;
    out = Seconds(checked);
    return true;
  }

  // Arrays of strings; an entry that is not a string is reported and the whole key rejected.
  bool text_list(std::vector<std::string>& out) {
    const auto* arr = entry_.node->as_array();
    if (arr == nullptr) return wrong_type("an array of strings");
    std::vector<std::string> items;
    for (const auto& el : *arr) {
      const auto* s = el.as_string();
      if (s == nullptr) return wrong_type("an array of strings");
      items.push_back(s->get());
    }
    out = std::move(items);
    return true;
  }

 private:
  bool wrong_type(std::string_view expected) {
    fail("expected " + std::string(expected) + ", got " + describe(*entry_.node));
    return false;
  }

  template <typename T>
  bool in_range(T& out, std::int64_t v, std::int64_t min, std::int64_t max, std::string_view why) {
    if (v < min) {
      fail("must be at least " + std::to_string(min) + std::string(why) + ", got " + describe(*entry_.node));
      return false;
    }
    if (v > max) {
      fail("must be at most " + std::to_string(max) + std::string(why) + ", got " + describe(*entry_.node));
      return false;
    }
    out = static_cast<T>(v);
    return true;
  }

  std::string_view key_;
  const Entry& entry_;
  Problems& problems_;
};

void apply_listen(Field& f, Config& c) {
  std::vector<std::string> items;
  if (!f.text_list(items)) return;
  if (items.empty()) return f.fail("needs at least one address, like [\"0.0.0.0:25\"]");
  std::vector<Endpoint> eps;
  for (const auto& item : items) {
    auto ep = parse_endpoint(item);
    if (!ep) return f.fail(ep.error().message);
    eps.push_back(std::move(*ep));
  }
  c.smtp.listen = std::move(eps);
}

void apply_hostname(Field& f, std::string& out) {
  std::string name;
  if (!f.text(name)) return;
  if (!is_dns_name(name)) return f.fail("expected a DNS name like \"mx.example.lg.jp\", got " + shown(name));
  out = std::move(name);
}

void apply_accept_domains(Field& f, Config& c) {
  std::vector<std::string> items;
  if (!f.text_list(items)) return;
  if (items.empty()) return f.fail("needs at least one domain, like [\"city.example.lg.jp\"]");
  for (auto& d : items) {
    const std::string_view name = !d.empty() && d.front() == '.' ? std::string_view(d).substr(1) : d;
    if (!is_dns_name(name))
      return f.fail("expected a domain like \"city.example.lg.jp\" or \".example.lg.jp\" (subdomains), got " +
                    shown(d));
    std::transform(d.begin(), d.end(), d.begin(), [](unsigned char ch) { return std::tolower(ch); });
  }
  c.smtp.accept_domains = std::move(items);
}

void apply_networks(Field& f, std::vector<std::string>& out) {
  std::vector<std::string> items;
  if (!f.text_list(items)) return;
  for (const auto& n : items)
    if (!is_cidr(n)) return f.fail("expected a CIDR like \"192.0.2.0/24\" or \"2001:db8::/32\", got " + shown(n));
  out = std::move(items);
}

void apply_metrics_listen(Field& f, Config& c) {
  std::string text;
  if (!f.text(text)) return;
  c.metrics.enabled = !text.empty();
  if (text.empty()) return;
  auto ep = parse_endpoint(text);
  if (!ep) return f.fail(ep.error().message);
  c.metrics.listen = std::move(*ep);
}

// "AB:CD:…" or "abcd…": the SHA-256 of a certificate as openssl x509 -fingerprint -sha256 prints it, or
// without its colons; kept as 64 lower-case hex digits.
void apply_fingerprints(Field& f, Config& c) {
  std::vector<std::string> items;
  if (!f.text_list(items)) return;
  for (auto& item : items) {
    std::string hex;
    for (char ch : item) {
      if (ch == ':') continue;
      hex += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
      return f.fail("expected a certificate's SHA-256 like \"AB:CD:…\" (32 bytes in hex, as `openssl x509 "
                    "-fingerprint -sha256` prints it), got " + shown(item));
    item = std::move(hex);
  }
  c.delivery.tls_fingerprints = std::move(items);
}

void apply_readable_path(Field& f, std::string& out) {
  std::string path;
  if (!f.text(path)) return;
  if (!path.empty()) {
    if (auto problem = readable_problem(path); !problem.empty()) return f.fail(problem);
  }
  out = std::move(path);
}

void apply_nonempty_path(Field& f, std::string& out) {
  std::string path;
  if (!f.text(path)) return;
  if (path.empty()) return f.fail("must not be empty");
  out = std::move(path);
}

void apply_next_hop(Field& f, Config& c) {
  std::string hop;
  if (!f.text(hop)) return;
  auto& d = c.delivery;
  if (hop.starts_with("smtp://")) {
    auto ep = parse_endpoint(std::string_view(hop).substr(7));
    if (!ep) return f.fail(ep.error().message);
    d.kind = Delivery::Kind::Smtp;
    d.smtp_host = std::move(*ep);
  } else if (hop.starts_with("maildir:") && hop.size() > 8) {
    d.kind = Delivery::Kind::Maildir;
    d.maildir = hop.substr(8);
  } else {
    return f.fail("expected \"smtp://host:port\" or \"maildir:PATH\", got " + shown(hop));
  }
  d.next_hop = std::move(hop);
}

void apply_bounce(Field& f, Config& c) {
  std::string bounce;
  if (!f.text(bounce)) return;
  auto& d = c.delivery;
  if (bounce.starts_with("smtp://")) {
    auto ep = parse_endpoint(std::string_view(bounce).substr(7));
    if (!ep) return f.fail(ep.error().message);
    d.bounce_via_smtp = true;
    d.bounce_host = std::move(*ep);
  } else if (bounce.starts_with("dir:") && bounce.size() > 4) {
    d.dead_letter_dir = bounce.substr(4);
  } else if (!bounce.empty()) {
    return f.fail("expected \"\" (dead-letter directory in the spool), \"smtp://host:port\" or \"dir:PATH\", got " +
                  shown(bounce));
  }
  d.bounce = std::move(bounce);
}

// A mailbox the gateway sends notices from or to, in the form RCPT TO takes ("user@example.lg.jp").
// "" means the key's default.
void apply_mailbox(Field& f, std::string& out) {
  std::string addr;
  if (!f.text(addr)) return;
  if (addr.empty()) return out.clear();
  const auto path = proto::parse_path("<" + addr + ">", false);
  if (!path || !path->params.empty())
    return f.fail("expected an address like \"postmaster@mx.example.lg.jp\", got " + shown(addr) +
                  (path ? std::string() : " (" + path.error().message + ")"));
  out = path->mailbox.str();
}

// Free text quoted on one line of every hold notice: an admin writes it, but it must stay one line.
void apply_contact(Field& f, Config& c) {
  constexpr std::size_t kMaxContact = 256;
  std::string text;
  if (!f.text(text)) return;
  if (text.empty()) return f.fail("must not be empty (a notice always says whom to ask)");
  if (text.size() > kMaxContact) return f.fail("must be at most " + std::to_string(kMaxContact) + " bytes");
  if (!utf8::is_valid(text)) return f.fail("must be UTF-8");
  const bool control = std::any_of(text.begin(), text.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7f;
  });
  if (control) return f.fail("must be one line without control characters, got " + shown(text));
  c.quarantine.contact = std::move(text);
}

// One word out of a fixed set, e.g. delivery.tls or log.format.
template <typename E, std::size_t N>
void apply_choice(Field& f, E& out, const std::pair<std::string_view, E> (&choices)[N]) {
  std::string word;
  if (!f.text(word)) return;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (name == word) {
      out = value;
      return;
    }
    names += names.empty() ? "" : "|";
    names += name;
  }
  f.fail("expected one of " + names + ", got " + shown(word));
}

constexpr std::pair<std::string_view, proto::TlsPolicy> kTlsPolicies[] = {
    {"none", proto::TlsPolicy::None},         {"may", proto::TlsPolicy::May},
    {"encrypt", proto::TlsPolicy::Encrypt},   {"verify", proto::TlsPolicy::Verify},
    {"fingerprint", proto::TlsPolicy::Fingerprint}};

// The spellings before Postfix's levels: named, so an upgraded config says what to write instead.
void apply_tls_policy(Field& f, Config& c) {
  std::string word;
  if (!f.text(word)) return;
  if (word == "opportunistic") return f.fail("\"opportunistic\" is now spelled \"may\" (STARTTLS when offered)");
  if (word == "required")
    return f.fail("\"required\" is now spelled \"encrypt\" (TLS always, certificate not checked, as "
                  "\"required\" was); \"verify\" also checks the certificate and its name");
  apply_choice(f, c.delivery.tls, kTlsPolicies);
}
constexpr std::pair<std::string_view, Log::Target> kLogTargets[] = {
    {"stderr", Log::Target::Stderr}, {"file", Log::Target::File}, {"syslog", Log::Target::Syslog}};

void apply_syslog_facility(Field& f, Config& c) {
  std::string name;
  if (!f.text(name)) return;
  static constexpr std::string_view kFacilities[] = {"mail",   "daemon", "local0", "local1", "local2",
                                                     "local3", "local4", "local5", "local6", "local7"};
  if (std::find(std::begin(kFacilities), std::end(kFacilities), name) == std::end(kFacilities))
    return f.fail("expected one of mail|daemon|local0..local7, got " + shown(name));
  c.log.syslog_facility = std::move(name);
}
constexpr std::pair<std::string_view, Quarantine::Notify> kNotifyModes[] = {
    {"recipients", Quarantine::Notify::Recipients},
    {"postmaster", Quarantine::Notify::Postmaster},
    {"none", Quarantine::Notify::None}};
constexpr std::pair<std::string_view, Log::Format> kLogFormats[] = {{"text", Log::Format::Text},
                                                                    {"json", Log::Format::Json}};

constexpr std::int64_t kMaxCount = 1'000'000;

constexpr std::pair<std::string_view, sanitize::LinkPolicy> kLinkPolicies[] = {
    {"keep", sanitize::LinkPolicy::Keep},
    {"defang", sanitize::LinkPolicy::Defang},
    {"remove", sanitize::LinkPolicy::Remove}};

constexpr std::pair<std::string_view, sanitize::ArchivePolicy::Encrypted> kEncryptedArchives[] = {
    {"pair", sanitize::ArchivePolicy::Encrypted::Pair},
    {"quarantine", sanitize::ArchivePolicy::Encrypted::Quarantine},
    {"reject", sanitize::ArchivePolicy::Encrypted::Reject}};

void apply_output_charset(Field& f, Config& c) {
  std::string word;
  if (!f.text(word)) return;
  if (word != "UTF-8" && word != "ISO-2022-JP") return f.fail("expected one of UTF-8|ISO-2022-JP, got " + shown(word));
  c.sanitize.output_charset = std::move(word);
}

// The file is read now, so a missing or malformed template stops the start, not the first notice.
// nullopt (with no error) for the empty path, which selects the built-in template.
std::optional<std::string> read_notice_template(Field& f) {
  std::string path;
  if (!f.text(path) || path.empty()) return std::nullopt;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    f.fail("cannot read '" + path + "': " + std::strerror(errno));
    return std::nullopt;
  }
  std::string text(sanitize::kMaxNoticeTemplate + 1, '\0');
  const std::size_t n = std::fread(text.data(), 1, text.size(), file);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    f.fail("cannot read '" + path + "'");
    return std::nullopt;
  }
  text.resize(n);
  if (auto st = sanitize::check_notice_template(text); !st) {
    f.fail("'" + path + "': " + st.error().message);
    return std::nullopt;
  }
  return text;
}

void apply_notice_template(Field& f, Config& c) {
  auto text = read_notice_template(f);
  if (text && text->empty()) return f.fail("the notice listing removed parts cannot be empty");
  c.sanitize.notice_template = text.value_or("");
}

// [[sanitize.rules]] tables: type, action, sanitizers. Replaces the default rules as a whole.
void apply_rules(Field& f, Config& c) {
  const auto* arr = f.node().as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    return f.fail("expected [[sanitize.rules]] tables with type, action and sanitizers");
  }
  std::string names;
  for (const auto n : sanitize::sanitizer_names()) names += (names.empty() ? "" : ", ") + std::string(n);
  std::vector<sanitize::Rule> rules;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto& table = *arr->get(i)->as_table();
    const std::string which = "rule " + std::to_string(i + 1) + ": ";
    for (const auto& [key, value] : table) {
      if (key != "type" && key != "action" && key != "sanitizers")
        return f.fail(which + "unknown key " + shown(key.str()) + " (expected type, action, sanitizers)");
    }
    sanitize::Rule rule;
    const auto type = table["type"].value<std::string>();
    if (!type || !sanitize::valid_type_pattern(*type))
      return f.fail(which + "type must be a lowercase \"type/subtype\", \"type/*\" or \"*\", got " +
                    (type ? shown(*type) : std::string("nothing")));
    rule.type = *type;
    const auto action = table["action"].value<std::string>();
    const auto parsed = sanitize::parse_action(action.value_or(""));
    if (!parsed) return f.fail(which + "action: " + parsed.error().message + ", got " + shown(action.value_or("")));
    rule.action = *parsed;
    if (const auto* list = table["sanitizers"].as_array()) {
      for (const auto& el : *list) {
        const auto name = el.value<std::string>();
        if (!name || sanitize::find_sanitizer(*name) == nullptr)
          return f.fail(which + "unknown sanitizer " + shown(name.value_or("")) + " (known: " + names + ")");
        rule.sanitizers.push_back(*name);
      }
    } else if (table.contains("sanitizers")) {
      return f.fail(which + "sanitizers must be an array of names");
    }
    if (rule.action == sanitize::Action::Convert && rule.sanitizers.empty())
      return f.fail(which + "action \"convert\" needs at least one sanitizer (known: " + names + ")");
    if ((rule.action == sanitize::Action::Strip || rule.action == sanitize::Action::Quarantine ||
         rule.action == sanitize::Action::Reject) && !rule.sanitizers.empty())
      return f.fail(which + "action " + shown(sanitize::action_name(rule.action)) + " takes no sanitizers");
    rules.push_back(std::move(rule));
  }
  c.sanitize.rules = std::move(rules);
}

// A user or group name as useradd/groupadd take them (the portable subset).
bool is_account_name(std::string_view s) {
  if (s.empty() || s.size() > 32 || s.front() == '-' || s.front() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

void apply_approvers(Field& f, Config& c) {
  std::vector<std::string> items;
  if (!f.text_list(items)) return;
  for (const auto& a : items) {
    const std::string_view name = a.starts_with('@') ? std::string_view(a).substr(1) : std::string_view(a);
    if (!is_account_name(name)) return f.fail("expected user names or \"@group\" names, got " + shown(a));
  }
  c.quarantine.approvers = std::move(items);
}

void apply_group(Field& f, std::string& out) {
  std::string name;
  if (!f.text(name)) return;
  if (!name.empty() && !is_account_name(name)) return f.fail("expected a group name, got " + shown(name));
  out = std::move(name);
}

struct KeyRow {
  std::string_view name;
  bool required;
  void (*apply)(Field&, Config&);
};

// The schema: one row per key, in the order of the reference. Defaults live in config.hpp's structs.
constexpr KeyRow kKeys[] = {
    {"smtp.listen", true, apply_listen},
    {"smtp.hostname", true, [](Field& f, Config& c) { apply_hostname(f, c.smtp.hostname); }},
    {"smtp.accept_domains", true, apply_accept_domains},
    {"smtp.max_message_size", false,
     [](Field& f, Config& c) { f.size(c.smtp.limits.max_message_size, kKiB, kMaxMessageSize); }},
    {"smtp.max_command_line", false,
     [](Field& f, Config& c) { f.size(c.smtp.limits.max_command_line, 512, 64 * kKiB, " bytes (RFC 5321 §4.5.3.1.4)"); }},
    {"smtp.max_text_line", false,
     [](Field& f, Config& c) { f.size(c.smtp.limits.max_text_line, 1000, kMiB, " bytes (RFC 5321 §4.5.3.1.6)"); }},
    {"smtp.max_header_section", false, [](Field& f, Config& c) { f.size(c.smtp.limits.max_header_section); }},
    {"smtp.max_recipients", false, [](Field& f, Config& c) { f.integer(c.smtp.limits.max_recipients, 1, kMaxCount); }},
    {"smtp.recipient_overshoot_limit", false,
     [](Field& f, Config& c) { f.integer(c.smtp.limits.recipient_overshoot_limit, 0, kMaxCount); }},
    {"smtp.max_errors", false, [](Field& f, Config& c) { f.integer(c.smtp.limits.max_errors, 1, 1000); }},
    {"smtp.command_timeout", false, [](Field& f, Config& c) { f.duration(c.smtp.command_timeout); }},
    {"smtp.min_data_rate", false, [](Field& f, Config& c) { f.integer(c.smtp.min_data_rate, 1, 1'000'000'000); }},
    {"smtp.max_connections", false, [](Field& f, Config& c) { f.integer(c.smtp.max_connections, 1, kMaxCount); }},
    {"smtp.max_connections_per_ip", false,
     [](Field& f, Config& c) { f.integer(c.smtp.max_connections_per_ip, 1, kMaxCount); }},
    {"smtp.client_networks", false, [](Field& f, Config& c) { apply_networks(f, c.smtp.client_networks); }},
    {"smtp.tls_cert", false, [](Field& f, Config& c) { apply_readable_path(f, c.smtp.tls_cert); }},
    {"smtp.tls_key", false, [](Field& f, Config& c) { apply_readable_path(f, c.smtp.tls_key); }},
    {"smtp.tls_required", false, [](Field& f, Config& c) { f.flag(c.smtp.tls_required); }},
    {"smtp.tls_handshake_timeout", false, [](Field& f, Config& c) { f.duration(c.smtp.tls_handshake_timeout); }},
    {"delivery.next_hop", true, apply_next_hop},
    {"delivery.tls", false, apply_tls_policy},
    {"delivery.tls_ca_file", false, [](Field& f, Config& c) { apply_readable_path(f, c.delivery.tls_ca_file); }},
    {"delivery.tls_fingerprints", false, apply_fingerprints},
    {"delivery.helo_name", false, [](Field& f, Config& c) { apply_hostname(f, c.delivery.helo_name); }},
    {"delivery.concurrency", false, [](Field& f, Config& c) { f.integer(c.delivery.concurrency, 1, 10'000); }},
    {"delivery.max_loaded_size", false,
     [](Field& f, Config& c) { f.size(c.delivery.max_loaded_size, kMiB, 64 * kGiB); }},
    {"delivery.max_messages_per_connection", false,
     [](Field& f, Config& c) { f.integer(c.delivery.max_messages_per_connection, 1, kMaxCount); }},
    {"delivery.connect_timeout", false, [](Field& f, Config& c) { f.duration(c.delivery.connect_timeout); }},
    {"delivery.command_timeout", false, [](Field& f, Config& c) { f.duration(c.delivery.command_timeout); }},
    {"delivery.retry_first", false, [](Field& f, Config& c) { f.duration(c.delivery.retry_first); }},
    {"delivery.retry_factor", false,
     [](Field& f, Config& c) {
       double v = 0;
       if (!f.real(v)) return;
       if (v < 1.0 || v > 100.0) return f.fail("must be between 1.0 and 100.0, got " + std::to_string(v));
       c.delivery.retry_factor = v;
     }},
    {"delivery.retry_max", false, [](Field& f, Config& c) { f.duration(c.delivery.retry_max); }},
    {"delivery.max_queue_lifetime", false, [](Field& f, Config& c) { f.duration(c.delivery.max_queue_lifetime); }},
    {"delivery.bounce", false, apply_bounce},
    {"spool.dir", false, [](Field& f, Config& c) { apply_nonempty_path(f, c.spool.dir); }},
    {"spool.fsync", false, [](Field& f, Config& c) { f.flag(c.spool.fsync); }},
    {"spool.key_file", false, [](Field& f, Config& c) { f.text(c.spool.key_file); }},
    {"quarantine.dir", false, [](Field& f, Config& c) { apply_nonempty_path(f, c.quarantine.dir); }},
    {"quarantine.key_file", false, [](Field& f, Config& c) { f.text(c.quarantine.key_file); }},
    {"quarantine.retention", false, [](Field& f, Config& c) { f.duration(c.quarantine.retention); }},
    {"quarantine.purge_interval", false, [](Field& f, Config& c) { f.duration(c.quarantine.purge_interval, 0); }},
    {"quarantine.release_requires_approval", false,
     [](Field& f, Config& c) { f.flag(c.quarantine.release_requires_approval); }},
    {"quarantine.approvers", false, apply_approvers},
    {"quarantine.release_to_others", false, [](Field& f, Config& c) { f.flag(c.quarantine.release_to_others); }},
    {"quarantine.audit_log", false, [](Field& f, Config& c) { f.text(c.quarantine.audit_log); }},
    {"quarantine.audit_key_file", false, [](Field& f, Config& c) { f.text(c.quarantine.audit_key_file); }},
    {"quarantine.notify", false, [](Field& f, Config& c) { apply_choice(f, c.quarantine.notify, kNotifyModes); }},
    {"quarantine.notify_admin", false, [](Field& f, Config& c) { apply_mailbox(f, c.quarantine.notify_admin); }},
    {"quarantine.postmaster", false, [](Field& f, Config& c) { apply_mailbox(f, c.quarantine.postmaster); }},
    {"quarantine.contact", false, apply_contact},
    {"admin.socket", false, [](Field& f, Config& c) { f.text(c.admin.socket); }},
    {"admin.group", false, [](Field& f, Config& c) { apply_group(f, c.admin.group); }},
    {"log.format", false, [](Field& f, Config& c) { apply_choice(f, c.log.format, kLogFormats); }},
    {"log.target", false, [](Field& f, Config& c) { apply_choice(f, c.log.target, kLogTargets); }},
    {"log.file", false, [](Field& f, Config& c) { f.text(c.log.file); }},
    {"log.syslog_facility", false, apply_syslog_facility},
    {"metrics.listen", false, apply_metrics_listen},
    {"metrics.client_networks", false, [](Field& f, Config& c) { apply_networks(f, c.metrics.client_networks); }},
    {"metrics.ready_interval", false, [](Field& f, Config& c) { f.duration(c.metrics.ready_interval); }},
    {"metrics.max_connections", false, [](Field& f, Config& c) { f.integer(c.metrics.max_connections, 1, 1000); }},
    {"metrics.max_request_size", false,
     [](Field& f, Config& c) { f.size(c.metrics.max_request_size, kKiB, 64 * kKiB); }},
    {"metrics.timeout", false, [](Field& f, Config& c) { f.duration(c.metrics.timeout); }},
    {"files.inbox", false, [](Field& f, Config& c) { f.text(c.files.inbox); }},
    {"files.outbox", false, [](Field& f, Config& c) { f.text(c.files.outbox); }},
    {"files.subfolders", false, [](Field& f, Config& c) { f.flag(c.files.subfolders); }},
    {"files.settle", false, [](Field& f, Config& c) { f.duration(c.files.settle, 0); }},
    {"files.scan_interval", false, [](Field& f, Config& c) { f.duration(c.files.scan_interval); }},
    {"files.max_size", false, [](Field& f, Config& c) { f.size(c.files.max_size, kKiB, kMaxMessageSize); }},
    {"files.concurrency", false, [](Field& f, Config& c) { f.integer(c.files.concurrency, 1, 64); }},
    {"server.threads", false, [](Field& f, Config& c) { f.integer(c.server.threads, 0, 1024); }},
    {"server.shutdown_grace", false, [](Field& f, Config& c) { f.duration(c.server.shutdown_grace); }},
    {"workers.count", false, [](Field& f, Config& c) { f.integer(c.workers.count, 0, 1024); }},
    {"workers.max_messages", false, [](Field& f, Config& c) { f.integer(c.workers.max_messages, 1, kMaxCount); }},
    {"workers.memory", false, [](Field& f, Config& c) { f.size(c.workers.memory, 32 * kMiB, kMaxMessageSize); }},
    {"workers.timeout", false, [](Field& f, Config& c) { f.duration(c.workers.timeout); }},
    {"workers.cpu_seconds", false, [](Field& f, Config& c) { f.integer(c.workers.cpu_seconds, 1, 86'400); }},
    {"workers.path", false, [](Field& f, Config& c) { apply_readable_path(f, c.workers.path); }},
    {"sanitize.max_depth", false, [](Field& f, Config& c) { f.integer(c.sanitize.limits.max_depth, 1, 100); }},
    {"sanitize.max_parts", false, [](Field& f, Config& c) { f.integer(c.sanitize.limits.max_parts, 1, 100'000); }},
    {"sanitize.max_decoded_part", false,
     [](Field& f, Config& c) { f.size(c.sanitize.limits.max_decoded_part, kKiB, kMaxMessageSize); }},
    {"sanitize.max_decoded_total", false,
     [](Field& f, Config& c) { f.size(c.sanitize.limits.max_decoded_total, kKiB, kMaxMessageSize); }},
    {"sanitize.max_time_per_message", false,
     [](Field& f, Config& c) {
       Seconds s{};
       if (f.duration(s)) c.sanitize.limits.max_time_per_message = s;
     }},
    {"sanitize.max_attempts", false, [](Field& f, Config& c) { f.integer(c.sanitize_max_attempts, 1, 100); }},
    {"sanitize.max_header_section", false,
     [](Field& f, Config& c) { f.size(c.sanitize.limits.max_header_section, kKiB, 16 * kMiB); }},
    {"sanitize.max_line_length", false,
     [](Field& f, Config& c) { f.size(c.sanitize.limits.max_line_length, 1000, kMaxMessageSize); }},
    {"sanitize.max_artefact_size", false,
     [](Field& f, Config& c) { f.size(c.sanitize.limits.max_artefact_size, kKiB, kMaxMessageSize); }},
    {"sanitize.output_charset", false, apply_output_charset},
    {"sanitize.links", false, [](Field& f, Config& c) { apply_choice(f, c.sanitize.links, kLinkPolicies); }},
    {"sanitize.notice_template", false, apply_notice_template},
    {"sanitize.clean_notice_template", false,
     [](Field& f, Config& c) { c.sanitize.clean_notice_template = read_notice_template(f); }},
    {"sanitize.rules", false, apply_rules},
    {"render.dpi", false, [](Field& f, Config& c) { f.integer(c.sanitize.render.dpi, 36, 600); }},
    {"render.max_pixels", false,
     [](Field& f, Config& c) { f.integer(c.sanitize.render.max_pixels, 10'000, 1'000'000'000); }},
    {"render.max_pages", false, [](Field& f, Config& c) { f.integer(c.sanitize.render.max_pages, 1, 10'000); }},
    {"render.max_text", false, [](Field& f, Config& c) { f.size(c.sanitize.render.max_text, kKiB, 64 * kMiB); }},
    {"render.jpeg_quality", false, [](Field& f, Config& c) { f.integer(c.sanitize.render.jpeg_quality, 30, 100); }},
    {"archive.max_depth", false, [](Field& f, Config& c) { f.integer(c.sanitize.archive.max_depth, 1, 20); }},
    {"archive.max_entries", false, [](Field& f, Config& c) { f.integer(c.sanitize.archive.max_entries, 1, 20'000); }},
    {"archive.max_total_size", false,
     [](Field& f, Config& c) { f.size(c.sanitize.archive.max_total_size, kKiB, 64ull * 1024 * kMiB); }},
    {"archive.max_ratio", false, [](Field& f, Config& c) { f.integer(c.sanitize.archive.max_ratio, 2, 100'000); }},
    {"archive.encrypted", false, [](Field& f, Config& c) { apply_choice(f, c.sanitize.archive.encrypted, kEncryptedArchives); }},
    {"archive.pair_window", false, [](Field& f, Config& c) { f.duration(c.archive_pair_window); }},
    {"render.office_concurrency", false, [](Field& f, Config& c) { f.integer(c.office.concurrency, 1, 64); }},
    {"render.office_timeout", false, [](Field& f, Config& c) { f.duration(c.office.timeout); }},
    {"render.office_memory", false, [](Field& f, Config& c) { f.size(c.office.memory, 64 * kMiB, 64ull * 1024 * kMiB); }},
    {"render.office_max_output", false, [](Field& f, Config& c) { f.size(c.office.max_output, kKiB, kMaxMessageSize); }},
    {"render.office_program", false, [](Field& f, Config& c) { apply_readable_path(f, c.office.program); }},
    {"render.office_bwrap", false, [](Field& f, Config& c) { apply_readable_path(f, c.office.bwrap); }},
};

// Keys of earlier releases: naming one says what replaced it, instead of a bare "unknown key".
struct RetiredKey {
  std::string_view name;
  std::string_view problem;
};
constexpr RetiredKey kRetiredKeys[] = {
    {"smtp.idle_timeout",
     "no longer exists: it restarted on every read, so a client sending a byte at a time never timed out; "
     "use smtp.command_timeout (each command line within it of the previous reply) and smtp.min_data_rate (DATA)"},
};

const KeyRow* find_key(std::string_view name) {
  for (const auto& row : kKeys)
    if (row.name == name) return &row;
  return nullptr;
}

std::string_view section_of(std::string_view key) { return key.substr(0, key.find('.')); }
std::string_view leaf_of(std::string_view key) {
  const auto dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean [smtp]?)" for a misspelled section; "" for a known one.
std::string suggest_section(std::string_view unknown) {
  const auto is_known = [&](const KeyRow& r) { return section_of(r.name) == unknown; };
  if (std::any_of(std::begin(kKeys), std::end(kKeys), is_known)) return "";
  for (const auto& row : kKeys) {
    const auto section = section_of(row.name);
    if (edit_distance(unknown, section) <= 2) return " (did you mean [" + std::string(section) + "]?)";
  }
  return "";
}

// " (did you mean smtp.max_recipients?)" for a typo or a key put in the wrong section, else "".
std::string suggest_key(std::string_view unknown) {
  std::string_view best;
  std::size_t best_distance = 3;
  for (const auto& row : kKeys) {
    const auto d = leaf_of(row.name) == leaf_of(unknown) ? 0 : edit_distance(unknown, row.name);
    if (d < best_distance) {
      best = row.name;
      best_distance = d;
    }
  }
  if (!best.empty()) return " (did you mean " + std::string(best) + "?)";
  return suggest_section(section_of(unknown));
}

// The problem with a key that is not in the schema.
std::string unknown_key(std::string_view name) {
  for (const auto& retired : kRetiredKeys)
    if (retired.name == name) return std::string(retired.problem);
  return "unknown key" + suggest_key(name);
}


class Loader {
 public:
  // `policy_only`: a `--policy` file, where [sanitize] is the only section and nothing is required.
  Loader(std::string source, bool policy_only) : source_(std::move(source)), policy_only_(policy_only) {}

  void collect(const toml::table& root) {
    for (const auto& [section_key, section] : root) {
      const std::string section_name(section_key.str());
      const auto* table = section.as_table();
      const bool known = std::any_of(std::begin(kKeys), std::end(kKeys),
                                     [&](const KeyRow& r) { return section_of(r.name) == section_name; });
      if (policy_only_ && std::find(kPolicySections.begin(), kPolicySections.end(), section_name) == kPolicySections.end()) {
        problems_.add(in_file(source_, section.source().begin), section_name,
                      "unknown section (a policy file holds only [sanitize], [render] and [archive])");
        continue;
      }
      if (!known || table == nullptr) {
        std::string problem = known     ? "expected a [" + section_name + "] table, got " + describe(section)
                              : table  ? "unknown section" + suggest_section(section_name)
                                       : "unknown key" + suggest_key(section_name);
        problems_.add(in_file(source_, section.source().begin), section_name, problem);
        continue;
      }
      for (const auto& [key, value] : *table) {
        const std::string name = section_name + "." + std::string(key.str());
        if (find_key(name) == nullptr) {
          problems_.add(in_file(source_, value.source().begin), name, unknown_key(name));
          continue;
        }
        // The host's settings (its LibreOffice, its wait for password mail) are not a policy's to try out.
        if (policy_only_ && (name.starts_with("render.office_") || name == "archive.pair_window")) {
          problems_.add(in_file(source_, value.source().begin), name,
                        name == "archive.pair_window" ? "is the gateway's wait for a password mail, not the policy: set it in the config (--config)"
                                                      : "configures the gateway's LibreOffice, not the policy: set it in the config (--config)");
          continue;
        }
        entries_[name] = Entry{&value, in_file(source_, value.source().begin)};
      }
    }
  }

  // `section.key=value`: the value is TOML when it parses as one, else the plain text.
  void apply_override(const std::string& override_text) {
    const Location where{"--set " + override_text, 2, ++overrides_seen_};
    const auto eq = override_text.find('=');
    const std::string key = override_text.substr(0, eq);
    if (eq == std::string::npos) return problems_.add(where, key, "expected --set section.key=value");
    if (find_key(key) == nullptr) return problems_.add(where, key, unknown_key(key));
    const std::string_view value = std::string_view(override_text).substr(eq + 1);
    owned_.push_back(parse_override_value(value));
    entries_[key] = Entry{owned_.back().get("v"), where};
  }

  Expected<Config> finish() {
    Config c;
    c.source = source_;
    for (const auto& row : kKeys) {
      const auto it = entries_.find(std::string(row.name));
      if (it != entries_.end()) {
        Field f(row.name, it->second, problems_);
        row.apply(f, c);
      } else if (row.required && !policy_only_) {
        problems_.add(Location{source_}, row.name, "required but not set");
      }
    }
    check_together(c);
    if (!problems_.empty()) return Error{problems_.joined()};
    c.digest = digest();
    return c;
  }

 private:
  static toml::table parse_override_value(std::string_view value) {
    try {
      auto parsed = toml::parse("v = " + std::string(value), std::string_view("--set"));
      if (parsed.size() == 1 && parsed.contains("v")) return parsed;
    } catch (const toml::parse_error&) {
      // Not TOML: taken as a plain string below (`spool.dir=/tmp/x`).
    }
    toml::table t;
    t.insert("v", std::string(value));
    return t;
  }

  // What was written (file and --set, the later override winning), as one TOML document whose tables
  // and keys toml++ prints sorted: the same settings give the same digest however the file is laid out.
  // Keys left out are not in it: their defaults are fixed by the version, which is recorded beside it.
  std::string digest() const {
    toml::table merged;
    for (const auto& [name, entry] : entries_) {
      const auto dot = name.find('.');
      auto* section = merged.emplace<toml::table>(name.substr(0, dot)).first->second.as_table();
      // A named copy: clang 14 cannot capture a structured binding.
      const std::string leaf = name.substr(dot + 1);
      entry.node->visit([&](const auto& value) { section->insert_or_assign(leaf, value); });
    }
    std::ostringstream text;
    text << toml::toml_formatter(merged);
    return "sha256:" + hex::sha256(text.str());
  }

  bool valid(std::string_view key) const { return !problems_.failed(key); }
  bool set(std::string_view key) const { return entries_.count(std::string(key)) != 0; }
  // Cross-key problems are reported where the admin wrote the key that needs changing.
  Location where(std::string_view key) const {
    const auto it = entries_.find(std::string(key));
    return it == entries_.end() ? Location{source_} : it->second.at;
  }

  void check_together(Config& c) {
    const auto& limits = c.smtp.limits;
    if (valid("smtp.max_header_section") && valid("smtp.max_message_size") &&
        limits.max_header_section > limits.max_message_size) {
      const auto key = set("smtp.max_header_section") ? "smtp.max_header_section" : "smtp.max_message_size";
      problems_.add(where(key), key,
                    "smtp.max_header_section (" + std::to_string(limits.max_header_section) +
                        ") must not exceed smtp.max_message_size (" + std::to_string(limits.max_message_size) + ")");
    }
    if (valid("smtp.tls_cert") && valid("smtp.tls_key") && c.smtp.tls_cert.empty() != c.smtp.tls_key.empty()) {
      const auto key = c.smtp.tls_cert.empty() ? "smtp.tls_key" : "smtp.tls_cert";
      problems_.add(where(key), key, "smtp.tls_cert and smtp.tls_key must be set together");
    }
    if (valid("smtp.tls_cert") && c.smtp.tls_required && c.smtp.tls_cert.empty())
      problems_.add(where("smtp.tls_required"), "smtp.tls_required", "needs smtp.tls_cert and smtp.tls_key");
    if (valid("delivery.retry_first") && valid("delivery.retry_max") && c.delivery.retry_first > c.delivery.retry_max) {
      const auto key = set("delivery.retry_first") ? "delivery.retry_first" : "delivery.retry_max";
      problems_.add(where(key), key,
                    "delivery.retry_first (" + std::to_string(c.delivery.retry_first.count()) +
                        "s) must not exceed delivery.retry_max (" + std::to_string(c.delivery.retry_max.count()) + "s)");
    }
    const auto& sl = c.sanitize.limits;
    if (valid("sanitize.max_decoded_part") && valid("sanitize.max_decoded_total") &&
        sl.max_decoded_part > sl.max_decoded_total) {
      const auto key = set("sanitize.max_decoded_part") ? "sanitize.max_decoded_part" : "sanitize.max_decoded_total";
      problems_.add(where(key), key,
                    "sanitize.max_decoded_part (" + std::to_string(sl.max_decoded_part) +
                        ") must not exceed sanitize.max_decoded_total (" + std::to_string(sl.max_decoded_total) + ")");
    }
    if (valid("quarantine.approvers") && c.quarantine.release_requires_approval && c.quarantine.approvers.empty()) {
      problems_.add(where("quarantine.release_requires_approval"), "quarantine.release_requires_approval",
                    "needs quarantine.approvers (the user names or \"@group\" names who may request and approve "
                    "releases)");
    }
    // The CPU budget is per process, over up to max_messages messages; the pool replaces a worker
    // before less than one timeout of it is left, so it must hold at least one whole timeout.
    if (valid("workers.cpu_seconds") && valid("workers.timeout") &&
        std::int64_t{c.workers.cpu_seconds} < c.workers.timeout.count()) {
      const auto key = set("workers.cpu_seconds") ? "workers.cpu_seconds" : "workers.timeout";
      problems_.add(where(key), key,
                    "workers.cpu_seconds (" + std::to_string(c.workers.cpu_seconds) +
                        ") must be at least workers.timeout (" + std::to_string(c.workers.timeout.count()) + "s)");
    }
    if (valid("admin.socket") && valid("quarantine.dir")) check_admin_socket(c);
    if (valid("files.inbox") && valid("files.outbox") && c.files.inbox.empty() != c.files.outbox.empty()) {
      const auto key = c.files.inbox.empty() ? "files.outbox" : "files.inbox";
      problems_.add(where(key), key, "files.inbox and files.outbox must be set together");
    }
    if (valid("files.inbox") && valid("files.outbox") && !c.files.inbox.empty() && c.files.inbox == c.files.outbox) {
      problems_.add(where("files.outbox"), "files.outbox", "must differ from files.inbox");
    }
    if (c.spool.key_file.empty()) c.spool.key_file = c.spool.dir + "/spool.key";
    // All artefacts of a message together are held to max_decoded_total, so a larger artefact could
    // never cross; the default follows a lower total instead of making a config that was valid invalid.
    if (!set("sanitize.max_artefact_size")) {
      c.sanitize.limits.max_artefact_size = std::min(sl.max_artefact_size, sl.max_decoded_total);
    } else if (valid("sanitize.max_artefact_size") && valid("sanitize.max_decoded_total") &&
               sl.max_artefact_size > sl.max_decoded_total) {
      const auto key = set("sanitize.max_artefact_size") ? "sanitize.max_artefact_size" : "sanitize.max_decoded_total";
      problems_.add(where(key), key,
                    "sanitize.max_artefact_size (" + std::to_string(sl.max_artefact_size) +
                        ") must not exceed sanitize.max_decoded_total (" + std::to_string(sl.max_decoded_total) + ")");
    }
    // A conversion's time is charged to its message's workers.timeout: one that runs into its own
    // deadline must leave the message time to be delivered without that part. The default follows a
    // short workers.timeout (half of it) instead of making a config that was valid invalid.
    if (!set("render.office_timeout")) {
      c.office.timeout = std::max(Seconds(1), std::min(c.office.timeout, c.workers.timeout / 2));
    } else if (valid("render.office_timeout") && valid("workers.timeout") && c.office.timeout >= c.workers.timeout) {
      problems_.add(where("render.office_timeout"), "render.office_timeout",
                    "render.office_timeout (" + std::to_string(c.office.timeout.count()) +
                        "s) must be less than workers.timeout (" + std::to_string(c.workers.timeout.count()) +
                        "s), which a conversion's time is charged to");
    }
    // The PDF crosses to the worker in one channel frame, which max_decoded_total bounds.
    if (!set("render.office_max_output")) {
      c.office.max_output = std::min(c.office.max_output, sl.max_decoded_total);
    } else if (valid("render.office_max_output") && valid("sanitize.max_decoded_total") &&
               c.office.max_output > sl.max_decoded_total) {
      problems_.add(where("render.office_max_output"), "render.office_max_output",
                    "render.office_max_output (" + std::to_string(c.office.max_output) +
                        ") must not exceed sanitize.max_decoded_total (" + std::to_string(sl.max_decoded_total) + ")");
    }
    check_tls_levels(c);
    check_log_target(c);
    if (c.delivery.helo_name.empty()) c.delivery.helo_name = c.smtp.hostname;
    if (c.quarantine.postmaster.empty()) c.quarantine.postmaster = "postmaster@" + c.smtp.hostname;
    if (c.delivery.bounce.empty()) {
      c.delivery.dead_letter_dir = c.spool.dir + "/dead-letter";
      c.delivery.bounce = "dir:" + c.delivery.dead_letter_dir;
    }
  }

  // A key that the chosen level ignores would leave the admin believing it is in force.
  void check_tls_levels(const Config& c) {
    if (!valid("delivery.tls") || !valid("delivery.tls_fingerprints") || !valid("delivery.tls_ca_file")) return;
    const bool pinned = c.delivery.tls == proto::TlsPolicy::Fingerprint;
    if (pinned && c.delivery.tls_fingerprints.empty())
      problems_.add(where("delivery.tls"), "delivery.tls",
                    "\"fingerprint\" needs delivery.tls_fingerprints (the SHA-256 of the next hop's certificate)");
    if (!pinned && !c.delivery.tls_fingerprints.empty())
      problems_.add(where("delivery.tls_fingerprints"), "delivery.tls_fingerprints",
                    "is used only with delivery.tls = \"fingerprint\"");
    if (c.delivery.tls != proto::TlsPolicy::Verify && !c.delivery.tls_ca_file.empty())
      problems_.add(where("delivery.tls_ca_file"), "delivery.tls_ca_file", "is used only with delivery.tls = \"verify\"");
  }

  void check_log_target(Config& c) {
    if (!valid("log.target") || !valid("log.file")) return;
    if (!set("log.target")) {
      c.log.target = c.log.file.empty() ? Log::Target::Stderr : Log::Target::File;
    } else if (c.log.target == Log::Target::File && c.log.file.empty()) {
      problems_.add(where("log.target"), "log.target", "\"file\" needs log.file");
    } else if (c.log.target != Log::Target::File && !c.log.file.empty()) {
      problems_.add(where("log.file"), "log.file", "is used only with log.target = \"file\"");
    }
  }

  // Beside the quarantine by default: its parent exists wherever the gateway runs (the demo's var/, an
  // /etc deployment's /var/lib/mugai/), and the quarantine directory itself is private to the gateway.
  void check_admin_socket(Config& c) {
    const bool derived = c.admin.socket.empty();
    if (derived) {
      std::string_view dir = c.quarantine.dir;
      while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
      const auto slash = dir.rfind('/');
      const std::string parent = slash == std::string_view::npos ? "." : std::string(dir.substr(0, slash));
      c.admin.socket = parent + "/admin.sock";
    }
    constexpr std::size_t kMaxSocketPath = 107;  // sun_path holds 108 bytes with the NUL
    if (c.admin.socket.size() > kMaxSocketPath) {
      const auto key = derived ? "quarantine.dir" : "admin.socket";
      problems_.add(where(key), key,
                    "the admin socket " + shown(c.admin.socket) + " is longer than " + std::to_string(kMaxSocketPath) +
                        " bytes (a Unix socket path limit)" + (derived ? ": set admin.socket" : ""));
    }
  }

  std::string source_;
  bool policy_only_;
  Problems problems_;
  std::map<std::string, Entry> entries_;
  std::deque<toml::table> owned_;  // override values; a deque keeps entries_' node pointers valid
  std::uint64_t overrides_seen_ = 0;
};

}  // namespace

std::size_t largest_input(const Config& c) { return std::max(c.smtp.limits.max_message_size, c.files.max_size); }

bool gateway_only(std::string_view key) {
  // Prefixes: every key of [admin], and notification keys as they are added.
  constexpr std::string_view kGatewayOnly[] = {"quarantine.release_requires_approval", "quarantine.approvers",
                                               "quarantine.release_to_others", "quarantine.notify", "admin."};
  return std::any_of(std::begin(kGatewayOnly), std::end(kGatewayOnly),
                     [&](std::string_view k) { return key.starts_with(k); });
}

std::vector<std::string_view> known_keys() {
  std::vector<std::string_view> out;
  for (const auto& row : kKeys) out.push_back(row.name);
  return out;
}

namespace {

Expected<Config> load_text(std::string_view toml_text, std::string source_name,
                           const std::vector<std::string>& overrides, bool policy_only) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    return Error{in_file(source_name, e.source().begin).text + ": syntax error: " + std::string(e.description())};
  }
  Loader loader(std::move(source_name), policy_only);
  loader.collect(root);
  for (const auto& o : overrides) loader.apply_override(o);
  return loader.finish();
}

Expected<std::string> read_text(const std::string& path) {
  const auto cannot_read = [&](std::string_view why) {
    return Error{"cannot read '" + path + "': " + std::string(why)};
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return cannot_read(std::strerror(errno));
  std::string text(kMaxConfigFile + 1, '\0');
  const std::size_t n = std::fread(text.data(), 1, text.size(), f);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) return cannot_read(std::strerror(err));
  if (n > kMaxConfigFile) return cannot_read("larger than 1 MiB, not a config file?");
  text.resize(n);
  return text;
}

}  // namespace

Expected<Config> load_string(std::string_view toml_text, std::string source_name,
                             const std::vector<std::string>& overrides) {
  return load_text(toml_text, std::move(source_name), overrides, false);
}

Expected<Config> load_file(const std::string& path, const std::vector<std::string>& overrides) {
  auto text = read_text(path);
  if (!text) return text.error();
  return load_text(*text, path, overrides, false);
}

Expected<sanitize::Policy> load_policy_file(const std::string& path) {
  auto text = read_text(path);
  if (!text) return text.error();
  auto config = load_text(*text, path, {}, true);
  if (!config) return config.error();
  return std::move(config->sanitize);
}

}  // namespace mugai::config
