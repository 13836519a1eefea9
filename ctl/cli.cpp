// The shared mugaictl command-line machinery (see cli.hpp).
#include "ctl/cli.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "common/unix_time.hpp"
#include "ctl/quarantine.hpp"
#include "ctl/text_width.hpp"

namespace mugai::ctl {
namespace {

struct Flag {
  std::string_view name;
  std::string Options::*value;  // nullptr: handled specially (--json, --set, --to)
};

constexpr Flag kFlags[] = {
    {"--config", &Options::config_file}, {"--since", &Options::since},  {"--from", &Options::from},
    {"--reason", &Options::reason},      {"--status", &Options::status}, {"--limit", &Options::limit},
    {"--out", &Options::out},            {"--part", &Options::part},     {"--older-than", &Options::older_than},
    {"--password-file", &Options::password_file}, {"--format", &Options::format},
    {"--json", nullptr},                 {"--set", nullptr},             {"--to", nullptr},
    {"--password-stdin", nullptr},
};

}  // namespace

int fail(std::string_view message) {
  std::fprintf(stderr, "mugaictl: %.*s\n", static_cast<int>(message.size()), message.data());
  return kError;
}

Expected<Options> parse_options(Args args, std::string_view allowed, std::size_t max_positional) {
  Options o;
  const auto is_allowed = [&](std::string_view flag) {
    if (flag == "--config" || flag == "--set" || flag == "--json") return true;
    for (std::size_t start = 0; start < allowed.size();) {
      const auto end = std::min(allowed.find(' ', start), allowed.size());
      if (allowed.substr(start, end - start) == flag) return true;
      start = end + 1;
    }
    return false;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (!a.starts_with("--")) {
      if (o.positional.size() == max_positional) return Error{"unexpected argument '" + std::string(a) + "'"};
      o.positional.emplace_back(a);
      continue;
    }
    if (a == "--operator") {
      const auto self = local_operator();
      return Error{"--operator is gone: the operator is the account running mugaictl (" + self.name + ", uid " +
                   std::to_string(self.uid) + "), as the gateway sees it; say more in --reason"};
    }
    const Flag* flag = nullptr;
    for (const auto& f : kFlags)
      if (f.name == a) flag = &f;
    if (flag == nullptr || !is_allowed(a)) return Error{"unknown option '" + std::string(a) + "'"};
    if (a == "--json" || a == "--password-stdin") {
      (a == "--json" ? o.json : o.password_stdin) = true;
      continue;
    }
    if (i + 1 == args.size()) return Error{std::string(a) + " needs a value"};
    const std::string value(args[++i]);
    if (a == "--set") o.sets.push_back(value);
    else if (a == "--to") o.to.push_back(value);
    else o.*(flag->value) = value;
  }
  return o;
}

Expected<std::int64_t> parse_age(std::string_view flag, std::string_view text) {
  std::int64_t n = 0, unit = 1;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && n < 100'000'000; ++i) n = n * 10 + (text[i] - '0');
  const std::string_view suffix = text.substr(i);
  if (suffix == "s" || suffix.empty()) unit = 1;
  else if (suffix == "m") unit = 60;
  else if (suffix == "h") unit = 3600;
  else if (suffix == "d") unit = 86400;
  else if (suffix == "w") unit = 7 * 86400;
  else i = 0;
  if (i == 0 || n >= 100'000'000) {
    return Error{std::string(flag) + " expects an age like 90d, 12h, 30m, got '" + std::string(text) + "'"};
  }
  return n * unit;
}


std::string local_time(std::int64_t unix) {
  const std::time_t t = static_cast<std::time_t>(unix);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm);
  return buf;
}

std::string safe_text(std::string_view s) {
  return fit_columns(s, display_width(s));
}

// The security settings are the gateway's to decide; mugaictl does not even pretend to override them.
Expected<config::Config> load_config(const Options& o) {
  for (const auto& set : o.sets) {
    const std::string key = set.substr(0, set.find('='));
    if (config::gateway_only(key)) {
      return Error{"--set " + key + " is refused: a security setting comes only from the gateway's own "
                   "configuration (the gateway decides, not the command line)"};
    }
  }
  return o.config_file.empty()
             ? config::load_string(config::embedded_default(), "<embedded default>", o.sets)
             : config::load_file(o.config_file, o.sets);
}

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string row(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s + "\n";
}

}  // namespace mugai::ctl
