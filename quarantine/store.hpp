// The embedded quarantine store: each original encrypted at rest (AES-256-GCM) in a content-addressed
// blob, indexed in SQLite (WAL, so the gateway writes while mugaictl reads), every event audited.
// Guarantees: a blob is fsync'd before its index row commits and the row commits before put() returns;
// an id is stored once, never overwritten; a blob whose GCM tag fails is reported as tampered, never
// returned as if valid.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "quarantine/audit.hpp"
#include "sanitizers/quarantine_record.hpp"

namespace mugai::quarantine {

// held → releasing (claimed: one release at a time) → released (its copy durably in the gateway's queue);
// releasing → held when the copy was never spooled. held/released → deleted or expired.
enum class EntryStatus { Held, Releasing, Released, Deleted, Expired };
std::string_view status_name(EntryStatus s);
std::optional<EntryStatus> parse_status(std::string_view name);

struct QuarantineEntry {
  std::string id;                    // "Q7K4-M2PX"
  sanitize::QuarantineRecord record;
  std::int64_t stored_unix = 0;
  std::size_t size = 0;              // bytes of the original
  std::string sha256;                // of the original; names its blob
  EntryStatus status = EntryStatus::Held;
  std::int64_t retain_until = 0;
  std::string status_by;             // operator of the last status change
  std::int64_t status_unix = 0;
  std::string status_reason;
};

struct ReleaseRequest {
  std::int64_t number = 0;
  std::string entry_id;
  std::string requested_by;
  std::int64_t requested_unix = 0;
  std::string reason;
  std::vector<std::string> rcpt_to;  // empty = the original recipients
  std::string approved_by;           // empty while pending
  std::int64_t approved_unix = 0;
  std::int64_t requested_uid = -1;   // -1: requested before identities were checked
  std::int64_t approved_uid = -1;
};

// What the gateway's configuration says about releases, and whether the operator asking is one of
// quarantine.approvers (the caller resolves that against the system's accounts and groups).
struct ReleaseRules {
  bool requires_approval = false;  // quarantine.release_requires_approval
  bool to_others = false;          // quarantine.release_to_others
  bool operator_is_approver = false;
};

// A release as the index records it: claimed (the entry is `releasing`), then spooled or abandoned.
enum class ReleaseState { Claimed, Spooled, Abandoned };
struct ReleaseClaim {
  std::int64_t number = 0;
  std::string entry_id;
  std::string spool_id;              // chosen before the copy is spooled, so a crash can be told apart
  std::vector<std::string> rcpt_to;  // never empty
  std::string reason;
  Operator by;
};

struct ListFilter {
  std::int64_t since_unix = 0;       // received at or after
  std::string from;                  // envelope sender, exact (case-insensitive)
  std::string to;                    // one of the recipients, exact (case-insensitive)
  std::string reason;                // substring of the entry's or a part's reason
  std::optional<EntryStatus> status;
  std::size_t limit = 50;
};

struct Count {
  std::string key;
  std::int64_t count = 0;
};
struct QuarantineStats {
  std::vector<Count> by_status, by_reason, by_type, top_senders;
};

// The traffic facts the self-inspection report (`mugaictl report`) counts, kept beside the entries
// because the index is the one database the gateway writes. Written once a message's sanitizing run
// ends (a later run of the same queue id replaces its row: only the last outcome counts), and dropped by
// the retention sweep (purge() without a cutoff) once older than quarantine.retention.
struct TrafficPart {
  std::string detected_type;
  std::string decision;   // the walk's: kept, replaced, removed, unpacked, inlined, container
  std::string reason;
  std::string sanitizer;
  std::int64_t pages = 0; // pages rendered (pdf_render, office_render), else 0
};
struct TrafficRecord {
  std::string queue_id;
  std::int64_t arrival_unix = 0;
  std::int64_t done_unix = 0;
  std::size_t size = 0;
  std::string verdict;        // sanitized, quarantined, rejected, awaiting-password, failed
  std::string reason;
  std::string quarantine_id;  // empty when nothing was held
  std::string ppap;           // "", paired, pair-failed, window-expired, refused, awaiting
  std::vector<TrafficPart> parts;
};
// One delivery attempt of a spool entry (`route`: next-hop, maildir, bounce), by recipients.
struct DeliveryRecord {
  std::string queue_id;
  std::int64_t unix_time = 0;
  std::string route;
  std::int64_t sent = 0, bounced = 0, deferred = 0;
};
// A sanitizing run the worker did not finish (`kind`: message-failed = crashed, timed out or ran out of
// memory on it; unavailable = no worker could be had).
struct WorkerFailure {
  std::string queue_id;
  std::int64_t unix_time = 0;
  std::string kind;
  std::string detail;
};

// What the report reads back, for records at or after `since_unix` (read-only: safe while the gateway runs).
struct TrafficFacts {
  std::vector<TrafficRecord> messages;  // by arrival
  std::vector<DeliveryRecord> deliveries;
  std::vector<WorkerFailure> failures;
};
Expected<TrafficFacts> read_traffic(const std::string& quarantine_dir, std::int64_t since_unix);

struct StoreOptions {
  std::string dir;
  std::string key_file;        // resolved: never empty
  std::string audit_log;       // resolved: never empty
  std::string audit_key_file;  // resolved: never empty
  // Sees every audit record's head as it is appended (the gateway logs it: a copy off the host).
  std::function<void(std::string_view event, const AuditHead&)> on_audit;
  std::chrono::seconds retention{90 * 24 * 3600};
  bool create = false;         // create the directory, index and key on first use (the gateway does)
  Operator self;               // recorded on the events this store performs for itself (stored, shown)
};
// Resolves the config's defaults (key file and audit log inside quarantine.dir).
StoreOptions store_options(const config::Config& cfg, bool create, Operator self);

// The keyed audit anchor and the entry count kept in the index of `quarantine_dir` (read-only; verify_audit
// checks the anchor with the audit key). Empty when there is no index yet.
Expected<AnchorState> read_audit_anchor(const std::string& quarantine_dir);

// "q7k4m2px", "Q7K4-M2PX", "Q7K4-M2PO" (O read as 0) → "Q7K4-M2P0"; Error for anything else.
Expected<std::string> normalize_id(std::string_view untrusted_id);

class QuarantineDb {
 public:
  static Expected<std::unique_ptr<QuarantineDb>> open(StoreOptions options);
  ~QuarantineDb();
  QuarantineDb(const QuarantineDb&) = delete;
  QuarantineDb& operator=(const QuarantineDb&) = delete;

