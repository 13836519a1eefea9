// Charset handling for the pipeline: conversion to UTF-8 that never fails (invalid input becomes
// U+FFFD, counted), detection when the label is missing or wrong (never silent: a note says so),
// ISO-2022-JP in its Windows (CP50221) reading, output encoding, and safe display of untrusted names.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mugai::sanitize {

struct Utf8Text {
  std::string text;               // valid UTF-8
  std::size_t replacements = 0;   // U+FFFD inserted for bytes that did not decode
  bool charset_known = true;      // false: the label was unknown or unsafe and the charset was detected
  std::string charset;            // what was actually used, e.g. "CP932" (canonical, safe to log)
  std::string note;               // set when detection overrode or replaced the label, for the report
};

// Converts `untrusted` from the charset named by `untrusted_charset` (a MIME label) to UTF-8.
// - Labels map to the superset real mailers mean: Shift_JIS → CP932, EUC-JP → EUC-JP-MS, ISO-2022-JP →
//   CP50221 (NEC row 13, IBM extensions, ESC ( I kana), GB2312/GBK → GB18030, Big5 → CP950,
//   EUC-KR/ks_c_5601-1987 → CP949, ISO-8859-1/US-ASCII → Windows-1252.
// - Missing label: detected (valid UTF-8; ESC $ B → ISO-2022-JP; else CP932 vs EUC-JP by validity).
// - A label that does not decode cleanly is replaced by a detected charset that does (with a note);
//   UTF-8 content under a single-byte label (ISO-8859-*, Windows-125x) is read as UTF-8 (with a note).
Utf8Text to_utf8(std::string_view untrusted, std::string_view untrusted_charset);

struct EncodedText {
  std::string bytes;                // in `charset`; ISO-2022-JP output is 7-bit and back in ASCII at every LF
  std::string charset;              // the MIME label to declare: "UTF-8" or "ISO-2022-JP"
  std::size_t unrepresentable = 0;  // characters written as 〓 (U+3013) because the charset lacks them
};

// True for the output charsets encode_output() supports (UTF-8, ISO-2022-JP; case-insensitive).
bool output_charset_supported(std::string_view charset);

// Encodes valid UTF-8 for delivery. ISO-2022-JP is written the way Windows CP50221 reads it (NEC and
// IBM extensions in JIS rows 13 and 89-92, ～ as 0x2141), half-width katakana become full-width
// (legacy readers do not know ESC ( I). Unsupported charsets fall back to UTF-8 (see `charset`).
EncodedText encode_output(std::string_view utf8, std::string_view charset);


// For showing an untrusted name in a notice: C0/C1 controls, DEL, bidi/direction marks and the line
// and paragraph separators become `\uXXXX`, bytes that are not UTF-8 become `\xNN`; everything else
// is kept. Idempotent.
std::string escape_for_display(std::string_view untrusted);

}  // namespace mugai::sanitize
