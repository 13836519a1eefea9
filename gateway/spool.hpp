// The durable queue. A message is acknowledged (250) only after its spool file and the queue
// directory are fsync'd, and only files the gateway wrote (authenticated under the spool key) are ever
// processed; files are written under tmp/ and renamed into queue/, and a file without
// its end record is never treated as a message. A message leaves the spool only through remove(),
// which the scheduler calls after the next hop's 250 or a durably written bounce (or an operator's
// `mugaictl queue delete`).
//
// Operator holds (`mugaictl queue hold`) are files dir/hold/<id> holding the reason: written durably
// before the hold is confirmed, so a hold survives a restart or kill -9, and removed by unhold() or
// with the entry by remove(). They carry no MAC on purpose: a hold file can only keep a message from
// moving, never make one move or change what is delivered, and hold/ is private to the gateway like
// queue/. A hold file that cannot be read still holds (fail closed).
// A message can be streamed in as it arrives (Spool::begin(), SpoolWriter): its bytes go to tmp/ in
// pieces, the authenticator is computed as they pass and written last, so memory per message stays
// bounded; nothing is in queue/ before SpoolWriter::commit() returns.
// File format: "MUGAI-SPOOL 3" (since the streaming spool) puts the message size only in the end
// record; files of format 2 (size also in the header) are still read, so a spool need not be empty
// across the upgrade. Older gateways cannot read format 3 (a downgrade needs an empty spool).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/hex.hpp"
#include "proto/smtp_server.hpp"

namespace mugai::gateway {

enum class Stage {
  Raw,    // as received: awaits the sanitizer pipeline
  Clean,  // sanitized: awaits delivery
};

enum class Route {
  NextHop,  // ordinary mail: to delivery.next_hop
  Bounce,   // a DSN we generated: to delivery.bounce (relay or dead-letter dir)
};

struct SpoolEntry {
  std::string id;
  Stage stage = Stage::Raw;
  Route route = Route::NextHop;
  std::int64_t arrival_unix = 0;  // first acceptance (kept across stages, for max_queue_lifetime)
  std::string client_ip;
  std::string helo;
  std::string mail_from;          // "" = null sender
  std::vector<std::string> rcpt_to;
  std::string message;            // CRLF line ends
};

// A fresh queue id: 16 Crockford base32 characters (12 of microsecond time, 4 of sequence), strictly
// increasing within a process, so sorting ids sorts by arrival. Thread-safe.
std::string new_spool_id();
// True for strings shaped like new_spool_id()'s output (and thus safe as a file name).
bool valid_spool_id(std::string_view id);
// When `id` was made (new_spool_id() puts its time first), in Unix seconds; 0 for an invalid id.
std::int64_t spool_id_unix(std::string_view id);

// One spool file being written piece by piece (see Spool::begin()). Destroying or abort()ing an
// uncommitted writer removes its tmp/ file, so an aborted message leaves nothing behind. One call at
// a time: the session awaits each one (on the blocking pool) before the next.
class SpoolWriter {
 public:
  SpoolWriter(SpoolWriter&& o) noexcept;
  SpoolWriter& operator=(SpoolWriter&&) = delete;
  ~SpoolWriter();

  const std::string& id() const { return id_; }
  std::size_t size() const { return size_; }  // message bytes appended so far

  // Appends message bytes (CRLF line ends). After a failure every later call fails too.
  Status append(std::string_view bytes);
  // Writes the end record, fsyncs, renames into queue/ and fsyncs queue/: after Ok (and only then)
  // the entry is durable and may be acknowledged. On failure the tmp file is gone.
  Status commit();
  // Removes the tmp file; the writer is finished.
  void abort();

 private:
  friend class Spool;
  SpoolWriter(std::string id, std::string tmp_path, std::string final_path, int fd, Stage stage, bool fsync,
              bool replace, hex::HmacSha256 mac);

  std::string id_, tmp_path_, final_path_;
  int fd_;  // -1 once committed or aborted
  Stage stage_;
  bool fsync_, replace_;
  bool failed_ = false;
  std::size_t size_ = 0;
  hex::HmacSha256 mac_;
};

class Spool {
 public:
  // `key_file` holds the key that authenticates every spool file (created by open()).
  Spool(std::string dir, bool fsync, std::string key_file);

  // Creates dir/{tmp,queue} as needed, refuses them when another user could write them or owns them,
  // loads (or creates) the spool key, and removes leftovers in tmp/ (partial writes).
  Status open();

  // Starts a new Raw entry for a message about to stream in (arrival `now_unix`): tmp/<id>.raw with
  // the envelope written; the message follows through the writer's append(), then commit().
  Expected<SpoolWriter> begin(const proto::Envelope& env, std::int64_t now_unix);

  // Writes a new Raw entry durably and returns its id (unique, sortable, filename-safe).
  Expected<std::string> accept(const proto::Envelope& env, std::string_view message,
                               std::int64_t now_unix);
  // Writes a new entry (Clean stage: bounces, released originals) durably and returns its id: entry.id
  // when the caller chose one with new_spool_id() (a release records it before spooling, so a crash in
  // between can be told apart), else a new one. Never replaces an existing entry.
  Expected<std::string> add(SpoolEntry entry);

  // Adds the sanitized Clean form of the Raw entry `raw` durably; the raw file stays until remove().
  Status store_clean(const SpoolEntry& raw, std::string_view sanitized_message);

  // Loads and authenticates an entry: the Clean form when there is one, else the Raw one. A file that
  // fails (planted, edited, torn) is moved to corrupt/ and logged; a failed Clean form falls back to
  // the Raw one, which is then sanitized again. Fails when nothing authentic is left.
  Expected<SpoolEntry> load(std::string_view id);

  // Per-recipient progress, so a retry never re-sends to a recipient the next hop accepted.
  Status mark_done(std::string_view id, std::string_view rcpt);
  std::set<std::string> done(std::string_view id) const;

  // Removes the entry's files (and its hold, if any).
  Status remove(std::string_view id);

  // The envelope of an entry (no message; e.message stays empty), its stage and message size, read
  // without authenticating the message or moving anything: for `mugaictl queue list`.
  Expected<SpoolEntry> peek(std::string_view id, std::size_t& message_size) const;

  // Operator holds (see the top of this file).
  Status hold(std::string_view id, std::string_view reason);
  Status unhold(std::string_view id);
  // Every hold, by id: its reason ("" when the file could not be read; it holds all the same).
  std::map<std::string, std::string> holds() const;
  // Bytes of the file load() would read (the Clean form when there is one), 0 when there is none:
  // what loading the entry costs in memory, found without reading it.
  std::size_t stored_size(std::string_view id) const;

  // Ids of every complete entry in queue/, oldest first. Corrupt files are moved to dir/corrupt/
  // and reported in `problems`, never deleted.
  std::vector<std::string> recover(std::vector<std::string>& problems);

  // Ids of the entries in queue/, oldest first, without checking or moving anything: unlike
  // open() and recover(), safe to call while a daemon uses the spool (mugaictl queue).
  std::vector<std::string> list() const;

  const std::string& dir() const { return dir_; }

 private:
  Expected<SpoolWriter> open_writer(const SpoolEntry& e, Stage stage, bool replace) const;
  Status write_entry(const SpoolEntry& e, std::string_view message, Stage stage, bool replace) const;

  std::string dir_;
  std::string key_file_;
  std::string key_;  // set by open()
  bool fsync_;
};

}  // namespace mugai::gateway
