// The one tokenizer for structured MIME fields, parameters with RFC 2231, safe attachment names;
// see params.hpp. Every loop advances through the value once: linear, whatever the input.
#include "sanitizers/params.hpp"

#include <algorithm>
#include <cstddef>
#include <set>
#include <span>

#include "common/ascii.hpp"
#include "common/hex.hpp"
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

constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_tspecial(char c) { return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos; }

bool is_special(const FieldToken& t, char c) {
  return t.kind == FieldToken::Kind::Special && t.text.size() == 1 && t.text[0] == c;
}

// What mimetic's header reader keeps of a raw value, at most kMaxFieldValue bytes of it (`*cut`
// says whether more was there): see tokenize_field.
std::string unfold(std::string_view raw, bool* cut = nullptr) {
  std::string out;
  out.reserve(std::min(raw.size(), kMaxFieldValue));
  for (std::size_t i = 0; i < raw.size() && raw[i] != '\0';) {
    if (out.size() == kMaxFieldValue) {
      if (cut != nullptr) *cut = true;
      break;
    }
    if (raw[i] != '\r' && raw[i] != '\n') {
      out.push_back(raw[i++]);
      continue;
    }
    // One line break (CR LF, or a CR or LF alone) at a time: a blank continuation line is a space too.
    i += raw.compare(i, 2, "\r\n") == 0 ? 2 : 1;
    while (i < raw.size() && is_wsp(raw[i])) ++i;
    if (i < raw.size() && raw[i] != '\0') out.push_back(' ');
  }
  return out;
}

// "type", "type/subtype": a value with a '/' and nothing readable after it is no value.
std::string leading_value(std::span<const FieldToken> seg) {
  if (seg.empty() || seg[0].kind != FieldToken::Kind::Atom) return {};
  std::string value = ascii::lower(seg[0].text);
  if (seg.size() < 2 || !is_special(seg[1], '/')) return value;
  if (seg.size() < 3 || seg[2].kind != FieldToken::Kind::Atom) return {};
  return value + "/" + ascii::lower(seg[2].text);
}

// A name list with each name once, in first-seen order, in O(log n) per name.
class NameList {
 public:
  explicit NameList(std::vector<std::string>& names) : names_(names) {}
  void add(const std::string& name) {
    if (seen_.insert(name).second) names_.push_back(name);
  }

 private:
  std::vector<std::string>& names_;
  std::set<std::string> seen_;
};

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

FieldTokens tokenize_field(std::string_view untrusted_value) {
  FieldTokens out;
  const std::string s = unfold(untrusted_value, &out.too_long);
  bool spaced = false;
  const auto push = [&](FieldToken::Kind kind, std::string text) {
    out.tokens.push_back(FieldToken{kind, std::move(text), spaced});
    spaced = false;
  };
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_wsp(c)) {
      spaced = true;
      ++i;
    } else if (c == '(') {
      // A depth counter, not recursion: the limit is there to agree with readers that recurse.
      std::size_t depth = 0;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          ++i;
        } else if (s[i] == '(' && ++depth > kMaxCommentDepth) {
          out.too_deep = true;
          return out;
        } else if (s[i] == ')' && --depth == 0) {
          break;
        }
      }
      if (i >= s.size()) out.unterminated = true;
      ++i;
      spaced = true;
    } else if (c == '"') {
      std::string text;
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        text.push_back(s[i]);
      }
      if (i >= s.size()) out.unterminated = true;
      ++i;
      push(FieldToken::Kind::Quoted, std::move(text));
    } else if (is_tspecial(c)) {
      push(FieldToken::Kind::Special, std::string(1, c));
      ++i;
    } else {
      const std::size_t start = i;
      while (i < s.size() && !is_wsp(s[i]) && !is_tspecial(s[i])) ++i;
      push(FieldToken::Kind::Atom, s.substr(start, i - start));
    }
  }
  return out;
}

