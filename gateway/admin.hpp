// The quarantine's admin actions as the gateway performs them for mugaictl: the gateway is the one
// writer of the index, the audit log and the queue. Each action is one atomic transition in the index
// under the operator's real account (the admin socket's peer), audited whether it is done or refused;
// a release is claimed first, spooled into the gateway's own queue (retries, STARTTLS policy and bounce
// rules apply), marked released once its copy is durable, and only then queued for delivery. An unlock
// (a PPAP archive opened with the password an operator gives) runs the original through the workers
// first and is then carried out like a release whose copy is the sanitized message, never the
// original; the password lives only in that request's memory.
#pragma once

#include "gateway/net.hpp"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "gateway/log.hpp"
#include "gateway/spool.hpp"
#include "gateway/worker_pool.hpp"
#include "proto/admin.hpp"
#include "quarantine/store.hpp"

namespace mugai::gateway {

class Scheduler;

// The process on the other end of the admin socket, as the kernel reports it (SO_PEERCRED).
struct Peer {
  std::int64_t uid = -1;
  std::int64_t gid = -1;
};

// The account on the other end, as audit records name it; and the refusal for one not admitted.
quarantine::Operator operator_of(const Peer& peer);
std::string not_admitted(const quarantine::Operator& by);

// Who may use the admin socket (root, the gateway's own account, members of admin.group) and who is an
// approver (quarantine.approvers). Memberships are looked up at each request, so changes to the
// system's groups apply without a restart.
class Access {
 public:
  // Resolves admin.group ("" = the gateway's own group); a group the system does not know is an error.
  static Expected<Access> resolve(const config::Config& cfg);
  std::int64_t group() const { return group_; }
  bool admitted(const Peer& peer) const;
  // `name` is the peer's account name, for approvers listed by name.
  bool approver(const Peer& peer, const std::string& name) const;

 private:
  Access(std::int64_t group, std::vector<std::string> approvers) : group_(group), approvers_(std::move(approvers)) {}
  std::int64_t group_;
  std::vector<std::string> approvers_;
};

class AdminService {
 public:
  AdminService(asio::thread_pool& pool, const config::Config& cfg, quarantine::QuarantineDb& store, Spool& spool,
               Scheduler& scheduler, WorkerPool& sanitizers, Access access);

  // At start, before the scheduler: a release a crash left claimed is released when its copy is in the
  // queue (`queued`), else held again (both audited); copies still queued are followed (see below).
  Status recover(const std::vector<std::string>& queued);

  // Performs any request but an unlock for `peer` (or refuses it, `request` being the reason it could not
  // be read). Blocking (SQLite, fsync): runs on the worker pool. Every outcome is audited.
  proto::admin::Response handle(const Expected<proto::admin::Request>& request, const Peer& peer);
  // On the event-loop thread: an unlock, which needs the workers between its blocking steps, a queue
  // action (serve_queue: the scheduler's state lives on the event loop), or else handle() on the worker pool.
  awaitable<proto::admin::Response> serve(const Expected<proto::admin::Request>& request, const Peer& peer);

  // For log::observe: the scheduler reports each recipient's delivery and each bounce only in its log,
  // so the delivery of a released copy is audited from those events (on the worker pool).
  void on_log_event(std::string_view name, std::initializer_list<log::Field> fields);

 private:
  struct Followed {
    std::string entry_id;
    std::set<std::string> unsettled;  // recipients without a final outcome yet
    bool bounce_due = false;          // a recipient was refused: the bounce event is still to come
  };

  // What a release spools: the envelope sender and the message (the original, or an unlock's sanitized one).
  struct Copy {
    std::string mail_from;
    std::string message;
  };
  // An unlock between its checks and its claim: the original and the context to run it in.
  struct Unlock {
    quarantine::Operator by;
    std::string id;
    std::string original;
    sanitize::MessageContext ctx;
    quarantine::ReleaseRules rules;
  };

  // `mugaictl queue ...` (admin_queue.cpp): on the event loop, since the scheduler's state lives there.
  awaitable<proto::admin::Response> serve_queue(const proto::admin::Request& r, const Peer& peer);
  awaitable<std::string> stop_attempts(const std::string& id, const std::string& hold_reason, bool deleting,
                                       std::string_view verb, bool& was_in_flight);
  awaitable<std::string> queue_hold(const std::string& id, const std::string& reason, bool& ok);
  awaitable<std::string> queue_unhold(const std::string& id, bool& ok);
  awaitable<std::string> queue_delete(const std::string& id, const std::string& reason,
                                      const quarantine::Operator& by, bool& ok);
  Expected<proto::admin::QueueMessage> queue_row(const std::string& id, bool detail) const;
  void queue_audit(const quarantine::Operator& by, std::string_view event, const std::string& id,
                   const std::string& reason, const std::string& result, quarantine::AuditFields more = {});

  Expected<proto::admin::Response> perform(const proto::admin::Request& r, const quarantine::Operator& by,
                                           const Peer& peer);
  Expected<proto::admin::Response> carry_out(const quarantine::ReleaseClaim& claim, const Expected<Copy>& copy,
                                             std::string_view done);
  Expected<Copy> released_original(const quarantine::ReleaseClaim& claim);
  Expected<Unlock> begin_unlock(const proto::admin::Request& r, const Peer& peer);
  Expected<proto::admin::Response> finish_unlock(const Unlock& u, const std::string& reason,
                                                 const Expected<sanitize::Outcome>& ran);
  Status check_recipients(const std::vector<std::string>& to) const;
  quarantine::ReleaseRules rules(const Peer& peer, const quarantine::Operator& by) const;
  proto::admin::Response refuse(const quarantine::Operator& by, std::string_view action, const std::string& id,
                                const std::string& problem);
  void follow(const quarantine::ReleaseClaim& claim);

  asio::thread_pool& pool_;
  const config::Config& cfg_;
  quarantine::QuarantineDb& store_;
  Spool& spool_;
  Scheduler& scheduler_;
  WorkerPool& sanitizers_;
  Access access_;
  std::mutex mu_;                            // followed_: the event loop and workers log
  std::map<std::string, Followed> followed_;  // by spool id
};

}  // namespace mugai::gateway
