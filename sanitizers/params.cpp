// RFC 2045/2231 parameter parsing and safe attachment names; see params.hpp.
#include "sanitizers/params.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <optional>

#include "common/hex.hpp"
#include "common/ascii.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/headers.hpp"

namespace mugai::sanitize {
namespace {

constexpr std::size_t kMaxSegments = 1000;  // RFC 2231 continuation numbers above this are ignored

// %XX decoded; a '%' not followed by two hex digits is kept, as readers do.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex::value(s[i + 1]) >= 0 && hex::value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex::value(s[i + 1]) * 16 + hex::value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// One "name=value" as written. `pos` is left after the parameter's ';' (or at the end).
struct RawParam {
  std::string name;   // lowercase
  std::string value;  // unquoted
};

std::optional<RawParam> next_param(std::string_view s, std::size_t& pos) {
  const std::size_t eq = s.find_first_of("=;", pos);
  if (eq == std::string_view::npos || s[eq] == ';') {  // a bare word: not a parameter
    pos = eq == std::string_view::npos ? s.size() : eq + 1;
    return std::nullopt;
  }
  RawParam p{ascii::lower(ascii::trim(s.substr(pos, eq - pos), " \t\r\n")), {}};
  std::size_t i = eq + 1;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  if (i < s.size() && s[i] == '"') {
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      p.value.push_back(s[i]);
    }
    const std::size_t semi = s.find(';', i);  // an unterminated string runs to the end
    pos = semi == std::string_view::npos ? s.size() : semi + 1;
  } else {
    // Unquoted values with spaces (Outlook's long names) are taken up to the ';', trimmed.
    const std::size_t semi = s.find(';', i);
    const std::size_t end = semi == std::string_view::npos ? s.size() : semi;
    p.value = std::string(ascii::trim(s.substr(i, end - i), " \t\r\n"));
    pos = semi == std::string_view::npos ? s.size() : semi + 1;
  }
  if (p.name.empty()) return std::nullopt;
  return p;
}

struct Segment {
  bool extended = false;  // "*N*": percent-encoded (and, for N = 0, "charset'lang'" in front)
  std::string value;
};

// Joins segments 0, 1, ... up to the first gap (RFC 2231 §3) and decodes them to UTF-8.
std::string join_segments(const std::map<std::size_t, Segment>& segments) {
  std::string charset, bytes;
  for (std::size_t n = 0;; ++n) {
    const auto it = segments.find(n);
    if (it == segments.end()) break;
    std::string_view v = it->second.value;
    if (!it->second.extended) {
      bytes += v;
      continue;
    }
    if (n == 0) {
      const std::size_t q1 = v.find('\'');
      const std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
      if (q2 != std::string_view::npos) {  // without both quotes: no charset, detect it
        charset = std::string(v.substr(0, q1));
        v.remove_prefix(q2 + 1);
      }
    }
    bytes += percent_decode(v);
  }
  return to_utf8(bytes, charset).text;
}

}  // namespace

Params parse_params(std::string_view untrusted_field) {
  Params out;
  std::map<std::string, std::map<std::size_t, Segment>> extended;  // base name → segments
  const auto duplicate = [&out](const std::string& name) {
    if (std::find(out.duplicates.begin(), out.duplicates.end(), name) == out.duplicates.end()) {
      out.duplicates.push_back(name);
    }
  };
  const std::size_t first = untrusted_field.find(';');
  std::size_t pos = first == std::string_view::npos ? untrusted_field.size() : first + 1;
  while (pos < untrusted_field.size()) {
    auto p = next_param(untrusted_field, pos);
    if (!p) continue;
    const std::size_t star = p->name.find('*');
    if (star == std::string::npos) {
      if (!out.values.emplace(p->name, std::move(p->value)).second) duplicate(p->name);
      continue;
    }
    // "name*", "name*N" or "name*N*".
    const std::string base = p->name.substr(0, star);
    std::string_view rest = std::string_view(p->name).substr(star + 1);
    Segment seg;
    seg.extended = rest.empty() || rest.back() == '*';
    if (!rest.empty() && rest.back() == '*') rest.remove_suffix(1);
    std::size_t n = 0;
    const bool numeric = rest.size() <= 3 && std::all_of(rest.begin(), rest.end(), [](unsigned char c) {
                           return std::isdigit(c) != 0;
                         });
    if (base.empty() || !numeric) continue;  // not RFC 2231: ignored
    for (const char c : rest) n = n * 10 + static_cast<std::size_t>(c - '0');
    if (n >= kMaxSegments) continue;
    seg.value = std::move(p->value);
    if (!extended[base].emplace(n, std::move(seg)).second) duplicate(base + "*" + std::to_string(n));
  }
  for (const auto& [base, segments] : extended) {
    if (segments.count(0) == 0) continue;  // continuations without a start are not a value
    out.values[base] = join_segments(segments);
  }
  return out;
}

std::string display_filename(const Params& params) {
  auto it = params.values.find("filename");
  if (it == params.values.end() || it->second.empty()) it = params.values.find("name");
  if (it == params.values.end()) return {};
  return escape_for_display(decode_rfc2047(it->second));
}

}  // namespace mugai::sanitize
