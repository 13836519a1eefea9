// HTML → plain text: a bounded pre-pass caps element nesting, gumbo parses into an arena with a memory and
// time budget, and an iterative walk renders blocks, lists, tables, images and links as text. Nothing
// here recurses, and gumbo's own (recursive) tree destructor is never called: the arena is freed whole.
#include "sanitizers/html_text.hpp"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csetjmp>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "common/hex.hpp"
#include "sanitizers/charset.hpp"
#include "common/utf8.hpp"

namespace mugai::sanitize {
namespace {

// Deeper nesting adds nothing a reader can see, while gumbo's tree builder scans the open-element stack
// for many tags (quadratic in depth: 30k nested <div>s take a minute). Browsers cap at 512 too.
constexpr std::size_t kMaxNesting = 512;
constexpr std::size_t kMaxListIndent = 8;
// Parser budget, a backstop for inputs the pre-pass cannot see through (the HTML5 formatting-element
// rules can clone elements): memory per input byte and a wall-clock deadline.
constexpr std::size_t kArenaBytesPerInputByte = 64;
constexpr std::size_t kArenaBaseBytes = 16 * 1024 * 1024;
constexpr auto kParseDeadline = std::chrono::seconds(2);

bool ascii_ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lx = static_cast<char>(x >= 'A' && x <= 'Z' ? x + 32 : x);
           const auto ly = static_cast<char>(y >= 'A' && y <= 'Z' ? y + 32 : y);
           return lx == ly;
         });
}

bool is_html_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Elements dropped together with everything inside them: active content, metadata, embedded documents,
// and foreign (SVG/MathML) trees, where <script> and <style> are ordinary elements with text children.
bool dropped_with_contents(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_HEAD: case GUMBO_TAG_TITLE:
    case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_IFRAME: case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_EMBED: case GUMBO_TAG_APPLET: case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_FRAMESET: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH:
      return true;
    default:
      return false;
  }
}

// ---- Pre-pass: cap nesting before gumbo sees it -------------------------------------------------------

bool is_void(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_AREA: case GUMBO_TAG_BASE: case GUMBO_TAG_BR: case GUMBO_TAG_COL: case GUMBO_TAG_EMBED:
    case GUMBO_TAG_HR: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT: case GUMBO_TAG_KEYGEN: case GUMBO_TAG_LINK:
    case GUMBO_TAG_META: case GUMBO_TAG_PARAM: case GUMBO_TAG_SOURCE: case GUMBO_TAG_TRACK: case GUMBO_TAG_WBR:
    case GUMBO_TAG_BASEFONT: case GUMBO_TAG_BGSOUND: case GUMBO_TAG_FRAME: case GUMBO_TAG_IMAGE:
      return true;
    default:
      return false;
  }
}

// Elements whose end tag is optional close an open one of their own group (`<p>a<p>b`, `<li>` after
// `<li>`), unless an element that scopes them comes first; without this, sloppy but ordinary mail
// would count as deeply nested.
int implied_close_group(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P: return 1;
    case GUMBO_TAG_LI: return 2;
    case GUMBO_TAG_DD: case GUMBO_TAG_DT: return 3;
    case GUMBO_TAG_TD: case GUMBO_TAG_TH: return 4;
    case GUMBO_TAG_TR: return 5;
    case GUMBO_TAG_OPTION: return 6;
    default: return 0;
  }
}

bool scopes_group(GumboTag tag, int group) {
  switch (tag) {
    case GUMBO_TAG_APPLET: case GUMBO_TAG_CAPTION: case GUMBO_TAG_HTML: case GUMBO_TAG_TABLE:
    case GUMBO_TAG_MARQUEE: case GUMBO_TAG_OBJECT: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_BUTTON:
      return true;
    case GUMBO_TAG_TD: case GUMBO_TAG_TH: return group != 4;
    case GUMBO_TAG_UL: case GUMBO_TAG_OL: return group == 2;
    case GUMBO_TAG_DL: return group == 3;
    case GUMBO_TAG_TR: return group == 4;
    case GUMBO_TAG_SELECT: return group == 6;
    default: return false;
  }
}

struct OpenTag {
  GumboTag tag;
  std::string_view name;  // compared only for tags gumbo does not know
};

