// QuarantineDb: SQLite index (index.sqlite, WAL, schema migrations by PRAGMA user_version) over
// AES-256-GCM blobs named by the SHA-256 of the plaintext (blobs/<hex>: magic, 96-bit random nonce,
// ciphertext, tag; the hex name is the GCM AAD, so a blob moved under another name fails its tag).
// Writes take SQLite's write lock first (BEGIN IMMEDIATE), so a blob is never dropped by one process
// while another is about to reference it.
#include "quarantine/store.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>

#include "common/ascii.hpp"
#include "common/id.hpp"
#include "common/key_file.hpp"
#include "common/hex.hpp"
#include "common/durable_file.hpp"
#include "common/unix_time.hpp"
#include "sanitizers/codec.hpp"

namespace mugai::quarantine {
namespace {

constexpr std::string_view kMagic{"MUGAIQ1\0", 8};
constexpr std::size_t kNonce = 12, kTag = 16;
static_assert(keyfile::kKeyBytes == 32, "AES-256-GCM takes a 32-byte key");
constexpr int kBusyTimeoutMs = 5000;

// Each element upgrades the schema by one version; never edit a shipped element, append a new one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE entries(
  id TEXT PRIMARY KEY, received_unix INTEGER NOT NULL, stored_unix INTEGER NOT NULL, queue_id TEXT NOT NULL,
  client_ip TEXT NOT NULL, helo TEXT NOT NULL, mail_from TEXT NOT NULL, rcpt_to TEXT NOT NULL,
  subject TEXT NOT NULL, message_id TEXT NOT NULL, reason TEXT NOT NULL, size INTEGER NOT NULL,
  sha256 TEXT NOT NULL, status TEXT NOT NULL, retain_until INTEGER NOT NULL,
  status_by TEXT NOT NULL DEFAULT '', status_unix INTEGER NOT NULL DEFAULT 0, status_reason TEXT NOT NULL DEFAULT '');
CREATE INDEX entries_received ON entries(received_unix);
CREATE INDEX entries_sha256 ON entries(sha256);
CREATE TABLE parts(
  entry_id TEXT NOT NULL REFERENCES entries(id), n INTEGER NOT NULL, filename TEXT NOT NULL,
  declared_type TEXT NOT NULL, detected_type TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
  reason TEXT NOT NULL, sanitizer TEXT NOT NULL, PRIMARY KEY(entry_id, n));
CREATE TABLE release_requests(
  number INTEGER PRIMARY KEY, entry_id TEXT NOT NULL REFERENCES entries(id), requested_by TEXT NOT NULL,
  requested_unix INTEGER NOT NULL, reason TEXT NOT NULL, rcpt_to TEXT NOT NULL,
  approved_by TEXT NOT NULL DEFAULT '', approved_unix INTEGER NOT NULL DEFAULT 0);
)sql",
    // Schema 2: the audit log's newest record (see AuditHead), so that verify
    // finds an edited or removed last record.
    R"sql(
CREATE TABLE audit_anchor(one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL, sha256 TEXT NOT NULL);
)sql",
    // Schema 3 (kKeyedAnchorSchema): the anchor carries its HMAC under the audit key, so it cannot be
    // rewound to an older record of a log cut short.
    R"sql(
ALTER TABLE audit_anchor ADD COLUMN mac TEXT NOT NULL DEFAULT '';
)sql",
    // Schema 4: operators by uid (the two-person rule compares accounts, not typed names), and each
    // release with the spool id of its copy, claimed before the copy is spooled.
    R"sql(
ALTER TABLE release_requests ADD COLUMN requested_uid INTEGER NOT NULL DEFAULT -1;
ALTER TABLE release_requests ADD COLUMN approved_uid INTEGER NOT NULL DEFAULT -1;
CREATE TABLE releases(
  number INTEGER PRIMARY KEY, entry_id TEXT NOT NULL REFERENCES entries(id), spool_id TEXT NOT NULL UNIQUE,
  rcpt_to TEXT NOT NULL, reason TEXT NOT NULL, operator_uid INTEGER NOT NULL, operator_name TEXT NOT NULL,
  claimed_unix INTEGER NOT NULL, state TEXT NOT NULL, settled_unix INTEGER NOT NULL DEFAULT 0);
CREATE INDEX releases_state ON releases(state);
)sql",
    // Schema 5: traffic facts for `mugaictl report` (see TrafficRecord): every message, not only the held.
    R"sql(
CREATE TABLE traffic(
  queue_id TEXT PRIMARY KEY, arrival_unix INTEGER NOT NULL, done_unix INTEGER NOT NULL, size INTEGER NOT NULL,
  verdict TEXT NOT NULL, reason TEXT NOT NULL, quarantine_id TEXT NOT NULL, ppap TEXT NOT NULL);
CREATE INDEX traffic_arrival ON traffic(arrival_unix);
CREATE TABLE traffic_parts(
  queue_id TEXT NOT NULL REFERENCES traffic(queue_id) ON DELETE CASCADE, n INTEGER NOT NULL,
  detected_type TEXT NOT NULL, decision TEXT NOT NULL, reason TEXT NOT NULL, sanitizer TEXT NOT NULL,
  pages INTEGER NOT NULL, PRIMARY KEY(queue_id, n));
CREATE TABLE deliveries(
  queue_id TEXT NOT NULL, unix INTEGER NOT NULL, route TEXT NOT NULL, sent INTEGER NOT NULL,
  bounced INTEGER NOT NULL, deferred INTEGER NOT NULL);
CREATE INDEX deliveries_unix ON deliveries(unix);
CREATE TABLE worker_failures(queue_id TEXT NOT NULL, unix INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
)sql",
};

constexpr std::int64_t kKeyedAnchorSchema = 3;
constexpr std::int64_t kTrafficSchema = 5;
static_assert(std::size(kMigrations) >= kTrafficSchema);

constexpr const char* kReleaseColumns = "number, entry_id, spool_id, rcpt_to, reason, operator_uid, operator_name";

constexpr const char* kEntryColumns =
    "id, received_unix, stored_unix, queue_id, client_ip, helo, mail_from, rcpt_to, subject, message_id, reason, "
    "size, sha256, status, retain_until, status_by, status_unix, status_reason";


