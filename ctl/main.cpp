// mugaictl: the administrator's command line for mugai, one row of kCommands per subcommand.
// Exit codes are stable for scripts: 0 done, 1 error (the message names the file), 2 bad usage,
// 3 the message was quarantined as a whole (sanitize-file: nothing of the file could be made safe). Errors go
// to stderr; only results go to stdout.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/unix_time.hpp"
#include "common/version.hpp"
#include "common/durable_file.hpp"
#include "config/config.hpp"
#include "files/job.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/wire.hpp"
#include "ctl/quarantine.hpp"
#include "ctl/queue.hpp"
#include "office/host.hpp"
#include "quarantine/store.hpp"
#include "worker/channel.hpp"

namespace {

enum Exit : int { kOk = 0, kError = 1, kUsage = 2, kQuarantined = 3 };

using Args = std::span<const std::string_view>;

struct Command {
  std::string_view name;
  std::string_view synopsis;
  std::string_view summary;
  int (*run)(Args);
};

int cmd_help(Args);
int cmd_version(Args);
int cmd_check_config(Args);
int cmd_sanitize(Args);
int cmd_sanitize_file(Args);

constexpr Command kCommands[] = {
    {"help", "", "show this help", cmd_help},
    {"version", "", "print the mugai version", cmd_version},
    {"check-config", "FILE [--set section.key=value]...",
     "validate a configuration file; prints 'FILE: ok' and the settings' digest (as the gateway audits it\n"
     "at start), or every problem, one per line", cmd_check_config},
    {"sanitize", "[--config FILE] [--set section.key=value]... [--policy FILE] [--report FILE] [IN [OUT]]",
     "sanitize one message (IN or stdin, '-' = stdin) to OUT (or stdout) with the gateway's pipeline,\n"
     "in a sandboxed mugai-worker ([workers] limits);\n"
     "--policy: a TOML file with only a [sanitize] section, used instead of the config's;\n"
     "exit 3 when the whole message was quarantined or rejected",
     cmd_sanitize},
    {"sanitize-file", "[--config FILE] [--set section.key=value]... [--report FILE] IN [OUT]",
     "sanitize one file (PDF, image, Office, archive, text) to OUT, or to its result's name in the current\n"
     "directory, in a sandboxed mugai-worker: an image PDF, a re-encoded image, UTF-8 text, or a zip of an\n"
     "archive's safe files; OUT is written whole or not at all; --report: the JSON report; with --config\n"
     "the original is kept in the quarantine; exit 3 when nothing could be made safe (the reason on stderr)",
     cmd_sanitize_file},
    {"quarantine", "list|show|export|release|request-release|approve|unlock|delete|purge|stats ...",
     "review quarantined originals (隔離); `mugaictl quarantine` alone lists the subcommands;\n"
     "release, request-release, approve, unlock, delete and purge are done by the running gateway, as your account",
     mugai::ctl::cmd_quarantine},
    {"queue", "list|show|hold|unhold|delete|flush ...",
     "the mail queue as the running gateway sees it (postqueue/postsuper): what waits at which stage and why;\n"
     "hold, unhold, delete and flush are audited under your account",
     mugai::ctl::cmd_queue},
    {"audit", "show [--since 2d] | verify", "show or verify the hash-chained quarantine audit trail",
     mugai::ctl::cmd_audit},
    {"report", "[--config FILE] [--set section.key=value]... [--since 30d] [--format text|json|html] [--out FILE]",
     "the self-inspection report (自己点検) for an auditor: volumes, removed parts, releases, purges,\n"
     "worker failures, the audit chain's verification; exit 1 when the chain does not verify",
     mugai::ctl::cmd_report},
};

// Prints each line of `text` with `prefix`: summaries and config errors span several lines.
void print_lines(std::FILE* to, std::string_view prefix, std::string_view text) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const auto line = text.substr(0, nl);
    std::fprintf(to, "%.*s%.*s\n", static_cast<int>(prefix.size()), prefix.data(), static_cast<int>(line.size()),
                 line.data());
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
}

void print_usage(std::FILE* to) {
  std::fprintf(to, "usage: mugaictl COMMAND [ARGS]\n\ncommands:\n");
  for (const auto& c : kCommands) {
    std::fprintf(to, "  %.*s%s%.*s\n", static_cast<int>(c.name.size()), c.name.data(), c.synopsis.empty() ? "" : " ",
                 static_cast<int>(c.synopsis.size()), c.synopsis.data());
    print_lines(to, "      ", c.summary);
  }
}

