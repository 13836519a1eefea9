// The bounded pre-scan in front of mimetic; see prescan.hpp for why it exists. A line-end check, then
// two linear passes: the first finds Content-Type fields (their count bounds mimetic's recursion) and the boundaries they
// declare; the second follows boundary delimiters the way mimetic does (anywhere in a line, innermost
// first) to estimate parts and depth and to measure every stretch mimetic would parse as a header.
#include "sanitizers/prescan.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "sanitizers/params.hpp"

namespace mugai::sanitize {
namespace {

bool iequal_at(std::string_view s, std::size_t pos, std::string_view lower_word) {
  if (pos + lower_word.size() > s.size()) return false;
  for (std::size_t i = 0; i < lower_word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[pos + i])) != lower_word[i]) return false;
  }
  return true;
}

std::size_t ifind(std::string_view s, std::string_view lower_word, std::size_t from) {
  // This runs over every byte of every message: compare the first letter inline, both cases,
  // before paying for the full case-insensitive match.
  const char lo = lower_word.front();
  const char up = lo >= 'a' && lo <= 'z' ? static_cast<char>(lo - 32) : lo;
  for (std::size_t i = from; i + lower_word.size() <= s.size(); ++i) {
    if ((s[i] == lo || s[i] == up) && iequal_at(s, i, lower_word)) return i;
  }
  return std::string_view::npos;
}

// The unfolded extent of a header field starting at `pos`, capped at `max` bytes.
std::string_view field_at(std::string_view s, std::size_t pos, std::size_t max) {
  std::size_t end = pos;
  const std::size_t cap = std::min(s.size(), pos + max);
  while (end < cap) {
    if (s[end] == '\n' && !(end + 1 < s.size() && (s[end + 1] == ' ' || s[end + 1] == '\t'))) break;
    ++end;
  }
  return s.substr(pos, end - pos);
}

// Every boundary a Content-Type field could declare, read by params.cpp as mimetic's splitting reads
// it: the one in effect first, then any repeated one (refused by the ambiguity check in the pipeline,
// but the prescan also runs alone). `field` starts at the field name.
std::vector<std::string> boundaries_in(std::string_view field) {
  const std::size_t colon = field.find(':');
  if (colon == std::string_view::npos) return {};
  return readings(parse_params(field.substr(colon + 1)), "boundary");
}

struct Event {
  std::size_t pos;
  std::string boundary;  // multipart: pushed on the nesting stack
  bool rfc822;           // message/rfc822: the next header-ended paragraph is a header too
};

class Scanner {
 public:
  Scanner(std::string_view s, const Limits& limits) : s_(s), limits_(limits) {}

  PrescanResult run() {
    check_line_ends();
    if (!result_.breach) check_line_length();
    if (!result_.breach) collect_fields();
    if (!result_.breach) follow_delimiters();
    return std::move(result_);
  }

 private:
  void breach(std::string limit, std::string detail) {
    if (!result_.breach) result_.breach = LimitBreach{std::move(limit), std::move(detail)};
  }

  // mimetic takes LF CR for a line end as well as CR LF. Where a bare CR or a bare LF before a CR puts
  // its position on the second half of such a pair right before a delimiter, it trims a newline that
  // is not in the block, underflows the block size and throws std::length_error out of a half-built
  // tree (fuzz/regressions/mime_parse/). SMTP delivers CRLF only and files use LF or CRLF, so mail
  // with these mixtures is refused here rather than parsed.
  void check_line_ends() {
    for (std::size_t i = s_.find('\r'); i != std::string_view::npos; i = s_.find('\r', i + 1)) {
      const bool bare_cr = i + 1 == s_.size() || s_[i + 1] != '\n';
      const bool after_bare_lf = i > 0 && s_[i - 1] == '\n' && (i < 2 || s_[i - 2] != '\r');
      if (bare_cr || after_bare_lf) {
        breach("line_ends", "a bare CR or an LF CR sequence at offset " + std::to_string(i) +
                                " (mixed line ends the MIME parser misreads)");
        return;
      }
    }
  }

  void check_line_length() {
    for (std::size_t start = 0; start < s_.size();) {
      const std::size_t lf = s_.find('\n', start);
      const std::size_t end = lf == std::string_view::npos ? s_.size() : lf + 1;
      if (end - start > limits_.max_line_length) {
        breach("max_line_length", "a line of " + std::to_string(end - start) + " bytes (limit " +
                                      std::to_string(limits_.max_line_length) + ")");
        return;
      }
      start = end;
    }
  }

