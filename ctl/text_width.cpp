// East Asian width per UAX #11, reduced to the ranges that matter for Japanese mail: wide for Hangul
// Jamo, CJK symbols/punctuation, kana, CJK ideographs, Hangul syllables, fullwidth forms and emoji;
// zero for combining marks and variation selectors.
#include "ctl/text_width.hpp"

#include <vector>

#include "common/utf8.hpp"
#include "sanitizers/charset.hpp"

namespace mugai::ctl {
namespace {

struct Range {
  char32_t lo, hi;
};

// Zero-width format characters never get here: escape_for_display() has shown them as \uXXXX.
constexpr Range kZero[] = {{0x0300, 0x036F}, {0x3099, 0x309A}, {0xFE00, 0xFE0F}, {0xE0100, 0xE01EF}};
constexpr Range kWide[] = {{0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
                           {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
                           {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
                           {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};


struct Glyph {
  std::string_view bytes;  // what to print (U+FFFD for anything unsafe)
  int width;
};

// Splits text that escape_for_display() has made safe (valid UTF-8, nothing hidden) into code points.
std::vector<Glyph> glyphs(std::string_view safe) {
  std::vector<Glyph> out;
  for (std::size_t i = 0; i < safe.size();) {
    const std::size_t n = utf8::sequence_length(safe, i);
    out.push_back({safe.substr(i, n), codepoint_width(utf8::code_point(safe, i, n))});
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

std::size_t display_width(std::string_view untrusted) {
  const std::string safe = sanitize::escape_for_display(untrusted);
  std::size_t w = 0;
  for (const auto& g : glyphs(safe)) w += static_cast<std::size_t>(g.width);
  return w;
}

std::string fit_columns(std::string_view untrusted, std::size_t columns) {
  const std::string safe = sanitize::escape_for_display(untrusted);
  const auto gs = glyphs(safe);
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
