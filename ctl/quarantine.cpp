// `mugaictl quarantine list|show|export|release|request-release|approve|unlock|delete|purge|stats` and
// `mugaictl audit show|verify`. Reading commands open the quarantine directly; state-changing ones are
// requests to the gateway over the admin socket, which performs them as the account running mugaictl.
// Every action is audited under that account (uid and name); bytes from the quarantine reach the
// terminal only through fit_columns()/safe_text(), and an original that fails its integrity check is
// reported, never shown.
#include "ctl/quarantine.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "common/account.hpp"
#include "common/durable_file.hpp"
#include "common/hex.hpp"
#include "common/json.hpp"
#include "common/key_file.hpp"
#include "config/config.hpp"
#include "ctl/admin_client.hpp"
#include "ctl/cli.hpp"
#include "ctl/text_width.hpp"
#include "proto/admin.hpp"
#include "quarantine/audit.hpp"
#include "quarantine/store.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/mime.hpp"

namespace mugai::ctl {
namespace {

using quarantine::EntryStatus;
using quarantine::QuarantineDb;
using quarantine::QuarantineEntry;

constexpr std::size_t kMaxHeaderShown = 64 * 1024;

// ---- JSON -------------------------------------------------------------------------------------

json::Value entry_json(const QuarantineEntry& e) {
  const auto& r = e.record;
  json::Value parts = json::Value::array();
  for (std::size_t i = 0; i < r.parts.size(); ++i) {
    const auto& p = r.parts[i];
    parts.push_back({{"n", i + 1}, {"filename", p.filename}, {"declared_type", p.declared_type},
                     {"detected_type", p.detected_type}, {"size", p.size}, {"sha256", p.sha256},
                     {"decision", "removed"}, {"reason", p.reason}, {"sanitizer", p.sanitizer}});
  }
  return {{"id", e.id}, {"status", quarantine::status_name(e.status)}, {"received_unix", r.received_unix},
          {"stored_unix", e.stored_unix}, {"retain_until", e.retain_until}, {"queue_id", r.queue_id},
          {"client_ip", r.client_ip}, {"helo", r.helo}, {"mail_from", r.mail_from}, {"rcpt_to", r.rcpt_to},
          {"subject", r.subject}, {"message_id", r.message_id}, {"reason", r.reason}, {"size", e.size},
          {"sha256", e.sha256}, {"status_by", e.status_by}, {"status_unix", e.status_unix},
          {"status_reason", e.status_reason}, {"parts", std::move(parts)}};
}

// ---- opening the store ------------------------------------------------------------------------

struct Session {
  config::Config cfg;
  std::unique_ptr<QuarantineDb> store;
};

Expected<Session> open_session(const Options& o) {
  auto cfg = load_config(o);
  if (!cfg) return cfg.error();
  auto store = QuarantineDb::open(quarantine::store_options(*cfg, false, local_operator()));
  if (!store) return store.error();
  return Session{std::move(*cfg), std::move(*store)};
}

// ---- state-changing commands: requests to the gateway ----------------------------------------

// Sends `request` to the gateway (the one writer) and reports its answer: exit 0 when it was done.
int ask(const Options& o, const proto::admin::Request& request) {
  auto cfg = load_config(o);
  if (!cfg) return fail(cfg.error().message);
  auto response = ask_gateway(cfg->admin.socket, request);
  if (!response) return fail(response.error().message);
  if (!response->ok) return fail(safe_text(response->message));
  if (o.json && request.action == proto::admin::Action::Purge) {
    print(json::dump({{"expired", response->ids}}) + "\n");
    return kOk;
  }
  std::string out = safe_text(response->message) + "\n";
  for (const auto& id : response->ids) out += "  " + safe_text(id) + "\n";
  print(out);
  return kOk;
}

// ---- subcommands ------------------------------------------------------------------------------

int run_list(const Options& o) {
  quarantine::ListFilter f;
  if (!o.since.empty()) {
    auto age = parse_age("--since", o.since);
    if (!age) return fail(age.error().message);
    f.since_unix = now_unix() - *age;
  }
  f.from = o.from;
  if (o.to.size() > 1) return fail("list takes one --to ADDR");
  f.to = o.to.empty() ? "" : o.to.front();
  f.reason = o.reason;
  if (!o.status.empty()) {
    f.status = quarantine::parse_status(o.status);
    if (!f.status) {
      return fail("--status expects held, releasing, released, deleted or expired, got '" + safe_text(o.status) + "'");
    }
  }
  if (!o.limit.empty()) {
    char* end = nullptr;
    const long n = std::strtol(o.limit.c_str(), &end, 10);
    if (*end != '\0' || n < 1 || n > 100000) return fail("--limit expects 1..100000, got '" + safe_text(o.limit) + "'");
    f.limit = static_cast<std::size_t>(n);
  }
  auto s = open_session(o);
  if (!s) return fail(s.error().message);
  auto entries = s->store->list(f);
  if (!entries) return fail(entries.error().message);
  if (o.json) {
    json::Value list = json::Value::array();
    for (const auto& e : *entries) list.push_back(entry_json(e));
    print(json::dump(list) + "\n");
    return kOk;
  }
  
  print(row(fit_columns("ID", 10) + fit_columns("RECEIVED", 17) + fit_columns("STATUS", 9) + fit_columns("FROM", 29) +
            fit_columns("SUBJECT", 41) + "REMOVED"));
  for (const auto& e : *entries) {
    std::string removed;
    if (e.record.parts.empty()) {
      removed = "(whole message) " + e.record.reason;
    } else {
      removed = e.record.parts.front().filename.empty() ? "(unnamed)" : e.record.parts.front().filename;
      if (e.record.parts.size() > 1) removed += " (+" + std::to_string(e.record.parts.size() - 1) + ")";
    }
    print(row(fit_columns(e.id, 10) + fit_columns(local_time(e.record.received_unix).substr(0, 16), 17) +
              fit_columns(quarantine::status_name(e.status), 9) + fit_columns(e.record.mail_from, 28) + " " +
              fit_columns(e.record.subject, 40) + " " + fit_columns(removed, 40)));
  }
  return kOk;
}

// The header section of `original`, bounded, for display.
std::string header_block(std::string_view original) {
  std::size_t end = original.find("\r\n\r\n");
  if (end == std::string_view::npos) end = original.find("\n\n");
  return std::string(original.substr(0, std::min(end == std::string_view::npos ? original.size() : end, kMaxHeaderShown)));
}

int run_show(const Options& o) {
  if (o.positional.size() != 1) return fail("quarantine show needs an ID");
  auto s = open_session(o);
  if (!s) return fail(s.error().message);
  auto e = s->store->get(o.positional[0]);
  if (!e) return fail(e.error().message);
  std::string headers;
  if (e->status == EntryStatus::Held || e->status == EntryStatus::Released) {
    auto original = s->store->original(*e);
    if (!original) return fail(original.error().message);
    headers = header_block(*original);
  }
  auto requests = s->store->release_requests(e->id);
  if (!requests) return fail(requests.error().message);
  if (auto st = s->store->audit("shown", {{"id", e->id}}); !st) return fail(st.error().message);
  if (o.json) {
    json::Value j = entry_json(*e);
    j["headers"] = headers;
    j["release_requests"] = json::Value::array();
    for (const auto& r : *requests) {
      j["release_requests"].push_back({{"requested_by", r.requested_by}, {"requested_uid", r.requested_uid},
                                       {"requested_unix", r.requested_unix}, {"reason", r.reason},
                                       {"rcpt_to", r.rcpt_to}, {"approved_by", r.approved_by},
                                       {"approved_uid", r.approved_uid},
                                       {"approved_unix", r.approved_unix}});
    }
    print(json::dump(j) + "\n");
    return kOk;
  }
  const auto& r = e->record;
  std::string rcpts;
  for (const auto& t : r.rcpt_to) rcpts += (rcpts.empty() ? "" : ", ") + t;
  std::string out;
  const auto line = [&](std::string_view label, std::string_view value) {
    out += fit_columns(label, 12) + safe_text(value) + "\n";
  };
  line("id", e->id);
  line("status", std::string(quarantine::status_name(e->status)) +
                     (e->status_by.empty() ? "" : " by " + e->status_by + " at " + local_time(e->status_unix)) +
                     (e->status_reason.empty() ? "" : " (" + e->status_reason + ")"));
  line("retain", "until " + local_time(e->retain_until));
  line("received", local_time(r.received_unix) + " from " + r.client_ip + " (HELO " + r.helo + ")");
  line("queue id", r.queue_id);
  line("mail from", "<" + r.mail_from + ">");
  line("rcpt to", rcpts);
  line("subject", r.subject);
  line("message-id", r.message_id);
  line("size", std::to_string(e->size) + " bytes, sha256 " + e->sha256);
  line("reason", r.reason);
  out += "headers:\n";
  for (std::size_t start = 0; start < headers.size();) {
    auto nl = headers.find('\n', start);
    if (nl == std::string::npos) nl = headers.size();
    std::string_view h(headers.data() + start, nl - start);
    if (h.ends_with('\r')) h.remove_suffix(1);
    out += "  " + safe_text(h) + "\n";
    start = nl + 1;
  }
  out += "parts:\n";
  for (std::size_t i = 0; i < r.parts.size(); ++i) {
    const auto& p = r.parts[i];
    out += "  #" + std::to_string(i + 1) + " " + safe_text(p.filename.empty() ? "(unnamed)" : p.filename) + "\n";
    out += "     removed by " + safe_text(p.sanitizer) + ": " + safe_text(p.reason) + "\n";
    out += "     declared " + safe_text(p.declared_type) + ", detected " + safe_text(p.detected_type) + ", " +
           std::to_string(p.size) + " bytes, sha256 " + safe_text(p.sha256) + "\n";
  }
  if (r.parts.empty()) out += "  (the whole message was held: " + safe_text(r.reason) + ")\n";
  for (const auto& q : *requests) {
    out += "release requested by " + safe_text(q.requested_by) + " at " + local_time(q.requested_unix) + ": " +
           safe_text(q.reason) + (q.approved_by.empty() ? " (pending)" : ", approved by " + safe_text(q.approved_by)) +
           "\n";
  }
  print(out);
  return kOk;
}

// The decoded bytes of removed part `n` (1-based), found again in the original by its SHA-256.
Expected<std::string> find_part(const QuarantineEntry& e, const std::string& original, std::size_t n) {
  if (n == 0 || n > e.record.parts.size()) {
    return Error{"quarantine entry " + e.id + " has " + std::to_string(e.record.parts.size()) + " removed part(s), no part " +
                 std::to_string(n)};
  }
  const std::string& want = e.record.parts[n - 1].sha256;
  const sanitize::Limits limits;
  if (auto pre = sanitize::prescan(original, limits); pre.breach) {
    return Error{"quarantine entry " + e.id + " is over the parse limits (" + pre.breach->limit + "): export the whole original"};
  }
  auto parsed = sanitize::parse_mime(original, limits);
  if (!parsed.tree) return Error{"quarantine entry " + e.id + " cannot be parsed: export the whole original"};
  for (const auto& p : parsed.tree->parts) {
    if (p.container) continue;
    Expected<std::string> bytes = p.transfer_encoding == "base64"             ? sanitize::base64_decode(p.body, limits.max_decoded_part)
                                  : p.transfer_encoding == "quoted-printable" ? sanitize::qp_decode(p.body, limits.max_decoded_part)
                                                                               : Expected<std::string>(std::string(p.body));
    if (bytes && hex::sha256(*bytes) == want) return std::move(*bytes);
  }
  return Error{"part " + std::to_string(n) + " of " + e.id + " was not found again in the original"};
}

int run_export(const Options& o) {
  if (o.positional.size() != 1) return fail("quarantine export needs an ID");
  if (o.out.empty()) return fail("quarantine export needs --out FILE ('-' for standard output)");
  const bool to_stdout = o.out == "-";
  if (to_stdout && ::isatty(STDOUT_FILENO)) return fail("refusing to write an original to a terminal: use --out FILE or a pipe");
  std::size_t part = 0;
  if (!o.part.empty()) {
    char* end = nullptr;
    part = std::strtoul(o.part.c_str(), &end, 10);
    if (*end != '\0' || part == 0) return fail("--part expects a part number (1, 2, …), got '" + safe_text(o.part) + "'");
  }
  auto s = open_session(o);
  if (!s) return fail(s.error().message);
  auto e = s->store->get(o.positional[0]);
  if (!e) return fail(e.error().message);
  auto original = s->store->original(*e);
  if (!original) return fail(original.error().message);
  std::string bytes = std::move(*original);
  if (part != 0) {
    auto found = find_part(*e, bytes, part);
    if (!found) return fail(found.error().message);
    bytes = std::move(*found);
  }
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    // O_EXCL: never overwrite; O_NOFOLLOW: never through a planted symlink; 0600: originals stay private.
    fd = ::open(o.out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return fail(durable::errno_error("cannot create", o.out).message);
  }
  bool ok = durable::write_all(fd, {bytes});
  if (!to_stdout) {
    ok = ::fsync(fd) == 0 && ok;
    ok = ::close(fd) == 0 && ok;
    if (!ok) ::unlink(o.out.c_str());
  }
  if (!ok) return fail(durable::errno_error("cannot write", to_stdout ? "<stdout>" : o.out).message);
  quarantine::AuditFields fields{{"id", e->id}, {"file", to_stdout ? "<stdout>" : o.out}};
  if (part != 0) fields.emplace_back("part", std::to_string(part));
  if (auto st = s->store->audit("exported", fields); !st) return fail(st.error().message);
  if (!to_stdout) std::fprintf(stderr, "mugaictl: wrote %zu bytes of %s to %s\n", bytes.size(), e->id.c_str(), safe_text(o.out).c_str());
  return kOk;
}

int run_release(const Options& o) {
  if (o.positional.size() != 1) return fail("quarantine release needs an ID");
  if (o.reason.empty()) return fail("quarantine release needs --reason TEXT (it is recorded)");
  return ask(o, {proto::admin::Action::Release, o.positional[0], o.to, o.reason, {}, {}, {}, {}});
}

int run_request_release(const Options& o) {
  if (o.positional.size() != 1) return fail("quarantine request-release needs an ID");
  if (o.reason.empty()) return fail("quarantine request-release needs --reason TEXT (it is recorded)");
  return ask(o, {proto::admin::Action::RequestRelease, o.positional[0], o.to, o.reason, {}, {}, {}, {}});
}

int run_approve(const Options& o) {
  if (o.positional.size() != 1) return fail("quarantine approve needs an ID");
  return ask(o, {proto::admin::Action::Approve, o.positional[0], {}, "", {}, {}, {}, {}});
}

// While it lives, a terminal on `fd` does not echo what is typed (a password read from a person).
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd), quiet_(::isatty(fd) == 1 && ::tcgetattr(fd, &saved_) == 0) {
    if (!quiet_) return;
    termios silent = saved_;
    silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd_, TCSAFLUSH, &silent);
    std::fputs("password: ", stderr);
  }
  ~NoEcho() {
    if (!quiet_) return;
    ::tcsetattr(fd_, TCSAFLUSH, &saved_);
    std::fputs("\n", stderr);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool quiet_;
};

