// Header allowlist, checking, RFC 2047 re-encoding and folding for the rebuilt message.
#include "sanitizers/headers.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <optional>
#include <vector>

#include "common/ascii.hpp"
#include "common/utf8.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/codec.hpp"

namespace mugai::sanitize {
namespace {

constexpr std::array<std::string_view, 9> kAllowlist = {
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"};

// Collapses white-space runs (SP/TAB) to one space and trims; folding then never yields blank lines.
std::string normalize_space(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool pending_space = false;
  for (const char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool eight_bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// An address list with raw UTF-8 (RFC 6532) for a next hop that may not speak SMTPUTF8: only the display
// names are encoded (each run of non-ASCII words outside <...> becomes encoded words, its quotes
// dropped, a comment's parentheses kept: RFC 2047 §5), so every client still sees the addresses. An address that is itself not
// ASCII has no such form: nullopt.
std::optional<std::string> encode_display_names(std::string_view v, std::string& why) {
  std::vector<std::string_view> words;  // `v` is space-normalized; "名前<a@x>" splits before the '<'
  for (std::size_t i = 0; i < v.size();) {
    std::size_t end = v.find(' ', i);
    if (end == std::string_view::npos) end = v.size();
    std::string_view w = v.substr(i, end - i);
    if (const auto lt = w.find('<'); lt != std::string_view::npos && lt > 0) {
      words.push_back(w.substr(0, lt));
      w.remove_prefix(lt);
    }
    if (!w.empty()) words.push_back(w);
    i = end + 1;
  }
  std::vector<std::string> pieces;
  std::string run;
  const auto flush = [&] {
    if (run.empty()) return;
    std::string_view phrase = run;
    const bool quoted = phrase.size() >= 2 && phrase.front() == '"' && phrase.back() == '"';
    const bool comment = phrase.size() >= 2 && phrase.front() == '(' && phrase.back() == ')';
    if (quoted || comment) phrase = phrase.substr(1, phrase.size() - 2);
    pieces.push_back(comment ? "(" + rfc2047_encode(phrase) + ")" : rfc2047_encode(phrase));
    run.clear();
  };
  bool in_angle = false;
  for (std::string_view w : words) {
    in_angle = in_angle || w.front() == '<';
    const bool addr = in_angle || w.find('@') != std::string_view::npos;
    if (w.find('>') != std::string_view::npos) in_angle = false;
    if (!eight_bit(w)) {
      flush();
      pieces.emplace_back(w);
      continue;
    }
    if (addr) {
      why = "non-ASCII address (RFC 6532) cannot be carried to a next hop without SMTPUTF8";
      return std::nullopt;
    }
    const bool ends_mailbox = w.back() == ',';  // the list separator ends the display name
    if (ends_mailbox) w.remove_suffix(1);
    run += (run.empty() ? "" : " ") + std::string(w);
    if (ends_mailbox) {
      flush();
      pieces.back() += ",";
    }
  }
  flush();
  std::string out;
  for (const auto& p : pieces) out += (out.empty() ? "" : " ") + p;
  return out;
}

// The value to emit, or nullopt with the reason in `why`.
std::optional<std::string> safe_value(std::string_view raw, bool address, std::string& why) {
  const std::string v = normalize_space(raw);
  bool eight_bit = false;
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      why = "control characters";
      return std::nullopt;
    }
    eight_bit = eight_bit || c >= 0x80;
  }
  if (!eight_bit) return v;
  if (!utf8::is_valid(v)) {
    why = "raw 8-bit value is not UTF-8";
    return std::nullopt;
  }
  if (escape_for_display(v) != v) {  // C1 controls or direction marks hidden in the UTF-8
    why = "control characters";
    return std::nullopt;
  }
  return address ? encode_display_names(v, why) : rfc2047_encode(v);
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

struct EncodedWord {
  std::string charset;
  std::string bytes;
  std::size_t end = 0;  // index just past "?="
};

// "=?charset[*lang]?B|Q?text?=" starting at s[pos]; nullopt when it is not one.
std::optional<EncodedWord> encoded_word_at(std::string_view s, std::size_t pos) {
  const std::size_t q1 = s.find('?', pos + 2);
  if (q1 == std::string_view::npos || q1 == pos + 2 || q1 + 3 >= s.size() || s[q1 + 2] != '?') return std::nullopt;
  std::string_view charset = s.substr(pos + 2, q1 - pos - 2);
  if (charset.size() > 64 || charset.find_first_of(" \t\r\n\"") != std::string_view::npos) return std::nullopt;
  charset = charset.substr(0, charset.find('*'));  // RFC 2231 §5 language suffix
  const char enc = static_cast<char>(std::toupper(static_cast<unsigned char>(s[q1 + 1])));
  if (enc != 'B' && enc != 'Q') return std::nullopt;
  const std::size_t text_start = q1 + 3;
  // Encoded text never contains '?': stopping at the first one keeps hostile "=?a?B?x=?a?B?x..." linear.
  const std::size_t close = s.find('?', text_start);
  if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != '=') return std::nullopt;
  const std::string_view text = s.substr(text_start, close - text_start);
  if (text.find_first_of(" \t\r\n") != std::string_view::npos) return std::nullopt;
  EncodedWord w{std::string(charset), {}, close + 2};
  if (enc == 'B') {
    auto decoded = base64_decode(text, text.size());
    if (!decoded) return std::nullopt;
    w.bytes = std::move(*decoded);
    return w;
  }
  // Q is quoted-printable with '_' for space and no line breaks.
  std::string q(text);
  std::replace(q.begin(), q.end(), '_', ' ');
  auto decoded = qp_decode(q, q.size());
  if (!decoded) return std::nullopt;
  w.bytes = std::move(*decoded);
  return w;
}

}  // namespace

std::string decode_rfc2047(std::string_view raw) {
  std::string out;
  std::string run_charset, run_bytes;  // adjacent encoded words in one charset, not yet decoded
  bool in_run = false;
  const auto flush_run = [&] {
    if (in_run) out += to_utf8(run_bytes, run_charset).text;
    in_run = false;
    run_bytes.clear();
  };
  std::size_t literal_start = 0;
  for (std::size_t pos = raw.find("=?"); pos != std::string_view::npos; pos = raw.find("=?", pos + 1)) {
    auto word = encoded_word_at(raw, pos);
    if (!word) continue;
    const std::string_view literal = raw.substr(literal_start, pos - literal_start);
    if (!(in_run && blank(literal))) {
      flush_run();
      out += to_utf8(literal, "").text;
    }
    if (in_run && !ascii::iequals(run_charset, word->charset)) flush_run();
    if (!in_run) run_charset = word->charset;
    in_run = true;
    run_bytes += word->bytes;
    literal_start = word->end;
    pos = word->end - 1;
  }
  flush_run();
  out += to_utf8(raw.substr(literal_start), "").text;
  return out;
}

std::string decode_header_text(std::string_view raw) {
  const std::string decoded = decode_rfc2047(raw);
  std::string out;
  out.reserve(decoded.size());
  for (std::size_t i = 0; i < decoded.size();) {
    const std::size_t n = std::max<std::size_t>(1, utf8::sequence_length(decoded, i));
    const auto c = static_cast<unsigned char>(decoded[i]);
    const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(decoded[i + 1]) < 0xA0;
    if (c == '\t' || c == '\r' || c == '\n') {
      out.push_back(' ');
    } else if (c >= 0x20 && c != 0x7F && !c1) {
      out.append(decoded, i, n);
    }
    i += n;
  }
  return normalize_space(out);
}

std::vector<HeaderField> parse_header_block(std::string_view msg) {
  std::vector<HeaderField> fields;
  std::size_t pos = 0;
  while (pos < msg.size()) {
    std::size_t eol = msg.find('\n', pos);
    if (eol == std::string_view::npos) eol = msg.size();
    std::string_view line = msg.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      if (!fields.empty()) fields.back().value.append(line);
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    fields.push_back(HeaderField{std::string(name), std::string(line.substr(colon + 1))});
  }
  for (auto& f : fields) f.value = normalize_space(f.value);
  return fields;
}

RebuiltHeaders rebuild_headers(const std::vector<HeaderField>& fields) {
  RebuiltHeaders out;
  for (const std::string_view name : kAllowlist) {
    bool seen = false;
    for (const auto& f : fields) {
      if (!ascii::iequals(f.name, name)) continue;
      if (seen) {
        out.notes.push_back("duplicate " + std::string(name) + " header dropped");
        continue;
      }
      seen = true;
      std::string why;
      // Subject is the one field shown as text: decoded and re-encoded, so legacy charsets and raw
      // 8-bit subjects arrive as UTF-8. Address fields keep their encoded words as they came.
      const std::string source = name == "Subject" ? decode_header_text(f.value) : f.value;
      const bool address = name == "From" || name == "To" || name == "Cc" || name == "Reply-To";
      const auto value = safe_value(source, address, why);
      std::string line = value ? fold_header(name, *value) : std::string();
      if (value && line.empty()) why = "value cannot be folded to 998 octets";
      if (line.empty()) {
        out.notes.push_back(std::string(name) + " header dropped: " + why);
        continue;
      }
      if (*value != normalize_space(f.value)) {
        out.notes.push_back(std::string(name) + " header re-encoded as RFC 2047 UTF-8");
      }
      out.block += line;
      if (name == "Subject") out.subject = source;
      if (name == "Message-ID") out.message_id = *value;
      if (name == "Date") out.has_date = true;
    }
  }
  return out;
}

std::string rfc2047_encode(std::string_view utf8) {
  // 75 - len("=?UTF-8?B?") - len("?=") = 63 base64 characters: at most 45 input bytes per word.
  constexpr std::size_t kMaxChunk = 45;
  std::string out;
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::size_t end = i;
    while (end < utf8.size()) {
      std::size_t n = utf8::sequence_length(utf8, end);
      if (n == 0) n = 1;  // callers pass valid UTF-8; never loop forever on bad input
      if (end + n - i > kMaxChunk) break;
      end += n;
    }
    if (!out.empty()) out.push_back(' ');
    out += "=?UTF-8?B?" + base64_encode(utf8.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string fold_header(std::string_view name, std::string_view value) {
  constexpr std::size_t kSoft = 78, kHard = 998;
  std::string out(name);
  out += ':';
  std::size_t line_len = out.size();
  std::size_t i = 0;
  while (i <= value.size() && !value.empty()) {
    std::size_t next = value.find(' ', i);
    if (next == std::string_view::npos) next = value.size();
    const std::string_view word = value.substr(i, next - i);
    // Each word is preceded by one space; break before it when the line would grow past kSoft.
    if (line_len > name.size() + 1 && line_len + 1 + word.size() > kSoft) {
      out += "\r\n";
      line_len = 0;
    }
    out += ' ';
    out += word;
    line_len += 1 + word.size();
    if (line_len > kHard) return {};
    i = next + 1;
  }
  out += "\r\n";
  return out;
}

std::string rfc5322_date(std::int64_t unix_seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "Thu, 01 Jan 1970 00:00:00 +0000";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace mugai::sanitize
