// What every `mugaictl` command family shares: its options, their parsing, the configuration it reads
// and terminal-safe output. Exit codes: 0 done, 1 error (naming the id or file), 2 bad usage.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/unix_time.hpp"  // now_unix(), which every command uses
#include "config/config.hpp"

namespace mugai::ctl {

using Args = std::span<const std::string_view>;

enum Exit : int { kOk = 0, kError = 1, kUsage = 2 };

// Prints "mugaictl: MESSAGE" to stderr; returns kError.
int fail(std::string_view message);

// Everything any subcommand accepts; each row of kSubcommands names the flags it allows.
struct Options {
  std::string config_file;
  std::vector<std::string> sets;
  bool json = false;
  bool password_stdin = false;
  std::string since, from, reason, status, limit, out, part, older_than, password_file, format;
  std::vector<std::string> to;  // repeatable --to: release recipients, or the list filter (one)
  std::vector<std::string> positional;
};

// `allowed` lists the flags (space separated) besides --config/--set/--json. --json and --password-stdin
// take no value.
Expected<Options> parse_options(Args args, std::string_view allowed, std::size_t max_positional);
// "2d", "12h", "30m", "45s", "3w" or plain seconds.
Expected<std::int64_t> parse_age(std::string_view flag, std::string_view text);
std::string local_time(std::int64_t unix);
// Terminal-safe text without padding (controls and invalid UTF-8 replaced).
std::string safe_text(std::string_view s);
// The configuration mugaictl reads; security settings cannot be overridden with --set.
Expected<config::Config> load_config(const Options& o);
void print(const std::string& s);
// One table row: padded columns, without the padding after the last one.
std::string row(std::string s);

struct Subcommand {
  std::string_view name;
  std::string_view synopsis;
  std::string_view flags;  // allowed besides --config/--set/--json
  std::size_t positional;
  int (*run)(const Options&);
};

template <std::size_t N>
int dispatch(std::string_view group, const Subcommand (&table)[N], Args args, std::string_view note) {
  const auto usage = [&](std::string_view problem) {
    if (!problem.empty()) std::fprintf(stderr, "mugaictl: %.*s\n", static_cast<int>(problem.size()), problem.data());
    std::fprintf(stderr, "usage:\n");
    for (const auto& c : table) {
      std::fprintf(stderr, "  mugaictl %.*s %.*s %.*s\n", static_cast<int>(group.size()), group.data(),
                   static_cast<int>(c.name.size()), c.name.data(), static_cast<int>(c.synopsis.size()), c.synopsis.data());
    }
    std::fprintf(stderr, "every subcommand also takes [--config FILE] [--set section.key=value]... [--json]\n");
    std::fprintf(stderr, "%.*s\n", static_cast<int>(note.size()), note.data());
    return kUsage;
  };
  if (args.empty()) return usage("missing subcommand");
  for (const auto& c : table) {
    if (c.name != args[0]) continue;
    auto o = parse_options(args.subspan(1), c.flags, c.positional);
    if (!o) return usage(std::string(group) + " " + std::string(c.name) + ": " + o.error().message);
    return c.run(*o);
  }
  return usage("unknown subcommand '" + safe_text(args[0]) + "'");
}

}  // namespace mugai::ctl
