// The admin actions (see admin.hpp). The order of a release is what keeps one crash from losing or
// doubling it: claim (held → releasing, with the copy's spool id chosen now) and audit it; spool the
// copy; mark it released; only then queue it. A crash before the copy is durable leaves a claim with
// no queued copy (held again at start); a crash after leaves the copy queued but never delivered
// before the next start settles the claim as released.
#include "gateway/admin.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "common/account.hpp"
#include "gateway/scheduler.hpp"
#include "proto/address.hpp"

namespace mugai::gateway {
namespace {

using proto::admin::Action;
using proto::admin::Request;
using proto::admin::Response;

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// An account name as a header value: whatever the account database holds, it cannot end the header.
std::string header_safe(std::string_view s) {
  std::string out(s);
  std::replace_if(out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }, '_');
  return out;
}

}  // namespace

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
                           Spool& spool, Scheduler& scheduler, Access access)
    : pool_(pool), cfg_(cfg), store_(store), spool_(spool), scheduler_(scheduler), access_(std::move(access)) {}

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
  const quarantine::Operator by{peer.uid, account::user_name(peer.uid)};
  const std::string_view action = request ? proto::admin::action_name(request->action) : "(unreadable request)";
  const std::string id = request ? request->id : "";
  Expected<Response> done = Error{by.name + " (uid " + std::to_string(by.uid) +
                                  ") may not use the admin socket: not root, not the gateway's account, not in "
                                  "admin.group"};
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
      return carry_out(*claim);
    }
    case Action::RequestRelease:
      if (auto st = check_recipients(r.to); !st) return st.error();
      if (auto st = store_.request_release(id, r.to, r.reason, by, rules(peer, by)); !st) return st.error();
      return Response{true, "release of " + id + " requested by " + by.name + "; another approver must approve it", {}};
    case Action::Approve: {
      auto claim = store_.approve(id, new_spool_id(), by, rules(peer, by));
      if (!claim) return claim.error();
      return carry_out(*claim);
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
  }
  return Error{"unknown action"};  // every Action has its case above
}

Expected<Response> AdminService::carry_out(const quarantine::ReleaseClaim& claim) {
  if (auto spooled = spool_copy(claim); !spooled) {
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
                  claim.entry_id + " released to " + joined(claim.rcpt_to) + " (queued as " + claim.spool_id +
                      "; its delivery is recorded in the audit log)",
                  {}};
}

// The original as it was received, under headers naming who let it through, as a new entry of the
// gateway's own queue: envelope sender of the original, the release's recipients, Clean stage.
Expected<std::string> AdminService::spool_copy(const quarantine::ReleaseClaim& claim) {
  auto entry = store_.get(claim.entry_id);
  if (!entry) return entry.error();
  auto original = store_.original(*entry);
  if (!original) return original.error();
  SpoolEntry copy;
  copy.id = claim.spool_id;
  copy.stage = Stage::Clean;
  copy.route = Route::NextHop;
  copy.arrival_unix = now_unix();
  copy.client_ip = "127.0.0.1";
  copy.helo = cfg_.smtp.hostname;
  copy.mail_from = entry->record.mail_from;
  copy.rcpt_to = claim.rcpt_to;
  copy.message = "X-Mugai-Released-By: " + header_safe(claim.by.name) + "\r\nX-Mugai-Quarantine-Id: " + entry->id +
                 "\r\n" + *original;
  return spool_.add(std::move(copy));
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