// Recipients are validated mailboxes (no LF), so one per line is unambiguous.
std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto nl = s.find('\n');
    out.emplace_back(s.substr(0, nl));
    s = nl == std::string_view::npos ? std::string_view() : s.substr(nl + 1);
  }
  return out;
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : rc_(sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr)) {}
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool prepared() const { return rc_ == SQLITE_OK; }
  // Never binds NULL: an empty view is the empty string (the filters compare with '').
  Stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  void reset() { sqlite3_reset(stmt_); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Error db_error(sqlite3* db, std::string_view what) {
  return Error{"quarantine index: " + std::string(what) + ": " + sqlite3_errmsg(db)};
}

// A write transaction; rolled back unless commit() succeeded.
class WriteTx {
 public:
  explicit WriteTx(sqlite3* db) : db_(db), begun_(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK) {}
  ~WriteTx() {
    if (begun_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  WriteTx(const WriteTx&) = delete;
  WriteTx& operator=(const WriteTx&) = delete;
  Status begun() const { return begun_ ? Status(Ok{}) : Status(db_error(db_, "cannot begin a transaction")); }
  Status commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db_, "cannot commit");
    begun_ = false;
    return Ok{};
  }

 private:
  sqlite3* db_;
  bool begun_;
};

QuarantineEntry entry_from(const Stmt& s) {
  QuarantineEntry e;
  e.id = s.text(0);
  e.record.received_unix = s.integer(1);
  e.stored_unix = s.integer(2);
  e.record.queue_id = s.text(3);
  e.record.client_ip = s.text(4);
  e.record.helo = s.text(5);
  e.record.mail_from = s.text(6);
  e.record.rcpt_to = split_lines(s.text(7));
  e.record.subject = s.text(8);
  e.record.message_id = s.text(9);
  e.record.reason = s.text(10);
  e.size = static_cast<std::size_t>(s.integer(11));
  e.sha256 = s.text(12);
  e.status = parse_status(s.text(13)).value_or(EntryStatus::Held);
  e.retain_until = s.integer(14);
  e.status_by = s.text(15);
  e.status_unix = s.integer(16);
  e.status_reason = s.text(17);
  return e;
}

Expected<std::string> seal(const std::string& key, std::string_view plain, std::string_view aad) {
  std::string out(kMagic);
  out.resize(kMagic.size() + kNonce + plain.size() + kTag);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + kMagic.size());
  if (RAND_bytes(nonce, static_cast<int>(kNonce)) != 1) return Error{"no random bytes for a blob nonce"};
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  auto* ct = nonce + kNonce;
  int n = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                                      reinterpret_cast<const unsigned char*>(key.data()), nonce) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1;
  // EVP lengths are int: feed the message in chunks.
  for (std::size_t off = 0; ok && off < plain.size(); off += 1 << 20) {
    const std::size_t len = std::min<std::size_t>(1 << 20, plain.size() - off);
    ok = EVP_EncryptUpdate(ctx.get(), ct + off, &n, reinterpret_cast<const unsigned char*>(plain.data() + off),
                           static_cast<int>(len)) == 1;
  }
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), ct + plain.size(), &n) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTag), ct + plain.size()) == 1;
  if (!ok) return Error{"AES-256-GCM encryption failed"};
  return out;
}

// Error when the blob is malformed or its tag fails; never returns unauthenticated bytes.
Expected<std::string> open_sealed(const std::string& key, std::string_view blob, std::string_view aad) {
  if (blob.size() < kMagic.size() + kNonce + kTag || blob.substr(0, kMagic.size()) != kMagic) {
    return Error{"not a mugai quarantine blob"};
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(blob.data() + kMagic.size());
  const auto* ct = nonce + kNonce;
  const std::size_t len = blob.size() - kMagic.size() - kNonce - kTag;
  std::string plain(len, '\0');
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                                      reinterpret_cast<const unsigned char*>(key.data()), nonce) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1;
  for (std::size_t off = 0; ok && off < len; off += 1 << 20) {
    const std::size_t chunk = std::min<std::size_t>(1 << 20, len - off);
    ok = EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data() + off), &n, ct + off,
                           static_cast<int>(chunk)) == 1;
  }
  std::string tag(blob.substr(blob.size() - kTag));
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag), tag.data()) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &n) == 1;
  if (!ok) return Error{"the AES-GCM tag does not match"};
  return plain;
}

Expected<std::string> read_whole(const std::string& path, std::size_t expected_size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return durable::errno_error("cannot open", path);
  struct stat st {};
  std::string data;
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = "cannot stat " + path;
  } else if (static_cast<std::size_t>(st.st_size) != expected_size) {
    // Checked before allocating: the index says how big the blob must be.
    problem = "blob " + path + " has " + std::to_string(st.st_size) + " bytes, the index expects " +
              std::to_string(expected_size);
  } else {
    data.resize(expected_size);
    std::size_t got = 0;
    while (got < expected_size) {
      const ssize_t n = ::read(fd, data.data() + got, expected_size - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != expected_size) problem = "cannot read " + path;
  }
  ::close(fd);
  if (!problem.empty()) return Error{problem};
  return data;
}

// Errors of the status rules, worded once.
Error not_held(const QuarantineEntry& e) {
  return Error{"quarantine entry " + e.id + " is " + std::string(status_name(e.status)) + ", not held"};
}

Error not_an_approver(const Operator& by, std::string_view what) {
  return Error{by.name + " (uid " + std::to_string(by.uid) + ") is not in quarantine.approvers and may not " +
               std::string(what)};
}

std::string_view release_state_name(ReleaseState s) {
  switch (s) {
    case ReleaseState::Claimed: return "claimed";
    case ReleaseState::Spooled: return "spooled";
    case ReleaseState::Abandoned: return "abandoned";
  }
  return "claimed";
}

