// Which code points must never reach a notice, a terminal or a report as themselves: they are
// invisible, reorder text or break lines, so a sender could forge a line or hide a file's real name.
#pragma once

namespace mugai::display {

struct CodeRange {
  char32_t lo, hi;
};

// Unicode 15 Cc, Cf, Zl and Zp, plus the default-ignorable fillers (U+034F, Hangul fillers, Khmer
// inherent vowels) and the unassigned default-ignorable blocks. Variation selectors are kept: they
// pick the glyph of a kanji in a name (髙 vs 高 forms, IVS), never reorder or hide text.
inline constexpr CodeRange kHidden[] = {
    {0x0000, 0x001F},   {0x007F, 0x009F},   {0x00AD, 0x00AD},   {0x034F, 0x034F},   {0x0600, 0x0605},
    {0x061C, 0x061C},   {0x06DD, 0x06DD},   {0x070F, 0x070F},   {0x0890, 0x0891},   {0x08E2, 0x08E2},
    {0x115F, 0x1160},   {0x17B4, 0x17B5},   {0x180E, 0x180E},   {0x200B, 0x200F},   {0x2028, 0x202E},
    {0x2060, 0x206F},   {0x3164, 0x3164},   {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFFB},
    {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
    {0xE0000, 0xE00FF}, {0xE01F0, 0xE0FFF},
};

constexpr bool hidden(char32_t cp) {
  for (const auto& r : kHidden) {
    if (cp < r.lo) return false;  // sorted
    if (cp <= r.hi) return true;
  }
  return false;
}

}  // namespace mugai::display
