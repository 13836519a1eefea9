// Password candidates (see passwords.hpp). Generous on purpose: a wrong candidate costs one more try
// of libarchive's passphrase check, a missed one costs the recipient the archive.
#include "sanitizers/passwords.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "common/ascii.hpp"
#include "common/utf8.hpp"
#include "sanitizers/pipeline.hpp"

namespace mugai::sanitize {
namespace {

// Longest first, so "password" is found before "pass" at the same place. Lowercase, after fold().
constexpr std::array<std::string_view, 15> kPhrases{
    "解凍パスワード", "暗号化解除", "パスワード", "ﾊﾟｽﾜｰﾄﾞ", "解凍キー", "解凍パス", "暗証番号", "解凍用",
    "password",   "passcode",   "passwd",   "パス",     "pass",     "pw",       "pwd"};

// After a phrase, before the password: separators and the particles of "パスワードは：".
constexpr std::array<std::string_view, 12> kLeadIns{" ", "\t", ":", "=", "は", "を", "が", "】", "]", "）", ")", "-"};

// Opening and closing quotes a password may stand in.
struct Quote {
  std::string_view open, close;
};
constexpr std::array<Quote, 6> kQuotes{{{"「", "」"}, {"『", "』"}, {"\"", "\""}, {"'", "'"}, {"【", "】"}, {"[", "]"}}};

// Full-width ASCII (U+FF01..U+FF5E) and the ideographic space read as ASCII, ASCII letters lowercased
// into `lower` (same byte offsets as `out`).
void fold(std::string_view line, std::string& out, std::string& lower) {
  out.clear();
  for (std::size_t i = 0; i < line.size();) {
    const std::size_t n = utf8::sequence_length(line, i);
    if (n == 0) {
      ++i;
      continue;
    }
    const char32_t cp = utf8::code_point(line, i, n);
    if (cp >= 0xFF01 && cp <= 0xFF5E) out += static_cast<char>(cp - 0xFF01 + 0x21);
    else if (cp == 0x3000) out += ' ';
    else out.append(line.substr(i, n));
    i += n;
  }
  lower = ascii::lower(out);
}

bool printable_ascii(char c) { return c > 0x20 && c < 0x7F; }
bool ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

class Collector {
 public:
  void add(std::string_view word) {
    if (word.empty() || word.size() > kMaxPasswordSize || out_.size() >= kMaxPasswords) return;
    if (!std::all_of(word.begin(), word.end(), printable_ascii)) return;
    if (std::find(out_.begin(), out_.end(), word) == out_.end()) out_.emplace_back(word);
  }
  // A word that may end a sentence: with and without its final full stop or comma.
  void add_word(std::string_view word) {
    add(word);
    if (word.size() > 1 && (word.back() == '.' || word.back() == ',')) add(word.substr(0, word.size() - 1));
  }
  // The password in `rest` (what follows a phrase, or a line of its own); false when there is none.
  bool take(std::string_view rest) {
    for (const auto& q : kQuotes) {
      if (!rest.starts_with(q.open)) continue;
      const auto end = rest.find(q.close, q.open.size());
      if (end == std::string_view::npos) break;
      const std::string_view inner = rest.substr(q.open.size(), end - q.open.size());
      if (inner.empty() || !std::all_of(inner.begin(), inner.end(), printable_ascii)) return false;
      add(inner);
      return true;
    }
    std::size_t n = 0;
    while (n < rest.size() && printable_ascii(rest[n])) ++n;
    if (n == 0) return false;
    add_word(rest.substr(0, n));
    return true;
  }
  std::vector<std::string> result() && { return std::move(out_); }

 private:
  std::vector<std::string> out_;
};

// Where the first phrase on this line ends, or npos (at the same place, the longer phrase wins).
std::size_t after_phrase(std::string_view lower) {
  std::size_t best = std::string_view::npos, best_end = std::string_view::npos;
  for (const auto phrase : kPhrases) {
    const bool ascii = ascii_letter(phrase.front());
    for (std::size_t i = lower.find(phrase); i != std::string_view::npos && i < best; i = lower.find(phrase, i + 1)) {
      const std::size_t end = i + phrase.size();
      // "pass" in "passport" or "bypass" is not the phrase.
      if (ascii && ((i > 0 && ascii_letter(lower[i - 1])) || (end < lower.size() && ascii_letter(lower[end])))) continue;
      best = i;
      best_end = end;
      break;
    }
  }
  return best_end;
}

std::string_view skip_lead_ins(std::string_view rest) {
  for (bool more = true; more;) {
    more = false;
    for (const auto lead : kLeadIns) {
      if (rest.starts_with(lead)) {
        rest.remove_prefix(lead.size());
        more = true;
      }
    }
  }
  return rest;
}

}  // namespace

std::vector<std::string> password_candidates(const std::vector<std::string>& texts) {
  // Where the password stands alone below its phrase ("パスワードは以下の通りです。\n\nAb3$xYz9"),
  // it is on one of the next few lines.
  constexpr int kLinesBelow = 3;
  // A password mail is short: only the start of a long text is read, so a 60 MB body costs nothing here.
  constexpr std::size_t kScanned = 64 * 1024;
  Collector found;
  std::string line, lower;
  for (const auto& text : texts) {
    int below = 0;
    std::string_view rest = std::string_view(text).substr(0, kScanned);
    while (!rest.empty()) {
      const auto lf = rest.find('\n');
      fold(rest.substr(0, lf), line, lower);
      rest = lf == std::string_view::npos ? std::string_view() : rest.substr(lf + 1);
      const std::string_view trimmed = ascii::trim(line);
      if (below > 0 && !trimmed.empty()) {
        --below;
        const bool alone = trimmed.find_first_of(" \t") == std::string_view::npos;
        if (alone && found.take(trimmed)) below = 0;
      }
      const std::size_t end = after_phrase(lower);
      if (end == std::string_view::npos) continue;
      if (!found.take(skip_lead_ins(std::string_view(line).substr(end)))) below = kLinesBelow;
    }
  }
  return std::move(found).result();
}

}  // namespace mugai::sanitize