// Where a release goes: `wanted` (each once, compared case-insensitively) or, when empty, the original
// recipients; an address that is not one of those only with `to_others`.
Expected<std::vector<std::string>> release_recipients(const QuarantineEntry& e, const std::vector<std::string>& wanted,
                                                      bool to_others) {
  const auto& original = e.record.rcpt_to;
  if (wanted.empty() && original.empty()) {
    return Error{e.id + " has no envelope recipients (a file's original, or stored by `mugaictl sanitize`): give --to "
                        "ADDR, or take it out with `mugaictl quarantine export " + e.id + " --out FILE`"};
  }
  const auto among = [](const std::vector<std::string>& list, const std::string& a) {
    return std::any_of(list.begin(), list.end(), [&](const std::string& b) { return ascii::iequals(a, b); });
  };
  std::vector<std::string> out;
  for (const auto& r : wanted.empty() ? original : wanted) {
    if (among(out, r)) continue;
    if (!to_others && !among(original, r)) {
      return Error{r + " is not a recipient of " + e.id +
                   " (quarantine.release_to_others is off: a release goes only to the original recipients)"};
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace

std::string_view status_name(EntryStatus s) {
  switch (s) {
    case EntryStatus::Held: return "held";
    case EntryStatus::Releasing: return "releasing";
    case EntryStatus::Released: return "released";
    case EntryStatus::Deleted: return "deleted";
    case EntryStatus::Expired: return "expired";
  }
  return "held";
}

std::optional<EntryStatus> parse_status(std::string_view name) {
  for (const auto s : {EntryStatus::Held, EntryStatus::Releasing, EntryStatus::Released, EntryStatus::Deleted,
                       EntryStatus::Expired})
    if (status_name(s) == name) return s;
  return std::nullopt;
}

StoreOptions store_options(const config::Config& cfg, bool create, Operator self) {
  StoreOptions o;
  o.dir = cfg.quarantine.dir;
  o.key_file = cfg.quarantine.key_file.empty() ? o.dir + "/quarantine.key" : cfg.quarantine.key_file;
  o.audit_log = cfg.quarantine.audit_log.empty() ? o.dir + "/audit.log" : cfg.quarantine.audit_log;
  o.audit_key_file = cfg.quarantine.audit_key_file.empty() ? o.dir + "/audit.key" : cfg.quarantine.audit_key_file;
  o.retention = cfg.quarantine.retention;
  o.create = create;
  o.self = std::move(self);
  return o;
}

Expected<std::string> normalize_id(std::string_view untrusted_id) {
  std::string id;
  bool valid = true;
  for (const char raw : untrusted_id.substr(0, 64)) {
    if (raw == '-') continue;
    char c = (raw >= 'a' && raw <= 'z') ? static_cast<char>(raw - 'a' + 'A') : raw;
    if (c == 'O') c = '0';  // Crockford: letters misread for digits
    if (c == 'I' || c == 'L') c = '1';
    valid = valid && c != '\0' && id::is_crockford(c);
    id += c;
  }
  if (!valid || id.size() != 8) {
    std::string shown;
    for (const char c : untrusted_id.substr(0, 64)) shown += (c > 0x20 && c < 0x7F) ? c : '?';
    return Error{"'" + shown + "' is not a quarantine id (like Q7K4-M2PX)"};
  }
  return id.substr(0, 4) + "-" + id.substr(4);
}

QuarantineDb::QuarantineDb(StoreOptions options, sqlite3* db, std::string key, std::string audit_key)
    : options_(std::move(options)), db_(db), key_(std::move(key)),
      audit_(options_.audit_log, std::move(audit_key), options_.on_audit) {}

QuarantineDb::~QuarantineDb() { sqlite3_close(db_); }

Expected<std::unique_ptr<QuarantineDb>> QuarantineDb::open(StoreOptions options) {
  const std::string index = options.dir + "/index.sqlite";
  if (options.create) {
    if (auto st = durable::make_dir(options.dir + "/blobs", true); !st) return st.error();
    for (const auto& dir : {options.dir, options.dir + "/blobs"}) {
      if (auto st = durable::check_private_dir(dir, "quarantine directory"); !st) return st.error();
    }
  } else if (::access(index.c_str(), F_OK) != 0) {
    return Error{"no quarantine index at " + index + " (is quarantine.dir right? the gateway creates it on first start)"};
  }
  auto key = keyfile::load(options.key_file, "quarantine key file", options.create);
  if (!key) return key.error();
  auto audit_key = keyfile::load(options.audit_key_file, "audit key file", options.create);
  if (!audit_key) return audit_key.error();
  // The index names senders, recipients and subjects: 0600 like the audit log, whatever the umask (SQLite
  // would create it 0644, and its -wal/-shm files copy the index's mode). Older indexes are tightened.
  if (options.create) {
    const int fd = ::open(index.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || ::fchmod(fd, 0600) != 0) {
      const Error e = durable::errno_error("cannot create quarantine index", index);
      if (fd >= 0) ::close(fd);
      return e;
    }
    ::close(fd);
  }
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (options.create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(index.c_str(), &raw, flags, nullptr) != SQLITE_OK) {
    Error e{"cannot open quarantine index " + index + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory")};
    sqlite3_close(raw);
    return e;
  }
  std::unique_ptr<QuarantineDb> store(new QuarantineDb(std::move(options), raw, std::move(*key), std::move(*audit_key)));
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  // WAL: readers never block the writer; synchronous=FULL makes each commit durable before put() returns.
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (auto st = store->exec(pragma); !st) return st.error();
  }
  WriteTx tx(raw);
  if (auto st = tx.begun(); !st) return st.error();
  Stmt version(raw, "PRAGMA user_version");
  if (!version.prepared() || version.step() != SQLITE_ROW) return db_error(raw, "cannot read the schema version");
  const auto have = version.integer(0);
  constexpr auto kWant = static_cast<std::int64_t>(std::size(kMigrations));
  if (have > kWant) {
    return Error{"quarantine index " + index + " has schema version " + std::to_string(have) +
                 ", newer than this mugai knows (" + std::to_string(kWant) + ")"};
  }
  for (auto v = have; v < kWant; ++v) {
    if (auto st = store->exec(kMigrations[v]); !st) return st.error();
  }
  if (auto st = store->exec(("PRAGMA user_version=" + std::to_string(kWant)).c_str()); !st) return st.error();
  if (auto st = tx.commit(); !st) return st.error();
  return store;
}

Status QuarantineDb::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    Error e{"quarantine index: " + std::string(msg ? msg : "error")};
    sqlite3_free(msg);
    return e;
  }
  return Ok{};
}

std::string QuarantineDb::blob_path(const std::string& sha256) const { return options_.dir + "/blobs/" + sha256; }

Expected<std::string> QuarantineDb::new_id() {
  unsigned char rnd[5];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return Error{"no random bytes for a quarantine id"};
  std::uint64_t v = 0;
  for (const unsigned char b : rnd) v = (v << 8) | b;
  const std::string digits = id::crockford(v, 8);
  return digits.substr(0, 4) + "-" + digits.substr(4);
}

Status QuarantineDb::put(std::string_view original, const sanitize::QuarantineRecord& record, const std::string& id) {
  if (auto normal = normalize_id(id); !normal || *normal != id) {
    return Error{"cannot store under '" + id + "': not a quarantine id from new_id()"};
  }
  const std::string sha = hex::sha256(original);
  const std::int64_t now = now_unix();
  {
    std::lock_guard lock(mu_);
    WriteTx tx(db_);
    if (auto st = tx.begun(); !st) return st.error();
    Stmt insert(db_, "INSERT INTO entries(id, received_unix, stored_unix, queue_id, client_ip, helo, mail_from, "
                     "rcpt_to, subject, message_id, reason, size, sha256, status, retain_until) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'held', ?14)");
    if (!insert.prepared()) return db_error(db_, "cannot prepare insert");
    insert.bind(1, id)
        .bind(2, record.received_unix ? record.received_unix : now)
        .bind(3, now)
        .bind(4, record.queue_id)
        .bind(5, record.client_ip)
        .bind(6, record.helo)
        .bind(7, record.mail_from)
        .bind(8, join_lines(record.rcpt_to))
        .bind(9, record.subject)
        .bind(10, record.message_id)
        .bind(11, record.reason)
        .bind(12, static_cast<std::int64_t>(original.size()))
        .bind(13, sha)
        .bind(14, now + options_.retention.count());
    // The id is the primary key: a taken one fails here, before any blob is written for it.
    const int rc = insert.step();
    if (rc == SQLITE_CONSTRAINT) return Error{"quarantine id " + id + " is already taken; nothing was stored"};
    if (rc != SQLITE_DONE) return db_error(db_, "cannot insert entry");
    for (std::size_t i = 0; i < record.parts.size(); ++i) {
      const auto& p = record.parts[i];
      Stmt part(db_, "INSERT INTO parts VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      part.bind(1, id).bind(2, static_cast<std::int64_t>(i + 1)).bind(3, p.filename).bind(4, p.declared_type)
          .bind(5, p.detected_type).bind(6, static_cast<std::int64_t>(p.size)).bind(7, p.sha256).bind(8, p.reason)
          .bind(9, p.sanitizer);
      if (part.step() != SQLITE_DONE) return db_error(db_, "cannot insert part");
    }
    // Under the write lock: no purge can drop this blob between the check and the row's commit.
    const std::string path = blob_path(sha);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      auto sealed = seal(key_, original, sha);
      if (!sealed) return sealed.error();
      const std::string tmp = options_.dir + "/blobs/." + sha + ".tmp";
      ::unlink(tmp.c_str());  // a leftover from a crash; nobody else writes it while we hold the lock
      auto written = durable::write_file(tmp, path, {*sealed}, true, false);
      if (!written && errno != EEXIST) return written.error();
    }
    if (auto st = tx.commit(); !st) return st.error();
  }
  // After the commit: on an audit failure the row stays and the caller retries into a second entry for
  // the same blob, which is harmless; an entry that exists without its "stored" record is reported.
  return audit("stored", {{"id", id},
                          {"queue_id", record.queue_id},
                          {"client_ip", record.client_ip},
                          {"mail_from", record.mail_from},
                          {"size", std::to_string(original.size())},
                          {"sha256", sha},
                          {"reason", record.reason},
                          {"parts", std::to_string(record.parts.size())}});
}

Status QuarantineDb::audit(std::string_view event, const AuditFields& fields) { return audit(options_.self, event, fields); }

Status QuarantineDb::audit(const Operator& by, std::string_view event, const AuditFields& fields) {
  // Append and anchor under one lock: however many pool threads audit at once, a crash leaves at most
  // one record of this process unanchored (verify allows kAnchorLag, one per writing process).
  std::lock_guard lock(mu_);
  auto head = audit_.append(event, by, fields, now_unix());
  if (!head) return head.error();
  // The gateway and mugaictl may anchor in the other order than they appended: the newer record wins.
  Stmt s(db_, "INSERT INTO audit_anchor VALUES(1, ?1, ?2, ?3) ON CONFLICT(one) DO UPDATE SET seq = excluded.seq, "
              "sha256 = excluded.sha256, mac = excluded.mac WHERE excluded.seq > audit_anchor.seq");
  s.bind(1, static_cast<std::int64_t>(head->seq)).bind(2, head->sha256).bind(3, head->mac);
  if (!s.prepared() || s.step() != SQLITE_DONE) return db_error(db_, "cannot anchor the audit log's newest record");
  return Ok{};
}

namespace {

using ReadOnlyDb = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

// The index opened read-only, so safe beside the gateway that writes it, and at least at `schema`;
// `lacks` names what an older index does not have yet.
Expected<ReadOnlyDb> open_read_only(const std::string& index, std::int64_t schema, std::string_view lacks) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(index.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  ReadOnlyDb guard(db, &sqlite3_close);
  if (rc != SQLITE_OK) return db_error(db, "cannot open quarantine index " + index);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  Stmt version(db, "PRAGMA user_version");
  if (!version.prepared() || version.step() != SQLITE_ROW) return db_error(db, "cannot read the schema version of " + index);
  if (version.integer(0) < schema) {
    return Error{"quarantine index " + index + " is from before " + std::string(lacks) +
                 ": start the gateway once to upgrade it"};
  }
  return guard;
}

}  // namespace

Expected<AnchorState> read_audit_anchor(const std::string& quarantine_dir) {
  const std::string index = quarantine_dir + "/index.sqlite";
  if (::access(index.c_str(), F_OK) != 0) return AnchorState{};
  auto opened = open_read_only(index, kKeyedAnchorSchema, "keyed audit anchors");
  if (!opened) return opened.error();
  sqlite3* db = opened->get();
  AnchorState state;
  Stmt count(db, "SELECT count(*) FROM entries");
  if (!count.prepared() || count.step() != SQLITE_ROW) return db_error(db, "cannot count quarantine entries");
  state.entries = count.integer(0);
  Stmt s(db, "SELECT seq, sha256, mac FROM audit_anchor");
  if (!s.prepared()) return db_error(db, "cannot read the audit anchor");
  const int step = s.step();
  if (step == SQLITE_ROW) {
    state.head = AuditHead{static_cast<std::uint64_t>(s.integer(0)), s.text(1), s.text(2)};
  } else if (step != SQLITE_DONE) {
    return db_error(db, "cannot read the audit anchor");
  }
  return state;
}

Expected<TrafficFacts> read_traffic(const std::string& quarantine_dir, std::int64_t since_unix) {
  const std::string index = quarantine_dir + "/index.sqlite";
  if (::access(index.c_str(), F_OK) != 0) {
    return Error{"no quarantine index at " + index + " (is quarantine.dir right? the gateway creates it on first start)"};
  }
  auto opened = open_read_only(index, kTrafficSchema, "traffic records");
  if (!opened) return opened.error();
  sqlite3* db = opened->get();
  // One read transaction: the four tables are read as of one moment while the gateway keeps writing.
  if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db, "cannot begin a read");
  TrafficFacts facts;
  {
    Stmt s(db, "SELECT queue_id, arrival_unix, done_unix, size, verdict, reason, quarantine_id, ppap FROM traffic "
               "WHERE arrival_unix >= ?1 ORDER BY arrival_unix, queue_id");
    Stmt parts(db, "SELECT detected_type, decision, reason, sanitizer, pages FROM traffic_parts WHERE queue_id = ?1 ORDER BY n");
    if (!s.prepared() || !parts.prepared()) return db_error(db, "cannot read the traffic of " + index);
    s.bind(1, since_unix);
    int step;
    while ((step = s.step()) == SQLITE_ROW) {
      TrafficRecord r{s.text(0), s.integer(1), s.integer(2), static_cast<std::size_t>(s.integer(3)), s.text(4),
                      s.text(5), s.text(6), s.text(7), {}};
      parts.reset();
      parts.bind(1, r.queue_id);
      while (parts.step() == SQLITE_ROW)
        r.parts.push_back({parts.text(0), parts.text(1), parts.text(2), parts.text(3), parts.integer(4)});
      facts.messages.push_back(std::move(r));
    }
    if (step != SQLITE_DONE) return db_error(db, "cannot read the traffic of " + index);
  }
  {
    Stmt s(db, "SELECT queue_id, unix, route, sent, bounced, deferred FROM deliveries WHERE unix >= ?1 ORDER BY unix");
    if (!s.prepared()) return db_error(db, "cannot read the deliveries of " + index);
    s.bind(1, since_unix);
    int step;
    while ((step = s.step()) == SQLITE_ROW)
      facts.deliveries.push_back({s.text(0), s.integer(1), s.text(2), s.integer(3), s.integer(4), s.integer(5)});
    if (step != SQLITE_DONE) return db_error(db, "cannot read the deliveries of " + index);
  }
  {
    Stmt s(db, "SELECT queue_id, unix, kind, detail FROM worker_failures WHERE unix >= ?1 ORDER BY unix");
    if (!s.prepared()) return db_error(db, "cannot read the worker failures of " + index);
    s.bind(1, since_unix);
    int step;
    while ((step = s.step()) == SQLITE_ROW) facts.failures.push_back({s.text(0), s.integer(1), s.text(2), s.text(3)});
    if (step != SQLITE_DONE) return db_error(db, "cannot read the worker failures of " + index);
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  return facts;
}

Status QuarantineDb::record_traffic(const TrafficRecord& r) {
  std::lock_guard lock(mu_);
  WriteTx tx(db_);
  if (auto st = tx.begun(); !st) return st.error();
  Stmt drop(db_, "DELETE FROM traffic WHERE queue_id = ?1");
  Stmt insert(db_, "INSERT INTO traffic(queue_id, arrival_unix, done_unix, size, verdict, reason, quarantine_id, ppap) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  Stmt part(db_, "INSERT INTO traffic_parts(queue_id, n, detected_type, decision, reason, sanitizer, pages) "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!drop.prepared() || !insert.prepared() || !part.prepared()) return db_error(db_, "cannot prepare a traffic record");
  if (drop.bind(1, r.queue_id).step() != SQLITE_DONE) return db_error(db_, "cannot replace traffic of " + r.queue_id);
  insert.bind(1, r.queue_id).bind(2, r.arrival_unix).bind(3, r.done_unix).bind(4, static_cast<std::int64_t>(r.size));
  insert.bind(5, r.verdict).bind(6, r.reason).bind(7, r.quarantine_id).bind(8, r.ppap);
  if (insert.step() != SQLITE_DONE) return db_error(db_, "cannot record traffic of " + r.queue_id);
  for (std::size_t n = 0; n < r.parts.size(); ++n) {
    const auto& p = r.parts[n];
    part.reset();
    part.bind(1, r.queue_id).bind(2, static_cast<std::int64_t>(n + 1)).bind(3, p.detected_type).bind(4, p.decision);
    part.bind(5, p.reason).bind(6, p.sanitizer).bind(7, p.pages);
    if (part.step() != SQLITE_DONE) return db_error(db_, "cannot record the parts of " + r.queue_id);
  }
  return tx.commit();
}

Status QuarantineDb::record_delivery(const DeliveryRecord& r) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "INSERT INTO deliveries(queue_id, unix, route, sent, bounced, deferred) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!s.prepared()) return db_error(db_, "cannot prepare a delivery record");
  s.bind(1, r.queue_id).bind(2, r.unix_time).bind(3, r.route).bind(4, r.sent).bind(5, r.bounced).bind(6, r.deferred);
  if (s.step() != SQLITE_DONE) return db_error(db_, "cannot record the delivery of " + r.queue_id);
  return Ok{};
}

Status QuarantineDb::record_worker_failure(const WorkerFailure& r) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "INSERT INTO worker_failures(queue_id, unix, kind, detail) VALUES(?1, ?2, ?3, ?4)");
  if (!s.prepared()) return db_error(db_, "cannot prepare a worker failure record");
  s.bind(1, r.queue_id).bind(2, r.unix_time).bind(3, r.kind).bind(4, r.detail);
  if (s.step() != SQLITE_DONE) return db_error(db_, "cannot record the worker failure of " + r.queue_id);
  return Ok{};
}