// Past the '>' that ends a tag whose attributes start at `i`, quoting as the HTML tokenizer does.
std::size_t skip_tag(std::string_view s, std::size_t i, bool& self_closing) {
  self_closing = false;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '>') return i + 1;
    if (c == '/' || is_html_space(c)) {
      self_closing = c == '/' && i + 1 < s.size() && s[i + 1] == '>';
      i += self_closing ? 2 : 1;
      if (self_closing) return i;
      continue;
    }
    ++i;  // the first character of an attribute name may be anything, even '='
    while (i < s.size() && !is_html_space(s[i]) && s[i] != '/' && s[i] != '>' && s[i] != '=') ++i;
    while (i < s.size() && is_html_space(s[i])) ++i;
    if (i >= s.size() || s[i] != '=') continue;
    ++i;
    while (i < s.size() && is_html_space(s[i])) ++i;
    if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
      const std::size_t close = s.find(s[i], i + 1);
      i = close == std::string_view::npos ? s.size() : close + 1;
    } else {
      while (i < s.size() && !is_html_space(s[i]) && s[i] != '>') ++i;
    }
  }
  return s.size();
}

std::size_t find_ci(std::string_view s, std::string_view needle, std::size_t from) {
  for (std::size_t i = s.find('<', from); i != std::string_view::npos; i = s.find('<', i + 1)) {
    if (ascii_ieq(s.substr(i, needle.size()), needle)) return i;
  }
  return s.size();
}

// The input with the start tags that would nest deeper than kMaxNesting removed (their contents stay,
// one level up), or nullopt when nothing needs removing. Tags whose contents are dropped are never
// removed, so capping can only show less of a page's active content, never more.
std::optional<std::string> cap_nesting(std::string_view s) {
  std::vector<OpenTag> open;
  std::vector<std::pair<std::size_t, std::size_t>> removed;
  std::size_t i = 0;
  while ((i = s.find('<', i)) != std::string_view::npos) {
    const std::size_t start = i;
    if (s.substr(i, 4) == "<!--") {
      const std::size_t end = s.find("-->", i + 4);
      i = end == std::string_view::npos ? s.size() : end + 3;
      continue;
    }
    const bool end_tag = i + 1 < s.size() && s[i + 1] == '/';
    const std::size_t name_at = i + (end_tag ? 2 : 1);
    if (name_at >= s.size() || !is_ascii_alpha(s[name_at])) {
      if (name_at < s.size() && (s[name_at] == '!' || s[name_at] == '?')) {
        const std::size_t end = s.find('>', name_at);
        i = end == std::string_view::npos ? s.size() : end + 1;
      } else {
        i = name_at;
      }
      continue;
    }
    std::size_t name_end = name_at;
    while (name_end < s.size() && !is_html_space(s[name_end]) && s[name_end] != '/' && s[name_end] != '>') ++name_end;
    const std::string_view name = s.substr(name_at, name_end - name_at);
    const GumboTag tag = gumbo_tagn_enum(name.data(), static_cast<unsigned>(name.size()));
    bool self_closing = false;
    i = skip_tag(s, name_end, self_closing);
    const auto same = [&](const OpenTag& o) { return o.tag == tag && (tag != GUMBO_TAG_UNKNOWN || ascii_ieq(o.name, name)); };
    if (end_tag) {
      const auto it = std::find_if(open.rbegin(), open.rend(), same);
      if (it != open.rend()) open.erase(std::next(it).base(), open.end());
      continue;
    }
    if (tag == GUMBO_TAG_SCRIPT || tag == GUMBO_TAG_STYLE) {  // raw text: no tags inside
      i = find_ci(s, tag == GUMBO_TAG_SCRIPT ? "</script" : "</style", i);
      continue;
    }
    // An unknown element closed by "/>" is an SVG/MathML leaf; for HTML elements gumbo ignores the slash.
    if (is_void(tag) || (self_closing && tag == GUMBO_TAG_UNKNOWN)) continue;
    if (const int group = implied_close_group(tag)) {
      for (std::size_t k = open.size(); k-- > 0;) {
        if (implied_close_group(open[k].tag) == group) {
          open.resize(k);
          break;
        }
        if (scopes_group(open[k].tag, group)) break;
      }
    }
    if (open.size() >= kMaxNesting && !dropped_with_contents(tag)) {
      removed.emplace_back(start, i);
      continue;
    }
    open.push_back(OpenTag{tag, name});
  }
  if (removed.empty()) return std::nullopt;
  std::string out;
  out.reserve(s.size());
  std::size_t from = 0;
  for (const auto& [b, e] : removed) {
    out.append(s.substr(from, b - from));
    from = e;
  }
  out.append(s.substr(from));
  return out;
}

// ---- Parsing into a budgeted arena ---------------------------------------------------------------------

