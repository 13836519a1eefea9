// The watched folder (files.inbox → files.outbox): files dropped on the Internet side are taken once they
// have settled, claimed into <spool.dir>/files/ (fsync'd) before they leave the inbox, sanitized by the
// same workers as mail, quarantined, and placed in the outbox with their report under names recorded
// first. Guarantees: each file is sanitized, quarantined, placed and audited once, even across kill -9
// (start() finishes what each claim left); an outbox name is never half-written and never replaced.
// Runs on the event-loop thread; listing, reading, fsync and the quarantine store run on the thread pool.
#pragma once

#include "gateway/net.hpp"

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "files/job.hpp"
#include "gateway/worker_pool.hpp"
#include "quarantine/store.hpp"

namespace mugai::gateway {

class FileWatch {
 public:
  FileWatch(asio::io_context& io, asio::thread_pool& pool, const config::Config& cfg, WorkerPool& sanitizers,
            quarantine::QuarantineDb& quarantine);

  // Off (Ok, nothing done) when files.inbox is empty. Otherwise checks the inbox, creates the outbox, its
  // temporary directory and <spool.dir>/files, settles what a crash left (claims' inbox files, strays),
  // and from then on takes files every files.scan_interval, the claims found first. Called before the
  // event loop runs (blocking is fine here, as for Spool::recover).
  Status start();
  // Takes no new file; `done` runs once the files in flight are placed (or left claimed, for the next start).
  void stop(std::function<void()> done);

  // What identifies one version of a file: taken only once this has not changed for files.settle.
  struct Identity {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Identity&) const = default;
  };
  // A file taken from the inbox, as its claim holds it: everything needed to finish it after a crash.
  struct Claim {
    std::string id, quarantine_id;
    std::string dept;  // "" = the inbox itself; else the subfolder's name (untrusted, as on disk)
    std::string name;  // the directory entry's name (untrusted bytes)
    Identity identity;
    std::int64_t received_unix = 0;
    bool refused = false;  // over files.max_size: bytes never read
    std::string bytes;
  };

 private:
  using Key = std::pair<std::string, std::string>;  // dept, name
  struct Listed {
    Key key;
    Identity identity;
  };
  struct Listing {
    std::vector<Listed> files;
    std::vector<std::pair<Key, std::string>> skipped;  // and why
  };
  struct Seen {
    Identity identity;
    Clock::time_point since;
  };
  // Where a claim's result and report go, chosen once (<id>.placed) so a retry reuses them.
  struct Placed {
    std::string dir;     // relative to the outbox: "" or the department's safe name
    std::string result;  // "" when nothing was safe
    std::string report;
    bool again = false;  // read back from <id>.placed: a run before a crash may have got as far as the audit
  };

  awaitable<void> run();
  void launch_ready(const Listing& listing);
  awaitable<void> take(Listed file);
  awaitable<void> process_claim(std::string id);
  awaitable<void> process(Claim claim);
  void finished();

  // Blocking, on the thread pool.
  Expected<Listing> list() const;
  Expected<std::optional<Claim>> claim(const Listed& file) const;
  Expected<Claim> load(const std::string& id) const;
  Status refuse(const Claim& c) const;
  Expected<Placed> finish(const Claim& c, files::Result& r);
  Expected<Placed> names(const Claim& c, files::Result& r);
  Expected<std::optional<Placed>> read_placed(const std::string& id) const;
  void reserve(const Placed& p);
  Expected<bool> audited(const Claim& c) const;
  Status forget_claim(const std::string& id) const;
  Status recover();

  std::string inbox_dir(const std::string& dept) const;
  std::string claim_path(const std::string& id) const;
  std::string placed_path(const std::string& id) const;

  asio::io_context& io_;
  asio::thread_pool& pool_;
  const config::Config& cfg_;
  WorkerPool& sanitizers_;
  quarantine::QuarantineDb& quarantine_;
  std::string claims_dir_;  // <spool.dir>/files
  std::string tmp_dir_;     // <outbox>/.mugai-tmp
  // Event-loop thread only.
  std::map<Key, Seen> seen_;
  std::set<Key> skipped_;      // logged once, until the name goes away
  std::set<Key> taking_;       // being claimed now
  std::deque<std::string> claims_;  // claim ids to process now (found at start, or due for a retry)
  std::deque<std::string> retry_;   // claim ids to try again once files.scan_interval has passed
  std::map<Key, Clock::time_point> backoff_;  // files that could not be claimed: not before then
  std::map<std::string, unsigned> failed_runs_;  // claim id → worker runs that asked to retry
  std::size_t in_flight_ = 0;
  bool stopping_ = false;
  bool rescan_ = false;  // a slot came free during a scan: scan again at once
  std::function<void()> on_stopped_;
  std::optional<asio::steady_timer> timer_;
  // Outbox paths chosen for claims not yet placed (choosing runs on the pool, several claims at once).
  std::mutex names_mu_;
  std::set<std::string> reserved_;
};

}  // namespace mugai::gateway