Expected<QuarantineEntry> QuarantineDb::get_locked(const std::string& id) {
  Stmt s(db_, (std::string("SELECT ") + kEntryColumns + " FROM entries WHERE id = ?1").c_str());
  if (!s.prepared()) return db_error(db_, "cannot prepare lookup");
  s.bind(1, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return Error{"no quarantine entry " + id};
  if (rc != SQLITE_ROW) return db_error(db_, "cannot look up " + id);
  QuarantineEntry e = entry_from(s);
  Stmt parts(db_, "SELECT filename, declared_type, detected_type, size, sha256, reason, sanitizer FROM parts "
                  "WHERE entry_id = ?1 ORDER BY n");
  parts.bind(1, id);
  while (parts.step() == SQLITE_ROW) {
    e.record.parts.push_back(sanitize::RemovedPart{parts.text(0), parts.text(1), parts.text(2),
                                                   static_cast<std::size_t>(parts.integer(3)), parts.text(4),
                                                   parts.text(5), parts.text(6)});
  }
  return e;
}

Expected<QuarantineEntry> QuarantineDb::get(std::string_view untrusted_id) {
  auto id = normalize_id(untrusted_id);
  if (!id) return id.error();
  std::lock_guard lock(mu_);
  return get_locked(*id);
}

Expected<std::vector<QuarantineEntry>> QuarantineDb::list(const ListFilter& f) {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string("SELECT ") + kEntryColumns +
               " FROM entries WHERE received_unix >= ?1"
               " AND (?2 = '' OR lower(mail_from) = lower(?2))"
               " AND (?3 = '' OR instr(char(10) || lower(rcpt_to) || char(10), char(10) || lower(?3) || char(10)) > 0)"
               " AND (?4 = '' OR instr(lower(reason), lower(?4)) > 0 OR EXISTS (SELECT 1 FROM parts p"
               "      WHERE p.entry_id = entries.id AND instr(lower(p.reason), lower(?4)) > 0))"
               " AND (?5 = '' OR status = ?5)"
               " ORDER BY received_unix DESC, stored_unix DESC, rowid DESC LIMIT ?6")
                  .c_str());
  if (!s.prepared()) return db_error(db_, "cannot prepare list");
  s.bind(1, f.since_unix).bind(2, f.from).bind(3, f.to).bind(4, f.reason);
  s.bind(5, f.status ? status_name(*f.status) : std::string_view());
  s.bind(6, static_cast<std::int64_t>(std::min<std::size_t>(f.limit, INT64_MAX)));
  std::vector<std::string> ids;
  int rc = 0;
  while ((rc = s.step()) == SQLITE_ROW) ids.push_back(s.text(0));
  if (rc != SQLITE_DONE) return db_error(db_, "cannot list");
  std::vector<QuarantineEntry> out;
  for (const auto& id : ids) {
    auto e = get_locked(id);
    if (!e) return e.error();
    out.push_back(std::move(*e));
  }
  return out;
}

