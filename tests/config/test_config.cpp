// Tests for config/: defaults, units, overrides, unknown keys, every validation error (with its key and
// position), and that the shipped default and example files load and cover every known key.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include "config/config.hpp"

using mugai::config::Config;
using mugai::config::load_file;
using mugai::config::load_string;

namespace {

// [smtp] comes last so that tests can append smtp keys; the first appended line is line 7.
const std::string kMinimal = R"([delivery]
next_hop = "smtp://192.0.2.1:25"
[smtp]
listen = ["127.0.0.1:2525"]
hostname = "mx.example.lg.jp"
accept_domains = ["city.example.lg.jp"]
)";

// The minimal valid config plus `extra` lines in the named section (a new header unless it is smtp).
std::string with(const std::string& section, const std::string& extra) {
  return kMinimal + (section == "smtp" ? "" : "[" + section + "]\n") + extra + "\n";
}

std::string error_text(const mugai::Expected<Config>& r) { return r ? std::string() : r.error().message; }

// Loads `text` as "t.toml" and returns the error (empty when it loaded).
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return error_text(load_string(text, "t.toml", overrides));
}

Config ok(const std::string& text, const std::vector<std::string>& overrides = {}) {
  auto r = load_string(text, "t.toml", overrides);
  INFO(error_text(r));
  REQUIRE(r.has_value());
  return *r;
}

// Not derived from __FILE__: with ccache's base_dir that is relative to the build directory, not to
// wherever ctest runs the test.
std::filesystem::path source_root() { return MUGAI_SOURCE_DIR; }

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Keys written as `key = ...` under `[section]` headers, comments excluded.
std::set<std::string> keys_written(const std::string& toml) {
  std::set<std::string> keys;
  std::istringstream in(toml);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.starts_with("[[")) {  // [[sanitize.rules]]: the array is the key, its tables' keys are not
      keys.insert(line.substr(2, line.find(']') - 2));
      section.clear();
      continue;
    }
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const auto eq = line.find(" =");
    if (eq != std::string::npos && !section.empty()) keys.insert(section + "." + line.substr(0, eq));
  }
  return keys;
}

}  // namespace

TEST_CASE("defaults fill every key not written") {
  const auto c = ok(kMinimal);
  CHECK(c.source == "t.toml");
  REQUIRE(c.smtp.listen.size() == 1);
  CHECK(c.smtp.listen[0].host == "127.0.0.1");
  CHECK(c.smtp.listen[0].port == 2525);
  CHECK(c.smtp.limits.max_message_size == 25u * 1024 * 1024);
  CHECK(c.smtp.limits.max_command_line == 512);
  CHECK(c.smtp.limits.max_recipients == 100);
  CHECK(c.smtp.limits.recipient_overshoot_limit == 1000);
  CHECK(c.smtp.command_timeout == std::chrono::seconds(300));
  CHECK(c.smtp.min_data_rate == 500);
  CHECK(c.smtp.client_networks.empty());
  CHECK(c.delivery.kind == mugai::config::Delivery::Kind::Smtp);
  CHECK(c.delivery.smtp_host.host == "192.0.2.1");
  CHECK(c.delivery.smtp_host.port == 25);
  CHECK(c.delivery.next_hop == "smtp://192.0.2.1:25");
  CHECK(c.delivery.tls == mugai::proto::TlsPolicy::May);
  CHECK(c.delivery.helo_name == "mx.example.lg.jp");
  CHECK(c.delivery.retry_factor == 2.0);
  CHECK(c.delivery.max_queue_lifetime == std::chrono::hours(5 * 24));
  CHECK_FALSE(c.delivery.bounce_via_smtp);
  CHECK(c.delivery.dead_letter_dir == "var/spool/dead-letter");
  CHECK(c.delivery.bounce == "dir:var/spool/dead-letter");
  CHECK(c.spool.fsync);
  CHECK(c.log.format == mugai::config::Log::Format::Text);
  CHECK(c.server.threads == 0);
}

TEST_CASE("the digest covers the settings as written, not their layout") {
  const std::string digest = ok(kMinimal).digest;
  CHECK(digest.size() == 7 + 64);
  CHECK(digest.rfind("sha256:", 0) == 0);
  // The same settings in another order, with comments and spacing: the same digest.
  const std::string reordered = "# reordered\n[smtp]\naccept_domains = [ \"city.example.lg.jp\" ]\n"
                                "hostname = \"mx.example.lg.jp\"\nlisten = [\"127.0.0.1:2525\"]\n"
                                "[delivery]\nnext_hop = \"smtp://192.0.2.1:25\"  # the LGWAN MTA\n";
  CHECK(ok(reordered).digest == digest);
  CHECK(ok(kMinimal, {"smtp.max_recipients=5"}).digest != digest);
  // An override that writes what the file says is the same setting; one that changes it is not.
  CHECK(ok(kMinimal, {"smtp.hostname=\"mx.example.lg.jp\""}).digest == digest);
  CHECK(ok(kMinimal, {"smtp.hostname=\"mx2.example.lg.jp\""}).digest != digest);
}

TEST_CASE("sizes and durations accept their units") {
  const auto c = ok(R"(
[smtp]
listen = ["127.0.0.1:2525"]
hostname = "mx.example.lg.jp"
accept_domains = ["city.example.lg.jp"]
max_message_size = "10MiB"
max_header_section = "64KiB"
max_text_line = 2048
command_timeout = "2m"
tls_handshake_timeout = 45
[delivery]
next_hop = "smtp://192.0.2.1:25"
retry_first = "30s"
retry_max = "2h"
max_queue_lifetime = "3d"
)");
  CHECK(c.smtp.limits.max_message_size == 10u * 1024 * 1024);
  CHECK(c.smtp.limits.max_header_section == 64u * 1024);
  CHECK(c.smtp.limits.max_text_line == 2048);
  CHECK(c.smtp.command_timeout == std::chrono::seconds(120));
  CHECK(c.smtp.tls_handshake_timeout == std::chrono::seconds(45));
  CHECK(c.delivery.retry_first == std::chrono::seconds(30));
  CHECK(c.delivery.retry_max == std::chrono::seconds(7200));
  CHECK(c.delivery.max_queue_lifetime == std::chrono::seconds(3 * 86400));
  CHECK(ok(with("smtp", "max_message_size = \"1GiB\"")).smtp.limits.max_message_size == 1024u * 1024 * 1024);
}

TEST_CASE("a bad size names file, line, column, key and the value") {
  // The value starts at column 20 of line 7.
  CHECK(error_of(with("smtp", "max_message_size = \"big\"")) == "t.toml:7:20: smtp.max_message_size: expected a size like 26214400 or \"25MiB\", got \"big\"");
  CHECK(error_of(with("smtp", "max_message_size = \"10KB\"")).find("binary units only: KiB, MiB, GiB") !=
        std::string::npos);
  CHECK(error_of(with("smtp", "max_message_size = \"25MB\"")).find("smtp.max_message_size") != std::string::npos);
  CHECK(error_of(with("smtp", "max_message_size = 0")).find("must be at least") != std::string::npos);
  CHECK(error_of(with("smtp", "max_message_size = -5")).find("must be at least") != std::string::npos);
  CHECK(error_of(with("smtp", "max_message_size = \"99999999999999999999GiB\"")).find("smtp.max_message_size") !=
        std::string::npos);
  CHECK(error_of(with("smtp", "max_message_size = true")).find("expected a size") != std::string::npos);
}

