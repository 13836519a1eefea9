// The admin actions (see admin.hpp). The order of a release is what keeps one crash from losing or
// doubling it: claim (held → releasing, with the copy's spool id chosen now) and audit it; spool the
// copy; mark it released; only then queue it. A crash before the copy is durable leaves a claim with
// no queued copy (held again at start); a crash after leaves the copy queued but never delivered
// before the next start settles the claim as released. An unlock is checked, run through the workers,
// and only then claimed, so a password that opens nothing changes nothing but the audit log.
#include "gateway/admin.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "common/account.hpp"
#include "common/unix_time.hpp"
#include "gateway/scheduler.hpp"
#include "proto/address.hpp"

namespace mugai::gateway {
namespace {

using proto::admin::Action;
using proto::admin::Request;
using proto::admin::Response;


std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

static_assert(proto::admin::kMaxPassword == sanitize::kMaxPasswordSize, "an unlock's password must fit the worker channel");

// A release's copy as a new entry of the gateway's own queue: Clean stage, the release's recipients.
SpoolEntry clean_copy(const config::Config& cfg, const quarantine::ReleaseClaim& claim, const std::string& mail_from,
                      const std::string& message) {
  SpoolEntry entry;
  entry.id = claim.spool_id;
  entry.stage = Stage::Clean;
  entry.route = Route::NextHop;
  entry.arrival_unix = now_unix();
  entry.client_ip = "127.0.0.1";
  entry.helo = cfg.smtp.hostname;
  entry.mail_from = mail_from;
  entry.rcpt_to = claim.rcpt_to;
  entry.message = message;
  return entry;
}

// An account name as a header value: whatever the account database holds, it cannot end the header.
std::string header_safe(std::string_view s) {
  std::string out(s);
  std::replace_if(out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }, '_');
  return out;
}

}  // namespace

quarantine::Operator operator_of(const Peer& peer) { return {peer.uid, account::user_name(peer.uid)}; }

std::string not_admitted(const quarantine::Operator& by) {
  return by.name + " (uid " + std::to_string(by.uid) +
         ") may not use the admin socket: not root, not the gateway's account, not in admin.group";
}

Expected<Access> Access::resolve(const config::Config& cfg) {
  std::int64_t group = ::getegid();
  if (!cfg.admin.group.empty()) {
    auto gid = account::group_id(cfg.admin.group);
    if (!gid) return Error{"admin.group: the system has no group \"" + cfg.admin.group + "\""};
    group = *gid;
  }
  return Access(group, cfg.quarantine.approvers);
}

bool Access::admitted(const Peer& peer) const {
  return peer.uid == 0 || peer.uid == static_cast<std::int64_t>(::geteuid()) || peer.gid == group_ ||
         account::member_of(peer.uid, group_);
}

bool Access::approver(const Peer& peer, const std::string& name) const {
  return std::any_of(approvers_.begin(), approvers_.end(), [&](const std::string& a) {
    if (!a.starts_with('@')) return a == name;
    const auto gid = account::group_id(std::string_view(a).substr(1));
    return gid && account::member_of(peer.uid, *gid);
  });
}

AdminService::AdminService(asio::thread_pool& pool, const config::Config& cfg, quarantine::QuarantineDb& store,
                           Spool& spool, Scheduler& scheduler, WorkerPool& sanitizers, Access access)
    : pool_(pool),
      cfg_(cfg),
      store_(store),
      spool_(spool),
      scheduler_(scheduler),
      sanitizers_(sanitizers),
      access_(std::move(access)) {}

Status AdminService::recover(const std::vector<std::string>& queued) {
  const std::set<std::string> in_queue(queued.begin(), queued.end());
  auto claimed = store_.releases(quarantine::ReleaseState::Claimed);
  if (!claimed) return claimed.error();
  for (const auto& claim : *claimed) {
    const bool spooled = in_queue.count(claim.spool_id) != 0;
    auto st = spooled ? store_.complete_release(claim, true)
                      : store_.abandon_release(claim, "the gateway stopped before the copy was spooled");
    if (!st) return Error{"cannot settle the release of " + claim.entry_id + ": " + st.error().message};
    log::event("release-settled", {{"id", claim.entry_id}, {"spool_id", claim.spool_id},
                                   {"status", spooled ? "released" : "held"}});
  }
  auto spooled = store_.releases(quarantine::ReleaseState::Spooled);
  if (!spooled) return spooled.error();
  for (const auto& claim : *spooled)
    if (in_queue.count(claim.spool_id) != 0) follow(claim);
  return Ok{};
}