Expected<std::string> QuarantineDb::original(const QuarantineEntry& entry) {
  if (entry.status == EntryStatus::Deleted || entry.status == EntryStatus::Expired) {
    return Error{"quarantine entry " + entry.id + " is " + std::string(status_name(entry.status)) +
                 ": its original is gone"};
  }
  const std::string path = blob_path(entry.sha256);
  std::string problem;
  auto blob = read_whole(path, kMagic.size() + kNonce + entry.size + kTag);
  if (!blob) {
    problem = blob.error().message;
  } else if (auto plain = open_sealed(key_, *blob, entry.sha256); !plain) {
    problem = "blob " + path + ": " + plain.error().message + " (tampered with, corrupted, or a different key)";
  } else if (hex::sha256(*plain) != entry.sha256) {
    problem = "blob " + path + " decrypts to content whose SHA-256 differs from the index";
  } else {
    return std::move(*plain);
  }
  const std::string message = "quarantine entry " + entry.id + " failed its integrity check: " + problem;
  if (auto st = audit("integrity-failed", {{"id", entry.id}, {"sha256", entry.sha256}, {"problem", problem}}); !st) {
    return Error{message + "; and the audit failed: " + st.error().message};
  }
  return Error{message};
}

Status QuarantineDb::set_status_locked(const std::string& id, std::initializer_list<EntryStatus> from, EntryStatus to,
                                       const std::string& reason, const Operator& by) {
  auto e = get_locked(id);
  if (!e) return e.error();
  bool allowed = false;
  std::string wanted;
  for (const auto s : from) {
    allowed = allowed || e->status == s;
    wanted += (wanted.empty() ? "" : " or ") + std::string(status_name(s));
  }
  if (!allowed) {
    return Error{"quarantine entry " + id + " is " + std::string(status_name(e->status)) + ", not " + wanted};
  }
  Stmt s(db_, "UPDATE entries SET status = ?2, status_by = ?3, status_unix = ?4, status_reason = ?5 WHERE id = ?1");
  s.bind(1, id).bind(2, status_name(to)).bind(3, by.name).bind(4, now_unix()).bind(5, reason);
  if (s.step() != SQLITE_DONE) return db_error(db_, "cannot update " + id);
  return Ok{};
}