// The password of --password-file (its one line, the line end not included) or of one line of standard
// input. It stays in this process's memory and goes only to the admin socket.
Expected<std::string> read_password(const Options& o) {
  if (o.password_stdin == !o.password_file.empty()) {
    return Error{"quarantine unlock needs either --password-file FILE or --password-stdin"};
  }
  const std::string shown = o.password_stdin ? "<stdin>" : safe_text(o.password_file);
  std::FILE* f = o.password_stdin ? stdin : std::fopen(o.password_file.c_str(), "rb");
  if (f == nullptr) return durable::errno_error("cannot read the password file", shown);
  const NoEcho quiet(o.password_stdin ? STDIN_FILENO : -1);
  std::string line;
  int c = 0;
  // One byte past the limit is enough to tell a password that is too long.
  while (line.size() <= proto::admin::kMaxPassword && (c = std::fgetc(f)) != EOF && c != '\n') {
    line += static_cast<char>(c);
  }
  if (std::ferror(f) != 0) {
    Error e = durable::errno_error("cannot read the password from", shown);
    if (!o.password_stdin) std::fclose(f);
    return e;
  }
  if (!o.password_stdin) std::fclose(f);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Error{"the password in " + shown + " is empty"};
  if (line.size() > proto::admin::kMaxPassword) {
    return Error{"the password in " + shown + " is longer than " + std::to_string(proto::admin::kMaxPassword) + " bytes"};
  }
  return line;
}

