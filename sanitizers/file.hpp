// sanitize_file(): one file (not a message) through the same walk, rules and sanitizers as a mail
// attachment, for `mugaictl sanitize-file` and the watched folder. Pure like sanitize_message: the
// result is only what a sanitizer positively made safe (an image PDF, a re-encoded image, UTF-8 text,
// or for an archive a zip of its entries' safe results), and the original is always to be quarantined.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "sanitizers/pipeline.hpp"

namespace mugai::sanitize {

// The types a file's safe result may have, with the extension its name ends in.
inline constexpr std::array<ArtefactType, 5> kFileResultTypes{{
    {"application/pdf", ".pdf"},
    {"image/png", ".png"},
    {"image/jpeg", ".jpg"},
    {"text/plain", ".txt"},
    {"application/zip", ".zip"},
}};
const ArtefactType* file_result_type(std::string_view content_type);

// "見積.pdf" for n = 1, "見積 (2).pdf" for 2, ...: the n-th of several files that want one name.
std::string numbered_name(std::string_view name, unsigned n);

// ctx.file must be set (ctx.file_name: the name it came with). Sanitized: `message` holds the result,
// `file_name` and `file_type` name it; Quarantined: nothing could be made safe (`reason` says why);
// Failed: the host could not run a sanitizer, try again later. Every Sanitized or Quarantined outcome
// carries the quarantine record of the original. pair_window_over is taken as set: no password mail
// can follow a file.
Outcome sanitize_file(std::string_view untrusted_file, const MessageContext& ctx, const Policy& policy);

}  // namespace mugai::sanitize