TEST_CASE("a bad duration is reported, zero included") {
  CHECK(error_of(with("smtp", "command_timeout = \"soon\"")).find("smtp.command_timeout: expected a duration") !=
        std::string::npos);
  CHECK(error_of(with("smtp", "command_timeout = \"5w\"")).find("smtp.command_timeout") != std::string::npos);
  CHECK(error_of(with("smtp", "command_timeout = 0")).find("smtp.command_timeout: must be at least 1s") !=
        std::string::npos);
  CHECK(error_of(with("smtp", "command_timeout = \"0s\"")).find("smtp.command_timeout") != std::string::npos);
}

TEST_CASE("smtp.min_data_rate: bytes per second, 1..10^9") {
  CHECK(ok(with("smtp", "min_data_rate = 1")).smtp.min_data_rate == 1);
  CHECK(ok(with("smtp", "min_data_rate = 1000000000")).smtp.min_data_rate == 1'000'000'000);
  CHECK(error_of(with("smtp", "min_data_rate = 0")) == "t.toml:7:17: smtp.min_data_rate: must be at least 1, got 0");
  CHECK(error_of(with("smtp", "min_data_rate = 1000000001")).find("smtp.min_data_rate: must be at most 1000000000") !=
        std::string::npos);
  CHECK(error_of(with("smtp", "min_data_rate = \"fast\"")).find("smtp.min_data_rate: expected an integer") !=
        std::string::npos);
}

TEST_CASE("smtp.idle_timeout, retired, is refused with what replaced it, in a file and in --set") {
  const auto in_file = error_of(with("smtp", "idle_timeout = \"5m\""));
  CHECK(in_file.starts_with("t.toml:7:16: smtp.idle_timeout: no longer exists: "));
  CHECK(in_file.find("smtp.command_timeout") != std::string::npos);
  CHECK(in_file.find("smtp.min_data_rate") != std::string::npos);
  CHECK(in_file.find("unknown key") == std::string::npos);
  const auto in_override = error_of(kMinimal, {"smtp.idle_timeout=300"});
  CHECK(in_override.starts_with("--set smtp.idle_timeout=300: smtp.idle_timeout: no longer exists: "));
}

TEST_CASE("every problem is reported, one line each") {
  const auto e = error_of(with("smtp", "max_recipients = 0\nmax_errors = \"x\"\nmax_command_line = 100"));
  CHECK(e.find("t.toml:7:18: smtp.max_recipients: must be at least 1, got 0") != std::string::npos);
  CHECK(e.find("t.toml:8:14: smtp.max_errors: expected an integer, got \"x\"") != std::string::npos);
  CHECK(e.find("t.toml:9:20: smtp.max_command_line: must be at least 512") != std::string::npos);
  CHECK(std::count(e.begin(), e.end(), '\n') == 2);
  // In reading order: the file top to bottom, then missing keys, then overrides in command-line order.
  CHECK(e.find(":7:") < e.find(":8:"));
  CHECK(e.find(":8:") < e.find(":9:"));
  const auto mixed = error_of("[smtp]\nmax_errors = 0\n[delivery]\nconcurrency = 0\n",
                              {"log.format=xml", "spool.fsync=1"});
  CHECK(mixed ==
        "t.toml:2:14: smtp.max_errors: must be at least 1, got 0\n"
        "t.toml:4:15: delivery.concurrency: must be at least 1, got 0\n"
        "t.toml: smtp.listen: required but not set\n"
        "t.toml: smtp.hostname: required but not set\n"
        "t.toml: smtp.accept_domains: required but not set\n"
        "t.toml: delivery.next_hop: required but not set\n"
        "--set log.format=xml: log.format: expected one of text|json, got \"xml\"\n"
        "--set spool.fsync=1: spool.fsync: expected true or false, got 1");
}

TEST_CASE("unknown sections and keys are errors with a suggestion") {
  CHECK(error_of(with("smtp", "max_recipient = 5")) ==
        "t.toml:7:17: smtp.max_recipient: unknown key (did you mean smtp.max_recipients?)");
  CHECK(error_of(with("smpt", "x = 1")).find("smpt: unknown section (did you mean [smtp]?)") != std::string::npos);
  CHECK(error_of(with("smtp", "next_hop = \"maildir:x\"")).find("did you mean delivery.next_hop?") !=
        std::string::npos);
  CHECK(error_of("hostname = \"x\"\n" + kMinimal).find("(did you mean smtp.hostname?)") != std::string::npos);
  CHECK(error_of(with("frobnicate", "x = 1")) == "t.toml:7:1: frobnicate: unknown section");
  CHECK(error_of(with("smtp", "zzzzzz = 1")) == "t.toml:7:10: smtp.zzzzzz: unknown key");
  CHECK(error_of(with("smtp.tls", "x = 1")).find("smtp.tls: unknown key") != std::string::npos);
}

TEST_CASE("required keys") {
  const auto e = error_of("[spool]\ndir = \"x\"\n");
  for (const char* key : {"smtp.listen", "smtp.hostname", "smtp.accept_domains", "delivery.next_hop"})
    CHECK(e.find(std::string("t.toml: ") + key + ": required but not set") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.listen=[]"}).find("smtp.listen: needs at least one") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.accept_domains=[]"}).find("smtp.accept_domains: needs at least one") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.hostname=\"\""}).find("smtp.hostname: expected a DNS name") != std::string::npos);
}

TEST_CASE("listen addresses") {
  const auto c = ok(kMinimal, {R"(smtp.listen=["[::1]:25", "0.0.0.0:2525", "localhost:26"])"});
  REQUIRE(c.smtp.listen.size() == 3);
  CHECK(c.smtp.listen[0].host == "::1");
  CHECK(c.smtp.listen[0].port == 25);
  CHECK(c.smtp.listen[2].host == "localhost");
  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", "::1:25", "[::1]25",
                          "[nope]:25", ":25", "bad_host:25"}) {
    INFO(bad);
    CHECK(error_of(kMinimal, {std::string("smtp.listen=[\"") + bad + "\"]"}).find("smtp.listen: ") !=
          std::string::npos);
  }
  CHECK(error_of(kMinimal, {"smtp.listen=[25]"}).find("expected an array of strings") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.listen=\"127.0.0.1:25\""}).find("expected an array of strings") !=
        std::string::npos);
}