int run_unlock(const Options& o) {
  if (o.positional.size() != 1) return fail("quarantine unlock needs an ID");
  if (o.reason.empty()) return fail("quarantine unlock needs --reason TEXT (it is recorded)");
  auto password = read_password(o);
  if (!password) return fail(password.error().message);
  return ask(o, {proto::admin::Action::Unlock, o.positional[0], {}, o.reason, {}, std::move(*password), {}, {}});
}

int run_delete(const Options& o) {
  if (o.positional.size() != 1) return fail("quarantine delete needs an ID");
  return ask(o, {proto::admin::Action::Delete, o.positional[0], {}, o.reason, {}, {}, {}, {}});
}

int run_purge(const Options& o) {
  std::optional<std::int64_t> older_than;
  if (!o.older_than.empty()) {
    auto age = parse_age("--older-than", o.older_than);
    if (!age) return fail(age.error().message);
    older_than = *age;
  }
  return ask(o, {proto::admin::Action::Purge, "", {}, "", older_than, {}, {}, {}});
}

int run_stats(const Options& o) {
  std::int64_t since = 0;
  if (!o.since.empty()) {
    auto age = parse_age("--since", o.since);
    if (!age) return fail(age.error().message);
    since = now_unix() - *age;
  }
  auto s = open_session(o);
  if (!s) return fail(s.error().message);
  auto st = s->store->stats(since, 10);
  if (!st) return fail(st.error().message);
  const std::pair<const char*, const std::vector<quarantine::Count>*> groups[] = {
      {"by_status", &st->by_status}, {"by_reason", &st->by_reason}, {"by_type", &st->by_type}, {"top_senders", &st->top_senders}};
  json::Value doc = json::Value::object();
  std::string out;
  for (const auto& [name, counts] : groups) {
    json::Value& list = doc[name] = json::Value::array();
    out += std::string(name) + ":\n";
    for (const auto& c : *counts) {
      list.push_back({{"key", c.key}, {"count", c.count}});
      out += "  " + fit_columns(std::to_string(c.count), 8) + safe_text(c.key) + "\n";
    }
  }
  print(o.json ? json::dump(doc) + "\n" : out);
  return kOk;
}

