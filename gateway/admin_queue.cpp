// `mugaictl queue list|show|hold|unhold|delete|flush` as the gateway carries them out (the postqueue and
// postsuper of mugai). Guarantees: a hold or a deletion is durable (a hold file) before the scheduler
// is told, and takes effect only once the attempt in flight on that message has ended, so no file is
// removed under a running delivery and nothing is delivered after a deletion was confirmed; every
// hold, unhold, delete and flush, done or refused, is an audit record under the operator's account.
#include <algorithm>
#include <cctype>
#include <ctime>

#include "common/hex.hpp"
#include "gateway/admin.hpp"
#include "gateway/scheduler.hpp"
#include "sanitizers/headers.hpp"

namespace mugai::gateway {
namespace {

using proto::admin::Action;
using proto::admin::QueueMessage;
using proto::admin::Request;
using proto::admin::Response;

// Queue ids as typed: Crockford base32 is case-insensitive.
std::string normalized(std::string id) {
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return id;
}

std::string cut(std::string s, std::size_t max) {
  if (s.size() > max) s.resize(max);
  return s;
}

std::string joined(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

// The value of the first header field `name` of the message, decoded for display and bounded.
std::string header_value(const std::vector<sanitize::HeaderField>& fields, std::string_view name) {
  for (const auto& f : fields) {
    if (f.name.size() == name.size() &&
        std::equal(f.name.begin(), f.name.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return cut(sanitize::decode_header_text(f.value), proto::admin::kMaxText);
    }
  }
  return "";
}

}  // namespace

Expected<QueueMessage> AdminService::queue_row(const std::string& id, bool detail) const {
  // Runs on the worker pool: spool files only; the scheduler's part is filled in on the event loop.
  QueueMessage m;
  SpoolEntry e;
  if (detail) {
    auto loaded = spool_.load(id);
    if (!loaded) return loaded.error();
    e = std::move(*loaded);
    m.size = static_cast<std::int64_t>(e.message.size());
  } else {
    std::size_t size = 0;
    auto peeked = spool_.peek(id, size);
    if (!peeked) return peeked.error();
    e = std::move(*peeked);
    m.size = static_cast<std::int64_t>(size);
  }
  const auto done = spool_.done(id);
  m.id = id;
  m.stage = e.stage == Stage::Raw ? "raw" : "clean";
  m.route = e.route == Route::Bounce ? "bounce" : "next-hop";
  m.arrival_unix = e.arrival_unix;
  m.mail_from = cut(e.mail_from, proto::admin::kMaxAddress);
  m.rcpt_total = static_cast<std::int64_t>(e.rcpt_to.size());
  for (const auto& r : e.rcpt_to) {
    if (!done.count(r)) continue;
    ++m.rcpt_done;
    if (detail && m.rcpt_done_list.size() < proto::admin::kMaxQueueRecipients) m.rcpt_done_list.push_back(r);
  }
  if (detail) {
    m.client_ip = cut(e.client_ip, proto::admin::kMaxAddress);
    m.helo = cut(e.helo, proto::admin::kMaxAddress);
    for (const auto& r : e.rcpt_to) {
      if (m.rcpt_to.size() == proto::admin::kMaxQueueRecipients) break;
      m.rcpt_to.push_back(r);
    }
    const auto fields = sanitize::parse_header_block(e.message);
    m.subject = header_value(fields, "Subject");
    m.from = header_value(fields, "From");
    m.date = header_value(fields, "Date");
  }
  return m;
}

void AdminService::queue_audit(const quarantine::Operator& by, std::string_view event, const std::string& id,
                               const std::string& reason, const std::string& result, quarantine::AuditFields more) {
  // Runs on the worker pool.
  quarantine::AuditFields fields{{"id", id}};
  if (!reason.empty()) fields.emplace_back("reason", reason);
  fields.emplace_back("result", result);
  for (auto& f : more) fields.push_back(std::move(f));
  if (auto st = store_.audit(by, event, fields); !st) {
    log::event("audit-error", {{"record", std::string(event)}, {"id", id}, {"error", st.error().message}});
  }
}

namespace {
// How a scheduler's view completes a row.
void add_known(QueueMessage& m, const Scheduler::Known& k, bool detail) {
  m.state = k.state;
  m.attempts = k.attempts;
  m.last_error = cut(k.last_error, proto::admin::kMaxText);
  m.next_attempt_unix = k.next_attempt_unix;
  m.hold_reason = cut(k.hold_reason, proto::admin::kMaxText);
  if (detail) m.history = k.history;
}
}  // namespace

// What hold and delete share: the hold made durable first (once the reply says held, a restart or kill -9
// finds it held; a deletion cut short by a crash leaves the message held, never delivered), no new
// attempt, and the one in flight awaited. "" when the message is still queued, else why not, for the reply.
awaitable<std::string> AdminService::stop_attempts(const std::string& id, const std::string& hold_reason, bool deleting,
                                                   std::string_view verb, bool& was_in_flight) {
  auto written = co_await run_blocking(pool_, [&] { return spool_.hold(id, hold_reason); });
  if (!written) co_return "cannot " + std::string(verb) + ": " + written.error().message;
  scheduler_.hold_now(id, hold_reason, deleting);
  was_in_flight = scheduler_.in_flight(id);
  co_await scheduler_.settled(id);
  std::size_t size = 0;
  auto still = co_await run_blocking(pool_, [&] { return spool_.peek(id, size); });
  if (still) co_return std::string();
  // Settled by the attempt that was in flight (delivered, bounced or held in quarantine); its remove()
  // may have run before the hold file was written.
  co_await run_blocking(pool_, [&] { return spool_.unhold(id); });
  scheduler_.forget_deleted(id);
  co_return "already delivered or settled by the attempt in flight; nothing " +
      std::string(verb == "hold" ? "left to hold" : "deleted");
}

awaitable<std::string> AdminService::queue_hold(const std::string& id, const std::string& reason, bool& ok) {
  ok = false;
  if (scheduler_.known(id).state == "held") co_return id + ": already held";
  bool was_in_flight = false;
  const std::string problem = co_await stop_attempts(id, reason, false, "hold", was_in_flight);
  if (!problem.empty()) co_return id + ": " + problem;
  ok = true;
  co_return id + ": held" + (was_in_flight ? " (after the attempt that was in flight ended)" : "");
}

awaitable<std::string> AdminService::queue_unhold(const std::string& id, bool& ok) {
  ok = false;
  const auto state = scheduler_.known(id).state;
  if (state == "deleting") co_return id + ": is being deleted";
  if (state != "held") co_return id + ": is not held";
  auto removed = co_await run_blocking(pool_, [&] { return spool_.unhold(id); });
  if (!removed) co_return id + ": cannot unhold: " + removed.error().message;
  // A hold given during an attempt: that attempt ends first, so two never run at once.
  co_await scheduler_.settled(id);
  scheduler_.unhold_now(id);
  ok = true;
  co_return id + ": unheld, queued for an attempt now";
}

awaitable<std::string> AdminService::queue_delete(const std::string& id, const std::string& reason,
                                                  const quarantine::Operator& by, bool& ok) {
  ok = false;
  if (scheduler_.known(id).state == "deleting") co_return id + ": a deletion is already under way";
  bool was_in_flight = false;
  const std::string hold_reason = "deleting: " + reason;
  const std::string problem = co_await stop_attempts(id, hold_reason, true, "delete", was_in_flight);
  if (!problem.empty()) co_return id + ": " + problem;
  // The record names what is destroyed (envelope, size, SHA-256) and is written before the file goes.
  auto removed = co_await run_blocking(pool_, [&]() -> Expected<std::string> {
    auto entry = spool_.load(id);
    if (!entry) return entry.error();
    quarantine::AuditFields what{{"mail_from", entry->mail_from},
                                 {"rcpt_to", joined(entry->rcpt_to, ",")},
                                 {"stage", entry->stage == Stage::Raw ? "raw" : "clean"},
                                 {"size", std::to_string(entry->message.size())},
                                 {"sha256", hex::sha256(entry->message)}};
    quarantine::AuditFields fields{{"id", id}, {"reason", reason}, {"result", "deleted"}};
    fields.insert(fields.end(), what.begin(), what.end());
    if (auto st = store_.audit(by, "queue-delete", fields); !st) {
      return Error{"cannot audit the deletion (" + st.error().message + "); it stays held"};
    }
    if (auto st = spool_.remove(id); !st) return st.error();
    return std::to_string(entry->message.size()) + " bytes, sha256 " + hex::sha256(entry->message);
  });
  if (!removed) co_return id + ": cannot delete: " + removed.error().message;
  scheduler_.forget_deleted(id);
  ok = true;
  co_return id + ": deleted (" + *removed + ")" +
      (was_in_flight ? " after the attempt that was in flight ended without delivering it" : "");
}

awaitable<Response> AdminService::serve_queue(const Request& r, const Peer& peer) {
  const quarantine::Operator by = co_await run_blocking(pool_, [&] { return operator_of(peer); });
  const bool admitted = co_await run_blocking(pool_, [&] { return access_.admitted(peer); });
  const std::string action(proto::admin::action_name(r.action));
  if (!admitted) {
    const std::string ids = r.id.empty() ? joined(r.ids, ",") : r.id;
    const std::string problem = not_admitted(by);
    co_return co_await run_blocking(pool_, [&] { return refuse(by, action, ids, problem); });
  }

  if (r.action == Action::QueueList) {
    auto ids = co_await run_blocking(pool_, [&] { return spool_.list(); });
    const auto limit = static_cast<std::size_t>(r.limit ? *r.limit : proto::admin::kMaxQueueRows);
    const std::size_t shown = std::min(limit, ids.size());
    auto rows = co_await run_blocking(pool_, [&] {
      std::vector<QueueMessage> out;
      for (std::size_t i = 0; i < shown; ++i) {
        // Gone since the listing (delivered meanwhile), or torn: not a row.
        if (auto m = queue_row(ids[i], false)) out.push_back(std::move(*m));
      }
      return out;
    });
    for (auto& m : rows) add_known(m, scheduler_.known(m.id), false);
    Response resp{true, "", {}, std::move(rows), static_cast<std::int64_t>(ids.size())};
    resp.message = std::to_string(ids.size()) + (ids.size() == 1 ? " message" : " messages") + " in the queue";
    if (shown < ids.size()) resp.message += "; only the oldest " + std::to_string(shown) + " listed";
    co_return resp;
  }

  if (r.action == Action::QueueShow) {
    const std::string id = normalized(r.id);
    Expected<QueueMessage> m = Error{id + " is not a queue id (16 characters of Crockford base32)"};
    if (valid_spool_id(id)) m = co_await run_blocking(pool_, [&] { return queue_row(id, true); });
    if (!m) {
      const std::string problem = valid_spool_id(id) ? "no message " + id + " in the queue (" + m.error().message + ")"
                                                     : m.error().message;
      Response refused{false, problem, {}};
      co_return refused;
    }
    add_known(*m, scheduler_.known(id), true);
    Response resp{true, "", {}, {std::move(*m)}, 1};
    co_return resp;
  }

  std::vector<std::string> ids;
  for (const auto& id : r.ids) ids.push_back(normalized(id));
  if (r.action == Action::QueueFlush && ids.empty()) ids = scheduler_.deferred();
  std::vector<std::string> lines;
  bool all_ok = true;
  for (const auto& id : ids) {
    bool ok = false;
    std::string line;
    std::size_t size = 0;
    bool queued = false;
    if (valid_spool_id(id)) queued = co_await run_blocking(pool_, [&] { return spool_.peek(id, size).has_value(); });
    if (!valid_spool_id(id)) {
      line = id + ": not a queue id (16 characters of Crockford base32)";
    } else if (!queued) {
      line = id + ": no such message in the queue";
    } else if (r.action == Action::QueueHold) {
      line = co_await queue_hold(id, r.reason, ok);
    } else if (r.action == Action::QueueUnhold) {
      line = co_await queue_unhold(id, ok);
    } else if (r.action == Action::QueueDelete) {
      line = co_await queue_delete(id, r.reason, by, ok);
    } else {
      const std::string why = scheduler_.flush(id);
      ok = why.empty();
      line = id + (ok ? ": flushed, an attempt starts now" : ": not flushed: " + why);
    }
    // A done deletion was audited before the file went, with what it destroyed.
    if (!(ok && r.action == Action::QueueDelete)) {
      const std::string event = ok ? action : "refused";
      quarantine::AuditFields more;
      if (!ok) more.emplace_back("action", action);
      co_await run_blocking(pool_, [&] {
        queue_audit(by, event, id, r.reason, line, std::move(more));
        return 0;
      });
    }
    all_ok = all_ok && ok;
    lines.push_back(std::move(line));
  }
  if (ids.empty()) {
    co_await run_blocking(pool_, [&] {
      queue_audit(by, action, "", r.reason, "nothing deferred");
      return 0;
    });
    Response none{true, "nothing deferred to flush", {}};
    co_return none;
  }
  Response resp{all_ok, joined(lines, "\n"), {}};
  co_return resp;
}

}  // namespace mugai::gateway