TEST_CASE("hostname and accept_domains are DNS names; domains are lower-cased") {
  CHECK(error_of(kMinimal, {"smtp.hostname=\"mx..example\""}).find("smtp.hostname") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.hostname=\"-mx\""}).find("smtp.hostname") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.accept_domains=[\"a b\"]"}).find("smtp.accept_domains") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.accept_domains=[\".\"]"}).find("smtp.accept_domains") != std::string::npos);
  const auto c = ok(kMinimal, {R"(smtp.accept_domains=["City.Example.LG.JP", ".Pref.LG.JP"])"});
  CHECK(c.smtp.accept_domains == std::vector<std::string>{"city.example.lg.jp", ".pref.lg.jp"});
}

TEST_CASE("client_networks are CIDRs, v4 and v6") {
  const auto c = ok(kMinimal, {R"(smtp.client_networks=["192.0.2.0/24", "2001:db8::/32", "10.0.0.1/32"])"});
  CHECK(c.smtp.client_networks.size() == 3);
  for (const char* bad : {"192.0.2.0", "192.0.2.0/33", "2001:db8::/129", "example/8", "192.0.2.0/x"}) {
    INFO(bad);
    CHECK(error_of(kMinimal, {std::string("smtp.client_networks=[\"") + bad + "\"]"})
              .find("smtp.client_networks: expected a CIDR") != std::string::npos);
  }
}

TEST_CASE("RFC 5321 minimums and header section bound") {
  CHECK(error_of(with("smtp", "max_text_line = 999")).find("smtp.max_text_line: must be at least 1000") !=
        std::string::npos);
  CHECK(error_of(with("smtp", "max_header_section = \"2MiB\"\nmax_message_size = \"1MiB\"")) ==
        "t.toml:7:22: smtp.max_header_section: smtp.max_header_section (2097152) must not exceed "
        "smtp.max_message_size (1048576)");
  // Only the size is written: the problem is reported where the admin wrote it.
  CHECK(error_of(with("smtp", "max_message_size = \"100KiB\"")).find("t.toml:7:20: smtp.max_message_size: ") !=
        std::string::npos);
}

TEST_CASE("TLS files: both or neither, readable, required needs them") {
  const auto dir = std::filesystem::temp_directory_path() / "mugai-test-config-tls";
  std::filesystem::create_directories(dir);
  const auto cert = (dir / "cert.pem").string();
  const auto key = (dir / "key.pem").string();
  std::ofstream(cert) << "x";
  std::ofstream(key) << "x";
  const auto c = ok(kMinimal, {"smtp.tls_cert=" + cert, "smtp.tls_key=" + key, "smtp.tls_required=true"});
  CHECK(c.smtp.tls_cert == cert);
  CHECK(c.smtp.tls_required);
  CHECK(error_of(kMinimal, {"smtp.tls_cert=" + cert}).find("smtp.tls_cert: smtp.tls_cert and smtp.tls_key must be "
                                                             "set together") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.tls_key=" + key}).find("smtp.tls_key: ") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.tls_required=true"}).find("smtp.tls_required: needs smtp.tls_cert") !=
        std::string::npos);
  const auto missing = (dir / "missing.pem").string();
  CHECK(error_of(kMinimal, {"smtp.tls_cert=" + missing, "smtp.tls_key=" + key})
            .find("smtp.tls_cert: cannot read '" + missing + "': No such file or directory") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.tls_cert=" + dir.string(), "smtp.tls_key=" + key}).find("is a directory") !=
        std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("next_hop, delivery.tls and bounce") {
  auto c = ok(kMinimal, {"delivery.next_hop=maildir:/var/mail/x"});
  CHECK(c.delivery.kind == mugai::config::Delivery::Kind::Maildir);
  CHECK(c.delivery.maildir == "/var/mail/x");
  for (const char* bad : {"maildir:", "smtp://host", "smtp://[::1]:0", "lmtp://x:24", "/var/mail"}) {
    INFO(bad);
    CHECK(error_of(kMinimal, {std::string("delivery.next_hop=") + bad}).find("delivery.next_hop: ") !=
          std::string::npos);
  }
  CHECK(ok(kMinimal, {"delivery.tls=encrypt"}).delivery.tls == mugai::proto::TlsPolicy::Encrypt);
  CHECK(ok(kMinimal, {"delivery.tls=none"}).delivery.tls == mugai::proto::TlsPolicy::None);
  CHECK(ok(kMinimal, {"delivery.tls=verify"}).delivery.tls == mugai::proto::TlsPolicy::Verify);
  CHECK(error_of(kMinimal, {"delivery.tls=yes"}) ==
        "--set delivery.tls=yes: delivery.tls: expected one of none|may|encrypt|verify|fingerprint, got \"yes\"");
  // The spellings of earlier releases name their replacement instead of a bare "unknown value".
  CHECK(error_of(kMinimal, {"delivery.tls=opportunistic"}).find("is now spelled \"may\"") != std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.tls=required"}).find("is now spelled \"encrypt\"") != std::string::npos);

  c = ok(kMinimal, {"delivery.bounce=smtp://[2001:db8::1]:25"});
  CHECK(c.delivery.bounce_via_smtp);
  CHECK(c.delivery.bounce_host.host == "2001:db8::1");
  c = ok(kMinimal, {"delivery.bounce=dir:/srv/dead"});
  CHECK_FALSE(c.delivery.bounce_via_smtp);
  CHECK(c.delivery.dead_letter_dir == "/srv/dead");
  CHECK(ok(kMinimal, {"spool.dir=/srv/spool"}).delivery.dead_letter_dir == "/srv/spool/dead-letter");
  CHECK(error_of(kMinimal, {"delivery.bounce=dir:"}).find("delivery.bounce: ") != std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.bounce=mailto:x"}).find("delivery.bounce: ") != std::string::npos);
}

TEST_CASE("retry schedule and concurrency") {
  CHECK(ok(kMinimal, {"delivery.retry_factor=1"}).delivery.retry_factor == 1.0);
  CHECK(ok(kMinimal, {"delivery.retry_factor=1.5"}).delivery.retry_factor == 1.5);
  CHECK(error_of(kMinimal, {"delivery.retry_factor=0.5"}).find("delivery.retry_factor: must be between 1.0") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.retry_factor=nan"}).find("delivery.retry_factor: expected a number") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.retry_first=2h"}) ==
        "--set delivery.retry_first=2h: delivery.retry_first: delivery.retry_first (7200s) must not exceed "
        "delivery.retry_max (3600s)");
  CHECK(error_of(kMinimal, {"delivery.concurrency=0"}).find("delivery.concurrency: must be at least 1") !=
        std::string::npos);
  CHECK(ok(kMinimal, {}).delivery.max_loaded_size == 64u * 1024 * 1024);
  CHECK(ok(kMinimal, {"delivery.max_loaded_size=\"1MiB\""}).delivery.max_loaded_size == 1024u * 1024);
  CHECK(error_of(kMinimal, {"delivery.max_loaded_size=\"1KiB\""}).find("delivery.max_loaded_size") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.max_messages_per_connection=0"})
            .find("delivery.max_messages_per_connection") != std::string::npos);
}

