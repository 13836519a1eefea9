// Terminal column arithmetic for mugaictl's tables: Japanese subjects and filenames take two columns
// per CJK/fullwidth character (East Asian Width W/F), combining marks none. Output is also made safe
// for a terminal: controls, format, bidi and line-separator characters and invalid UTF-8 are shown
// escaped (sanitize::escape_for_display), so a name can neither move the cursor nor forge a row.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mugai::ctl {

// Columns one code point occupies: 0 (combining, zero-width), 1 or 2 (wide/fullwidth).
int codepoint_width(char32_t cp);

// Columns `untrusted` occupies once made terminal-safe.
std::size_t display_width(std::string_view untrusted);

// `untrusted` made terminal-safe, cut to at most `columns` (ending in "…" when cut, never splitting a wide
// character) and padded with spaces to exactly `columns`.
std::string fit_columns(std::string_view untrusted, std::size_t columns);

}  // namespace mugai::ctl