// gumbo allocates through these callbacks; everything is freed at once with the arena. When the budget
// is exhausted the parse is abandoned by longjmp: gumbo is C and holds nothing but arena memory, and
// no frame between here and the setjmp has a destructor.
class Arena {
 public:
  explicit Arena(std::size_t budget)
      : budget_(budget), deadline_(std::chrono::steady_clock::now() + kParseDeadline) {
    // Reserved now so that recording a chunk inside the parser can never throw.
    chunks_.reserve(6 * (budget / kChunk) + 8);
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena() {
    for (void* c : chunks_) std::free(c);
  }

  static void* allocate(void* self, std::size_t n) { return static_cast<Arena*>(self)->take(n); }
  static void deallocate(void*, void*) {}

  std::jmp_buf escape{};
  const char* failure = nullptr;

 private:
  static constexpr std::size_t kChunk = 256 * 1024;

  [[noreturn]] void fail(const char* why) {
    failure = why;
    std::longjmp(escape, 1);
  }

  void* fresh_chunk(std::size_t size) {
    if (chunks_.size() == chunks_.capacity()) fail("parser memory budget exceeded");
    void* p = std::malloc(size);
    if (p == nullptr) fail("out of memory");
    chunks_.push_back(p);
    return p;
  }

  void* take(std::size_t n) {
    n = (n + 15) & ~std::size_t{15};
    used_ += n;
    if (used_ > budget_) fail("parser memory budget exceeded");
    if ((++calls_ & 255) == 0 && std::chrono::steady_clock::now() > deadline_) fail("parser time budget exceeded");
    if (n > kChunk / 4) return fresh_chunk(n);  // large blocks get their own, the current chunk stays
    if (n > left_) {
      cur_ = static_cast<char*>(fresh_chunk(kChunk));
      left_ = kChunk;
    }
    void* p = cur_;
    cur_ += n;
    left_ -= n;
    return p;
  }

  std::vector<void*> chunks_;
  char* cur_ = nullptr;
  std::size_t left_ = 0;
  std::size_t used_ = 0;
  std::size_t calls_ = 0;
  std::size_t budget_;
  std::chrono::steady_clock::time_point deadline_;
};

// Kept apart so that the frame setjmp returns into holds nothing with a destructor.
GumboOutput* parse_in(Arena& arena, const GumboOptions* options, const char* data, std::size_t size) {
  if (setjmp(arena.escape) != 0) return nullptr;
  return gumbo_parse_with_options(options, data, size);
}

// ---- Text output ---------------------------------------------------------------------------------------

bool invisible(char32_t cp) {
  return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||  // bidi embeddings/isolates
         cp == 0x200B || cp == 0x2060 || cp == 0xFEFF;  // zero-width space, word joiner, BOM
}


// Builds the text the way a browser lays out whitespace: runs collapse to one space (outside <pre>),
// block boundaries become line breaks requested lazily so they never pile up, and nothing is written
// past the cap.
class Writer {
 public:
  explicit Writer(std::size_t cap) : cap_(cap) {}

  // Text content; `pre` keeps spaces and line breaks as they are.
  void text(std::string_view s, bool pre) {
    for (std::size_t i = 0; i < s.size();) {
      const char c = s[i];
      if (c > ' ' && c < 0x7F) {
        std::size_t j = i + 1;
        while (j < s.size() && s[j] > ' ' && s[j] < 0x7F) ++j;
        content(s.substr(i, j - i));
        i = j;
        continue;
      }
      if (is_html_space(c)) {
        ++i;
        if (!pre) {
          pending_space_ = true;
        } else if (c == '\n' || c == '\r') {
          if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
          content("\n");
        } else {
          content(c == '\t' ? "\t" : " ");
        }
        continue;
      }
      const std::size_t n = utf8::sequence_length(s, i);
      const char32_t cp = n == 0 ? 0 : utf8::code_point(s, i, n);
      if (n == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || invisible(cp)) {
        ++dropped_;
      } else {
        content(s.substr(i, n));
      }
      i += n == 0 ? 1 : n;
    }
  }

  // Writes generated text (markers, URLs) that is already clean.
  void content(std::string_view s) {
    flush();
    raw(s);
  }

  void line_break() {
    pending_space_ = false;
    pending_cell_ = false;
    flush();
    raw("\n");
  }

  // At least `lines` line ends (2: a blank line) before the next content, none at the very start.
  void block(std::size_t lines) {
    pending_lines_ = std::max(pending_lines_, lines);
    pending_space_ = false;
  }

  // A table cell begins: " | " before its content unless it starts the row.
  void cell() { pending_cell_ = true; }
  void space() { pending_space_ = true; }

  std::size_t size() const { return out_.size(); }
  std::string_view since(std::size_t pos) const { return std::string_view(out_).substr(pos); }
  void replace_from(std::size_t pos, std::string_view s) {
    out_.resize(pos);
    raw(s);
  }