TEST_CASE("log, spool, quarantine and server keys") {
  const auto c = ok(kMinimal, {"log.format=json", "log.file=/var/log/mugai.log", "spool.fsync=false",
                               "quarantine.dir=/q", "server.threads=4", "server.shutdown_grace=1m"});
  CHECK(c.log.format == mugai::config::Log::Format::Json);
  CHECK(c.log.file == "/var/log/mugai.log");
  CHECK_FALSE(c.spool.fsync);
  CHECK(c.quarantine.dir == "/q");
  CHECK(c.server.threads == 4);
  CHECK(c.server.shutdown_grace == std::chrono::seconds(60));
  CHECK(error_of(kMinimal, {"log.format=xml"}).find("log.format: expected one of text|json") != std::string::npos);
  CHECK(error_of(kMinimal, {"spool.dir=\"\""}).find("spool.dir: must not be empty") != std::string::npos);
  CHECK(error_of(kMinimal, {"spool.fsync=yes"}).find("spool.fsync: expected true or false") != std::string::npos);
  CHECK(error_of(kMinimal, {"server.threads=-1"}).find("server.threads: must be at least 0") != std::string::npos);
  // The expiry sweep may be off (0); the retention itself may not.
  CHECK(ok(kMinimal).quarantine.purge_interval == std::chrono::hours(1));
  CHECK(ok(kMinimal, {"quarantine.purge_interval=0"}).quarantine.purge_interval.count() == 0);
  CHECK(ok(kMinimal, {"quarantine.purge_interval=\"15m\""}).quarantine.purge_interval == std::chrono::minutes(15));
  CHECK(error_of(kMinimal, {"quarantine.purge_interval=-1"}).find("quarantine.purge_interval: must be at least 0s") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"quarantine.retention=0"}).find("quarantine.retention: must be at least 1s") !=
        std::string::npos);
}

TEST_CASE("release rules and the admin socket: approvers validated, the socket beside the quarantine") {
  const auto d = ok(kMinimal);
  CHECK_FALSE(d.quarantine.release_requires_approval);
  CHECK(d.quarantine.approvers.empty());
  CHECK_FALSE(d.quarantine.release_to_others);
  CHECK(d.admin.socket == "var/admin.sock");
  CHECK(d.admin.group.empty());
  CHECK(ok(kMinimal, {"quarantine.dir=/var/lib/mugai/quarantine/"}).admin.socket == "/var/lib/mugai/admin.sock");
  CHECK(ok(kMinimal, {"quarantine.dir=quarantine"}).admin.socket == "./admin.sock");
  CHECK(ok(kMinimal, {"admin.socket=/run/mugai/admin.sock"}).admin.socket == "/run/mugai/admin.sock");

  const auto c = ok(with("quarantine", "release_requires_approval = true\napprovers = [\"alice\", \"@mugai-approvers\"]\n"
                                       "release_to_others = true"));
  CHECK(c.quarantine.approvers == std::vector<std::string>{"alice", "@mugai-approvers"});
  CHECK(c.quarantine.release_to_others);
  CHECK(error_of(with("quarantine", "release_requires_approval = true")) ==
        "t.toml:8:29: quarantine.release_requires_approval: needs quarantine.approvers (the user names or \"@group\" "
        "names who may request and approve releases)");
  for (const char* bad : {"[\"\"]", "[\"@\"]", "[\"-rf\"]", "[\"al ice\"]", "[\"a/b\"]", "[1]"}) {
    INFO(bad);
    CHECK(error_of(kMinimal, {std::string("quarantine.approvers=") + bad}).find("quarantine.approvers: expected") !=
          std::string::npos);
  }
  CHECK(error_of(kMinimal, {"admin.group=\"wheel staff\""}).find("admin.group: expected a group name") !=
        std::string::npos);
  const std::string deep(120, 'q');
  CHECK(error_of(kMinimal, {"quarantine.dir=/" + deep + "/q"}).find("quarantine.dir: the admin socket") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"admin.socket=/" + deep}).find("admin.socket: the admin socket") != std::string::npos);
}

TEST_CASE("security settings are the gateway's: gateway_only() names them") {
  using mugai::config::gateway_only;
  for (const char* key : {"quarantine.release_requires_approval", "quarantine.approvers", "quarantine.release_to_others",
                          "quarantine.notify_to", "admin.socket", "admin.group"}) {
    CHECK_MESSAGE(gateway_only(key), key);
  }
  for (const char* key : {"quarantine.dir", "quarantine.retention", "spool.dir", "delivery.next_hop", "administrator"}) {
    CHECK_FALSE_MESSAGE(gateway_only(key), key);
  }
}

TEST_CASE("smtp.recipient_overshoot_limit: 0 (every excess recipient an error) up to 1000000") {
  CHECK(ok(with("smtp", "recipient_overshoot_limit = 0")).smtp.limits.recipient_overshoot_limit == 0);
  CHECK(ok(kMinimal, {"smtp.recipient_overshoot_limit=5"}).smtp.limits.recipient_overshoot_limit == 5);
  CHECK(error_of(with("smtp", "recipient_overshoot_limit = -1")) ==
        "t.toml:7:29: smtp.recipient_overshoot_limit: must be at least 0, got -1");
  CHECK(error_of(kMinimal, {"smtp.recipient_overshoot_limit=1000001"}) ==
        "--set smtp.recipient_overshoot_limit=1000001: smtp.recipient_overshoot_limit: must be at most 1000000, "
        "got 1000001");
  CHECK(error_of(kMinimal, {"smtp.recipient_overshoot_limit=\"many\""}).find("expected an integer") !=
        std::string::npos);
}

TEST_CASE("hold notices: who is told, from whom, whom to ask") {
  using Notify = mugai::config::Quarantine::Notify;
  const auto d = ok(kMinimal);
  CHECK(d.quarantine.notify == Notify::Recipients);
  CHECK(d.quarantine.notify_admin.empty());
  CHECK(d.quarantine.postmaster == "postmaster@mx.example.lg.jp");  // follows smtp.hostname
  CHECK(d.quarantine.contact == "メール管理者 / your mail administrator");
  const auto c = ok(kMinimal, {"quarantine.notify=postmaster", "quarantine.notify_admin=sec@City.Example.LG.JP",
                               "quarantine.postmaster=gate@city.example.lg.jp", "quarantine.contact=情報政策課 内線 1234"});
  CHECK(c.quarantine.notify == Notify::Postmaster);
  CHECK(c.quarantine.notify_admin == "sec@city.example.lg.jp");
  CHECK(c.quarantine.postmaster == "gate@city.example.lg.jp");
  CHECK(c.quarantine.contact == "情報政策課 内線 1234");
  CHECK(ok(kMinimal, {"quarantine.notify=none"}).quarantine.notify == Notify::None);
  CHECK(ok(kMinimal, {"quarantine.postmaster=\"\""}).quarantine.postmaster == "postmaster@mx.example.lg.jp");
  CHECK(error_of(kMinimal, {"quarantine.notify=everyone"}) ==
        "--set quarantine.notify=everyone: quarantine.notify: expected one of recipients|postmaster|none, got \"everyone\"");
  CHECK(error_of(kMinimal, {"quarantine.notify_admin=admin"}).find("quarantine.notify_admin: expected an address like") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"quarantine.postmaster=\"a@b> SIZE=1\""}).find("quarantine.postmaster: expected an address") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"quarantine.contact=\"\""}).find("quarantine.contact: must not be empty") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"quarantine.contact=\"a\\nBcc: x\""}).find("quarantine.contact: must be one line") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"quarantine.contact=\"" + std::string(300, 'x') + "\""})
            .find("quarantine.contact: must be at most 256 bytes") != std::string::npos);
}