int usage_error(std::string_view problem) {
  std::fprintf(stderr, "mugaictl: %.*s\n", static_cast<int>(problem.size()), problem.data());
  print_usage(stderr);
  return kUsage;
}

int fail(std::string_view message) {
  print_lines(stderr, "mugaictl: ", message);
  return kError;
}

std::string io_error(std::string_view verb, std::string_view name, int err) {
  return "cannot " + std::string(verb) + " '" + std::string(name) + "': " + std::strerror(err);
}

// "-" stands for stdin or stdout; errors spell that out.
std::string shown_name(std::string_view name, std::string_view dash_means) {
  return name == "-" ? std::string(dash_means) : std::string(name);
}

// Reads a whole file ("-" = stdin), refusing more than `limit` bytes (the config key `limit_key`) before
// holding them in memory.
mugai::Expected<std::string> read_input(std::string_view name, std::size_t limit, std::string_view limit_key) {
  const bool is_stdin = name == "-";
  const std::string shown = shown_name(name, "<stdin>");
  std::FILE* f = is_stdin ? stdin : std::fopen(std::string(name).c_str(), "rb");
  if (f == nullptr) return mugai::Error{io_error("read", shown, errno)};
  std::string untrusted_data;
  char buf[64 * 1024];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (untrusted_data.size() + n > limit) {
      if (!is_stdin) std::fclose(f);
      return mugai::Error{"'" + shown + "' is larger than " + std::string(limit_key) + " (" + std::to_string(limit) +
                          " bytes)"};
    }
    untrusted_data.append(buf, n);
  }
  const int err = errno;
  const bool failed = std::ferror(f) != 0;
  if (!is_stdin) std::fclose(f);
  if (failed) return mugai::Error{io_error("read", shown, err)};
  return untrusted_data;
}

// Writes `data` to the file ("-" = stdout); a failed flush or close is an error too (full disk).
mugai::Status write_output(std::string_view name, std::string_view data) {
  const bool is_stdout = name == "-";
  const std::string shown = shown_name(name, "<stdout>");
  std::FILE* f = is_stdout ? stdout : std::fopen(std::string(name).c_str(), "wb");
  if (f == nullptr) return mugai::Error{io_error("write", shown, errno)};
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = std::fflush(f) == 0 && ok;
  const int err = errno;
  if (!is_stdout) ok = std::fclose(f) == 0 && ok;
  if (!ok) return mugai::Error{io_error("write", shown, err)};
  return mugai::Ok{};
}

int cmd_help(Args args) {
  if (!args.empty()) return usage_error("help takes no arguments");
  print_usage(stdout);
  return kOk;
}

int cmd_version(Args args) {
  if (!args.empty()) return usage_error("version takes no arguments");
  std::printf("mugaictl %.*s\n", static_cast<int>(mugai::version().size()), mugai::version().data());
  return kOk;
}

int cmd_check_config(Args args) {
  std::string file;
  std::vector<std::string> overrides;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--set") {
      if (i + 1 == args.size()) return usage_error("--set needs section.key=value");
      overrides.emplace_back(args[++i]);
    } else if (args[i].starts_with("-") || !file.empty()) {
      return usage_error("check-config: unexpected argument '" + std::string(args[i]) + "'");
    } else {
      file = args[i];
    }
  }
  if (file.empty()) return usage_error("check-config needs a FILE");
  const auto config = mugai::config::load_file(file, overrides);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return kError;
  }
  std::printf("%s: ok\nconfig digest: %s\n", file.c_str(), config->digest.c_str());
  return kOk;
}

// The options sanitize and sanitize-file share; `--policy` only where `policy_allowed`.
struct SanitizeArgs {
  std::string config_file, policy_file, report_file;
  std::vector<std::string> files;  // IN, OUT
  std::vector<std::string> overrides;
};

// nullopt when the arguments are good; otherwise the exit code of the usage error printed.
std::optional<int> parse_sanitize_args(Args args, std::string_view command, bool policy_allowed, SanitizeArgs& out) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string* value = args[i] == "--config"                     ? &out.config_file
                         : args[i] == "--policy" && policy_allowed ? &out.policy_file
                         : args[i] == "--report"                   ? &out.report_file
                                                                   : nullptr;
    if (args[i] == "--set") {
      if (i + 1 == args.size()) return usage_error("--set needs section.key=value");
      out.overrides.emplace_back(args[++i]);
    } else if (value != nullptr) {
      if (i + 1 == args.size()) return usage_error(std::string(args[i]) + " needs a FILE");
      *value = args[++i];
    } else if ((args[i].starts_with("-") && args[i] != "-") || out.files.size() == 2) {
      return usage_error(std::string(command) + ": unexpected argument '" + std::string(args[i]) + "'");
    } else {
      out.files.emplace_back(args[i]);
    }
  }
  return std::nullopt;
}

