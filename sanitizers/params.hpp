// Content-Type / Content-Disposition parameters as readers see them: RFC 2045 tokens and quoted
// strings, RFC 2231 extended values and continuations decoded to UTF-8, and every duplicate reported
// so the pipeline can take the cautious reading (e.g. of a repeated boundary).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mugai::sanitize {

struct Params {
  // Lowercase name → value. Plain values are unquoted but otherwise raw (RFC 2047 words included);
  // RFC 2231 values (name*=charset''%XX, name*0*=..., name*1=...) are joined and decoded to UTF-8 and
  // take precedence over a plain value of the same name.
  std::map<std::string, std::string> values;
  // Lowercase names given more than once ("boundary", or "filename*1" for a repeated segment); the
  // first occurrence is the one in `values`.
  std::vector<std::string> duplicates;
};

// `untrusted_field` is the whole unfolded field value, e.g. `attachment; filename="a.txt"`; the
// leading type/disposition token is skipped.
Params parse_params(std::string_view untrusted_field);

// The attachment name for showing to people: `filename`, else `name`, RFC 2231 / RFC 2047 decoded
// to UTF-8 (including the non-standard encoded words Outlook and Thunderbird put in quoted values),
// then made safe with escape_for_display (bidi marks, C0/C1 controls shown as `\uXXXX`). "" if none.
std::string display_filename(const Params& params);

}  // namespace mugai::sanitize
