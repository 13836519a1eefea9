// Charset handling for the pipeline: conversion to UTF-8 through glibc iconv that never fails (invalid
// input becomes U+FFFD, counted), and UTF-8 helpers for showing untrusted names safely.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mugai::sanitize {

struct Utf8Text {
  std::string text;               // valid UTF-8
  std::size_t replacements = 0;   // U+FFFD inserted for bytes that did not decode
  bool charset_known = true;      // false: the label was unknown or unsafe and UTF-8 was assumed
};

// Converts `untrusted` from the charset named by `untrusted_charset` (a MIME label; empty and us-ascii
// mean UTF-8, which is what unlabelled 8-bit mail usually is; Shift_JIS means CP932, its superset
// that Japanese mailers actually emit).
Utf8Text to_utf8(std::string_view untrusted, std::string_view untrusted_charset);

bool is_valid_utf8(std::string_view bytes);

// For showing an untrusted name in a notice: C0/C1 controls, DEL and bidi/direction marks become
// `\uXXXX`, bytes that are not UTF-8 become `\xNN`; everything else is kept.
std::string escape_for_display(std::string_view untrusted);

}  // namespace mugai::sanitize