  // A fresh random id ("Q7K4-M2PX", 40 bits), allocated before sanitizing so the notice can cite it;
  // put() refuses it if it is taken. Needs no store: callers may allocate before opening one.
  static Expected<std::string> new_id();
  // Stores the whole original with its record under `id` (from new_id()). An id already in the index is
  // an error, the entry there is left as it was. Safe from any thread: one connection behind a mutex;
  // SQLite's lock orders it against mugaictl.
  Status put(std::string_view original, const sanitize::QuarantineRecord& record, const std::string& id);

  Expected<std::vector<QuarantineEntry>> list(const ListFilter& filter);
  Expected<QuarantineEntry> get(std::string_view untrusted_id);
  // Decrypts the entry's original; a failed tag or digest is an Error saying so, and is audited.
  Expected<std::string> original(const QuarantineEntry& entry);
  Expected<QuarantineStats> stats(std::int64_t since_unix, std::size_t top);
  Expected<std::vector<ReleaseRequest>> release_requests(const std::string& id);

  // Status changes, each one write transaction: it checks the current status, names the id in its errors,
  // and is audited under `by`. Recipients (`rcpt_to`, empty = the original ones) must be original
  // recipients unless rules.to_others.
  //
  // The two-person rule, step one: an approver asks for the release of a held entry (one pending
  // request at a time).
  Status request_release(const std::string& id, const std::vector<std::string>& rcpt_to, const std::string& reason,
                         const Operator& by, const ReleaseRules& rules);
  // Step two: another approver (another uid than the requester's) approves; the approval and the claim
  // of the release (held → releasing) are one transaction, so nothing else can release it meanwhile.
  Expected<ReleaseClaim> approve(const std::string& id, const std::string& spool_id, const Operator& by,
                                 const ReleaseRules& rules);
  // A release without the two-person rule: held → releasing, audited ("releasing") before the caller
  // spools anything. A second claim of the same entry fails: it is no longer held.
  Expected<ReleaseClaim> claim_release(const std::string& id, const std::vector<std::string>& rcpt_to,
                                       const std::string& reason, const std::string& spool_id, const Operator& by,
                                       const ReleaseRules& rules);
  // releasing → released once the copy is durably spooled (`at_start`: found spooled after a crash).
  Status complete_release(const ReleaseClaim& claim, bool at_start);
  // releasing → held: the copy was never spooled.
  Status abandon_release(const ReleaseClaim& claim, const std::string& problem);
  Expected<std::vector<ReleaseClaim>> releases(ReleaseState state);
  Status remove(const std::string& id, const std::string& reason, const Operator& by);
  // Expires held/released entries past their retention deadline, or stored before `older_than_unix`
  // when given; their blobs go once nothing else references them. Returns the expired ids. Each
  // expiry is audited; the run itself too, unless it found nothing and `audit_empty_run` is false (the
  // gateway's periodic sweep, which would otherwise add a record an hour).
  Expected<std::vector<std::string>> purge(std::int64_t now_unix, std::optional<std::int64_t> older_than_unix,
                                           const Operator& by, bool audit_empty_run = true);

  // The report's facts, each one transaction. The gateway calls them on its thread pool and only logs
  // a failure: a record the report misses never holds up or loses the mail.
  Status record_traffic(const TrafficRecord& r);
  Status record_delivery(const DeliveryRecord& r);
  Status record_worker_failure(const WorkerFailure& r);

  // Audits an event this store does not perform itself (shown, exported; refusals), as `self` or `by`.
  Status audit(std::string_view event, const AuditFields& fields);
  Status audit(const Operator& by, std::string_view event, const AuditFields& fields);
  const StoreOptions& options() const { return options_; }
  const Operator& self() const { return options_.self; }

 private:
  QuarantineDb(StoreOptions options, sqlite3* db, std::string key, std::string audit_key);
  Status exec(const char* sql);
  Expected<QuarantineEntry> get_locked(const std::string& id);
  template <typename Step>
  auto in_write_tx(Step step) -> decltype(step());
  Status set_status_locked(const std::string& id, std::initializer_list<EntryStatus> from, EntryStatus to,
                           const std::string& reason, const Operator& by);
  Expected<ReleaseClaim> claim_locked(const QuarantineEntry& entry, const std::vector<std::string>& rcpt_to,
                                      const std::string& reason, const std::string& spool_id, const Operator& by,
                                      const ReleaseRules& rules);
  Status settle_locked(const ReleaseClaim& claim, EntryStatus to, ReleaseState state);
  Expected<ReleaseClaim> announce(ReleaseClaim claim, const ReleaseRequest* approved);
  Status drop_blob_if_unused_locked(const std::string& sha256);
  std::string blob_path(const std::string& sha256) const;

  StoreOptions options_;
  sqlite3* db_;
  std::string key_;  // 32 bytes
  AuditLog audit_;
  std::mutex mu_;
};

}  // namespace mugai::quarantine
