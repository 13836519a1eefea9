// The quarantine audit trail: one JSON object per line, each carrying the SHA-256 of the line before it
// (a hash chain) and, last, an HMAC-SHA-256 of itself under the audit key (a file of its own, apart
// from the log and the index), appended under an exclusive flock and fsync'd. Whoever can write the
// log but lacks the key can neither edit a record nor re-chain the log after removing some: verify_audit()
// names the first wrong record, and, with the keyed anchor the quarantine index keeps, a cut tail too.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.hpp"

namespace mugai::quarantine {

// "2026-12-02T15:04:05Z", as records and reports write times.
std::string iso_time(std::int64_t unix);

// Keys and values of one flat JSON object, in order; numbers are kept as their digits.
using AuditFields = std::vector<std::pair<std::string, std::string>>;

// Who a record names: an OS account, by uid and the name it had then (the gateway takes the uid from
// the admin socket's peer credentials, never from what a client says).
struct Operator {
  std::int64_t uid = -1;
  std::string name;
};

// The newest record: its sequence number and the SHA-256 of its line. The chain cannot vouch for its own
// last record (nothing after it carries its hash), so the quarantine index keeps this as an anchor.
struct AuditHead {
  std::uint64_t seq = 0;
  std::string sha256;
  std::string mac;  // HMAC of (seq, sha256) under the audit key: an anchor cannot be rewound to an older record
};

// The anchor's tag (AuditHead::mac) for `head` under `key`.
std::string anchor_mac(std::string_view key, const AuditHead& head);

class AuditLog {
 public:
  // `on_append` (optional) sees every record's head as it is appended: the gateway copies it to its log
  // target, so a copy off the host can check the chain.
  AuditLog(std::string path, std::string key, std::function<void(std::string_view event, const AuditHead&)> on_append)
      : path_(std::move(path)), key_(std::move(key)), on_append_(std::move(on_append)) {}
  // Appends {"seq":N,"unix":T,"time":"…Z","event":E,"operator":O,"uid":U, fields…, "prev":H, "mac":M}.
  // Values longer than 4 KiB are cut, so a record always fits the tail window append() reads back.
  // Returns the head it wrote, its anchor tag included.
  Expected<AuditHead> append(std::string_view event, const Operator& by, const AuditFields& fields,
                             std::int64_t now_unix) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string key_;
  std::function<void(std::string_view, const AuditHead&)> on_append_;
};

struct AuditRecord {
  std::size_t line = 0;  // 1-based
  AuditFields fields;    // seq, unix, time, event, operator, uid, …, prev
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
// What the quarantine index says about the log: its keyed anchor (nullopt: none) and how many entries it
// holds (an index with entries and no anchor has lost it).
struct AnchorState {
  std::optional<AuditHead> head;
  std::int64_t entries = 0;
};

// How many records may follow the anchor: each writer (the gateway, one mugaictl) can crash between its
// append and its anchor update.
inline constexpr std::uint64_t kAnchorLag = 2;

// Checks each record's MAC under `key`, the sequence and the chain, and the anchor: present whenever the
// index holds entries, correctly keyed, naming a record that is still there unchanged, and at most
// kAnchorLag records behind the end.
Expected<AuditCheck> verify_audit(const std::string& path, std::string_view key, const AnchorState& anchor);

// Parses one flat JSON object of string and integer values (what append() writes); anything else,
// nested values included, is an Error.
Expected<AuditFields> parse_flat_object(std::string_view line);

}  // namespace mugai::quarantine