Response AdminService::handle(const Expected<Request>& request, const Peer& peer) {
  const quarantine::Operator by = operator_of(peer);
  const std::string_view action = request ? proto::admin::action_name(request->action) : "(unreadable request)";
  const std::string id = request ? request->id : "";
  Expected<Response> done = Error{not_admitted(by)};
  if (access_.admitted(peer)) done = request ? perform(*request, by, peer) : Expected<Response>(request.error());
  return done ? *done : refuse(by, action, id, done.error().message);
}

Response AdminService::refuse(const quarantine::Operator& by, std::string_view action, const std::string& id,
                              const std::string& problem) {
  quarantine::AuditFields fields{{"action", std::string(action)}};
  if (!id.empty()) fields.emplace_back("id", id);
  fields.emplace_back("problem", problem);
  if (auto st = store_.audit(by, "refused", fields); !st) {
    return Response{false, problem + " (and the refusal could not be audited: " + st.error().message + ")", {}};
  }
  return Response{false, problem, {}};
}

quarantine::ReleaseRules AdminService::rules(const Peer& peer, const quarantine::Operator& by) const {
  return {cfg_.quarantine.release_requires_approval, cfg_.quarantine.release_to_others, access_.approver(peer, by.name)};
}

// Whatever release_to_others says, a release never leaves the domains the gateway serves.
Status AdminService::check_recipients(const std::vector<std::string>& to) const {
  for (const auto& addr : to) {
    auto path = proto::parse_path("<" + addr + ">", false);
    if (!path || !proto::recipient_allowed(path->mailbox, cfg_.smtp.accept_domains)) {
      return Error{addr + " is not an address in smtp.accept_domains"};
    }
  }
  return Ok{};
}

Expected<Response> AdminService::perform(const Request& r, const quarantine::Operator& by, const Peer& peer) {
  std::string id;
  if (r.action != Action::Purge) {
    auto normalized = quarantine::normalize_id(r.id);
    if (!normalized) return normalized.error();
    id = std::move(*normalized);
  }
  switch (r.action) {
    case Action::Release: {
      if (auto st = check_recipients(r.to); !st) return st.error();
      auto claim = store_.claim_release(id, r.to, r.reason, new_spool_id(), by, rules(peer, by));
      if (!claim) return claim.error();
      return carry_out(*claim, released_original(*claim), "released");
    }
    case Action::RequestRelease:
      if (auto st = check_recipients(r.to); !st) return st.error();
      if (auto st = store_.request_release(id, r.to, r.reason, by, rules(peer, by)); !st) return st.error();
      return Response{true, "release of " + id + " requested by " + by.name + "; another approver must approve it", {}};
    case Action::Approve: {
      auto claim = store_.approve(id, new_spool_id(), by, rules(peer, by));
      if (!claim) return claim.error();
      return carry_out(*claim, released_original(*claim), "released");
    }
    case Action::Delete:
      if (auto st = store_.remove(id, r.reason, by); !st) return st.error();
      return Response{true, id + " deleted", {}};
    case Action::Purge: {
      const std::int64_t now = now_unix();
      std::optional<std::int64_t> cutoff;
      if (r.older_than) cutoff = now - *r.older_than;
      auto ids = store_.purge(now, cutoff, by);
      if (!ids) return ids.error();
      return Response{true, std::to_string(ids->size()) + (ids->size() == 1 ? " entry" : " entries") + " expired", *ids};
    }
    case Action::Unlock:
    case Action::QueueList:
    case Action::QueueShow:
    case Action::QueueHold:
    case Action::QueueUnhold:
    case Action::QueueDelete:
    case Action::QueueFlush:
      break;  // need the event loop: serve() carries them out there
  }
  return Error{std::string(proto::admin::action_name(r.action)) + " is not carried out on the worker pool"};
}