  void collect_fields() {
    for (std::size_t at = ifind(s_, "content-type", 0); at != std::string_view::npos;
         at = ifind(s_, "content-type", at + 12)) {
      if (++result_.content_type_fields > limits_.max_parts) {
        breach("max_parts", "more than " + std::to_string(limits_.max_parts) + " Content-Type fields");
        return;
      }
      std::size_t colon = at + 12;
      while (colon < s_.size() && (s_[colon] == ' ' || s_[colon] == '\t')) ++colon;
      if (colon >= s_.size() || s_[colon] != ':') continue;
      const std::string_view field = field_at(s_, at, limits_.max_header_section);
      // Loose on purpose: a false match only makes the scan more careful.
      const bool multipart = ifind(field, "multipart", 0) != std::string_view::npos;
      const bool rfc822 = ifind(field, "message", 0) != std::string_view::npos &&
                          ifind(field, "rfc822", 0) != std::string_view::npos;
      std::vector<std::string> found = boundaries_in(field);
      // mimetic uses "--" + (missing boundary) = "--" as the delimiter: every "--" then counts.
      if (multipart && found.empty()) found.emplace_back();
      if (multipart || rfc822) events_.push_back(Event{at, multipart ? found.front() : "", rfc822});
      for (auto& b : found) {
        if (std::find(boundaries_.begin(), boundaries_.end(), b) == boundaries_.end()) {
          boundaries_.push_back(std::move(b));
        }
      }
    }
    // Longest first, so a boundary that prefixes another does not hide a closing delimiter.
    std::sort(boundaries_.begin(), boundaries_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }

  // Length of the declared boundary following "--" at `p`, or npos. Charges the work budget.
  std::size_t match_boundary(std::size_t p) {
    const std::string_view rest = s_.substr(p + 2);
    for (const auto& b : boundaries_) {
      std::size_t k = 0;
      while (k < b.size() && k < rest.size() && rest[k] == b[k]) ++k;
      budget_used_ += k + 1;
      if (k == b.size()) return k;
    }
    return std::string_view::npos;
  }

  void end_header(std::size_t end) {
    if (!pending_header_) return;
    const std::size_t size = end - header_start_;
    header_total_ += size;
    const std::size_t total_max = kHeaderTotalFactor * limits_.max_header_section;
    if (size > limits_.max_header_section) {
      breach("max_header_section", "a header block of " + std::to_string(size) + " bytes (limit " +
                                       std::to_string(limits_.max_header_section) + ")");
    } else if (header_total_ > total_max) {
      breach("max_header_section", "more than " + std::to_string(total_max) + " bytes of headers");
    }
    pending_header_ = false;
  }

  void start_header(std::size_t pos) {
    if (pending_header_) return;  // the earliest start in a paragraph is the longest stretch
    pending_header_ = true;
    header_start_ = pos;
  }

  void on_delimiter(std::string_view boundary, bool closing, std::size_t pos) {
    const auto it = std::find(stack_.rbegin(), stack_.rend(), boundary);
    if (closing) {
      if (it != stack_.rend()) stack_.resize(static_cast<std::size_t>(stack_.rend() - it) - 1);
      return;
    }
    if (it != stack_.rend()) stack_.resize(static_cast<std::size_t>(stack_.rend() - it));
    result_.estimated_depth = std::max(result_.estimated_depth, stack_.size());
    if (++result_.estimated_parts > limits_.max_parts) {
      breach("max_parts", "more than " + std::to_string(limits_.max_parts) + " parts (pre-scan)");
    } else if (result_.estimated_depth > limits_.max_depth) {
      breach("max_depth", "nesting deeper than " + std::to_string(limits_.max_depth) + " (pre-scan)");
    }
    start_header(pos);
  }

  void follow_delimiters() {
    const std::size_t budget = 64 * s_.size() + (1u << 20);
    std::size_t next_event = 0;
    bool rfc822_child = false;
    start_header(0);
    for (std::size_t ls = 0; ls < s_.size() && !result_.breach;) {
      std::size_t le = s_.find('\n', ls);
      if (le == std::string_view::npos) le = s_.size();
      std::size_t ce = le;
      if (ce > ls && s_[ce - 1] == '\r') --ce;
      for (; next_event < events_.size() && events_[next_event].pos < le; ++next_event) {
        if (events_[next_event].rfc822) {
          rfc822_child = true;
        } else {
          stack_.push_back(events_[next_event].boundary);
        }
      }
      if (ce == ls) {
        end_header(ls);
        if (rfc822_child) start_header(le + 1);
        rfc822_child = false;
      }
      // Searching only up to the line end keeps the pass linear.
      const std::string_view upto_line_end = s_.substr(0, ce);
      for (std::size_t p = upto_line_end.find("--", ls); p != std::string_view::npos;
           p = upto_line_end.find("--", p + 1)) {
        const std::size_t blen = match_boundary(p);
        if (budget_used_ > budget) {
          breach("prescan_budget", "boundary matching work exceeded its budget");
          return;
        }
        if (blen == std::string_view::npos) continue;
        const std::size_t after = p + 2 + blen;
        const bool closing = s_.substr(after, 2) == "--";
        on_delimiter(s_.substr(p + 2, blen), closing, p);
        p = after > p ? after - 1 : p;
      }
      ls = le + 1;
    }
    end_header(s_.size());
  }

  std::string_view s_;
  const Limits& limits_;
  PrescanResult result_;
  std::vector<Event> events_;
  std::vector<std::string> boundaries_;
  std::vector<std::string_view> stack_;
  std::size_t budget_used_ = 0;
  std::size_t header_total_ = 0;
  std::size_t header_start_ = 0;
  bool pending_header_ = false;
};

}  // namespace

PrescanResult prescan(std::string_view untrusted_message, const Limits& limits) {
  return Scanner(untrusted_message, limits).run();
}

}  // namespace mugai::sanitize
