// The walk: one decision per leaf part of a message (and of the messages forwarded and the archives
// attached inside it, entry by entry), by the policy's rule for its detected type, with every artefact a sanitizer offers checked again before
// it is accepted. Values only: what to put in the body, what to attach, which originals only the
// quarantine keeps, the report's rows, or the reason that holds the whole message back.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sanitizers/policy.hpp"
#include "sanitizers/prescan.hpp"
#include "sanitizers/quarantine_record.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {

using Clock = std::chrono::steady_clock;

// An accepted artefact as the report and the notice describe it.
struct ArtefactSummary {
  std::string content_type;
  std::string filename;  // as it will be shown and sent (safe_filename)
  std::size_t size = 0;
  std::string sha256;
};

// One row of the report.
struct PartReport {
  std::string path;
  std::string declared_type;
  std::string detected_type;
  std::string filename;  // display-safe
  std::string decision;  // "kept", "replaced", "removed", "container", "inlined"
  std::string sanitizer;
  std::size_t size = 0;
  std::string sha256;
  std::string reason;
  std::vector<std::string> flags;
  std::vector<ArtefactSummary> artefacts;  // "replaced": what takes the part's place
  unsigned pages = 0;                      // "replaced" by a renderer: pages rendered
  std::int64_t timing_us = 0;
};

// A part whose original only the quarantine keeps: listed in the notice and the quarantine record.
struct HeldPart {
  RemovedPart part;
  std::vector<std::string> flags;
  bool replaced = false;  // by artefacts (and maybe text); otherwise removed
};

// What ends the walk and holds the whole message back.
struct Stop {
  std::string reason;
  std::optional<LimitBreach> breach;
  bool rejected = false;
  bool unparseable = false;  // inside a forwarded message only that part is lost
  bool retry_later = false;  // the host failed, not the message: nothing is held, the message is tried again
  bool awaiting_password = false;  // an archive needs a password (archive.encrypted = "pair", window open)
};

// What the walk may use to open encrypted archives (MessageContext's fields of the same names).
struct ArchiveKeys {
  std::vector<std::string> passwords;
  std::string source;             // where they came from, for the notice
  bool pair_window_over = false;
};

struct Walk {
  std::vector<std::string> texts;     // body text in order: kept parts, forwarded-message summaries
  std::vector<Artefact> attachments;  // checked artefacts in order, filenames already safe
  // Files mode only (sanitize_file): each kept text as a text/plain file named after its part, in place
  // of `texts` (which then holds forwarded-message summaries only); a rendering's text stays in its PDF.
  std::vector<Artefact> text_files;
  std::vector<HeldPart> held;
  std::vector<PartReport> parts;      // every part decided before the end (or the stop)
  std::vector<LimitBreach> breaches;
  std::size_t replacement_chars = 0;
  std::size_t dropped_controls = 0;
  std::optional<Stop> stop;           // set: nothing of the walk is delivered
  bool encrypted_refused = false;     // archive.encrypted = "reject" removed an encrypted entry
  bool archive_unlocked = false;      // a password of ArchiveKeys opened an entry
};

// Held parts that were replaced (the others were removed).
std::size_t count_replaced(const Walk& walk);

// `start` is when the message's sanitization began (max_time_per_message counts from it).
Walk walk_message(std::string_view untrusted_message, const Policy& policy, Clock::time_point start,
                  const ArchiveKeys& keys = {});
// One file (sanitize_file) in files mode, its part path "1": like an archive entry, it declares no type
// and is taken as what its content reads as; `untrusted_name` is shown escaped and names its results.
Walk walk_file(std::string_view untrusted_file, std::string_view untrusted_name, const Policy& policy,
               Clock::time_point start, const ArchiveKeys& keys);

std::int64_t micros(Clock::duration d);

}  // namespace mugai::sanitize
