// Terminal column arithmetic for mugaictl's tables: Japanese subjects and filenames take two columns
// per CJK/fullwidth character (East Asian Width W/F), combining marks none. Output is also made safe
// for a terminal: control characters (C0, DEL, C1) and invalid UTF-8 become U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mugai::ctl {

// Columns one code point occupies: 0 (combining, zero-width), 1 or 2 (wide/fullwidth).
int codepoint_width(char32_t cp);

// Columns `utf8` occupies once made terminal-safe.
std::size_t display_width(std::string_view utf8);

// `utf8` made terminal-safe, cut to at most `columns` (ending in "…" when cut, never splitting a wide
// character) and padded with spaces to exactly `columns`.
std::string fit_columns(std::string_view utf8, std::size_t columns);

}  // namespace mugai::ctl