mugai::Expected<mugai::config::Config> load_config(const SanitizeArgs& a) {
  return a.config_file.empty()
             ? mugai::config::load_string(mugai::config::embedded_default(), "<embedded default>", a.overrides)
             : mugai::config::load_file(a.config_file, a.overrides);
}

int cmd_sanitize(Args args) {
  SanitizeArgs a;
  if (auto bad = parse_sanitize_args(args, "sanitize", true, a)) return *bad;
  const auto config = load_config(a);
  if (!config) return fail(config.error().message);
  // --policy replaces the config's [sanitize] section, to try a policy before deploying it.
  auto policy = a.policy_file.empty() ? mugai::Expected<mugai::sanitize::Policy>(config->sanitize)
                                      : mugai::config::load_policy_file(a.policy_file);
  if (!policy) return fail(policy.error().message);
  const std::string& report_file = a.report_file;
  const std::vector<std::string>& files = a.files;

  const std::string in = files.empty() ? "-" : files[0];
  const std::string out = files.size() < 2 ? "-" : files[1];
  const auto untrusted_message = read_input(in, config->smtp.limits.max_message_size, "smtp.max_message_size");
  if (!untrusted_message) return fail(untrusted_message.error().message);

  mugai::sanitize::MessageContext ctx;
  ctx.received_unix = mugai::now_unix();
  ctx.queue_id = "ctl" + std::to_string(ctx.received_unix) + "-" + std::to_string(getpid());
  ctx.gateway_hostname = config->smtp.hostname;
  // No password mail will follow: an archive that needs a password is removed at once.
  ctx.pair_window_over = true;
  auto opened = mugai::quarantine::QuarantineDb::open(
      mugai::quarantine::store_options(*config, true, mugai::ctl::local_operator()));
  if (!opened) return fail(opened.error().message);
  auto quarantine_id = mugai::quarantine::QuarantineDb::new_id();
  if (!quarantine_id) return fail(quarantine_id.error().message);
  ctx.quarantine_id = *quarantine_id;
  // Parsed only in a sandboxed worker, as in the gateway; its crash is this input's error.
  const mugai::worker::Limits limits{config->workers.memory, config->workers.cpu_seconds,
                                     mugai::sanitize::wire::max_frame(config->smtp.limits.max_message_size, *policy)};
  const std::string worker_path =
      config->workers.path.empty() ? mugai::worker::default_path() : config->workers.path;
  auto ran = mugai::worker::sanitize_once(worker_path, limits, config->workers.timeout, *policy, ctx, *untrusted_message,
                                          mugai::office::converter(config->office));
  if (!ran) return fail("cannot sanitize '" + shown_name(in, "<stdin>") + "': " + ran.error().message);
  const auto& outcome = *ran;
  // Stored before anything citing the id is written, as the gateway does.
  if (outcome.quarantine) {
    if (auto st = (*opened)->put(*untrusted_message, *outcome.quarantine, outcome.quarantine_id); !st) {
      return fail("cannot quarantine '" + shown_name(in, "<stdin>") + "': " + st.error().message);
    }
  }

  // The report is written whatever the verdict: it is how the admin learns what was removed and why.
  if (!report_file.empty()) {
    if (auto st = write_output(report_file, outcome.report_json); !st) return fail(st.error().message);
  }
  using Verdict = mugai::sanitize::Outcome::Verdict;
  switch (outcome.verdict) {
    case Verdict::Sanitized:
      if (auto st = write_output(out, outcome.message); !st) return fail(st.error().message);
      return kOk;
    case Verdict::Quarantined:
      std::fprintf(stderr, "mugaictl: '%s' %s as %s: %s\n", shown_name(in, "<stdin>").c_str(),
                   outcome.rejected ? "rejected, held in quarantine" : "quarantined", outcome.quarantine_id.c_str(),
                   outcome.reason.c_str());
      return kQuarantined;
    case Verdict::AwaitingPassword:
      return fail("cannot sanitize '" + shown_name(in, "<stdin>") +
                  "': the pipeline awaited an archive password although no password mail can follow");
    case Verdict::Failed:
      break;
  }
  return fail("cannot sanitize '" + shown_name(in, "<stdin>") + "': " + outcome.reason);
}

// The file part of a path: what the file was called, as the worker and the report see it.
std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// files::place() at `path`, its temporary file beside it.
mugai::Status place_at(const std::string& path, std::string_view bytes, bool replace) {
  const std::string dir = mugai::durable::parent_of(path);
  return mugai::files::place(dir, dir, base_name(path), bytes, replace);
}

