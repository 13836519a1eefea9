// The queue manager (see scheduler.hpp). Ordering that keeps "nothing lost" true at every crash
// point: sanitized copy durable before the raw one goes; a bounce durable before the failed
// recipients are marked done; the spool entry removed only when no recipient is left.
#include "gateway/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "common/durable_file.hpp"
#include "common/unix_time.hpp"
#include "gateway/log.hpp"
#include "gateway/maildir.hpp"
#include "gateway/metrics.hpp"
#include "gateway/traffic.hpp"
#include "proto/admin.hpp"
#include "proto/replies.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/pipeline.hpp"

namespace mugai::gateway {

namespace {

std::string reply_text(const proto::Reply& r) {
  std::string s = std::to_string(r.code);
  if (!r.enhanced.empty()) s += " " + r.enhanced;
  for (const auto& l : r.lines) s += " " + l;
  return s;
}

// Password mails remembered for pairing (pairing.hpp): each holds at most 16 passwords of 128 bytes.
constexpr std::size_t kMaxOffers = 256;
// What `mugaictl queue show` can tell of a message's past: its latest events, each cut to a line.
constexpr std::size_t kMaxHistory = 16;
constexpr std::size_t kMaxEventText = 300;

std::string verdict_name(sanitize::Outcome::Verdict v) {
  switch (v) {
    case sanitize::Outcome::Verdict::Sanitized: return "sanitized";
    case sanitize::Outcome::Verdict::Quarantined: return "quarantined";
    case sanitize::Outcome::Verdict::AwaitingPassword: return "awaiting-password";
    case sanitize::Outcome::Verdict::Failed: break;
  }
  return "failed";
}

PairKey pair_key(const SpoolEntry& e) { return {e.id, e.mail_from, e.rcpt_to, e.arrival_unix}; }

std::string dead_letter_dir(const config::Config& cfg) {
  return cfg.delivery.dead_letter_dir.empty() ? cfg.spool.dir + "/dead-letter" : cfg.delivery.dead_letter_dir;
}

// A message the gateway writes itself (a DSN, a hold notice), ready for delivery. Its sender is the
// null one, so if it fails in turn it is dead-lettered, never bounced.
SpoolEntry generated(const config::Config& cfg, Route route, std::string rcpt, std::string message) {
  SpoolEntry e;
  e.stage = Stage::Clean;
  e.route = route;
  e.arrival_unix = now_unix();
  e.client_ip = "127.0.0.1";
  e.helo = cfg.smtp.hostname;
  e.rcpt_to = {std::move(rcpt)};
  e.message = std::move(message);
  return e;
}
}  // namespace

Scheduler::Scheduler(asio::io_context& io, asio::thread_pool& workers, WorkerPool& sanitizers,
                     const config::Config& cfg, Spool& spool, quarantine::QuarantineDb& quarantine,
                     std::shared_ptr<const ClientTls> client_tls)
    : io_(io),
      workers_(workers),
      sanitizers_(sanitizers),
      cfg_(cfg),
      spool_(spool),
      quarantine_(quarantine),
      next_hop_(io, cfg, cfg.delivery.smtp_host, client_tls),
      sweep_(io),
      offers_(kMaxOffers, cfg.archive_pair_window.count()) {
  // The bounce relay is held to the same delivery.tls level, its certificate checked against the
  // host of delivery.bounce (and, for fingerprint, listed in delivery.tls_fingerprints too).
  if (cfg.delivery.bounce_via_smtp)
    bounce_relay_ = std::make_unique<SmtpDelivery>(io, cfg, cfg.delivery.bounce_host, client_tls);
  next_hop_.on_answer = [] { metrics::registry().next_hop_answered(); };
}

void Scheduler::start(const std::vector<std::string>& recovered_ids) {
  held_ = spool_.holds();
  for (const auto& id : recovered_ids) ready_.push_back(id);
  // Idle next-hop connections are closed after a few seconds so the LGWAN MTA is not held open.
  asio::co_spawn(io_, [this]() -> awaitable<void> {
    while (!stopping_) {
      sweep_.expires_after(std::chrono::seconds(2));
      error_code ec;
      co_await sweep_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      next_hop_.close_idle(std::chrono::seconds(5));
      if (bounce_relay_) bounce_relay_->close_idle(std::chrono::seconds(5));
    }
  }, asio::detached);
  asio::post(io_, [this] { pump(); });
}

void Scheduler::enqueue(std::string id) {
  asio::post(io_, [this, id = std::move(id)]() mutable {
    ready_.push_back(std::move(id));
    pump();
  });
}

void Scheduler::pump() {
  while (!stopping_ && active_ < cfg_.delivery.concurrency && !ready_.empty()) {
    // Never two attempts on one message at once: one queued while another runs (a password mail that
    // came meanwhile, an unhold) starts when the running one has ended.
    if (in_flight(ready_.front())) {
      again_.insert(std::move(ready_.front()));
      ready_.pop_front();
      continue;
    }
    // A message in process() holds its raw form, the worker's result and its clean form: bounding the
    // bytes loaded at once bounds memory when big messages queue up (a stat, no read). One always goes.
    const std::size_t bytes = spool_.stored_size(ready_.front());
    if (loaded_ > 0 && loaded_ + bytes > cfg_.delivery.max_loaded_size) break;
    loaded_ += bytes;
    std::string id = std::move(ready_.front());
    ready_.pop_front();
    ++active_;
    ++in_flight_[id].runs;
    asio::co_spawn(io_, process(id), [this, id, bytes](std::exception_ptr e) {
      // What threw on a worker (run_blocking's barrier) or here ended this attempt only: the entry is
      // still in the spool, so it is retried like any deferred message rather than forgotten.
      // Each throw counts as a failed run; past sanitize.max_attempts a raw entry's next attempt holds
      // the original whole (a clean one is only ever retried).
      if (e) {
        const std::string what = exception_text(e);
        log::event("scheduler-error", {{"id", id}, {"error", what}});
        failed_run(id, "exception: " + what);
        retry_later(id);
      }
      --active_;
      loaded_ -= bytes;
      if (const auto it = in_flight_.find(id); it != in_flight_.end() && --it->second.runs == 0) {
        for (const auto& waiter : it->second.waiters) waiter->cancel();
        in_flight_.erase(it);
        if (again_.erase(id) != 0) ready_.push_back(id);
      }
      if (stopping_ && active_ == 0 && on_stopped_) std::exchange(on_stopped_, nullptr)();
      pump();
    });
  }
}

void Scheduler::stop(std::function<void()> done) {
  stopping_ = true;
  sweep_.cancel();
  next_hop_.close_idle(Clock::duration::zero());
  if (bounce_relay_) bounce_relay_->close_idle(Clock::duration::zero());
  if (active_ == 0)
    done();
  else
    on_stopped_ = std::move(done);
}

void Scheduler::forget(const std::string& id) {
  attempts_.erase(id);
  failed_runs_.erase(id);
  stories_.erase(id);
  cancel_retry(id);
}

void Scheduler::cancel_retry(const std::string& id) {
  if (const auto it = retry_.find(id); it != retry_.end()) {
    it->second.timer->cancel();
    retry_.erase(it);
  }
}

void Scheduler::note(const std::string& id, std::string event) {
  // One line each: replies and reasons may quote the next hop or the message.
  std::replace_if(event.begin(), event.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, ' ');
  if (event.size() > kMaxEventText) event.resize(kMaxEventText);
  auto& events = stories_[id].events;
  events.push_back(sanitize::rfc5322_date(now_unix()) + " " + event);
  if (events.size() > kMaxHistory) events.pop_front();
}

Scheduler::Known Scheduler::known(const std::string& id) const {
  Known k;
  const auto held = held_.find(id);
  const auto waiting = waiting_.find(id);
  const auto retry = retry_.find(id);
  if (deleting_.count(id)) k.state = "deleting";
  else if (held != held_.end()) k.state = "held";
  else if (in_flight(id)) k.state = "in-flight";
  else if (waiting != waiting_.end() && !waiting->second.queued) k.state = "waiting-password";
  else if (retry != retry_.end()) k.state = "deferred";
  else k.state = "queued";
  if (held != held_.end()) k.hold_reason = held->second;
  if (const auto it = attempts_.find(id); it != attempts_.end()) k.attempts = it->second;
  if (retry != retry_.end()) k.next_attempt_unix = retry->second.at_unix;
  if (const auto it = stories_.find(id); it != stories_.end()) {
    k.last_error = it->second.last_error;
    k.history.assign(it->second.events.begin(), it->second.events.end());
  }
  return k;
}

void Scheduler::hold_now(const std::string& id, std::string reason, bool deleting) {
  held_[id] = std::move(reason);
  if (deleting) deleting_.insert(id);
  cancel_retry(id);
  note(id, deleting ? "delete requested" : "held by the operator");
}

awaitable<void> Scheduler::settled(std::string id) {
  while (in_flight(id)) {
    auto waiter = std::make_shared<asio::steady_timer>(io_, Clock::time_point::max());
    in_flight_[id].waiters.push_back(waiter);
    error_code ec;
    co_await waiter->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void Scheduler::unhold_now(const std::string& id) {
  if (held_.erase(id) == 0) return;
  note(id, "unheld by the operator");
  // An attempt that ended after the hold may have set a retry timer: this attempt replaces it.
  cancel_retry(id);
  ready_.push_back(id);
  pump();
}

void Scheduler::forget_deleted(const std::string& id) {
  held_.erase(id);
  again_.erase(id);
  deleting_.erase(id);
  stop_waiting(id);
  std::erase(ready_, id);
  forget(id);
}

std::string Scheduler::flush(const std::string& id) {
  if (held_.count(id)) return "held: unhold it first";
  if (in_flight(id)) return "an attempt is already in flight";
  if (retry_.count(id) == 0) {
    if (waiting_.count(id)) return "awaits its password mail (or the end of the pair window); nothing to retry";
    return "not deferred: it is queued for its next attempt already";
  }
  cancel_retry(id);
  note(id, "flushed by the operator");
  ready_.push_back(id);
  pump();
  return "";
}

std::vector<std::string> Scheduler::deferred() const {
  std::vector<std::string> ids;
  for (const auto& [id, r] : retry_) ids.push_back(id);
  return ids;
}

bool Scheduler::failed_run(const std::string& id, std::string why) {
  stories_[id].last_error = why.substr(0, proto::admin::kMaxText);
  auto& f = failed_runs_[id];
  f.last = std::move(why);
  return ++f.count >= cfg_.sanitize_max_attempts;
}

std::string Scheduler::given_up_reason(const std::string& id) const {
  const auto it = failed_runs_.find(id);
  const FailedRuns runs = it == failed_runs_.end() ? FailedRuns{} : it->second;
  return "sanitizer failed " + std::to_string(runs.count) + " times: " + runs.last;
}

bool Scheduler::sanitizing_given_up(const std::string& id) const {
  const auto it = failed_runs_.find(id);
  return it != failed_runs_.end() && it->second.count >= cfg_.sanitize_max_attempts;
}

void Scheduler::retry_later(const std::string& id) {
  unsigned n = ++attempts_[id];
  // Held while this attempt ran: no timer; unhold_now() queues it.
  if (held_.count(id)) {
    note(id, "deferred (attempt " + std::to_string(n) + "); held, so no retry until unheld");
    return;
  }
  double delay = static_cast<double>(cfg_.delivery.retry_first.count()) *
                 std::pow(cfg_.delivery.retry_factor, static_cast<double>(n - 1));
  delay = std::min(delay, static_cast<double>(cfg_.delivery.retry_max.count()));
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(
                                                             static_cast<std::int64_t>(delay * 1000)));
  metrics::registry().messages_deferred.inc();
  log::event("deferred", {{"id", id}, {"attempt", std::to_string(n)},
                          {"retry_in", std::to_string(static_cast<long>(delay)) + "s"}});
  note(id, "deferred (attempt " + std::to_string(n) + "), retry in " + std::to_string(static_cast<long>(delay)) + "s");
  retry_[id] = {timer, now_unix() + static_cast<std::int64_t>(std::ceil(delay))};
  timer->async_wait([this, timer, id](error_code ec) {
    if (const auto it = retry_.find(id); it != retry_.end() && it->second.timer == timer) retry_.erase(it);
    if (!ec && !stopping_) {
      ready_.push_back(id);
      pump();
    }
  });
}

awaitable<void> Scheduler::process(std::string id) {
  // Held since it was queued (or held at a restart): it waits for unhold_now(), which queues it again.
  if (held_.count(id)) co_return;
  auto loaded = co_await run_blocking(workers_, [&] { return spool_.load(id); });
  if (!loaded) {
    log::event("spool-error", {{"id", id}, {"error", loaded.error().message}});
    co_return;
  }
  SpoolEntry entry = std::move(*loaded);

  // Failed too often already (the last run threw, or the hold itself failed): no further run.
  if (entry.stage == Stage::Raw && sanitizing_given_up(id)) {
    const std::string reason = given_up_reason(id);
    co_await hold_unsanitizable(entry, reason);
    co_return;
  }
  if (entry.stage == Stage::Raw) {
    // The id comes first so the notice can cite it; the original is stored under it only if asked.
    auto quarantine_id = quarantine::QuarantineDb::new_id();
    if (!quarantine_id) {
      log::event("quarantine-error", {{"id", id}, {"error", quarantine_id.error().message}});
      retry_later(id);
      co_return;
    }
    sanitize::MessageContext ctx = message_context(entry, cfg_.smtp.hostname, *quarantine_id);
    const std::optional<PasswordOffer> offer = passwords_for(entry);
    if (offer) {
      ctx.archive_passwords = offer->candidates;
      ctx.password_source = offer->source;
    }
    // The deadline follows from the spooled arrival, so a restart neither extends nor loses the wait.
    ctx.pair_window_over = now_unix() >= entry.arrival_unix + cfg_.archive_pair_window.count();
    const auto sanitize_start = Clock::now();
    auto ran = co_await sanitizers_.sanitize(entry.message, ctx);
    metrics::registry().sanitize_seconds.observe(std::chrono::duration<double>(Clock::now() - sanitize_start).count());
    if (!ran && ran.error().kind == WorkerPool::kUnavailable) {
      // No worker at all: the gateway's trouble, not the message's. Counted like a failed run.
      log::event("sanitize", {{"id", id}, {"verdict", "failed"}, {"reason", ran.error().message}});
      record_fact(workers_, quarantine_, id, [failure = quarantine::WorkerFailure{id, now_unix(), "unavailable", ran.error().message}](
                                                 quarantine::QuarantineDb& db) { return db.record_worker_failure(failure); });
      if (failed_run(id, ran.error().message)) {
        const std::string reason = given_up_reason(id);
        co_await hold_unsanitizable(entry, reason);
      } else {
        retry_later(id);
      }
      co_return;
    }
    if (!ran) {
      // The worker crashed, timed out or ran out of memory on this message: it is held whole at once
      // (running it again would only repeat that), and its recipients are told.
      stop_waiting(id);
      const std::string reason = ran.error().message;
      record_fact(workers_, quarantine_, id, [failure = quarantine::WorkerFailure{id, now_unix(), "message-failed", reason}](
                                                 quarantine::QuarantineDb& db) { return db.record_worker_failure(failure); });
      co_await hold_unsanitizable(entry, reason);
      co_return;
    }
    sanitize::Outcome outcome = std::move(*ran);
    metrics::registry().count_report(outcome.report_json);
    // Whatever became of this message, its text may hold the password another one waits for.
    if (!outcome.password_candidates.empty() && !entry.mail_from.empty()) {
      offer_passwords(entry, std::move(outcome.password_candidates));
    }
    if (outcome.verdict == sanitize::Outcome::Verdict::AwaitingPassword && ctx.pair_window_over) {
      // The pipeline's contract says this cannot happen; waiting again would never end.
      outcome.verdict = sanitize::Outcome::Verdict::Failed;
      outcome.reason = "internal error: awaiting a password after the pair window";
    }
    // The original is durable in quarantine before anything citing it is stored or delivered; if it
    // cannot be, nothing goes: the run counts as failed (sanitize.max_attempts) and is tried again.
    if (outcome.quarantine) {
      auto held = co_await run_blocking(workers_, [&] {
        return quarantine_.put(entry.message, *outcome.quarantine, outcome.quarantine_id);
      });
      if (!held) {
        outcome.verdict = sanitize::Outcome::Verdict::Failed;
        outcome.reason = "quarantine failed: " + held.error().message;
      }
    }
    // The reason usually opens with the verdict already.
    const std::string verdict = verdict_name(outcome.verdict);
    note(id, "sanitize: " + (outcome.reason.starts_with(verdict) ? outcome.reason
                                                                 : verdict + (outcome.reason.empty() ? "" : ": " + outcome.reason)));
    log::event("sanitize", {{"id", id}, {"verdict", verdict_name(outcome.verdict)}, {"reason", outcome.reason},
                            {"removed", std::to_string(outcome.quarantine ? outcome.quarantine->parts.size() : 0)},
                            {"quarantine_id", outcome.quarantine_id}});
    {
      // PPAP: the last word on this message's archives (a message that waited and still has no password
      // at the window's end expired; one the gateway forgot waiting across a restart is not told apart).
      const bool waited = waiting_.count(id) != 0;
      const std::string ppap = outcome.verdict == sanitize::Outcome::Verdict::AwaitingPassword ? "awaiting"
                               : outcome.encrypted_refused                                     ? "refused"
                               : offer && outcome.archive_unlocked                             ? "paired"
                               : waited && ctx.pair_window_over                                ? "window-expired"
                               : offer                                                         ? "pair-failed"
                                                                                               : "";
      const std::string verdict = outcome.rejected ? "rejected" : verdict_name(outcome.verdict);
      record_fact(workers_, quarantine_, id, [facts = run_facts(entry, outcome, verdict, ppap)](quarantine::QuarantineDb& db) {
        return db.record_traffic(traffic_record(facts));
      });
    }
    if (outcome.verdict == sanitize::Outcome::Verdict::AwaitingPassword) {
      // Not a failed run: the raw entry stays queued until a password mail or the window's end.
      await_password(entry, offer);
      co_return;
    }
    stop_waiting(id);
    if (offer) {
      log::event(outcome.archive_unlocked ? "paired" : "pair-failed", {{"id", id}, {"password_from", offer->mail.id}});
    }
    switch (outcome.verdict) {
      case sanitize::Outcome::Verdict::Sanitized: {
        // The sender's report is durable before the clean form: a crash in between sanitizes the raw
        // entry again and reports twice, it never loses the report.
        if (outcome.encrypted_refused && !entry.mail_from.empty()) {
          auto reported = co_await run_blocking(workers_, [&] { return spool_refusal(entry); });
          if (!reported) {
            log::event("notice-error", {{"id", id}, {"error", reported.error().message}});
            retry_later(id);
            co_return;
          }
        }
        auto st = co_await run_blocking(workers_, [&] { return spool_.store_clean(entry, outcome.message); });
        if (!st) {
          log::event("spool-error", {{"id", id}, {"error", st.error().message}});
          retry_later(id);
          co_return;
        }
        entry.stage = Stage::Clean;
        entry.message = std::move(outcome.message);
        // A hold that came while it was being sanitized takes effect before the delivery.
        if (held_.count(id)) co_return;
        break;
      }
      case sanitize::Outcome::Verdict::Quarantined: {
        // The whole original is held in quarantine (the store made it durable): nothing to deliver.
        // Named, not a braced temporary in the co_await: g++ 12 destroys such a temporary twice.
        const HeldMessage held{outcome.quarantine_id, outcome.reason, outcome.rejected};
        metrics::registry().messages_held.inc({metrics::held_reason(outcome.rejected, outcome.reason)});
        co_await hold(entry, held);
        co_return;
      }
      case sanitize::Outcome::Verdict::AwaitingPassword:  // handled above
      case sanitize::Outcome::Verdict::Failed:
        if (failed_run(id, outcome.reason)) {
          const std::string reason = given_up_reason(id);
          co_await hold_unsanitizable(entry, reason);
        } else {
          retry_later(id);
        }
        co_return;
    }
  }
  co_await deliver_and_settle(std::move(entry));
}

awaitable<proto::TransactionResult> Scheduler::deliver_maildir_all(const SpoolEntry& entry,
                                                                   const std::vector<std::string>& rcpts) {
  co_return co_await run_blocking(workers_, [&] {
    proto::TransactionResult r;
    for (const auto& rcpt : rcpts) {
      auto st = deliver_maildir(cfg_.delivery.maildir, rcpt, entry.message, cfg_.spool.fsync);
      r.recipients.push_back({rcpt, st ? proto::make_reply<proto::ReplyKind::DeliveredToMaildir>()
                                       : proto::make_reply<proto::ReplyKind::MaildirFailed>(st.error().message)});
    }
    return r;
  });
}

awaitable<void> Scheduler::deliver_and_settle(SpoolEntry entry) {
  const std::string id = entry.id;
  auto done = co_await run_blocking(workers_, [&] { return spool_.done(id); });
  std::vector<std::string> pending;
  for (const auto& r : entry.rcpt_to)
    if (!done.count(r)) pending.push_back(r);

  std::vector<FailedRecipient> failed;
  std::vector<std::string> deferred;
  const bool expired = now_unix() - entry.arrival_unix >= cfg_.delivery.max_queue_lifetime.count();
  const bool to_dead_letter = entry.route == Route::Bounce && !bounce_relay_;

  if (expired) {
    for (const auto& r : pending)
      failed.push_back({r, "4.4.7", "message expired in queue after " +
                                        std::to_string(cfg_.delivery.max_queue_lifetime.count()) + "s",
                        ""});
  } else if (to_dead_letter) {
    // A bounce with no relay configured is complete once it is durably in the dead-letter directory.
    auto st = co_await run_blocking(workers_, [&] { return write_dead_letter(entry, "bounce"); });
    if (!st) {
      log::event("dead-letter-error", {{"id", id}, {"error", st.error().message}});
      retry_later(id);
      co_return;
    }
    log::event("bounce", {{"id", id}, {"result", "dead-letter"}, {"to", entry.rcpt_to.empty() ? "" : entry.rcpt_to[0]}});
    pending.clear();
  } else if (!pending.empty()) {
    proto::TransactionResult result;
    std::string hop;
    if (entry.route == Route::Bounce) {
      hop = bounce_relay_->name();
      result = co_await bounce_relay_->deliver(entry.mail_from, pending, entry.message);
    } else if (cfg_.delivery.kind == config::Delivery::Kind::Maildir) {
      hop = "maildir:" + cfg_.delivery.maildir;
      result = co_await deliver_maildir_all(entry, pending);
    } else {
      hop = next_hop_.name();
      result = co_await next_hop_.deliver(entry.mail_from, pending, entry.message);
    }
    // Progress is recorded per recipient only when the attempt leaves someone unsettled: when every
    // recipient got 250, removing the entry is the one durable step needed (saves an fsync per message).
    const bool all_sent = std::all_of(result.recipients.begin(), result.recipients.end(),
                                      [](const proto::RecipientResult& rr) { return rr.reply.positive(); });
    if (std::any_of(result.recipients.begin(), result.recipients.end(),
                    [](const proto::RecipientResult& rr) { return rr.reply.positive(); })) {
      metrics::registry().messages_delivered.inc();
      metrics::registry().delivery_latency_seconds.observe(static_cast<double>(now_unix() - entry.arrival_unix));
    }
    for (const auto& rr : result.recipients) {
      std::string outcome = rr.reply.positive() ? "sent" : rr.reply.permanent() ? "bounced" : "deferred";
      log::event("deliver", {{"id", id}, {"rcpt", rr.rcpt}, {"relay", hop}, {"result", outcome},
                             {"reply", reply_text(rr.reply)}});
      note(id, "deliver " + rr.rcpt + " via " + hop + ": " + outcome + ": " + reply_text(rr.reply));
      if (!rr.reply.positive()) stories_[id].last_error = (rr.rcpt + ": " + reply_text(rr.reply)).substr(0, proto::admin::kMaxText);
      if (rr.reply.positive()) {
        if (all_sent) continue;
        auto st = co_await run_blocking(workers_, [&] { return spool_.mark_done(id, rr.rcpt); });
        if (!st) log::event("spool-error", {{"id", id}, {"error", st.error().message}});
      } else if (rr.reply.permanent()) {
        failed.push_back({rr.rcpt, rr.reply.enhanced.empty() ? "5.0.0" : rr.reply.enhanced,
                          reply_text(rr.reply), hop});
      } else {
        deferred.push_back(rr.rcpt);
      }
    }
  }

  if (const std::size_t attempted = pending.size(); attempted > 0) {
    const std::int64_t bounced = static_cast<std::int64_t>(failed.size()), later = static_cast<std::int64_t>(deferred.size());
    const std::string route = entry.route == Route::Bounce                                ? "bounce"
                              : cfg_.delivery.kind == config::Delivery::Kind::Maildir ? "maildir"
                                                                                      : "next-hop";
    quarantine::DeliveryRecord delivery{id, now_unix(), route,
                                        static_cast<std::int64_t>(attempted) - bounced - later, bounced, later};
    record_fact(workers_, quarantine_, id, [delivery](quarantine::QuarantineDb& db) { return db.record_delivery(delivery); });
  }
  if (!failed.empty()) {
    auto st = co_await run_blocking(workers_, [&] { return settle_failures(entry, failed); });
    if (!st) {
      log::event("bounce-error", {{"id", id}, {"error", st.error().message}});
      retry_later(id);
      co_return;
    }
  }
  if (!deferred.empty() && !expired) {
    retry_later(id);
    co_return;
  }
  forget(id);
  auto st = co_await run_blocking(workers_, [&] { return spool_.remove(id); });
  if (!st) log::event("spool-error", {{"id", id}, {"error", st.error().message}});
}

awaitable<void> Scheduler::hold(const SpoolEntry& entry, const HeldMessage& held) {
  // The notices are durable before the raw entry goes: a crash in between holds and notifies again
  // (a duplicate notice), it never loses the word.
  auto st = co_await run_blocking(workers_, [&] { return spool_hold_notices(entry, held); });
  if (!st) {
    log::event("notice-error", {{"id", entry.id}, {"error", st.error().message}});
    retry_later(entry.id);
    co_return;
  }
  forget(entry.id);
  auto removed = co_await run_blocking(workers_, [&] { return spool_.remove(entry.id); });
  if (!removed) log::event("spool-error", {{"id", entry.id}, {"error", removed.error().message}});
}

Status Scheduler::spool_hold_notices(const SpoolEntry& entry, const HeldMessage& held) {
  // Runs on a worker. Each notice is its own entry through the normal delivery path (retries,
  // delivery.tls, dead-letter on failure), and is audited against the quarantine entry it reports.
  for (const auto& addressee : hold_notice_addressees(cfg_.quarantine, entry.rcpt_to)) {
    auto notice_id = spool_.add(generated(cfg_, Route::NextHop, addressee.to,
                                          make_hold_notice(entry, held, addressee, cfg_, new_spool_id(), now_unix())));
    if (!notice_id) return notice_id.error();
    log::event("notified", {{"id", entry.id}, {"quarantine_id", held.quarantine_id}, {"to", addressee.to},
                            {"notice_id", *notice_id}});
    // The notice is spooled either way; a failed audit append is logged, not retried into a second notice.
    auto audited = quarantine_.audit("notified", {{"id", held.quarantine_id}, {"queue_id", entry.id},
                                                  {"to", addressee.to}, {"notice_id", *notice_id}});
    if (!audited) log::event("audit-error", {{"id", entry.id}, {"error", audited.error().message}});
    enqueue(*notice_id);
  }
  return Ok{};
}

awaitable<void> Scheduler::hold_unsanitizable(const SpoolEntry& entry, const std::string& reason) {
  // The pipeline failed sanitize.max_attempts times, or its worker died on this message: the original
  // goes to quarantine whole from here. Until the store takes it, it stays in the spool and this is
  // retried (the pipeline is not: a held-back attempt marks the runs given up).
  if (!sanitizing_given_up(entry.id)) failed_runs_[entry.id] = {cfg_.sanitize_max_attempts, reason};
  HeldMessage held{"", reason, false};
  auto qid = quarantine::QuarantineDb::new_id();
  Status stored = Ok{};
  if (qid) {
    const sanitize::QuarantineRecord record = hold_record(entry, held.reason);
    stored = co_await run_blocking(workers_, [&] { return quarantine_.put(entry.message, record, *qid); });
  } else {
    stored = qid.error();
  }
  if (!stored) {
    log::event("quarantine-error", {{"id", entry.id}, {"error", stored.error().message}});
    retry_later(entry.id);
    co_return;
  }
  held.quarantine_id = *qid;
  metrics::registry().messages_held.inc({"unsanitizable"});
  log::event("sanitize", {{"id", entry.id}, {"verdict", "quarantined"}, {"reason", held.reason},
                          {"quarantine_id", held.quarantine_id}});
  record_fact(workers_, quarantine_, entry.id, [facts = held_facts(entry, held.reason, held.quarantine_id)](
                                                   quarantine::QuarantineDb& db) { return db.record_traffic(traffic_record(facts)); });
  co_await hold(entry, held);
}

Status Scheduler::spool_refusal(const SpoolEntry& entry) {
  // Runs on a worker. On the bounce route, as a DSN: it answers the sender, who may be outside.
  auto report_id = spool_.add(generated(cfg_, Route::Bounce, entry.mail_from,
                                        make_encrypted_refusal(entry, cfg_, new_spool_id(), now_unix())));
  if (!report_id) return report_id.error();
  log::event("encrypted-refused", {{"id", entry.id}, {"report_id", *report_id}, {"to", entry.mail_from}});
  enqueue(*report_id);
  return Ok{};
}

std::optional<PasswordOffer> Scheduler::passwords_for(const SpoolEntry& entry) const {
  const auto it = waiting_.find(entry.id);
  const std::set<std::string> none;
  const PasswordOffer* offer = offers_.newest_for(pair_key(entry), it == waiting_.end() ? none : it->second.tried);
  if (offer == nullptr) return std::nullopt;
  return *offer;
}

void Scheduler::offer_passwords(const SpoolEntry& entry, std::vector<std::string> candidates) {
  PasswordOffer offer{pair_key(entry), std::move(candidates), password_mail_description(entry)};
  for (auto& [id, w] : waiting_) {
    if (!w.queued && pairs(w.key, offer.mail, cfg_.archive_pair_window.count())) rerun_waiting(id);
  }
  offers_.remember(std::move(offer), now_unix());
}

void Scheduler::await_password(const SpoolEntry& entry, const std::optional<PasswordOffer>& tried) {
  const std::string& id = entry.id;
  Waiting& w = waiting_[id];
  w.key = pair_key(entry);
  w.queued = false;
  if (tried) {
    w.tried.insert(tried->mail.id);
    log::event("pair-failed", {{"id", id}, {"password_from", tried->mail.id}});
  }
  const std::int64_t deadline = entry.arrival_unix + cfg_.archive_pair_window.count();
  log::event("awaiting-password", {{"id", id}, {"until", sanitize::rfc5322_date(deadline)}});
  // A password mail that came while this run was under way, or a window that ended meanwhile.
  const std::int64_t left = deadline - now_unix();
  if (left <= 0 || offers_.newest_for(w.key, w.tried) != nullptr) {
    rerun_waiting(id);
    return;
  }
  if (w.deadline) w.deadline->cancel();
  w.deadline = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(left));
  w.deadline->async_wait([this, id](error_code ec) {
    const auto it = waiting_.find(id);
    if (!ec && !stopping_ && it != waiting_.end() && !it->second.queued) rerun_waiting(id);
  });
}

void Scheduler::rerun_waiting(const std::string& id) {
  Waiting& w = waiting_.at(id);
  w.queued = true;
  if (w.deadline) w.deadline->cancel();
  ready_.push_back(id);
  pump();
}

void Scheduler::stop_waiting(const std::string& id) {
  const auto it = waiting_.find(id);
  if (it == waiting_.end()) return;
  if (it->second.deadline) it->second.deadline->cancel();
  waiting_.erase(it);
}

Status Scheduler::settle_failures(const SpoolEntry& entry, const std::vector<FailedRecipient>& failed) {
  // Runs on a worker. Null-sender mail and our own bounces are never bounced (RFC 5321 §4.5.5):
  // they are kept in the dead-letter directory instead, so nothing is lost silently.
  if (entry.mail_from.empty() || entry.route == Route::Bounce) {
    std::string why;
    for (const auto& f : failed) why += f.rcpt + ": " + f.diagnostic + "; ";
    if (auto st = write_dead_letter(entry, why); !st) return st;
    log::event("bounce", {{"id", entry.id}, {"result", "dead-letter"}, {"reason", why}});
  } else {
    auto bid = spool_.add(generated(cfg_, Route::Bounce, entry.mail_from,
                                    make_dsn(entry, failed, cfg_.smtp.hostname, now_unix())));
    if (!bid) return bid.error();
    log::event("bounce", {{"id", entry.id}, {"bounce_id", *bid}, {"to", entry.mail_from},
                          {"recipients", std::to_string(failed.size())}});
    enqueue(*bid);
  }
  metrics::registry().messages_bounced.inc();
  for (const auto& f : failed)
    if (auto st = spool_.mark_done(entry.id, f.rcpt); !st) return st;
  return Ok{};
}

Status Scheduler::write_dead_letter(const SpoolEntry& entry, const std::string& why) {
  const std::string dir = dead_letter_dir(cfg_);
  if (auto st = durable::make_dir(dir, cfg_.spool.fsync); !st) return st;
  std::string reason = why;
  // The reason quotes next-hop text: never let it start a new header line.
  std::replace_if(reason.begin(), reason.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
  std::string header = "X-Mugai-Dead-Letter: " + reason + "\r\nX-Mugai-Envelope-From: <" + entry.mail_from + ">\r\n";
  for (const auto& r : entry.rcpt_to) header += "X-Mugai-Envelope-To: <" + r + ">\r\n";
  return durable::write_file(dir + "/." + entry.id + ".tmp", dir + "/" + entry.id + ".eml",
                             {header, entry.message}, cfg_.spool.fsync, true);
}

}  // namespace mugai::gateway
