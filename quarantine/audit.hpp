// The quarantine audit trail: one JSON object per line, each carrying the SHA-256 of the line before it
// (a hash chain), appended under an exclusive flock and fsync'd, so the gateway and mugaictl can both
// write and an edited, deleted or reordered record is found by verify_audit() (the last one too, with
// the anchor the quarantine index keeps).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.hpp"

namespace mugai::quarantine {

// Keys and values of one flat JSON object, in order; numbers are kept as their digits.
using AuditFields = std::vector<std::pair<std::string, std::string>>;

// The newest record: its sequence number and the SHA-256 of its line. The chain cannot vouch for its own
// last record (nothing after it carries its hash), so the quarantine index keeps this as an anchor.
struct AuditHead {
  std::uint64_t seq = 0;
  std::string sha256;
};

class AuditLog {
 public:
  explicit AuditLog(std::string path) : path_(std::move(path)) {}
  // Appends {"seq":N,"unix":T,"time":"…Z","event":E,"operator":O, fields…, "prev":H}. Values longer
  // than 4 KiB are cut, so a record always fits the tail window append() reads back.
  // Returns the head it wrote.
  Expected<AuditHead> append(std::string_view event, std::string_view operator_name, const AuditFields& fields,
                             std::int64_t now_unix) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct AuditRecord {
  std::size_t line = 0;  // 1-based
  AuditFields fields;    // seq, unix, time, event, operator, …, prev
  std::string text;      // the line as stored
  std::string_view get(std::string_view key) const;
};

// Records with unix >= since_unix. A line that does not parse is an error naming it.
Expected<std::vector<AuditRecord>> read_audit(const std::string& path, std::int64_t since_unix);

struct AuditCheck {
  std::size_t records = 0;
  std::size_t first_bad_line = 0;  // 0 = the chain is intact
  std::string problem;
};
// Checks the chain and, given the anchor the index keeps, that the record it names is still there
// unchanged (records written after it are fine: a crash can fall between the append and the anchor).
Expected<AuditCheck> verify_audit(const std::string& path, const std::optional<AuditHead>& anchor);

// Parses one flat JSON object of string and integer values (what append() writes); anything else,
// nested values included, is an Error.
Expected<AuditFields> parse_flat_object(std::string_view line);

}  // namespace mugai::quarantine