Status QuarantineDb::drop_blob_if_unused_locked(const std::string& sha256) {
  WriteTx tx(db_);
  if (auto st = tx.begun(); !st) return st;
  Stmt s(db_, "SELECT count(*) FROM entries WHERE sha256 = ?1 AND status IN ('held', 'releasing', 'released')");
  s.bind(1, sha256);
  if (s.step() != SQLITE_ROW) return db_error(db_, "cannot count blob references");
  if (s.integer(0) == 0) {
    const std::string path = blob_path(sha256);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return durable::errno_error("cannot remove", path);
    if (auto st = durable::sync_dir(options_.dir + "/blobs"); !st) return st;
  }
  return tx.commit();
}

Expected<std::vector<ReleaseRequest>> QuarantineDb::release_requests(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT number, entry_id, requested_by, requested_unix, reason, rcpt_to, approved_by, approved_unix, "
              "requested_uid, approved_uid FROM release_requests WHERE entry_id = ?1 ORDER BY number");
  s.bind(1, id);
  std::vector<ReleaseRequest> out;
  int rc = 0;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(ReleaseRequest{s.integer(0), s.text(1), s.text(2), s.integer(3), s.text(4), split_lines(s.text(5)),
                                 s.text(6), s.integer(7), s.integer(8), s.integer(9)});
  }
  if (rc != SQLITE_DONE) return db_error(db_, "cannot read release requests of " + id);
  return out;
}

// Runs `step` in one write transaction under the mutex, committed when `step` succeeds.
template <typename Step>
auto QuarantineDb::in_write_tx(Step step) -> decltype(step()) {
  std::lock_guard lock(mu_);
  WriteTx tx(db_);
  if (auto st = tx.begun(); !st) return st.error();
  auto result = step();
  if (!result) return result;
  if (auto st = tx.commit(); !st) return st.error();
  return result;
}