  std::size_t dropped() const { return dropped_; }
  bool truncated() const { return truncated_; }

  std::string finish() {
    const std::size_t end = out_.find_last_not_of(" \n");
    out_.resize(end == std::string::npos ? 0 : end + 1);
    out_.erase(0, out_.find_first_not_of('\n'));
    if (!out_.empty()) out_.push_back('\n');
    return std::move(out_);
  }

 private:
  bool at_line_start() const { return out_.empty() || out_.back() == '\n'; }

  void flush() {
    if (pending_lines_ > 0) {
      if (!out_.empty()) {
        std::size_t have = 0;
        while (have < pending_lines_ && have < out_.size() && out_[out_.size() - 1 - have] == '\n') ++have;
        for (; have < pending_lines_; ++have) raw("\n");
      }
      pending_lines_ = 0;
      pending_cell_ = false;
      pending_space_ = false;
      return;
    }
    if (pending_cell_ && !at_line_start()) {
      raw(" | ");
      pending_space_ = false;
    }
    pending_cell_ = false;
    if (pending_space_ && !at_line_start() && out_.back() != ' ') raw(" ");
    pending_space_ = false;
  }

  void raw(std::string_view s) {
    if (truncated_ || out_.size() + s.size() > cap_) {
      truncated_ = true;
      return;
    }
    out_.append(s);
  }

  std::string out_;
  std::size_t cap_;
  std::size_t pending_lines_ = 0;
  bool pending_space_ = false;
  bool pending_cell_ = false;
  bool truncated_ = false;
  std::size_t dropped_ = 0;
};

// ---- Links ---------------------------------------------------------------------------------------------

struct LinkTarget {
  std::string plain;  // as the URL would be written with LinkPolicy::Keep
  std::string shown;  // as it is written under the policy in force (empty: not written)
};

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_ieq(s.substr(0, prefix.size()), prefix);
}

// Dots in [from, to) of an escaped URL become "[.]", an escaped dot too (hosts are percent-decoded).
std::string defang_host(std::string_view url, std::size_t from, std::size_t to) {
  std::string out(url.substr(0, from));
  for (std::size_t i = from; i < to; ++i) {
    if (url[i] == '.') {
      out += "[.]";
    } else if (url[i] == '%' && i + 2 < to && url[i + 1] == '2' && (url[i + 2] == 'e' || url[i + 2] == 'E')) {
      out += "[.]";
      i += 2;
    } else {
      out.push_back(url[i]);
    }
  }
  out.append(url.substr(to));
  return out;
}

// What is written for `href`, or nullopt when the target must not appear (a scheme other than
// http/https/mailto). As browsers do, surrounding spaces/controls and embedded tabs and newlines are
// ignored; whatever could break out of `<...>` or hide in it (spaces, controls, non-ASCII such as bidi
// controls and look-alike letters) is percent-encoded.
std::optional<LinkTarget> link_target(std::string_view href, LinkPolicy policy, bool& scripty) {
  while (!href.empty() && static_cast<unsigned char>(href.front()) <= ' ') href.remove_prefix(1);
  while (!href.empty() && static_cast<unsigned char>(href.back()) <= ' ') href.remove_suffix(1);
  std::string url;
  for (const char c : href.substr(0, 8 * 1024)) {
    if (c != '\t' && c != '\n' && c != '\r') url.push_back(c);
  }
  if (starts_with_ci(url, "javascript:") || starts_with_ci(url, "vbscript:")) scripty = true;
  const bool web = starts_with_ci(url, "http://") || starts_with_ci(url, "https://");
  if (!web && !starts_with_ci(url, "mailto:")) return std::nullopt;
  LinkTarget t;
  for (const char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c >= 0x7F || c == '<' || c == '>' || c == '"' || c == '`' || c == '\\') {
      t.plain += '%';
      t.plain += hex::kUpper[c >> 4];
      t.plain += hex::kUpper[c & 15];
    } else {
      t.plain.push_back(static_cast<char>(c));
    }
  }
  const std::size_t colon = t.plain.find(':');
  std::transform(t.plain.begin(), t.plain.begin() + static_cast<std::ptrdiff_t>(colon), t.plain.begin(),
                 [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  switch (policy) {
    case LinkPolicy::Keep:
      t.shown = t.plain;
      break;
    case LinkPolicy::Remove:
      break;
    case LinkPolicy::Defang:
      if (web) {
        const std::size_t host = colon + 3;
        const std::size_t host_end = std::min(t.plain.find_first_of("/?#", host), t.plain.size());
        t.shown = "hxxp" + defang_host(t.plain, host, host_end).substr(4);
      } else {
        const std::size_t end = std::min(t.plain.find('?'), t.plain.size());
        const std::size_t at = t.plain.rfind('@', end);
        t.shown = at == std::string::npos ? t.plain : defang_host(t.plain, at + 1, end);
      }
      break;
  }
  return t;
}

// ---- Rendering -----------------------------------------------------------------------------------------

enum class Block { None, Line, Paragraph };

Block block_of(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4:
    case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_HR:
      return Block::Paragraph;
    case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_HEADER:
    case GUMBO_TAG_FOOTER: case GUMBO_TAG_NAV: case GUMBO_TAG_ASIDE: case GUMBO_TAG_MAIN: case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_FIGURE: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FORM: case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_LEGEND: case GUMBO_TAG_DETAILS: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_DL: case GUMBO_TAG_DT:
    case GUMBO_TAG_DD: case GUMBO_TAG_CENTER: case GUMBO_TAG_CAPTION: case GUMBO_TAG_TABLE: case GUMBO_TAG_TR:
    case GUMBO_TAG_LI: case GUMBO_TAG_HGROUP: case GUMBO_TAG_BODY:
      return Block::Line;
    default:
      return Block::None;
  }
}