TEST_CASE("[workers]: defaults, every key's bounds, and the CPU budget holds one timeout") {
  const Config d = ok(kMinimal);
  CHECK(d.workers.count == 0);
  CHECK(d.workers.max_messages == 1000);
  CHECK(d.workers.memory == 1024u * 1024 * 1024);
  CHECK(d.workers.timeout == mugai::config::Seconds(60));
  CHECK(d.workers.cpu_seconds == 300);
  CHECK(d.workers.path.empty());
  const Config c = ok(kMinimal, {"workers.count=4", "workers.max_messages=2", "workers.memory=\"64MiB\"",
                                 "workers.timeout=\"2m\"", "workers.cpu_seconds=120", "workers.path=\"/bin/true\""});
  CHECK(c.workers.count == 4);
  CHECK(c.workers.max_messages == 2);
  CHECK(c.workers.memory == 64u * 1024 * 1024);
  CHECK(c.workers.timeout == mugai::config::Seconds(120));
  CHECK(c.workers.cpu_seconds == 120);
  CHECK(c.workers.path == "/bin/true");
  ok(kMinimal, {"workers.count=1024", "workers.max_messages=1000000", "workers.memory=\"2GiB\"", "workers.cpu_seconds=86400"});
  ok(kMinimal, {"workers.memory=\"32MiB\"", "workers.max_messages=1", "workers.timeout=1", "workers.cpu_seconds=1"});
  CHECK(error_of(kMinimal, {"workers.count=1025"}).find("workers.count") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.count=-1"}).find("workers.count") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.max_messages=0"}).find("workers.max_messages") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.max_messages=1000001"}).find("workers.max_messages") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.memory=\"31MiB\""}).find("workers.memory") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.memory=\"3GiB\""}).find("workers.memory") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.timeout=0"}).find("workers.timeout") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.cpu_seconds=0"}).find("workers.cpu_seconds") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.cpu_seconds=86401"}).find("workers.cpu_seconds") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.path=\"/nonexistent/mugai-worker\""}).find("workers.path") != std::string::npos);
  CHECK(error_of(kMinimal, {"workers.cpu_seconds=30"}).find(
            "workers.cpu_seconds: workers.cpu_seconds (30) must be at least workers.timeout (60s)") != std::string::npos);
}

TEST_CASE("[render] office_*: defaults, every key's bounds, and the PDF fits the worker's frame") {
  const Config d = ok(kMinimal);
  CHECK(d.office.concurrency == 2);
  CHECK(d.office.timeout == mugai::config::Seconds(30));
  CHECK(ok(kMinimal, {"workers.timeout=10"}).office.timeout == mugai::config::Seconds(5));
  CHECK(ok(kMinimal, {"workers.timeout=1"}).office.timeout == mugai::config::Seconds(1));
  CHECK(d.office.memory == 2048ull * 1024 * 1024);
  CHECK(d.office.max_output == 32u * 1024 * 1024);
  CHECK(d.office.program.empty());
  CHECK(d.office.bwrap.empty());
  const Config c = ok(kMinimal, {"render.office_concurrency=1", "render.office_timeout=\"2m\"", "workers.timeout=\"3m\"", "render.office_memory=\"1GiB\"",
                                 "render.office_max_output=\"1MiB\"", "render.office_program=\"/bin/true\"",
                                 "render.office_bwrap=\"/bin/false\""});
  CHECK(c.office.concurrency == 1);
  CHECK(c.office.timeout == mugai::config::Seconds(120));
  CHECK(c.office.memory == 1024u * 1024 * 1024);
  CHECK(c.office.max_output == 1024u * 1024);
  CHECK(c.office.program == "/bin/true");
  CHECK(c.office.bwrap == "/bin/false");
  CHECK(ok(kMinimal, {"sanitize.max_decoded_part=\"1MiB\"", "sanitize.max_decoded_total=\"2MiB\""}).office.max_output ==
        2u * 1024 * 1024);
  CHECK(error_of(kMinimal, {"render.office_concurrency=0"}).find("render.office_concurrency") != std::string::npos);
  CHECK(error_of(kMinimal, {"render.office_concurrency=65"}).find("render.office_concurrency") != std::string::npos);
  CHECK(error_of(kMinimal, {"render.office_timeout=0"}).find("render.office_timeout") != std::string::npos);
  CHECK(error_of(kMinimal, {"render.office_timeout=60"})
            .find("render.office_timeout: render.office_timeout (60s) must be less than workers.timeout (60s), which a "
                  "conversion's time is charged to") != std::string::npos);
  CHECK(error_of(kMinimal, {"render.office_memory=\"63MiB\""}).find("render.office_memory") != std::string::npos);
  CHECK(error_of(kMinimal, {"render.office_max_output=1000"}).find("render.office_max_output") != std::string::npos);
  CHECK(error_of(kMinimal, {"render.office_program=\"/nonexistent/soffice\""}).find("render.office_program") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"render.office_max_output=\"65MiB\""})
            .find("render.office_max_output: render.office_max_output (68157440) must not exceed "
                  "sanitize.max_decoded_total (67108864)") != std::string::npos);
}

TEST_CASE("[archive]: defaults, every key's bounds, the choices of encrypted") {
  const Config d = ok(kMinimal);
  CHECK(d.sanitize.archive.max_depth == 3);
  CHECK(d.sanitize.archive.max_entries == 1000);
  CHECK(d.sanitize.archive.max_total_size == 256u * 1024 * 1024);
  CHECK(d.sanitize.archive.max_ratio == 100);
  CHECK(d.sanitize.archive.encrypted == mugai::sanitize::ArchivePolicy::Encrypted::Pair);
  CHECK(d.archive_pair_window == mugai::config::Seconds(900));
  const Config c = ok(kMinimal, {"archive.max_depth=1", "archive.max_entries=5", "archive.max_total_size=\"1MiB\"",
                                 "archive.max_ratio=2", "archive.encrypted=\"reject\"", "archive.pair_window=\"1h\""});
  CHECK(c.sanitize.archive.max_depth == 1);
  CHECK(c.sanitize.archive.max_entries == 5);
  CHECK(c.sanitize.archive.max_total_size == 1024u * 1024);
  CHECK(c.sanitize.archive.max_ratio == 2);
  CHECK(c.sanitize.archive.encrypted == mugai::sanitize::ArchivePolicy::Encrypted::Reject);
  CHECK(c.archive_pair_window == mugai::config::Seconds(3600));
  CHECK(ok(kMinimal, {"archive.encrypted=\"quarantine\""}).sanitize.archive.encrypted ==
        mugai::sanitize::ArchivePolicy::Encrypted::Quarantine);
  for (const char* bad : {"archive.max_depth=0", "archive.max_depth=21", "archive.max_entries=0", "archive.max_entries=20001", "archive.max_total_size=1000",
                          "archive.max_ratio=1", "archive.max_ratio=100001", "archive.pair_window=0"}) {
    CAPTURE(bad);
    const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
    CHECK(error_of(kMinimal, {bad}).find(key + ":") != std::string::npos);
  }
  CHECK(error_of(kMinimal, {"archive.encrypted=\"allow\""}).find("archive.encrypted: expected one of pair|quarantine|reject") !=
        std::string::npos);
}