Expected<Response> AdminService::carry_out(const quarantine::ReleaseClaim& claim, const Expected<Copy>& copy,
                                           std::string_view done) {
  Expected<std::string> spooled =
      copy ? spool_.add(clean_copy(cfg_, claim, copy->mail_from, copy->message)) : Expected<std::string>(copy.error());
  if (!spooled) {
    auto back = store_.abandon_release(claim, spooled.error().message);
    return Error{"cannot release " + claim.entry_id + ": " + spooled.error().message +
                 (back ? "; it is held again" : "; and it stays releasing: " + back.error().message)};
  }
  // Not queued unless marked released: the next start settles the claim before anything delivers it.
  if (auto st = store_.complete_release(claim, false); !st) {
    return Error{claim.entry_id + " is spooled as " + claim.spool_id + " but not marked released (" +
                 st.error().message + "): the gateway settles it at its next start"};
  }
  follow(claim);
  scheduler_.enqueue(claim.spool_id);
  return Response{true,
                  claim.entry_id + " " + std::string(done) + " to " + joined(claim.rcpt_to) + " (queued as " +
                      claim.spool_id + "; its delivery is recorded in the audit log)",
                  {}};
}

// The original as it was received, under headers naming who let it through, from its envelope sender.
Expected<AdminService::Copy> AdminService::released_original(const quarantine::ReleaseClaim& claim) {
  auto entry = store_.get(claim.entry_id);
  if (!entry) return entry.error();
  auto original = store_.original(*entry);
  if (!original) return original.error();
  return Copy{entry->record.mail_from, "X-Mugai-Released-By: " + header_safe(claim.by.name) +
                                           "\r\nX-Mugai-Quarantine-Id: " + entry->id + "\r\n" + *original};
}

awaitable<Response> AdminService::serve(const Expected<Request>& request, const Peer& peer) {
  if (request && proto::admin::action_name(request->action).starts_with("queue-")) {
    co_return co_await serve_queue(*request, peer);
  }
  if (!request || request->action != Action::Unlock) {
    co_return co_await run_blocking(pool_, [&] { return handle(request, peer); });
  }
  auto begun = co_await run_blocking(pool_, [&] { return begin_unlock(*request, peer); });
  Expected<Response> done = Error{};
  if (begun) {
    auto ran = co_await sanitizers_.sanitize(begun->original, begun->ctx);
    done = co_await run_blocking(pool_, [&] { return finish_unlock(*begun, request->reason, ran); });
  } else {
    done = begun.error();
  }
  if (done) co_return *done;
  co_return co_await run_blocking(pool_, [&] { return refuse(operator_of(peer), "unlock", request->id, done.error().message); });
}

// Everything that can be checked before a worker tries the password: who asks, and for which entry.
// Under the two-person rule that includes another approver's pending request, so nobody alone can
// even probe passwords.
Expected<AdminService::Unlock> AdminService::begin_unlock(const Request& r, const Peer& peer) {
  Unlock u;
  u.by = operator_of(peer);
  if (!access_.admitted(peer)) return Error{not_admitted(u.by)};
  auto id = quarantine::normalize_id(r.id);
  if (!id) return id.error();
  u.id = std::move(*id);
  auto entry = store_.get(u.id);
  if (!entry) return entry.error();
  if (entry->status != quarantine::EntryStatus::Held) {
    return Error{"quarantine entry " + u.id + " is " + std::string(quarantine::status_name(entry->status)) +
                 ", not held: only a held entry can be unlocked"};
  }
  u.rules = rules(peer, u.by);
  if (u.rules.requires_approval) {
    if (!u.rules.operator_is_approver) {
      return Error{u.by.name + " (uid " + std::to_string(u.by.uid) +
                   ") is not in quarantine.approvers and may not unlock an entry"};
    }
    auto requests = store_.release_requests(u.id);
    if (!requests) return requests.error();
    const auto pending = std::find_if(requests->begin(), requests->end(),
                                      [](const quarantine::ReleaseRequest& q) { return q.approved_by.empty(); });
    if (pending == requests->end()) {
      return Error{"quarantine.release_requires_approval is set: " + u.id +
                   " needs `quarantine request-release` by one approver, then `quarantine unlock` by another"};
    }
    if (pending->requested_uid == u.by.uid) {
      return Error{"two-person rule: " + u.by.name + " (uid " + std::to_string(u.by.uid) + ") requested the release of " +
                   u.id + " and cannot unlock it; another approver must"};
    }
  }
  auto original = store_.original(*entry);
  if (!original) return original.error();
  u.original = std::move(*original);
  const auto& rec = entry->record;
  u.ctx.queue_id = rec.queue_id;
  u.ctx.gateway_hostname = cfg_.smtp.hostname;
  u.ctx.client_ip = rec.client_ip;
  u.ctx.helo = rec.helo;
  u.ctx.mail_from = rec.mail_from;
  u.ctx.rcpt_to = rec.rcpt_to;
  u.ctx.received_unix = rec.received_unix;
  // Already stored under its id: whatever the outcome asks to quarantine is there.
  u.ctx.quarantine_id = u.id;
  u.ctx.archive_passwords = {r.password};
  u.ctx.password_source = "the password " + u.by.name + " gave to mugaictl quarantine unlock";
  u.ctx.pair_window_over = true;
  return u;
}

