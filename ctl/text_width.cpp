// East Asian width per UAX #11, reduced to the ranges that matter for Japanese mail: wide for Hangul
// Jamo, CJK symbols/punctuation, kana, CJK ideographs, Hangul syllables, fullwidth forms and emoji;
// zero for combining marks, zero-width space/joiners and variation selectors.
#include "ctl/text_width.hpp"

#include <vector>

#include "common/utf8.hpp"

namespace mugai::ctl {
namespace {

struct Range {
  char32_t lo, hi;
};

constexpr Range kZero[] = {{0x0300, 0x036F}, {0x200B, 0x200F}, {0x2060, 0x2064}, {0x3099, 0x309A},
                           {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF}};
constexpr Range kWide[] = {{0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
                           {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
                           {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
                           {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};


struct Glyph {
  std::string_view bytes;  // what to print (U+FFFD for anything unsafe)
  int width;
};

// Splits into printable code points; unsafe ones are replaced by U+FFFD.
std::vector<Glyph> glyphs(std::string_view s) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::vector<Glyph> out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8::sequence_length(s, i);
    if (n == 0) {
      out.push_back({kReplacement, 1});
      ++i;
      continue;
    }
    const char32_t cp = utf8::code_point(s, i, n);
    const bool control = cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
    if (control) {
      out.push_back({kReplacement, 1});
    } else {
      out.push_back({s.substr(i, n), codepoint_width(cp)});
    }
    i += n;
  }
  return out;
}

}  // namespace

int codepoint_width(char32_t cp) {
  for (const auto& r : kZero)
    if (cp >= r.lo && cp <= r.hi) return 0;
  for (const auto& r : kWide)
    if (cp >= r.lo && cp <= r.hi) return 2;
  return 1;
}

std::size_t display_width(std::string_view utf8) {
  std::size_t w = 0;
  for (const auto& g : glyphs(utf8)) w += static_cast<std::size_t>(g.width);
  return w;
}

std::string fit_columns(std::string_view utf8, std::size_t columns) {
  const auto gs = glyphs(utf8);
  std::size_t total = 0;
  for (const auto& g : gs) total += static_cast<std::size_t>(g.width);
  // When cut, one column is kept for the ellipsis.
  const std::size_t budget = total <= columns ? columns : (columns == 0 ? 0 : columns - 1);
  std::string out;
  std::size_t used = 0;
  for (const auto& g : gs) {
    if (used + static_cast<std::size_t>(g.width) > budget) break;
    out += g.bytes;
    used += static_cast<std::size_t>(g.width);
  }
  if (total > columns && columns > 0) {
    out += "\xE2\x80\xA6";  // …
    ++used;
  }
  out.append(columns > used ? columns - used : 0, ' ');
  return out;
}

}  // namespace mugai::ctl