TEST_CASE("sanitize.max_attempts: at least one run") {
  CHECK(ok(kMinimal).sanitize_max_attempts == 3);
  CHECK(ok(with("sanitize", "max_attempts = 1")).sanitize_max_attempts == 1);
  CHECK(error_of(with("sanitize", "max_attempts = 0")) == "t.toml:8:16: sanitize.max_attempts: must be at least 1, got 0");
  CHECK(error_of(kMinimal, {"sanitize.max_attempts=\"3\""}).find("sanitize.max_attempts: expected an integer") !=
        std::string::npos);
}

TEST_CASE("--set overrides apply after the file, last one wins") {
  const auto text = with("smtp", "max_recipients = 50");
  CHECK(ok(text).smtp.limits.max_recipients == 50);
  CHECK(ok(text, {"smtp.max_recipients=5"}).smtp.limits.max_recipients == 5);
  CHECK(ok(text, {"smtp.max_recipients=5", "smtp.max_recipients=7"}).smtp.limits.max_recipients == 7);
  CHECK(ok(kMinimal, {"smtp.hostname=\"mx\""}).smtp.hostname == "mx");
  CHECK(ok(kMinimal, {"smtp.hostname=mx2"}).smtp.hostname == "mx2");  // not TOML: taken as text
  CHECK(ok(kMinimal, {"spool.dir=/tmp/x"}).spool.dir == "/tmp/x");
  CHECK(ok(kMinimal, {"spool.dir=a = 1"}).spool.dir == "a = 1");
  CHECK(ok(kMinimal, {"smtp.max_message_size=25MiB"}).smtp.limits.max_message_size == 25u * 1024 * 1024);
  // The merged result is validated: an override can fix a file's mistake.
  CHECK(ok(with("smtp", "max_recipients = 0"), {"smtp.max_recipients=1"}).smtp.limits.max_recipients == 1);
  CHECK(error_of(kMinimal, {"smtp.max_recipients=0"}) ==
        "--set smtp.max_recipients=0: smtp.max_recipients: must be at least 1, got 0");
  CHECK(error_of(kMinimal, {"smtp.max_recipient=5"}) ==
        "--set smtp.max_recipient=5: smtp.max_recipient: unknown key (did you mean smtp.max_recipients?)");
  CHECK(error_of(kMinimal, {"smpt.hostname=x"}).find("unknown key (did you mean smtp.hostname?)") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"smpt.zzzzzz=x"}).find("unknown key (did you mean [smtp]?)") != std::string::npos);
  CHECK(error_of(kMinimal, {"smtp.hostname"}).find("expected --set section.key=value") != std::string::npos);
}

TEST_CASE("syntax errors carry the position") {
  const auto e = error_of("[smtp]\nhostname = \n");
  CHECK(e.rfind("t.toml:2:", 0) == 0);
  CHECK(e.find("syntax error") != std::string::npos);
}

TEST_CASE("load_file reads the file and names it in errors") {
  const auto missing = load_file("/nonexistent/mugai.toml");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message == "cannot read '/nonexistent/mugai.toml': No such file or directory");
  const auto path = (std::filesystem::temp_directory_path() / "mugai-test-config.toml").string();
  std::ofstream(path) << with("smtp", "max_errors = 0");
  const auto bad = load_file(path, {});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.rfind(path + ":7:14: smtp.max_errors: ", 0) == 0);
  const auto good = load_file(path, {"smtp.max_errors=3"});
  REQUIRE(good.has_value());
  CHECK(good->source == path);
  CHECK(good->smtp.limits.max_errors == 3);
  std::filesystem::remove(path);
}

TEST_CASE("delivery.tls_fingerprints and tls_ca_file go with their level") {
  const std::string fp = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
  auto c = ok(kMinimal, {"delivery.tls=fingerprint", "delivery.tls_fingerprints=[\"" + fp + "\"]"});
  CHECK(c.delivery.tls_fingerprints == std::vector<std::string>{"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"});
  CHECK(error_of(kMinimal, {"delivery.tls=fingerprint"}).find("needs delivery.tls_fingerprints") != std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.tls_fingerprints=[\"" + fp + "\"]"}).find("only with delivery.tls = \"fingerprint\"") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.tls=fingerprint", "delivery.tls_fingerprints=[\"AB:CD\"]"})
            .find("expected a certificate's SHA-256") != std::string::npos);
  CHECK(error_of(kMinimal, {"delivery.tls_ca_file=/etc/hostname"}).find("only with delivery.tls = \"verify\"") !=
        std::string::npos);
  CHECK(ok(kMinimal, {"delivery.tls=verify", "delivery.tls_ca_file=/etc/hostname"}).delivery.tls_ca_file == "/etc/hostname");
  CHECK(error_of(kMinimal, {"delivery.tls=verify", "delivery.tls_ca_file=/nonexistent/ca.pem"}).find("delivery.tls_ca_file") !=
        std::string::npos);
}

TEST_CASE("log.target follows log.file unless given, and each target gets only its own keys") {
  using Target = mugai::config::Log::Target;
  CHECK(ok(kMinimal).log.target == Target::Stderr);
  CHECK(ok(kMinimal, {"log.file=/tmp/x.log"}).log.target == Target::File);
  CHECK(ok(kMinimal, {"log.target=syslog", "log.syslog_facility=local3"}).log.syslog_facility == "local3");
  CHECK(error_of(kMinimal, {"log.target=file"}).find("\"file\" needs log.file") != std::string::npos);
  CHECK(error_of(kMinimal, {"log.target=syslog", "log.file=/tmp/x.log"}).find("only with log.target = \"file\"") !=
        std::string::npos);
  CHECK(error_of(kMinimal, {"log.syslog_facility=kern"}).find("expected one of mail|daemon|local0..local7") !=
        std::string::npos);
}

