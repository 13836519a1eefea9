// The sanitization policy: limits, output form, and the ordered rules that map a part's detected type
// to an action and the sanitizers to try. Fail closed: a type no rule matches is stripped, and a
// convert rule whose sanitizers all decline removes the part too.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "sanitizers/html_text.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {

struct Limits {
  std::size_t max_depth = 10;                 // MIME nesting depth (message/rfc822 included)
  std::size_t max_parts = 200;                // parts in the whole tree
  std::size_t max_decoded_part = 32 * 1024 * 1024;
  std::size_t max_decoded_total = 64 * 1024 * 1024;
  std::chrono::milliseconds max_time_per_message{30'000};  // checked between parts
  // Any one header block (top level, a part's, an embedded message's); all of them together may
  // take 16 times this. mimetic grows header buffers quadratically, so this bounds its time.
  std::size_t max_header_section = 64 * 1024;
  std::size_t max_line_length = 1024 * 1024;  // longest raw line, line end included
  // Each artefact a sanitizer puts in a part's place; all artefacts of a message together are bounded
  // by max_decoded_total, their number by max_parts. Crossing either removes that part instead.
  std::size_t max_artefact_size = 32 * 1024 * 1024;
};

enum class Action {
  Convert,     // the first listed sanitizer that keeps the part wins; none does → removed
  Render,      // to pixels (a safe file in the part's place); the first listed renderer that can wins
  Strip,       // removed; the original is kept in quarantine and listed in the notice
  Unpack,      // an archive: every entry goes through the rules again (walk.cpp, archive.hpp)
  Quarantine,  // the whole message is held in quarantine, nothing is delivered
  Reject,      // the whole message is refused (held in quarantine, reported as rejected)
};

struct Rule {
  std::string type;                     // "text/plain", "text/*" or "*", lowercase
  Action action = Action::Strip;
  std::vector<std::string> sanitizers;  // registry names, tried in order (convert, render)
};

// The detected types an archive is unpacked as (the default rules' unpack types): every format is
// enabled one by one in archive.cpp, never libarchive's "all".
inline constexpr std::array<std::string_view, 11> kArchiveTypes{
    "application/zip",         "application/x-7z-compressed", "application/x-rar",  "application/x-tar",
    "application/gzip",        "application/x-bzip2",         "application/x-xz",   "application/zstd",
    "application/x-compress",  "application/x-lzh-compressed", "application/vnd.ms-cab-compressed"};

// [archive]: the bounds of unpacking, counted as bytes are read (never from headers), and what becomes
// of an archive that needs a password.
struct ArchivePolicy {
  std::size_t max_depth = 3;                       // archives inside archives, the outermost being 1
  std::size_t max_entries = 1000;                  // entries of one attached archive, nested ones included
  std::size_t max_total_size = 256 * 1024 * 1024;  // bytes extracted from one attached archive, nested included
  unsigned max_ratio = 100;                        // extracted : compressed bytes, per entry and overall
  enum class Encrypted {
    Pair,        // the message waits for its password mail (MessageContext::pair_window_over)
    Quarantine,  // removed at once; the notice says how to have it unlocked
    Reject,      // removed; the sender is told such archives are not accepted (Outcome::encrypted_refused)
  } encrypted = Encrypted::Pair;
};

// text/plain → text_plain, text/html → html_text, application/pdf → pdf_render, JPEG/PNG/GIF/BMP/TIFF/WebP
// → image_render, Office/OpenDocument/RTF → office_render, kArchiveTypes → unpack, everything else (SVG included) stripped.
std::vector<Rule> default_rules();

struct Policy {
  Limits limits;
  std::string output_charset = "UTF-8";  // or "ISO-2022-JP"
  LinkPolicy links = LinkPolicy::Defang;
  std::string notice_template;           // template text; empty = the built-in Japanese+English one
  // The notice on a message from which nothing was removed (an HTML body converted to text still tells
  // the reader why it looks plain): nullopt = the built-in one, "" = no notice on such messages.
  std::optional<std::string> clean_notice_template;
  std::vector<Rule> rules = default_rules();
  RenderSettings render;                 // [render]
  ArchivePolicy archive;                 // [archive]
  // Sanitizers a program adds for this policy (never from config): a test's stand-in, later a renderer
  // running elsewhere. Rules find them by name() before the registered ones. Not owned: they must
  // outlive every use of the policy.
  std::vector<const Sanitizer*> added_sanitizers;
  // Who converts office documents for office_render (never from config; not owned, outlives every
  // use): the worker's channel to the gateway. None here: office documents are removed.
  const DocumentConverter* converter = nullptr;
};

// "keep"/"defang"/"remove", "convert"/.../"reject": the spelling used in config and reports.
std::string_view action_name(Action action);
Expected<Action> parse_action(std::string_view word);

// A rule's type pattern: "*", "type/*" or "type/subtype" (RFC 2045 token characters, lowercase).
bool valid_type_pattern(std::string_view pattern);
bool type_matches(std::string_view pattern, std::string_view type);
// The first rule matching `type`, or nullptr (then the part is stripped).
const Rule* match_rule(const std::vector<Rule>& rules, std::string_view type);

// Notice templates: UTF-8 text with the placeholders below; anything else in braces is an error, so a
// typo cannot silently end up in every delivered notice.
//   {quarantine_id}  the quarantine id of the original
//   {removed_count}  how many parts were removed or replaced (their originals are in quarantine)
//   {parts}          one line per such part (name, declared and detected type, size, SHA-256, reason)
inline constexpr std::size_t kMaxNoticeTemplate = 16 * 1024;
Status check_notice_template(std::string_view tmpl);
// `tmpl` must have passed check_notice_template (or be empty for the built-in one).
std::string render_notice(std::string_view tmpl, std::string_view quarantine_id, std::size_t removed_count,
                          std::string_view parts);
// The notice for a sanitized message from which nothing was removed; empty when the policy turned it off.
std::string clean_notice(const Policy& policy);

// The registered sanitizer `name` configured with the given link handling, or nullptr.
const Sanitizer* find_sanitizer(std::string_view name, LinkPolicy links);
// What a rule of `policy` naming `name` runs: an added sanitizer of that name, else the registered one
// with the policy's link handling, else nullptr.
const Sanitizer* find_sanitizer(const Policy& policy, std::string_view name);
// Every registered name, in registry order (for config errors).
std::vector<std::string_view> sanitizer_names();

}  // namespace mugai::sanitize