Expected<Response> AdminService::finish_unlock(const Unlock& u, const std::string& reason,
                                               const Expected<sanitize::Outcome>& ran) {
  if (!ran) return Error{"cannot sanitize " + u.id + ": " + ran.error().message};
  const sanitize::Outcome& outcome = *ran;
  if (outcome.verdict == sanitize::Outcome::Verdict::Quarantined) {
    return Error{"even with the password, " + u.id + " is held whole: " + outcome.reason};
  }
  if (outcome.verdict != sanitize::Outcome::Verdict::Sanitized) {
    return Error{"cannot sanitize " + u.id + ": " + outcome.reason};
  }
  if (!outcome.archive_unlocked) return Error{"the password did not open the archive of " + u.id};
  // The release machinery makes it once-only and crash-safe; its records say it was an unlock.
  const std::string why = "unlock: " + reason;
  auto claim = u.rules.requires_approval ? store_.approve(u.id, new_spool_id(), u.by, u.rules)
                                         : store_.claim_release(u.id, {}, why, new_spool_id(), u.by, u.rules);
  if (!claim) return claim.error();
  if (auto st = store_.audit(u.by, "unlocked", {{"id", u.id}, {"spool_id", claim->spool_id}, {"reason", reason}}); !st) {
    auto back = store_.abandon_release(*claim, st.error().message);
    return Error{"cannot audit the unlock of " + u.id + ": " + st.error().message +
                 (back ? " (nothing was released)" : "; and it stays releasing: " + back.error().message)};
  }
  const Copy copy{u.ctx.mail_from, "X-Mugai-Unlocked-By: " + header_safe(u.by.name) + "\r\n" + outcome.message};
  return carry_out(*claim, copy, "unlocked: its sanitized form released");
}

void AdminService::follow(const quarantine::ReleaseClaim& claim) {
  const auto done = spool_.done(claim.spool_id);
  Followed f{claim.entry_id, {}, false};
  for (const auto& r : claim.rcpt_to)
    if (!done.count(r)) f.unsettled.insert(r);
  std::lock_guard lock(mu_);
  followed_[claim.spool_id] = std::move(f);
}

void AdminService::on_log_event(std::string_view name, std::initializer_list<log::Field> fields) {
  if (name != "deliver" && name != "bounce") return;
  std::string_view spool_id, rcpt, result;
  for (const auto& [k, v] : fields) {
    if (k == "id") spool_id = v;
    if (k == "rcpt") rcpt = v;
    if (k == "result") result = v;
  }
  quarantine::AuditFields audit;
  {
    std::lock_guard lock(mu_);
    const auto it = followed_.find(std::string(spool_id));
    if (it == followed_.end()) return;
    Followed& f = it->second;
    audit = {{"id", f.entry_id}, {"spool_id", std::string(spool_id)}};
    for (const auto& [k, v] : fields)
      if (k != "id") audit.emplace_back(std::string(k), std::string(v));
    if (name == "deliver" && result != "deferred") {
      f.unsettled.erase(std::string(rcpt));
      f.bounce_due = f.bounce_due || result == "bounced";
    } else if (name == "bounce") {
      // After refused recipients it settles them; without any, the copy expired and everyone left failed.
      if (!f.bounce_due) f.unsettled.clear();
      f.bounce_due = false;
    }
    if (f.unsettled.empty() && !f.bounce_due) followed_.erase(it);
  }
  const std::string event = name == "deliver" ? "release-delivery" : "release-bounce";
  asio::post(pool_, [this, event, audit = std::move(audit)] {
    if (auto st = store_.audit(event, audit); !st) {
      log::event("audit-error", {{"record", event}, {"error", st.error().message}});
    }
  });
}

}  // namespace mugai::gateway