TEST_CASE("[metrics]: on at 127.0.0.1:9925 by default, \"\" turns it off") {
  auto c = ok(kMinimal);
  CHECK(c.metrics.enabled);
  CHECK(c.metrics.listen.host == "127.0.0.1");
  CHECK(c.metrics.listen.port == 9925);
  CHECK(c.metrics.ready_interval == std::chrono::seconds(60));
  CHECK_FALSE(ok(kMinimal, {"metrics.listen=\"\""}).metrics.enabled);
  CHECK(ok(kMinimal, {"metrics.listen=\"[::1]:9100\""}).metrics.listen.port == 9100);
  CHECK(error_of(kMinimal, {"metrics.listen=\"localhost\""}).find("metrics.listen: ") != std::string::npos);
  CHECK(error_of(kMinimal, {"metrics.client_networks=[\"10.0.0.1\"]"}).find("expected a CIDR") != std::string::npos);
  CHECK(ok(kMinimal, {"metrics.client_networks=[]"}).metrics.client_networks.empty());
  CHECK(c.metrics.max_connections == 16);
  CHECK(c.metrics.max_request_size == 8 * 1024);
  CHECK(c.metrics.timeout == std::chrono::seconds(10));
  CHECK(error_of(kMinimal, {"metrics.max_connections=0"}).find("metrics.max_connections") != std::string::npos);
  CHECK(error_of(kMinimal, {"metrics.max_request_size=\"1MiB\""}).find("metrics.max_request_size") != std::string::npos);
}

TEST_CASE("the embedded default loads as the documented demo") {
  const auto r = load_string(mugai::config::embedded_default(), "<embedded default>");
  INFO(error_text(r));
  REQUIRE(r.has_value());
  CHECK(r->smtp.listen[0].host == "127.0.0.1");
  CHECK(r->smtp.listen[0].port == 2525);
  CHECK(r->smtp.hostname == "mugai.localhost");
  CHECK(r->smtp.accept_domains == std::vector<std::string>{"demo.mugai.test"});
  CHECK(r->delivery.kind == mugai::config::Delivery::Kind::Maildir);
  CHECK(r->delivery.maildir == "var/maildir");
  CHECK(r->spool.dir == "var/spool");
  CHECK(r->quarantine.dir == "var/quarantine");
}

TEST_CASE("the example file loads and writes every known key") {
  const auto path = source_root() / "config" / "mugai.example.toml";
  const auto r = load_file(path.string());
  INFO(error_text(r));
  REQUIRE(r.has_value());
  const auto written = keys_written(read(path));
  for (auto key : mugai::config::known_keys()) {
    INFO(key);
    CHECK(written.count(std::string(key)) == 1);
  }
  CHECK(written.size() == mugai::config::known_keys().size());
}

TEST_CASE("the reference README documents every known key") {
  const auto readme = read(source_root() / "config" / "README.md");
  for (auto key : mugai::config::known_keys()) {
    INFO(key);
    CHECK(readme.find("`" + std::string(key) + "`") != std::string::npos);
  }
}

