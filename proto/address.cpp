// Strict RFC 5321 §4.1.2 path grammar (Reverse-path / Forward-path + esmtp-params) and relay control.
// Guarantees: a parsed mailbox is `dot-string|quoted-string @ hostname` within the §4.5.3.1 size
// limits, 7-bit printable only; relay control accepts only plain local parts in configured domains.
#include "proto/address.hpp"

#include "common/ascii.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace mugai::proto {
namespace {

constexpr std::size_t kMaxLocal = 64;    // RFC 5321 §4.5.3.1.1
constexpr std::size_t kMaxDomain = 255;  // §4.5.3.1.2
constexpr std::size_t kMaxLabel = 63;    // RFC 1035 §2.3.4
constexpr std::size_t kMaxPath = 256;    // §4.5.3.1.3, angle brackets included

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

bool is_atext(char c) {
  return is_alnum(c) || std::string_view{"!#$%&'*+-/=?^_`{|}~"}.find(c) != std::string_view::npos;
}

// A cursor over the untrusted argument; every rule consumes from `pos` and reports errors as values.
struct Parser {
  std::string_view s;
  std::size_t pos = 0;

  bool at_end() const { return pos >= s.size(); }
  char peek() const { return at_end() ? '\0' : s[pos]; }

  // Dot-string = Atom *("." Atom): no leading, trailing or doubled dots.
  Expected<std::string> dot_string() {
    const std::size_t start = pos;
    for (;;) {
      const std::size_t atom = pos;
      while (!at_end() && is_atext(s[pos])) ++pos;
      if (pos == atom) return Error{"invalid character or misplaced dot in local part"};
      if (peek() != '.') break;
      ++pos;
    }
    return std::string{s.substr(start, pos - start)};
  }

  // Quoted-string = DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE, kept with its quotes.
  Expected<std::string> quoted_string() {
    const std::size_t start = pos++;
    for (;;) {
      if (at_end()) return Error{"unterminated quoted local part"};
      const char c = s[pos];
      if (c == '"') break;
      if (c == '\\') {
        ++pos;
        if (at_end() || s[pos] < 32 || s[pos] > 126) return Error{"invalid quoted pair in local part"};
      } else if (c < 32 || c > 126) {
        return Error{"invalid character in quoted local part"};
      }
      ++pos;
    }
    ++pos;
    return std::string{s.substr(start, pos - start)};
  }

  // Domain = sub-domain 1*("." sub-domain), each Let-dig [Ldh-str]; lower-cased on the way out.
  Expected<std::string> domain() {
    if (peek() == '[') return Error{"address literals are not accepted", kRoutingRefused};
    std::string out;
    std::size_t labels = 0;
    for (;;) {
      const std::size_t label = pos;
      while (!at_end() && (is_alnum(s[pos]) || s[pos] == '-')) out.push_back(ascii::to_lower(s[pos++]));
      const std::size_t len = pos - label;
      if (len == 0) {
        if (labels > 0 && peek() != '.') return Error{"trailing dot in domain", kRoutingRefused};
        return Error{"empty or invalid domain label"};
      }
      if (s[label] == '-' || s[pos - 1] == '-') return Error{"domain label starts or ends with a hyphen"};
      if (len > kMaxLabel) return Error{"domain label too long"};
      ++labels;
      if (peek() != '.') break;
      out.push_back(s[pos++]);
    }
    if (labels < 2) return Error{"domain must be fully qualified"};
    if (out.size() > kMaxDomain) return Error{"domain too long"};
    return out;
  }

  // esmtp-param = esmtp-keyword ["=" esmtp-value]
  Expected<std::pair<std::string, std::string>> param() {
    std::string keyword;
    if (!is_alnum(peek())) return Error{"invalid parameter keyword"};
    while (!at_end() && (is_alnum(s[pos]) || s[pos] == '-')) keyword.push_back(ascii::to_upper(s[pos++]));
    std::string value;
    if (peek() == '=') {
      ++pos;
      const std::size_t start = pos;
      while (!at_end() && s[pos] >= 33 && s[pos] <= 126 && s[pos] != '=') ++pos;
      if (pos == start) return Error{"empty parameter value"};
      value.assign(s.substr(start, pos - start));
    }
    if (!at_end() && s[pos] != ' ') return Error{"invalid character in parameters"};
    return std::pair{std::move(keyword), std::move(value)};
  }
};

}  // namespace

Expected<PathParams> parse_path(std::string_view untrusted_arg, bool allow_null) {
  for (const char c : untrusted_arg) {
    // Checked up front so that every later rule only ever sees 7-bit bytes.
    if (static_cast<unsigned char>(c) >= 0x80) return Error{"8-bit characters in address (no SMTPUTF8)"};
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return Error{"control character in address"};
  }
  Parser p{untrusted_arg};
  while (p.peek() == ' ') ++p.pos;
  if (p.peek() != '<') return Error{"address must be enclosed in angle brackets"};
  const std::size_t open = p.pos++;

  PathParams out;
  if (p.peek() == '>') {
    if (!allow_null) return Error{"null address not allowed here"};
    ++p.pos;
  } else {
    if (p.peek() == '@') {
      const bool route = p.s.find(':', p.pos) != std::string_view::npos;
      if (route) return Error{"source routes are not accepted", kRoutingRefused};
      return Error{"empty local part"};
    }
    auto local = p.peek() == '"' ? p.quoted_string() : p.dot_string();
    if (!local) return local.error();
    if (local->size() > kMaxLocal) return Error{"local part too long"};
    if (p.peek() != '@') return Error{"address must be local@domain"};
    ++p.pos;
    auto domain = p.domain();
    if (!domain) return domain.error();
    if (p.peek() != '>') return Error{"address must end with '>'"};
    ++p.pos;
    if (p.pos - open > kMaxPath) return Error{"path too long"};
    out.mailbox = Mailbox{std::move(*local), std::move(*domain)};
  }

  while (!p.at_end()) {
    if (p.peek() != ' ') return Error{"parameters must be separated by spaces"};
    while (p.peek() == ' ') ++p.pos;
    if (p.at_end()) break;
    auto param = p.param();
    if (!param) return param.error();
    out.params.push_back(std::move(*param));
  }
  return out;
}

bool recipient_allowed(const Mailbox& rcpt, const std::vector<std::string>& accept_domains) {
  if (rcpt.local.empty() || rcpt.domain.empty()) return false;
  // '%' and '!' are legal atext but route through old relays; any quote could hide an '@'.
  if (rcpt.local.find_first_of("@%!\"\\") != std::string::npos) return false;
  const std::string_view domain = rcpt.domain;
  for (const std::string& entry : accept_domains) {
    if (entry.size() > 1 && entry.front() == '.') {
      // ".example.jp" matches strict subdomains only; the leading dot keeps the label boundary.
      if (domain.size() > entry.size() && ascii::iequals(domain.substr(domain.size() - entry.size()), entry)) return true;
    } else if (!entry.empty() && ascii::iequals(domain, entry)) {
      return true;
    }
  }
  return false;
}

}  // namespace mugai::proto