const GumboVector& children_of(const GumboNode* node) {
  return node->type == GUMBO_NODE_DOCUMENT ? node->v.document.children : node->v.element.children;
}

std::string collapsed(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (!is_html_space(c)) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != ' ') {
      out.push_back(' ');
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// ---- Text runs swapped for placeholders ----------------------------------------------------------------

// gumbo spends most of its time on text: every code point is a token through the tree builder. So runs
// of plain text are swapped for one private-use code point each (plane 15) before parsing and swapped
// back as the tree is rendered. The tree keeps its shape and its text, whatever the markup:
//  - A run starts only right after a '>', or after a ';' reached from there through ordinary
//    characters and '&'s. Every state the HTML tokenizer can be in after consuming a '>' (data, RCDATA,
//    RAWTEXT, script data and its escapes, PLAINTEXT, comment, CDATA, a quoted attribute value; '>'
//    ends tags, doctypes and bogus comments) appends or emits letters, digits, blanks and non-ASCII
//    text as they are; a character reference returns to that state by the ';' at the latest. A run
//    holds none of the characters any of those states reacts to on their own (< > & quotes = NUL CR,
//    controls, noncharacters), and '-', '!' or ']' only inside it, where the next ordinary character
//    takes the tokenizer back to where it was; so the placeholder passes through the same states.
//  - A run neither starts nor ends with a blank: the tree builder tells blanks from other text (and
//    drops a newline right after <pre>); inside a run, once one non-blank character went in, the rest
//    follows it into the same text node in every insertion mode but the frameset ones, where blanks
//    are kept and other text ignored: documents with a <frameset> are parsed as they are.
//  - Inputs that already contain plane 15/16 characters, as bytes or as numeric character references,
//    are parsed as they are: every such character in the tree is then a placeholder.
class TextRuns {
 public:
  explicit TextRuns(std::string_view html) : html_(html) {
    if (has_plane_15_or_16(html) || refers_to_plane_15_or_16(html) || find_ci(html, "<frameset", 0) != html.size()) {
      return;
    }
    std::size_t copied = 0;
    for (std::size_t i = html.find('>'); i != std::string_view::npos && runs_.size() < kMaxRuns;
         i = html.find('>', i)) {
      std::size_t begin = ++i;
      while (runs_.size() < kMaxRuns) {
        i = skip_ordinary(html, i, false);
        std::size_t end = i;
        while (begin < end && !run_edge(html[begin])) ++begin;
        while (end > begin && !run_edge(html[end - 1])) --end;
        if (end - begin >= kMinRun) {
          if (compact_.empty()) compact_.reserve(html.size());
          compact_.append(html.substr(copied, begin - copied));
          append_placeholder(runs_.size());
          runs_.emplace_back(begin, end - begin);
          copied = end;
        }
        if (i >= html.size() || html[i] != '&') break;
        // A character reference, or an '&' taken as text: either way the tokenizer is back in the
        // state the run was in once a ';' is consumed, so the next run may start after it.
        i = skip_ordinary(html, i, true);
        if (i >= html.size() || html[i] != ';') break;
        begin = ++i;
      }
    }
    if (!runs_.empty()) compact_.append(html.substr(copied));
  }

  std::string_view parse_input() const { return runs_.empty() ? html_ : std::string_view(compact_); }

  // `s` from the parsed tree with its placeholders swapped back (`s` itself when it has none).
  std::string_view restored(std::string_view s, std::string& storage) const {
    if (runs_.empty() || s.find('\xF3') == std::string_view::npos) return s;
    storage.clear();
    std::size_t copied = 0;
    for (std::size_t i = s.find('\xF3'); i != std::string_view::npos; i = s.find('\xF3', i + 1)) {
      if (i + 4 > s.size() || static_cast<unsigned char>(s[i + 1]) < 0xB0) continue;
      const std::size_t index = ((static_cast<unsigned char>(s[i + 1]) & 0x0F) << 12) |
                                ((static_cast<unsigned char>(s[i + 2]) & 0x3F) << 6) |
                                (static_cast<unsigned char>(s[i + 3]) & 0x3F);
      if (index >= runs_.size()) continue;  // cannot happen (see above); never index past the runs anyway
      storage.append(s.substr(copied, i - copied));
      storage.append(html_.substr(runs_[index].first, runs_[index].second));
      copied = i + 4;
      i += 3;
    }
    storage.append(s.substr(copied));
    return storage;
  }

 private:
  static constexpr std::size_t kMinRun = 8;          // shorter runs gain less than the 4-byte placeholder costs
  static constexpr std::size_t kMaxRuns = 0xFFFE;    // U+F0000..U+FFFFD; U+FFFFE/U+FFFFF are noncharacters

  static bool has_plane_15_or_16(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto b = static_cast<unsigned char>(s[i]);
      if (b == 0xF4 || (b == 0xF3 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0xB0)) return true;
    }
    return false;
  }

  // `&#983040;`, `&#xF0000`, with any number of leading zeros: what gumbo would decode to plane 15/16.
  static bool refers_to_plane_15_or_16(std::string_view s) {
    for (std::size_t i = s.find("&#"); i != std::string_view::npos; i = s.find("&#", i + 2)) {
      std::size_t k = i + 2;
      const bool hex = k < s.size() && (s[k] == 'x' || s[k] == 'X');
      if (hex) ++k;
      std::uint32_t value = 0;
      for (; k < s.size(); ++k) {
        const char c = s[k];
        const int digit = c >= '0' && c <= '9'               ? c - '0'
                          : hex && c >= 'a' && c <= 'f'      ? c - 'a' + 10
                          : hex && c >= 'A' && c <= 'F'      ? c - 'A' + 10
                                                             : -1;
        if (digit < 0) break;
        value = std::min<std::uint32_t>(value * (hex ? 16 : 10) + static_cast<std::uint32_t>(digit), 0x110000);
      }
      if (value >= 0xF0000 && value <= 0x10FFFF) return true;
    }
    return false;
  }

  // Whether a run may start or end with `c`: not a blank (see above), nor '-', '!' or ']'. Comments
  // react to "-", "--" and "--!", escaped script data to "-" and "--", CDATA to "]" and "]]", each only
  // until the next other character; a run that ends in none of them leaves the tokenizer where a '>'
  // right after it means the same as after the placeholder.
  static bool run_edge(char c) { return !is_html_space(c) && c != '-' && c != '!' && c != ']'; }

  // Past the ordinary characters from `i`; with `to_semicolon`, past '&'s too but not past a ';'.
  static std::size_t skip_ordinary(std::string_view s, std::size_t i, bool to_semicolon) {
    while (i < s.size() && !(to_semicolon && s[i] == ';')) {
      const std::size_t n = to_semicolon && s[i] == '&' ? 1 : ordinary_length(s, i);
      if (n == 0) break;
      i += n;
    }
    return i;
  }

  // Bytes of the ordinary character at `i`, 0 if it is not one.
  static std::size_t ordinary_length(std::string_view s, std::size_t i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) < 0x80) {
      if (c == ' ' || c == '\t' || c == '\n') return 1;
      if (c < 0x20 || c == 0x7F) return 0;
      switch (c) {
        case '<': case '>': case '&': case '"': case '\'': case '=': case '`':
          return 0;
        default:
          return 1;
      }
    }
    const std::size_t n = utf8::sequence_length(s, i);
    if (n == 0) return 0;
    const char32_t cp = utf8::code_point(s, i, n);
    const bool special = cp < 0xA0 || (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE || cp >= 0xF0000;
    return special ? 0 : n;
  }

  void append_placeholder(std::size_t index) {
    const auto cp = static_cast<char32_t>(0xF0000 + index);
    compact_.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    compact_.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    compact_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    compact_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }

  std::string_view html_;
  std::string compact_;
  std::vector<std::pair<std::size_t, std::size_t>> runs_;  // offset and length in html_
};