StructuredField parse_field(std::string_view untrusted_value) {
  const FieldTokens lexed = tokenize_field(untrusted_value);
  StructuredField out;
  out.unterminated = lexed.unterminated;
  out.too_deep = lexed.too_deep;
  out.too_long = lexed.too_long;
  const std::span<const FieldToken> tokens(lexed.tokens);
  const auto segment_end = [&tokens](std::size_t from) {
    while (from < tokens.size() && !is_special(tokens[from], ';')) ++from;
    return from;
  };
  std::size_t end = segment_end(0);
  out.value = leading_value(tokens.first(end));

  Params& params = out.params;
  NameList duplicates(params.duplicates), unclear(params.unclear);
  std::map<std::string, std::map<std::size_t, Segment>> extended;  // base name → segments
  while (end < tokens.size()) {
    const std::size_t begin = end + 1;
    end = segment_end(begin);
    const auto seg = tokens.subspan(begin, end - begin);
    // name [CFWS] "=" [CFWS] value; a bare word or a missing name is not a parameter.
    if (seg.size() < 2 || seg[0].kind != FieldToken::Kind::Atom || !is_special(seg[1], '=')) continue;
    const std::string name = ascii::lower(seg[0].text);
    std::string value;
    bool clear = true;
    for (std::size_t k = 2; k < seg.size(); ++k) {
      if (k > 2 && seg[k].spaced) value.push_back(' ');
      value += seg[k].text;
      if (k > 2 && (seg[k].spaced || seg[k].kind == FieldToken::Kind::Quoted ||
                    seg[2].kind == FieldToken::Kind::Quoted)) {
        clear = false;
      }
    }
    if (!clear) unclear.add(name);
    params.given.emplace_back(name, value);
    const std::size_t star = name.find('*');
    if (star == std::string::npos) {
      if (!params.values.emplace(name, std::move(value)).second) duplicates.add(name);
      continue;
    }
    // "name*", "name*N" or "name*N*".
    const std::string base = name.substr(0, star);
    std::string_view rest = std::string_view(name).substr(star + 1);
    Segment part;
    part.extended = rest.empty() || rest.back() == '*';
    if (!rest.empty() && rest.back() == '*') rest.remove_suffix(1);
    const bool numeric = rest.size() <= 3 && std::all_of(rest.begin(), rest.end(), [](char c) {
                           return c >= '0' && c <= '9';
                         });
    if (base.empty() || !numeric) continue;  // not RFC 2231: ignored
    std::size_t n = 0;
    for (const char c : rest) n = n * 10 + static_cast<std::size_t>(c - '0');
    if (n >= kMaxSegments) continue;
    part.value = std::move(value);
    if (!extended[base].emplace(n, std::move(part)).second) duplicates.add(base + "*" + std::to_string(n));
  }
  for (const auto& [base, segments] : extended) {
    if (segments.count(0) == 0) continue;  // continuations without a start are not a value
    params.values[base] = join_segments(segments);
  }
  return out;
}

Params parse_params(std::string_view untrusted_value) { return parse_field(untrusted_value).params; }

std::vector<std::string> readings(const Params& params, std::string_view name) {
  std::vector<std::string> out;
  std::set<std::string_view> seen;
  if (const auto it = params.values.find(std::string(name)); it != params.values.end()) {
    out.push_back(it->second);
    seen.insert(it->second);
  }
  for (const auto& [n, v] : params.given) {
    if (n == name && seen.insert(v).second) out.push_back(v);
  }
  return out;
}

std::string transfer_encoding(std::string_view untrusted_value) {
  std::string cte = parse_field(untrusted_value).value;
  if (cte.empty()) cte = ascii::lower(ascii::trim(unfold(untrusted_value)));
  return cte;
}

std::string display_filename(const Params& params) {
  auto it = params.values.find("filename");
  if (it == params.values.end() || it->second.empty()) it = params.values.find("name");
  if (it == params.values.end()) return {};
  return escape_for_display(decode_rfc2047(it->second));
}

}  // namespace mugai::sanitize