int cmd_sanitize_file(Args args) {
  SanitizeArgs a;
  if (auto bad = parse_sanitize_args(args, "sanitize-file", false, a)) return *bad;
  if (a.files.empty()) return usage_error("sanitize-file needs IN");
  if (a.files[0] == "-" || (a.files.size() == 2 && a.files[1] == "-")) {
    return usage_error("sanitize-file: IN and OUT are files ('-' is not: a file's name and type travel with it)");
  }
  const auto config = load_config(a);
  if (!config) return fail(config.error().message);
  const std::string& in_path = a.files[0];
  const auto untrusted_file = read_input(in_path, config->files.max_size, "files.max_size");
  if (!untrusted_file) return fail(untrusted_file.error().message);

  // The quarantine keeps the original only with --config: the embedded default's is a demo directory.
  std::unique_ptr<mugai::quarantine::QuarantineDb> store;
  if (!a.config_file.empty()) {
    auto opened = mugai::quarantine::QuarantineDb::open(
        mugai::quarantine::store_options(*config, true, mugai::ctl::local_operator()));
    if (!opened) return fail(opened.error().message);
    store = std::move(*opened);
  }
  auto quarantine_id = mugai::quarantine::QuarantineDb::new_id();
  if (!quarantine_id) return fail(quarantine_id.error().message);
  const std::int64_t now = mugai::now_unix();
  const mugai::files::Input input{base_name(in_path), *untrusted_file,
                                  "file" + std::to_string(now) + "-" + std::to_string(getpid()), *quarantine_id, now};
  const std::string worker_path = config->workers.path.empty() ? mugai::worker::default_path() : config->workers.path;
  auto ran = mugai::worker::sanitize_once(worker_path, mugai::files::worker_limits(*config), config->workers.timeout,
                                          config->sanitize, mugai::files::context(*config, input), input.bytes,
                                          mugai::office::converter(config->office));
  const mugai::files::Result result = mugai::files::result(input, std::move(ran));
  using Decision = mugai::files::Result::Decision;
  if (result.decision == Decision::Retry) {
    return fail("cannot sanitize '" + in_path + "' now: " + result.reason + "; try again later");
  }
  std::string kept_as;
  if (store) {
    if (auto st = store->put(input.bytes, *result.quarantine, input.quarantine_id); !st) {
      return fail("cannot quarantine '" + in_path + "': " + st.error().message);
    }
    kept_as = input.quarantine_id;
    if (auto st = store->audit(mugai::files::audit_event(result),
                               mugai::files::audit_fields(input, result, kept_as, "sanitize-file"));
        !st) {
      return fail("cannot audit '" + in_path + "': " + st.error().message);
    }
  }
  // The report is written whatever the decision: it is how the admin learns what was removed and why.
  if (!a.report_file.empty()) {
    const std::string report = mugai::files::report_json(input, result, kept_as, now);
    if (auto st = place_at(a.report_file, report, true); !st) {
      return fail(st.error().message);
    }
  }
  if (result.decision == Decision::Removed) {
    const std::string kept = kept_as.empty() ? "" : " (the original is in the quarantine as " + kept_as + ")";
    std::fprintf(stderr, "mugaictl: '%s': %s%s\n", in_path.c_str(), result.reason.c_str(), kept.c_str());
    return kQuarantined;
  }
  // Without OUT the result takes its own name here, never replacing a file (the original included).
  const std::string out_path =
      a.files.size() == 2 ? a.files[1] : mugai::files::free_name(result.name, mugai::durable::exists);
  if (auto st = place_at(out_path, result.bytes, a.files.size() == 2); !st) {
    return fail(st.error().message);
  }
  std::printf("%s\n", out_path.c_str());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> all(argv + 1, argv + argc);
  // `mugaictl --config F --set k=v quarantine ...`: options before the command belong to it, as if
  // written after it.
  std::size_t leading = 0;
  while (leading + 1 < all.size() && (all[leading] == "--config" || all[leading] == "--set")) leading += 2;
  std::rotate(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(leading), all.end());
  if (all.empty() || leading == all.size()) return usage_error("missing COMMAND");
  const std::string_view name = all[0] == "--help" || all[0] == "-h" ? "help" : all[0];
  const Args rest = Args(all).subspan(1);
  for (const auto& c : kCommands)
    if (c.name == name) return c.run(rest);
  return usage_error("unknown command '" + std::string(all[0]) + "'");
}