class Renderer {
 public:
  Renderer(std::size_t cap, LinkPolicy policy, const TextRuns& runs, HtmlText& result)
      : w_(cap), policy_(policy), runs_(runs), result_(result) {}

  void run(const GumboNode* root) {
    std::vector<Frame> stack;
    stack.push_back(Frame{root, 0, {}, 0});
    while (!stack.empty()) {
      Frame& top = stack.back();
      const GumboVector& kids = children_of(top.node);
      if (top.next == kids.length) {
        leave(top);
        stack.pop_back();
        continue;
      }
      const auto* child = static_cast<const GumboNode*>(kids.data[top.next++]);
      switch (child->type) {
        case GUMBO_NODE_TEXT: case GUMBO_NODE_WHITESPACE: case GUMBO_NODE_CDATA:
          w_.text(runs_.restored(child->v.text.text, scratch_), pre_ > 0);
          break;
        case GUMBO_NODE_ELEMENT: case GUMBO_NODE_TEMPLATE:
          if (auto f = enter(child)) stack.push_back(std::move(*f));
          break;
        default:  // comments; the document node is only the root
          break;
      }
    }
    result_.text = w_.finish();
    result_.truncated = w_.truncated();
    result_.dropped_chars = w_.dropped();
  }

 private:
  struct Frame {
    const GumboNode* node;
    unsigned next;
    std::optional<LinkTarget> link;  // <a> with a target that may be shown
    std::size_t link_start;          // output size when the <a> began
  };
  struct List {
    bool ordered;
    unsigned items;
  };

