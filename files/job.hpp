// The trusted side of one file's 無害化, shared by `mugaictl sanitize-file` and the gateway's watched
// folder: the context a worker gets, what a worker's outcome (or its failure) makes of the file, the
// JSON report that goes beside the result, and crash-safe placement of both. The bytes are only ever
// parsed in a worker; here they are hashed and stored.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.hpp"
#include "config/config.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/quarantine_record.hpp"
#include "worker/spawn.hpp"

namespace mugai::files {

struct Input {
  std::string name;           // as it came (a directory entry or the command line's base name); untrusted
  std::string_view bytes;     // the original
  std::string id;             // names the file in logs, the audit trail and its quarantine record
  std::string quarantine_id;  // allocated before the worker runs (QuarantineDb::new_id)
  std::int64_t received_unix = 0;
};

// The worker's request for `in` (file mode; no password mail can follow a file).
sanitize::MessageContext context(const config::Config& cfg, const Input& in);

// The worker limits for files and messages alike: the frame bound follows largest_input().
worker::Limits worker_limits(const config::Config& cfg);

struct Result {
  enum class Decision { Sanitized, Removed, Retry } decision = Decision::Removed;
  std::string name;      // Sanitized: the result's file name, safe (no separator, control or device name)
  std::string type;      // Sanitized: one of sanitize::kFileResultTypes
  std::string bytes;     // Sanitized: the safe result
  std::string reason;    // what became of the file, for stderr, the log and the report
  std::string detected_type;  // of the original, as the worker detected it ("" when it failed)
  // The original is to be stored under in.quarantine_id with this record (not on Retry).
  std::optional<sanitize::QuarantineRecord> quarantine;
  std::string parts_json;  // the worker's per-part rows (a JSON array), "[]" when it failed
};

// What the worker's outcome (or its Error: a crash, a timeout, garbage) makes of `in`. Retry: the host
// could not run a converter, nothing is decided. A crash removes the file (fail closed) and keeps it.
Result result(const Input& in, Expected<sanitize::Outcome> outcome);

// The report beside the result (or alone when nothing was safe): original name, size, SHA-256,
// detected type, decision, reason, the result's name, type, size and SHA-256, the quarantine id
// ("" = not kept: mugaictl without --config), time and parts. One JSON object, pretty-printed.
std::string report_json(const Input& in, const Result& r, std::string_view quarantine_id, std::int64_t now_unix);

// A file over files.max_size, never read (so neither hashed, sanitized nor quarantined): a Removed result
// saying so, its report and its audit fields ("file-removed"), which give the size it had and no SHA-256.
Result refused(std::size_t max_size);
std::string refused_report_json(const Input& in, std::uint64_t size, const Result& r, std::int64_t now_unix);
std::vector<std::pair<std::string, std::string>> refused_audit_fields(const Input& in, std::uint64_t size,
                                                                      const Result& r, std::string_view where);

// "<result or original's safe name>.report.json": never a name the LGWAN side would run.
std::string report_name(const Input& in, const Result& r);

// The audit fields of one file's outcome ("file-sanitized" or "file-removed" records).
std::string_view audit_event(const Result& r);
std::vector<std::pair<std::string, std::string>> audit_fields(const Input& in, const Result& r,
                                                              std::string_view quarantine_id, std::string_view where);

// Writes `bytes` to `dir`/`name` atomically: a temporary file in `tmp_dir` (same file system as `dir`),
// fsync'd, renamed into place, the directory fsync'd. `replace` = false: an existing name is an Error,
// and is left alone.
Status place(const std::string& tmp_dir, const std::string& dir, const std::string& name, std::string_view bytes,
             bool replace);

// The first of sanitize::numbered_name(name, 1, 2, ...) that `taken` says is free.
std::string free_name(const std::string& name, const std::function<bool(const std::string&)>& taken);

}  // namespace mugai::files
