// The queue manager: takes spooled messages through sanitize → deliver → retry → bounce.
// A message leaves the spool only after every recipient got the next hop's 250, a durably spooled
// bounce, or (null sender, failed bounces) a durable dead-letter copy; one held whole in quarantine
// only once its hold notices are durably spooled. A message whose archive awaits its password mail
// (PPAP) keeps its raw entry in the spool, so the wait survives a crash; which password mail pairs with
// it, and when its window ends, is kept in memory only, passwords included (never on disk, never
// logged). Runs on the event-loop thread; sanitizing goes to the sandboxed workers (WorkerPool), fsync
// and maildir writes to the thread pool.
//
// Operator control (`mugaictl queue`, through AdminService): a held message (Spool::hold, durable) gets
// no new attempt — no sanitizing, no delivery, no bounce for age — until unheld; an attempt already in
// flight finishes first (hold_now() then settled()), so nothing is deleted under a running delivery.
// max_queue_lifetime keeps counting from the arrival while a message is held: holding must not become
// a way to keep mail forever, and an operator who unholds an expired message wants it settled, so the
// first attempt after the unhold bounces it (rather than the bounce racing the operator's review).
#pragma once

#include "gateway/net.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "config/config.hpp"
#include "gateway/bounce.hpp"
#include "gateway/delivery.hpp"
#include "gateway/hold_notice.hpp"
#include "gateway/pairing.hpp"
#include "gateway/spool.hpp"
#include "gateway/worker_pool.hpp"
#include "quarantine/store.hpp"

namespace mugai::gateway {

class Scheduler {
 public:
  Scheduler(asio::io_context& io, asio::thread_pool& workers, WorkerPool& sanitizers, const config::Config& cfg,
            Spool& spool, quarantine::QuarantineDb& quarantine, std::shared_ptr<const ClientTls> client_tls);

  void start(const std::vector<std::string>& recovered_ids);
  // Thread-safe: queue a message for processing now.
  void enqueue(std::string id);
  // Starts no new attempt; calls `done` when the attempts in flight have finished.
  void stop(std::function<void()> done);

  // Messages by where the scheduler has them (event-loop thread): queued for a run, in a run, waiting
  // for a retry timer, waiting for a password mail.
  struct QueueStats {
    std::size_t ready = 0, active = 0, deferred = 0, awaiting_password = 0;
  };
  QueueStats queue_stats() const { return {ready_.size(), active_, retry_.size(), waiting_.size()}; }

  // ---- operator control; event-loop thread only ----
  // What the scheduler knows of a queued message beyond its spool file.
  struct Known {
    std::string state;  // proto::admin::QueueMessage::state
    unsigned attempts = 0;
    std::string last_error;
    std::int64_t next_attempt_unix = 0;
    std::string hold_reason;
    std::vector<std::string> history;
  };
  Known known(const std::string& id) const;
  bool in_flight(const std::string& id) const { return in_flight_.count(id) != 0; }
  // From now on `id` gets no new attempt (the caller made the hold durable first); a retry timer is
  // cancelled. `deleting`: shown as such until forget_deleted().
  void hold_now(const std::string& id, std::string reason, bool deleting);
  // Completes once no attempt on `id` is in flight (at once when none is).
  awaitable<void> settled(std::string id);
  // Undoes hold_now() (the caller removed the hold file) and queues the message for an attempt now.
  void unhold_now(const std::string& id);
  // The message was removed from the spool by the operator: drop everything kept about it.
  void forget_deleted(const std::string& id);
  // Retry now (postqueue -f): a deferred message's timer is cut short. Returns what became of `id`.
  std::string flush(const std::string& id);
  // Every id with a retry timer running.
  std::vector<std::string> deferred() const;
  void note(const std::string& id, std::string event);

 private:
  void pump();
  awaitable<void> process(std::string id);
  awaitable<void> deliver_and_settle(SpoolEntry entry);
  awaitable<proto::TransactionResult> deliver_maildir_all(const SpoolEntry& entry,
                                                          const std::vector<std::string>& rcpts);
  Status settle_failures(const SpoolEntry& entry, const std::vector<FailedRecipient>& failed);
  Status write_dead_letter(const SpoolEntry& entry, const std::string& why);
  awaitable<void> hold(const SpoolEntry& entry, const HeldMessage& held);
  Status spool_hold_notices(const SpoolEntry& entry, const HeldMessage& held);
  awaitable<void> hold_unsanitizable(const SpoolEntry& entry, const std::string& reason);
  Status spool_refusal(const SpoolEntry& entry);
  std::optional<PasswordOffer> passwords_for(const SpoolEntry& entry) const;
  void offer_passwords(const SpoolEntry& entry, std::vector<std::string> candidates);
  void await_password(const SpoolEntry& entry, const std::optional<PasswordOffer>& tried);
  void stop_waiting(const std::string& id);
  void rerun_waiting(const std::string& id);
  bool failed_run(const std::string& id, std::string why);
  bool sanitizing_given_up(const std::string& id) const;
  std::string given_up_reason(const std::string& id) const;
  void retry_later(const std::string& id);
  void cancel_retry(const std::string& id);
  void forget(const std::string& id);

  asio::io_context& io_;
  asio::thread_pool& workers_;
  WorkerPool& sanitizers_;
  const config::Config& cfg_;
  Spool& spool_;
  quarantine::QuarantineDb& quarantine_;
  SmtpDelivery next_hop_;
  std::unique_ptr<SmtpDelivery> bounce_relay_;
  asio::steady_timer sweep_;

  // Touched only on the event-loop thread.
  std::deque<std::string> ready_;
  std::map<std::string, unsigned> attempts_;
  // Runs that failed (verdict Failed, or an exception): past sanitize.max_attempts the original is
  // held whole instead of being retried. In memory: a restart counts again from zero.
  struct FailedRuns {
    unsigned count = 0;
    std::string last;
  };
  std::map<std::string, FailedRuns> failed_runs_;
  // Messages awaiting a password mail, by queue id: from their first AwaitingPassword run until a run
  // ends otherwise. `queued`: a run is queued or under way, so neither a new password mail nor the
  // deadline timer queues another.
  struct Waiting {
    PairKey key;
    std::set<std::string> tried;  // password mails (queue ids) whose candidates did not open it
    std::shared_ptr<asio::steady_timer> deadline;
    bool queued = false;
  };
  std::map<std::string, Waiting> waiting_;
  // Operator control (see the top of this file).
  std::map<std::string, std::string> held_;  // id -> reason
  std::set<std::string> deleting_;
  struct InFlight {
    unsigned runs = 0;
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;  // settled(): cancelled when runs drops to 0
  };
  std::map<std::string, InFlight> in_flight_;
  std::set<std::string> again_;  // queued while in flight: queued again when that attempt ends
  struct Retry {
    std::shared_ptr<asio::steady_timer> timer;
    std::int64_t at_unix = 0;
  };
  std::map<std::string, Retry> retry_;
  struct Story {
    std::string last_error;
    std::deque<std::string> events;  // bounded: kMaxHistory
  };
  std::map<std::string, Story> stories_;
  PasswordOffers offers_;
  std::size_t active_ = 0;
  std::size_t loaded_ = 0;  // spooled bytes of the messages in process(), bounded by delivery.max_loaded_size
  bool stopping_ = false;
  std::function<void()> on_stopped_;
};

}  // namespace mugai::gateway