constexpr Subcommand kQuarantine[] = {
    {"list", "[--since 2d] [--from ADDR] [--to ADDR] [--reason R] [--status S] [--limit N]",
     "--since --from --to --reason --status --limit", 0, run_list},
    {"show", "ID", "", 1, run_show},
    {"export", "ID [--part N] --out FILE", "--part --out", 1, run_export},
    {"release", "ID [--to ADDR]... --reason TEXT", "--to --reason", 1, run_release},
    {"request-release", "ID [--to ADDR]... --reason TEXT", "--to --reason", 1, run_request_release},
    {"approve", "ID", "", 1, run_approve},
    {"unlock", "ID (--password-file FILE | --password-stdin) --reason TEXT", "--password-file --password-stdin --reason", 1,
     run_unlock},
    {"delete", "ID [--reason TEXT]", "--reason", 1, run_delete},
    {"purge", "[--older-than 90d]", "--older-than", 0, run_purge},
    {"stats", "[--since 30d]", "--since", 0, run_stats},
};

int run_audit_show(const Options& o) {
  std::int64_t since = 0;
  if (!o.since.empty()) {
    auto age = parse_age("--since", o.since);
    if (!age) return fail(age.error().message);
    since = now_unix() - *age;
  }
  auto cfg = load_config(o);
  if (!cfg) return fail(cfg.error().message);
  const auto path = quarantine::store_options(*cfg, false, {}).audit_log;
  auto records = quarantine::read_audit(path, since);
  if (!records) return fail(records.error().message);
  std::string out;
  for (const auto& r : *records) {
    if (o.json) {
      out += r.text + "\n";
      continue;
    }
    std::string line = fit_columns(r.get("seq"), 6) + fit_columns(r.get("time"), 21) +
                       fit_columns(r.get("event"), 18) + fit_columns(r.get("operator"), 12) +
                       fit_columns(r.get("id"), 10);
    for (const auto& [k, v] : r.fields) {
      if (k == "seq" || k == "unix" || k == "time" || k == "event" || k == "operator" || k == "id" || k == "prev") continue;
      if (!v.empty()) line += " " + safe_text(k) + "=" + safe_text(v);
    }
    out += row(std::move(line));
  }
  print(out);
  return kOk;
}