Status QuarantineDb::request_release(const std::string& id, const std::vector<std::string>& rcpt_to,
                                     const std::string& reason, const Operator& by, const ReleaseRules& rules) {
  auto rcpts = in_write_tx([&]() -> Expected<std::vector<std::string>> {
    auto e = get_locked(id);
    if (!e) return e.error();
    if (e->status != EntryStatus::Held) return not_held(*e);
    if (!rules.operator_is_approver) return not_an_approver(by, "request a release");
    Stmt pending(db_, "SELECT requested_by FROM release_requests WHERE entry_id = ?1 AND approved_by = ''");
    pending.bind(1, id);
    if (pending.step() == SQLITE_ROW) {
      return Error{"quarantine entry " + id + " already has a pending release request by " + pending.text(0)};
    }
    auto resolved = release_recipients(*e, rcpt_to, rules.to_others);
    if (!resolved) return resolved.error();
    Stmt s(db_, "INSERT INTO release_requests(entry_id, requested_by, requested_unix, reason, rcpt_to, requested_uid) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    s.bind(1, id).bind(2, by.name).bind(3, now_unix()).bind(4, reason).bind(5, join_lines(*resolved)).bind(6, by.uid);
    if (s.step() != SQLITE_DONE) return db_error(db_, "cannot record the release request for " + id);
    return resolved;
  });
  if (!rcpts) return rcpts.error();
  return audit(by, "release-requested", {{"id", id}, {"rcpt_to", join_lines(*rcpts)}, {"reason", reason}});
}

Expected<ReleaseClaim> QuarantineDb::approve(const std::string& id, const std::string& spool_id, const Operator& by,
                                             const ReleaseRules& rules) {
  ReleaseRequest req;
  auto claim = in_write_tx([&]() -> Expected<ReleaseClaim> {
    auto e = get_locked(id);
    if (!e) return e.error();
    if (e->status != EntryStatus::Held) return not_held(*e);
    Stmt s(db_, "SELECT number, requested_by, requested_unix, reason, rcpt_to, requested_uid FROM release_requests "
                "WHERE entry_id = ?1 AND approved_by = ''");
    s.bind(1, id);
    if (s.step() != SQLITE_ROW) return Error{"quarantine entry " + id + " has no pending release request"};
    req = ReleaseRequest{s.integer(0), id, s.text(1), s.integer(2), s.text(3), split_lines(s.text(4)), "", 0,
                         s.integer(5), -1};
    if (req.requested_uid < 0) {
      return Error{"the release request for " + id + " by " + req.requested_by +
                   " was made before operators were identified by account: request it again"};
    }
    if (req.requested_uid == by.uid) {
      return Error{"two-person rule: " + by.name + " (uid " + std::to_string(by.uid) + ") requested the release of " +
                   id + " and cannot approve it; another approver must"};
    }
    if (!rules.operator_is_approver) return not_an_approver(by, "approve a release");
    Stmt u(db_, "UPDATE release_requests SET approved_by = ?2, approved_unix = ?3, approved_uid = ?4 WHERE number = ?1");
    u.bind(1, req.number).bind(2, by.name).bind(3, now_unix()).bind(4, by.uid);
    if (u.step() != SQLITE_DONE) return db_error(db_, "cannot record the approval for " + id);
    // The request's recipients were checked when it was made; the rules may have changed since.
    ReleaseRules approved = rules;
    approved.requires_approval = false;
    return claim_locked(*e, req.rcpt_to, req.reason, spool_id, by, approved);
  });
  if (!claim) return claim.error();
  return announce(std::move(*claim), &req);
}

Expected<ReleaseClaim> QuarantineDb::claim_release(const std::string& id, const std::vector<std::string>& rcpt_to,
                                                   const std::string& reason, const std::string& spool_id,
                                                   const Operator& by, const ReleaseRules& rules) {
  auto claim = in_write_tx([&]() -> Expected<ReleaseClaim> {
    auto e = get_locked(id);
    if (!e) return e.error();
    return claim_locked(*e, rcpt_to, reason, spool_id, by, rules);
  });
  if (!claim) return claim.error();
  return announce(std::move(*claim), nullptr);
}

Expected<ReleaseClaim> QuarantineDb::claim_locked(const QuarantineEntry& e, const std::vector<std::string>& rcpt_to,
                                                  const std::string& reason, const std::string& spool_id,
                                                  const Operator& by, const ReleaseRules& rules) {
  if (e.status != EntryStatus::Held) return not_held(e);
  if (rules.requires_approval) {
    return Error{"quarantine.release_requires_approval is set: " + e.id +
                 " needs `quarantine request-release` by one approver and `quarantine approve` by another"};
  }
  auto rcpts = release_recipients(e, rcpt_to, rules.to_others);
  if (!rcpts) return rcpts.error();
  if (auto st = set_status_locked(e.id, {EntryStatus::Held}, EntryStatus::Releasing, reason, by); !st) return st.error();
  Stmt s(db_, "INSERT INTO releases(entry_id, spool_id, rcpt_to, reason, operator_uid, operator_name, claimed_unix, state) "
              "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  s.bind(1, e.id).bind(2, spool_id).bind(3, join_lines(*rcpts)).bind(4, reason).bind(5, by.uid).bind(6, by.name)
      .bind(7, now_unix()).bind(8, release_state_name(ReleaseState::Claimed));
  if (s.step() != SQLITE_DONE) return db_error(db_, "cannot record the release of " + e.id);
  return ReleaseClaim{sqlite3_last_insert_rowid(db_), e.id, spool_id, std::move(*rcpts), reason, by};
}

// After the claim's commit: its records ("approved" first, for an approval), which must be written
// before anything is spooled; when they cannot be, the claim is taken back.
Expected<ReleaseClaim> QuarantineDb::announce(ReleaseClaim claim, const ReleaseRequest* approved) {
  Status st = Ok{};
  if (approved != nullptr) {
    st = audit(claim.by, "approved", {{"id", claim.entry_id}, {"requested_by", approved->requested_by},
                                      {"requested_uid", std::to_string(approved->requested_uid)},
                                      {"reason", approved->reason}});
  }
  if (st) {
    st = audit(claim.by, "releasing", {{"id", claim.entry_id}, {"spool_id", claim.spool_id},
                                       {"rcpt_to", join_lines(claim.rcpt_to)}, {"reason", claim.reason}});
  }
  if (st) return claim;
  if (auto back = in_write_tx([&] { return settle_locked(claim, EntryStatus::Held, ReleaseState::Abandoned); }); !back) {
    return Error{st.error().message + "; and " + claim.entry_id + " stays releasing: " + back.error().message};
  }
  return Error{st.error().message + " (nothing was released; " + claim.entry_id + " is held again)"};
}

Status QuarantineDb::settle_locked(const ReleaseClaim& claim, EntryStatus to, ReleaseState state) {
  if (auto st = set_status_locked(claim.entry_id, {EntryStatus::Releasing}, to, claim.reason, claim.by); !st) return st;
  Stmt s(db_, "UPDATE releases SET state = ?2, settled_unix = ?3 WHERE number = ?1 AND state = ?4");
  s.bind(1, claim.number).bind(2, release_state_name(state)).bind(3, now_unix())
      .bind(4, release_state_name(ReleaseState::Claimed));
  if (s.step() != SQLITE_DONE || sqlite3_changes(db_) != 1) {
    return db_error(db_, "cannot settle the release of " + claim.entry_id);
  }
  return Ok{};
}

Status QuarantineDb::complete_release(const ReleaseClaim& claim, bool at_start) {
  if (auto st = in_write_tx([&] { return settle_locked(claim, EntryStatus::Released, ReleaseState::Spooled); }); !st) {
    return st;
  }
  AuditFields fields{{"id", claim.entry_id}, {"spool_id", claim.spool_id}, {"rcpt_to", join_lines(claim.rcpt_to)},
                     {"reason", claim.reason}};
  if (at_start) fields.emplace_back("settled", "at start: the copy was spooled before the gateway stopped");
  return audit(claim.by, "released", fields);
}

Status QuarantineDb::abandon_release(const ReleaseClaim& claim, const std::string& problem) {
  if (auto st = in_write_tx([&] { return settle_locked(claim, EntryStatus::Held, ReleaseState::Abandoned); }); !st) {
    return st;
  }
  return audit(claim.by, "release-abandoned", {{"id", claim.entry_id}, {"spool_id", claim.spool_id}, {"problem", problem}});
}

Expected<std::vector<ReleaseClaim>> QuarantineDb::releases(ReleaseState state) {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string("SELECT ") + kReleaseColumns + " FROM releases WHERE state = ?1 ORDER BY number").c_str());
  s.bind(1, release_state_name(state));
  std::vector<ReleaseClaim> out;
  int rc = 0;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(ReleaseClaim{s.integer(0), s.text(1), s.text(2), split_lines(s.text(3)), s.text(4),
                               Operator{s.integer(5), s.text(6)}});
  }
  if (rc != SQLITE_DONE) return db_error(db_, "cannot read the releases");
  return out;
}