TEST_CASE("[sanitize]: limits, output, links, and defaults that reproduce the built-in policy") {
  const auto d = ok(kMinimal).sanitize;
  REQUIRE(d.rules.size() == 35);
  CHECK(d.rules[0].type == "text/plain");
  CHECK(d.rules[1].sanitizers == std::vector<std::string>{"html_text"});
  CHECK(d.rules[2].type == "application/pdf");
  CHECK(d.rules[2].action == mugai::sanitize::Action::Render);
  CHECK(d.rules[2].sanitizers == std::vector<std::string>{"pdf_render"});
  for (std::size_t i = 3; i < 10; ++i) {
    CHECK(d.rules[i].type.starts_with("image/"));
    CHECK(d.rules[i].action == mugai::sanitize::Action::Render);
    CHECK(d.rules[i].sanitizers == std::vector<std::string>{"image_render"});
  }
  for (std::size_t i = 10; i < 22; ++i) {
    CHECK(d.rules[i].action == mugai::sanitize::Action::Render);
    CHECK(d.rules[i].sanitizers == std::vector<std::string>{"office_render"});
  }
  CHECK(d.rules[10].type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
  for (std::size_t i = 22; i < 33; ++i) {
    CHECK(d.rules[i].type == mugai::sanitize::kArchiveTypes[i - 22]);
    CHECK(d.rules[i].action == mugai::sanitize::Action::Unpack);
  }
  CHECK(d.rules[33].type == "image/svg+xml");
  CHECK(d.rules[33].action == mugai::sanitize::Action::Strip);
  CHECK(d.rules[34].type == "*");
  CHECK(d.rules[34].action == mugai::sanitize::Action::Strip);
  // The example file writes out exactly the built-in rules.
  const auto example = load_file((source_root() / "config" / "mugai.example.toml").string());
  REQUIRE(example);
  REQUIRE(example->sanitize.rules.size() == d.rules.size());
  for (std::size_t i = 0; i < d.rules.size(); ++i) {
    CHECK(example->sanitize.rules[i].type == d.rules[i].type);
    CHECK(example->sanitize.rules[i].sanitizers == d.rules[i].sanitizers);
  }
  const auto c = ok(with("sanitize", "max_depth = 4\nmax_parts = 50\nmax_decoded_part = \"1MiB\"\n"
                                     "max_time_per_message = \"2s\"\noutput_charset = \"ISO-2022-JP\"\nlinks = \"remove\"\n"
                                     "max_header_section = \"8KiB\"\nmax_line_length = 4000"))
                     .sanitize;
  CHECK(c.limits.max_depth == 4);
  CHECK(c.limits.max_parts == 50);
  CHECK(c.limits.max_decoded_part == 1024 * 1024);
  CHECK(c.limits.max_time_per_message == std::chrono::seconds(2));
  CHECK(c.limits.max_header_section == 8 * 1024);
  CHECK(c.limits.max_line_length == 4000);
  CHECK(error_of(with("sanitize", "max_line_length = 998")).find("sanitize.max_line_length") != std::string::npos);
  CHECK(c.output_charset == "ISO-2022-JP");
  CHECK(c.links == mugai::sanitize::LinkPolicy::Remove);
  CHECK(error_of(with("sanitize", "output_charset = \"Shift_JIS\"")) ==
        "t.toml:8:18: sanitize.output_charset: expected one of UTF-8|ISO-2022-JP, got \"Shift_JIS\"");
  CHECK(error_of(with("sanitize", "links = \"hide\"")).find("expected one of keep|defang|remove") != std::string::npos);
  CHECK(error_of(with("sanitize", "max_decoded_part = \"100MiB\"")).find("must not exceed sanitize.max_decoded_total") !=
        std::string::npos);
}

TEST_CASE("sanitize.max_artefact_size is applied, bounded, and never above max_decoded_total") {
  CHECK(ok(kMinimal).sanitize.limits.max_artefact_size == 32 * 1024 * 1024);
  CHECK(ok(with("sanitize", "max_artefact_size = \"1MiB\"")).sanitize.limits.max_artefact_size == 1024 * 1024);
  CHECK(ok(with("sanitize", "max_artefact_size = 1024")).sanitize.limits.max_artefact_size == 1024);
  CHECK(error_of(with("sanitize", "max_artefact_size = 1023")).find("sanitize.max_artefact_size") != std::string::npos);
  CHECK(error_of(with("sanitize", "max_artefact_size = \"100MiB\"")) ==
        "t.toml:8:21: sanitize.max_artefact_size: sanitize.max_artefact_size (104857600) must not exceed "
        "sanitize.max_decoded_total (67108864)");
  const auto raised = ok(with("sanitize", "max_artefact_size = \"100MiB\"\nmax_decoded_total = \"128MiB\""));
  CHECK(raised.sanitize.limits.max_artefact_size == 100 * 1024 * 1024);
  // Unset, it follows a lower total: a config that was valid before the key existed stays valid.
  const auto lowered = ok(with("sanitize", "max_decoded_part = \"8MiB\"\nmax_decoded_total = \"16MiB\""));
  CHECK(lowered.sanitize.limits.max_artefact_size == 16 * 1024 * 1024);
}

TEST_CASE("[[sanitize.rules]] are validated rule by rule") {
  const auto c = ok(with("sanitize", "[[sanitize.rules]]\ntype = \"application/pdf\"\naction = \"render\"\n"
                                     "[[sanitize.rules]]\ntype = \"application/*\"\naction = \"reject\"\n"))
                     .sanitize;
  REQUIRE(c.rules.size() == 2);  // replaces the defaults
  CHECK(c.rules[0].action == mugai::sanitize::Action::Render);
  CHECK(c.rules[1].type == "application/*");
  const auto rule = [](const std::string& body) { return error_of(with("sanitize", "[[sanitize.rules]]\n" + body)); };
  CHECK(rule("type = \"text/plain\"\naction = \"convert\"\nsanitizers = [\"pdf_magic\"]")
            .find("sanitize.rules: rule 1: unknown sanitizer \"pdf_magic\" (known: text_plain, html_text, strip, pdf_render, image_render, office_render)") !=
        std::string::npos);
  CHECK(rule("type = \"text/plain\"\naction = \"convert\"").find("needs at least one sanitizer") != std::string::npos);
  CHECK(rule("type = \"Text/*\"\naction = \"strip\"").find("rule 1: type must be") != std::string::npos);
  CHECK(rule("type = \"*/html\"\naction = \"strip\"").find("rule 1: type must be") != std::string::npos);
  CHECK(rule("type = \"*\"\naction = \"burn\"").find("expected one of convert|render|strip|unpack|quarantine|reject") !=
        std::string::npos);
  CHECK(rule("type = \"*\"\naction = \"strip\"\nsanitizers = [\"strip\"]").find("takes no sanitizers") !=
        std::string::npos);
  CHECK(rule("type = \"*\"\naction = \"strip\"\nwhen = 1").find("unknown key \"when\"") != std::string::npos);
}

TEST_CASE("notice templates are read at load time and checked for unknown placeholders") {
  const auto dir = std::filesystem::temp_directory_path() / ("mugai-tmpl-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto good = dir / "good.txt";
  const auto bad = dir / "bad.txt";
  std::ofstream(good) << "無害化しました {quarantine_id}\n{parts}";
  std::ofstream(bad) << "id {quarantine}\n";
  const auto c = ok(with("sanitize", "notice_template = \"" + good.string() + "\""));
  CHECK(c.sanitize.notice_template == "無害化しました {quarantine_id}\n{parts}");
  CHECK(error_of(with("sanitize", "notice_template = \"" + bad.string() + "\""))
            .find("unknown placeholder {quarantine}") != std::string::npos);
  CHECK(error_of(with("sanitize", "notice_template = \"" + (dir / "missing").string() + "\""))
            .find("cannot read") != std::string::npos);
  // The removed-parts notice cannot be empty; the clean one can (no notice when nothing was removed).
  const auto empty = dir / "empty.txt";
  std::ofstream(empty).flush();
  CHECK(error_of(with("sanitize", "notice_template = \"" + empty.string() + "\""))
            .find("cannot be empty") != std::string::npos);
  CHECK(ok(with("sanitize", "clean_notice_template = \"" + empty.string() + "\"")).sanitize.clean_notice_template == "");
  CHECK(ok(with("sanitize", "clean_notice_template = \"" + good.string() + "\"")).sanitize.clean_notice_template ==
        "無害化しました {quarantine_id}\n{parts}");
  CHECK_FALSE(ok(with("sanitize", "clean_notice_template = \"\"")).sanitize.clean_notice_template.has_value());
  CHECK(error_of(with("sanitize", "clean_notice_template = \"" + bad.string() + "\""))
            .find("unknown placeholder {quarantine}") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a --policy file holds only [sanitize], [render] and [archive] and is validated the same way") {
  const auto dir = std::filesystem::temp_directory_path() / ("mugai-policy-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto good = dir / "p.toml";
  const auto bad = dir / "bad.toml";
  std::ofstream(good) << "[sanitize]\nlinks = \"keep\"\n[[sanitize.rules]]\ntype = \"*\"\naction = \"quarantine\"\n";
  std::ofstream(bad) << "[smtp]\nmax_errors = 3\n[sanitize]\nmax_parts = 0\n";
  const auto p = mugai::config::load_policy_file(good.string());
  REQUIRE(p.has_value());
  CHECK(p->links == mugai::sanitize::LinkPolicy::Keep);
  REQUIRE(p->rules.size() == 1);
  CHECK(p->rules[0].action == mugai::sanitize::Action::Quarantine);
  const auto e = mugai::config::load_policy_file(bad.string());
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().message == bad.string() + ":1:1: smtp: unknown section (a policy file holds only [sanitize], [render] and [archive])\n" +
                                 bad.string() + ":4:13: sanitize.max_parts: must be at least 1, got 0");
  const auto host = dir / "host.toml";
  std::ofstream(host) << "[render]\ndpi = 100\noffice_timeout = 5\n";
  const auto h = mugai::config::load_policy_file(host.string());
  REQUIRE_FALSE(h.has_value());
  CHECK(h.error().message == host.string() + ":3:18: render.office_timeout: configures the gateway's LibreOffice, "
                                             "not the policy: set it in the config (--config)");
  const auto archive = dir / "archive.toml";
  std::ofstream(archive) << "[archive]\nmax_entries = 10\nencrypted = \"reject\"\n";
  const auto a = mugai::config::load_policy_file(archive.string());
  REQUIRE(a.has_value());
  CHECK(a->archive.max_entries == 10);
  CHECK(a->archive.encrypted == mugai::sanitize::ArchivePolicy::Encrypted::Reject);
  std::ofstream(archive) << "[archive]\npair_window = 60\n";
  const auto w = mugai::config::load_policy_file(archive.string());
  REQUIRE_FALSE(w.has_value());
  CHECK(w.error().message.find("archive.pair_window: is the gateway's wait for a password mail") != std::string::npos);
  std::filesystem::remove_all(dir);
}