int run_audit_verify(const Options& o) {
  auto cfg = load_config(o);
  if (!cfg) return fail(cfg.error().message);
  const auto options = quarantine::store_options(*cfg, false, {});
  auto key = keyfile::load(options.audit_key_file, "audit key file", false);
  if (!key) return fail(key.error().message + " (audit verify needs the key the records were keyed with)");
  auto anchor = quarantine::read_audit_anchor(cfg->quarantine.dir);
  if (!anchor) return fail(anchor.error().message);
  auto check = quarantine::verify_audit(options.audit_log, *key, *anchor);
  if (!check) return fail(check.error().message);
  if (check->first_bad_line != 0) {
    return fail("audit log " + options.audit_log + ": record " + std::to_string(check->first_bad_line) + " (line " +
                std::to_string(check->first_bad_line) + "): " + check->problem);
  }
  std::printf("%s: %zu records, every MAC and the hash chain intact%s\n", options.audit_log.c_str(), check->records,
              anchor->head ? ", the keyed anchor matches" : " (nothing anchored yet)");
  return kOk;
}

constexpr Subcommand kAudit[] = {
    {"show", "[--since 2d]", "--since", 0, run_audit_show},
    {"verify", "", "", 0, run_audit_verify},
};

}  // namespace

quarantine::Operator local_operator() {
  const auto uid = static_cast<std::int64_t>(::getuid());
  return {uid, account::user_name(uid)};
}

constexpr std::string_view kGatewayNote =
    "release, request-release, approve, unlock, delete and purge are done by the running gateway, as your account";

int cmd_quarantine(Args args) { return dispatch("quarantine", kQuarantine, args, kGatewayNote); }
int cmd_audit(Args args) { return dispatch("audit", kAudit, args, kGatewayNote); }

}  // namespace mugai::ctl