  // Starts an element; nullopt when it has nothing to walk into.
  std::optional<Frame> enter(const GumboNode* node) {
    const GumboElement& el = node->v.element;
    const GumboTag tag = el.tag;
    for (unsigned i = 0; i < el.attributes.length; ++i) {
      const std::string_view name = static_cast<const GumboAttribute*>(el.attributes.data[i])->name;
      if (name.size() > 2 && starts_with_ci(name, "on")) result_.had_script = true;
    }
    if (dropped_with_contents(tag)) {
      if (tag == GUMBO_TAG_SCRIPT) result_.had_script = true;
      return std::nullopt;
    }
    Frame f{node, 0, std::nullopt, 0};
    switch (tag) {
      case GUMBO_TAG_BR:
        w_.line_break();
        return std::nullopt;
      case GUMBO_TAG_IMG:
        if (const GumboAttribute* alt = gumbo_get_attribute(&el.attributes, "alt")) {
          const std::string text = collapsed(runs_.restored(alt->value, scratch_));
          if (!text.empty()) {
            w_.content("[");
            w_.text(text, false);
            w_.content("]");
          }
        }
        return std::nullopt;
      case GUMBO_TAG_UL: case GUMBO_TAG_OL:
        w_.block(lists_.empty() ? 2 : 1);
        lists_.push_back(List{tag == GUMBO_TAG_OL, 0});
        return f;
      case GUMBO_TAG_LI: {
        w_.block(1);
        const List* list = lists_.empty() ? nullptr : &lists_.back();
        std::string marker(2 * std::min(lists_.empty() ? 0 : lists_.size() - 1, kMaxListIndent), ' ');
        marker += list && list->ordered ? std::to_string(++lists_.back().items) + ". " : "- ";
        w_.content(marker);
        return f;
      }
      case GUMBO_TAG_TD: case GUMBO_TAG_TH:
        w_.cell();
        return f;
      case GUMBO_TAG_A:
        if (const GumboAttribute* href = gumbo_get_attribute(&el.attributes, "href")) {
          ++result_.links;
          f.link = link_target(runs_.restored(href->value, scratch_), policy_, result_.had_script);
          f.link_start = w_.size();
        }
        return f;
      default:
        break;
    }
    if (tag == GUMBO_TAG_PRE || tag == GUMBO_TAG_LISTING) ++pre_;
    open_block(tag);
    return f;
  }

  void leave(const Frame& f) {
    if (f.node->type == GUMBO_NODE_DOCUMENT) return;
    const GumboTag tag = f.node->v.element.tag;
    if (tag == GUMBO_TAG_UL || tag == GUMBO_TAG_OL) {
      lists_.pop_back();
      w_.block(lists_.empty() ? 2 : 1);
      return;
    }
    if (tag == GUMBO_TAG_A) return finish_link(f);
    if (tag == GUMBO_TAG_PRE || tag == GUMBO_TAG_LISTING) --pre_;
    open_block(tag);
  }

  void open_block(GumboTag tag) {
    const Block b = block_of(tag);
    if (b != Block::None) w_.block(b == Block::Paragraph ? 2 : 1);
  }

