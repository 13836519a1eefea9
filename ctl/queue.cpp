// `mugaictl queue ...` (see queue.hpp). Only the gateway knows what is in flight, deferred or awaiting a
// password, so even the listing is asked of it; everything it returns reaches the terminal through
// fit_columns()/safe_text(), so a Subject or a next hop's reply can neither move the cursor nor forge a row.
#include "ctl/queue.hpp"

#include <charconv>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "ctl/admin_client.hpp"
#include "ctl/cli.hpp"
#include "ctl/text_width.hpp"
#include "proto/admin.hpp"

namespace mugai::ctl {
namespace {

using proto::admin::Action;
using proto::admin::QueueMessage;
using proto::admin::Request;
using proto::admin::Response;

int usage_problem(std::string_view problem) {
  std::fprintf(stderr, "mugaictl: queue %.*s\n", static_cast<int>(problem.size()), problem.data());
  return kUsage;
}

Expected<Response> ask(const Options& o, const Request& request) {
  auto cfg = load_config(o);
  if (!cfg) return cfg.error();
  return ask_gateway(cfg->admin.socket, request);
}

std::string age(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

// The documented keys of `queue list --json` and `queue show --json` (README.md).
json::Value message_json(const QueueMessage& m, bool detail) {
  const std::int64_t now = now_unix();
  json::Value v{{"id", m.id},
                {"state", m.state},
                {"stage", m.stage},
                {"route", m.route},
                {"arrival_unix", m.arrival_unix},
                {"age_seconds", now - m.arrival_unix},
                {"size", m.size},
                {"mail_from", m.mail_from},
                {"rcpt_total", m.rcpt_total},
                {"rcpt_done", m.rcpt_done},
                {"attempts", m.attempts},
                {"last_error", m.last_error},
                {"next_attempt_unix", m.next_attempt_unix == 0 ? json::Value(nullptr) : json::Value(m.next_attempt_unix)},
                {"hold_reason", m.hold_reason}};
  if (!detail) return v;
  json::Value rcpts = json::Value::array();
  for (const auto& r : m.rcpt_to) {
    const bool done = std::find(m.rcpt_done_list.begin(), m.rcpt_done_list.end(), r) != m.rcpt_done_list.end();
    rcpts.push_back({{"address", r}, {"state", done ? "done" : "pending"}});
  }
  v["client_ip"] = m.client_ip;
  v["helo"] = m.helo;
  v["recipients"] = std::move(rcpts);
  v["headers"] = {{"subject", m.subject}, {"from", m.from}, {"date", m.date}};
  v["history"] = m.history;
  return v;
}

int run_list(const Options& o) {
  Request request;
  request.action = Action::QueueList;
  if (!o.limit.empty()) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(o.limit.data(), o.limit.data() + o.limit.size(), n);
    if (ec != std::errc{} || end != o.limit.data() + o.limit.size() || n < 1 || n > proto::admin::kMaxQueueRows) {
      return usage_problem("list: --limit expects a number 1.." + std::to_string(proto::admin::kMaxQueueRows));
    }
    request.limit = n;
  }
  auto response = ask(o, request);
  if (!response) return fail(response.error().message);
  if (!response->ok) return fail(safe_text(response->message));
  const auto listed = static_cast<std::int64_t>(response->queue.size());
  // Said on stderr too, so a script reading --json learns that rows were left out.
  if (response->queue_total > listed) {
    std::fprintf(stderr, "mugaictl: %s\n", safe_text(response->message).c_str());
  }
  if (o.json) {
    json::Value rows = json::Value::array();
    for (const auto& m : response->queue) rows.push_back(message_json(m, false));
    print(json::dump(rows) + "\n");
    return kOk;
  }
  const std::int64_t now = now_unix();
  std::string out = row(fit_columns("ID", 17) + fit_columns("STATE", 17) + fit_columns("STAGE", 6) +
                        fit_columns("ARRIVED", 20) + fit_columns("AGE", 5) + fit_columns("SIZE", 9) +
                        fit_columns("FROM", 28) + fit_columns("RCPT", 8) + fit_columns("TRIES", 6) +
                        fit_columns("NEXT", 9) + "LAST ERROR");
  std::int64_t bytes = 0;
  for (const auto& m : response->queue) {
    bytes += m.size;
    const std::string next = m.next_attempt_unix == 0 ? "-" : "in " + age(m.next_attempt_unix - now);
    const std::string stage = m.route == "bounce" ? "bounce" : m.stage;
    out += row(fit_columns(m.id, 17) + fit_columns(m.state, 17) + fit_columns(stage, 6) +
               fit_columns(local_time(m.arrival_unix).substr(0, 19), 20) + fit_columns(age(now - m.arrival_unix), 5) +
               fit_columns(std::to_string(m.size), 9) + fit_columns(m.mail_from.empty() ? "<>" : m.mail_from, 28) +
               fit_columns(std::to_string(m.rcpt_done) + "/" + std::to_string(m.rcpt_total), 8) +
               fit_columns(std::to_string(m.attempts), 6) + fit_columns(next, 9) +
               fit_columns(m.last_error.empty() ? "-" : m.last_error, 60));
  }
  out += "-- " + safe_text(response->message) + "; " + std::to_string(bytes) + " bytes listed\n";
  print(out);
  return kOk;
}

int run_show(const Options& o) {
  if (o.positional.size() != 1) return usage_problem("show needs an ID");
  Request request;
  request.action = Action::QueueShow;
  request.id = o.positional.at(0);
  auto response = ask(o, request);
  if (!response) return fail(response.error().message);
  if (!response->ok) return fail(safe_text(response->message));
  if (response->queue.size() != 1) return fail("the gateway's answer holds no message");
  const QueueMessage& m = response->queue.front();
  if (o.json) {
    print(json::dump(message_json(m, true)) + "\n");
    return kOk;
  }
  const std::int64_t now = now_unix();
  const auto line = [](std::string_view label, const std::string& value) {
    return fit_columns(label, 12) + safe_text(value) + "\n";
  };
  std::string out = line("id:", m.id);
  out += line("state:", m.state + (m.hold_reason.empty() ? "" : " (" + m.hold_reason + ")"));
  out += line("stage:", m.stage + ", route " + m.route);
  out += line("arrived:", local_time(m.arrival_unix) + " (" + age(now - m.arrival_unix) + " ago)");
  out += line("size:", std::to_string(m.size) + " bytes");
  out += line("client:", m.client_ip + " (HELO " + m.helo + ")");
  out += line("sender:", "<" + m.mail_from + ">");
  for (const auto& r : m.rcpt_to) {
    const bool done = std::find(m.rcpt_done_list.begin(), m.rcpt_done_list.end(), r) != m.rcpt_done_list.end();
    out += line("recipient:", "<" + r + "> " + (done ? "done" : "pending"));
  }
  if (static_cast<std::int64_t>(m.rcpt_to.size()) < m.rcpt_total) {
    out += line("", "... " + std::to_string(m.rcpt_total - static_cast<std::int64_t>(m.rcpt_to.size())) + " more");
  }
  out += line("attempts:", std::to_string(m.attempts));
  out += line("next:", m.next_attempt_unix == 0 ? "-" : local_time(m.next_attempt_unix));
  out += line("last error:", m.last_error.empty() ? "-" : m.last_error);
  out += line("Subject:", m.subject);
  out += line("From:", m.from);
  out += line("Date:", m.date);
  out += "history (since the gateway started):\n";
  for (const auto& h : m.history) out += "  " + safe_text(h) + "\n";
  print(out);
  return kOk;
}

// hold, unhold, delete, flush: one line per id in the answer (each made terminal-safe on its own, to
// stdout when all were done, else to stderr); exit 1 when any was not done.
int run_change(const Options& o, Action action) {
  Request request;
  request.action = action;
  request.ids = o.positional;
  request.reason = o.reason;
  auto response = ask(o, request);
  if (!response) return fail(response.error().message);
  std::string_view rest = response->message;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const std::string line = safe_text(rest.substr(0, nl));
    if (response->ok) print(line + "\n");
    else fail(line);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  return response->ok ? kOk : kError;
}

int run_hold(const Options& o) {
  if (o.positional.empty()) return usage_problem("hold needs at least one ID");
  if (o.reason.empty()) return usage_problem("hold needs --reason TEXT (it is audited)");
  return run_change(o, Action::QueueHold);
}
int run_unhold(const Options& o) {
  if (o.positional.empty()) return usage_problem("unhold needs at least one ID");
  return run_change(o, Action::QueueUnhold);
}
int run_delete(const Options& o) {
  if (o.positional.empty()) return usage_problem("delete needs at least one ID");
  if (o.reason.empty()) return usage_problem("delete needs --reason TEXT (it is audited)");
  return run_change(o, Action::QueueDelete);
}
int run_flush(const Options& o) { return run_change(o, Action::QueueFlush); }

constexpr std::size_t kIds = proto::admin::kMaxQueueIds;
constexpr Subcommand kQueue[] = {
    {"list", "[--limit N]", "--limit", 0, run_list},
    {"show", "ID", "", 1, run_show},
    {"hold", "ID... --reason TEXT", "--reason", kIds, run_hold},
    {"unhold", "ID... [--reason TEXT]", "--reason", kIds, run_unhold},
    {"delete", "ID... --reason TEXT", "--reason", kIds, run_delete},
    {"flush", "[ID...]", "", kIds, run_flush},
};

}  // namespace

int cmd_queue(Args args) {
  return dispatch("queue", kQueue, args, "every subcommand is done by the running gateway, as your account");
}

}  // namespace mugai::ctl