Status QuarantineDb::remove(const std::string& id, const std::string& reason, const Operator& by) {
  std::string sha;
  {
    std::lock_guard lock(mu_);
    WriteTx tx(db_);
    if (auto st = tx.begun(); !st) return st;
    auto e = get_locked(id);
    if (!e) return e.error();
    sha = e->sha256;
    if (auto st = set_status_locked(id, {EntryStatus::Held, EntryStatus::Released}, EntryStatus::Deleted, reason, by);
        !st) {
      return st;
    }
    if (auto st = tx.commit(); !st) return st;
  }
  if (auto st = audit(by, "deleted", {{"id", id}, {"reason", reason}}); !st) return st;
  std::lock_guard lock(mu_);
  return drop_blob_if_unused_locked(sha);
}

Expected<std::vector<std::string>> QuarantineDb::purge(std::int64_t now, std::optional<std::int64_t> older_than_unix,
                                                       const Operator& by, bool audit_empty_run) {
  std::vector<std::pair<std::string, std::string>> expired;  // id, sha256
  {
    std::lock_guard lock(mu_);
    WriteTx tx(db_);
    if (auto st = tx.begun(); !st) return st.error();
    Stmt s(db_, "SELECT id, sha256 FROM entries WHERE status IN ('held', 'released') AND "
                "(CASE WHEN ?2 THEN stored_unix < ?3 ELSE retain_until <= ?1 END) ORDER BY stored_unix");
    s.bind(1, now).bind(2, std::int64_t{older_than_unix.has_value()}).bind(3, older_than_unix.value_or(0));
    int rc = 0;
    while ((rc = s.step()) == SQLITE_ROW) expired.emplace_back(s.text(0), s.text(1));
    if (rc != SQLITE_DONE) return db_error(db_, "cannot select expired entries");
    const std::string why = older_than_unix ? "older than the purge cutoff" : "retention deadline passed";
    for (const auto& [id, sha] : expired) {
      if (auto st = set_status_locked(id, {EntryStatus::Held, EntryStatus::Released}, EntryStatus::Expired, why, by);
          !st) {
        return st.error();
      }
    }
    // The report's traffic facts are kept as long as originals are (quarantine.retention): the retention
    // sweep drops older ones, so the index does not grow without bound.
    if (!older_than_unix) {
      for (const char* sql : {"DELETE FROM traffic WHERE done_unix < ?1", "DELETE FROM deliveries WHERE unix < ?1",
                              "DELETE FROM worker_failures WHERE unix < ?1"}) {
        Stmt drop(db_, sql);
        if (!drop.prepared() || drop.bind(1, now - options_.retention.count()).step() != SQLITE_DONE) {
          return db_error(db_, "cannot drop traffic facts past quarantine.retention");
        }
      }
    }
    if (auto st = tx.commit(); !st) return st.error();
  }
  std::vector<std::string> ids;
  for (const auto& [id, sha] : expired) {
    if (auto st = audit(by, "expired", {{"id", id}}); !st) return st.error();
    std::lock_guard lock(mu_);
    if (auto st = drop_blob_if_unused_locked(sha); !st) return st.error();
    ids.push_back(id);
  }
  if (ids.empty() && !audit_empty_run) return ids;
  AuditFields summary{{"count", std::to_string(ids.size())}};
  if (older_than_unix) summary.emplace_back("stored_before_unix", std::to_string(*older_than_unix));
  if (auto st = audit(by, "purged", summary); !st) return st.error();
  return ids;
}

Expected<QuarantineStats> QuarantineDb::stats(std::int64_t since_unix, std::size_t top) {
  std::lock_guard lock(mu_);
  QuarantineStats out;
  const std::pair<const char*, std::vector<Count>*> queries[] = {
      {"SELECT status, count(*) FROM entries WHERE received_unix >= ?1 GROUP BY 1 ORDER BY 2 DESC, 1", &out.by_status},
      // Whole-message quarantines have no parts: their message-level reason counts instead.
      {"SELECT reason, count(*) FROM (SELECT p.reason AS reason FROM parts p JOIN entries e ON e.id = p.entry_id "
       "WHERE e.received_unix >= ?1 UNION ALL SELECT e.reason FROM entries e WHERE e.received_unix >= ?1 AND "
       "NOT EXISTS (SELECT 1 FROM parts p WHERE p.entry_id = e.id)) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?2",
       &out.by_reason},
      {"SELECT coalesce(nullif(p.detected_type, ''), p.declared_type), count(*) FROM parts p JOIN entries e "
       "ON e.id = p.entry_id WHERE e.received_unix >= ?1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?2",
       &out.by_type},
      {"SELECT mail_from, count(*) FROM entries WHERE received_unix >= ?1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?2",
       &out.top_senders},
  };
  for (const auto& [sql, dst] : queries) {
    Stmt s(db_, sql);
    if (!s.prepared()) return db_error(db_, "cannot prepare stats");
    s.bind(1, since_unix).bind(2, static_cast<std::int64_t>(std::min<std::size_t>(top, INT64_MAX)));
    int rc = 0;
    while ((rc = s.step()) == SQLITE_ROW) dst->push_back(Count{s.text(0), s.integer(1)});
    if (rc != SQLITE_DONE) return db_error(db_, "cannot compute stats");
  }
  return out;
}

}  // namespace mugai::quarantine