  // `text <URL>`; a link whose text already is its URL is written once, in the policy's form.
  void finish_link(const Frame& f) {
    if (!f.link || f.link->shown.empty()) return;
    const std::string_view written = w_.since(f.link_start);
    const std::size_t text_at = written.find_first_not_of(" \n|");
    if (text_at != std::string_view::npos && written.substr(text_at) == f.link->plain) {
      w_.replace_from(f.link_start + text_at, f.link->shown);
      return;
    }
    if (text_at != std::string_view::npos) w_.space();
    w_.content("<" + f.link->shown + ">");
  }

  Writer w_;
  LinkPolicy policy_;
  const TextRuns& runs_;
  std::string scratch_;  // a restored text, reused
  HtmlText& result_;
  std::vector<List> lists_;
  int pre_ = 0;
};

class HtmlTextSanitizer final : public Sanitizer {
 public:
  explicit HtmlTextSanitizer(LinkPolicy links) : links_(links) {}
  std::string_view name() const override { return "html_text"; }

  Decision sanitize(std::string_view untrusted_decoded, const PartInfo& info) const override {
    const Utf8Text utf8 = to_utf8(untrusted_decoded, info.charset);
    HtmlText html = html_to_text(utf8.text, links_);
    if (!html.failure.empty()) return Decision::remove("HTML not converted: " + html.failure);
    Decision d = Decision::keep(std::move(html.text));
    d.replacement_chars = utf8.replacements;
    d.dropped_controls = html.dropped_chars;
    d.reason = "converted from HTML";
    if (!utf8.charset_known) d.reason += "; unknown charset, decoded as UTF-8";
    if (html.had_script) d.reason += "; active content dropped";
    if (html.truncated) d.reason += "; text truncated at the output limit";
    return d;
  }

 private:
  LinkPolicy links_;
};

}  // namespace

std::string defang_active_text(std::string_view text) {
  static constexpr std::array<std::string_view, 3> kWords{"javascript:", "vbscript:", "<script"};
  std::string out;
  std::size_t copied = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    // Every delivered byte passes here: only 'j', 'v' or '<' (any case) can start a word.
    const char first = static_cast<char>(text[i] | 0x20);
    if (first != 'j' && first != 'v' && first != '<') continue;
    for (const std::string_view word : kWords) {
      if (!ascii_ieq(text.substr(i, word.size()), word)) continue;
      out.append(text.substr(copied, i - copied));
      // As spelled (case and all), with the colon bracketed or a blank after the '<'.
      out += word.front() == '<' ? "< " + std::string(text.substr(i + 1, word.size() - 1))
                                 : std::string(text.substr(i, word.size() - 1)) + "[:]";
      copied = i + word.size();
      i = copied - 1;
      break;
    }
  }
  if (copied == 0) return std::string(text);
  out.append(text.substr(copied));
  return out;
}

HtmlText html_to_text(std::string_view untrusted_html, LinkPolicy links, bool swap_text_runs) {
  HtmlText result;
  const std::optional<std::string> capped = cap_nesting(untrusted_html);
  const std::string_view html = capped ? std::string_view(*capped) : untrusted_html;
  const TextRuns runs(swap_text_runs ? html : std::string_view());
  const std::string_view input = swap_text_runs ? runs.parse_input() : html;
  Arena arena(kArenaBaseBytes + kArenaBytesPerInputByte * html.size());
  GumboOptions options = kGumboDefaultOptions;
  options.allocator = &Arena::allocate;
  options.deallocator = &Arena::deallocate;
  options.userdata = &arena;
  options.max_errors = 0;  // gumbo copies the open-element stack into every error it records
  const GumboOutput* out = parse_in(arena, &options, input.data(), input.size());
  if (out == nullptr) {
    result.failure = arena.failure != nullptr ? arena.failure : "parser failed";
    return result;
  }
  const std::size_t cap = 4 * untrusted_html.size() + 1024;
  Renderer(cap, links, runs, result).run(out->document);
  // After rendering: entities, raw-text elements (<xmp>, <plaintext>) and pieces of several elements
  // can spell what is defanged. Defanging adds bytes, so the bound is enforced again.
  result.text = defang_active_text(result.text);
  if (result.text.size() > cap) {
    std::size_t n = cap;
    while (n > 0 && (static_cast<unsigned char>(result.text[n]) & 0xC0) == 0x80) --n;
    result.text.resize(n);
    result.truncated = true;
  }
  return result;
}

std::unique_ptr<Sanitizer> make_html_text(LinkPolicy links) { return std::make_unique<HtmlTextSanitizer>(links); }

}  // namespace mugai::sanitize
