// The typed gateway configuration: loaded from TOML (toml++), defaults filled in, `--set` overrides
// applied, then validated. Every error names the source, line and key, and the problem.
// Durations accept "30s", "5m", "2h", "5d" (or an integer of seconds); sizes accept an integer of
// bytes or "10KiB"/"25MiB"/"1GiB".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "proto/smtp_client.hpp"
#include "proto/smtp_server.hpp"
#include "sanitizers/policy.hpp"

namespace mugai::config {

using Seconds = std::chrono::seconds;

struct Endpoint {
  std::string host;  // IPv4/IPv6 literal or name ("::1" without brackets)
  std::uint16_t port = 0;
};

struct Smtp {
  std::vector<Endpoint> listen;                // smtp.listen = ["127.0.0.1:2525", "[::1]:2525"]
  std::string hostname;                        // smtp.hostname (greeting, Received)
  std::vector<std::string> accept_domains;     // smtp.accept_domains (lower-cased)
  proto::ServerLimits limits;                  // smtp.max_message_size, max_command_line, max_text_line,
                                               // max_header_section, max_recipients,
                                               // recipient_overshoot_limit, max_errors
  Seconds command_timeout{300};                // smtp.command_timeout: each command line, from the last reply
  std::uint64_t min_data_rate = 500;           // smtp.min_data_rate: bytes/s that extend DATA's deadline
  std::size_t max_connections = 2000;          // smtp.max_connections
  std::size_t max_connections_per_ip = 100;    // smtp.max_connections_per_ip
  std::vector<std::string> client_networks;    // smtp.client_networks CIDRs; empty = any client
  std::string tls_cert;                        // smtp.tls_cert (PEM path); empty = no STARTTLS
  std::string tls_key;                         // smtp.tls_key
  bool tls_required = false;                   // smtp.tls_required
  Seconds tls_handshake_timeout{30};           // smtp.tls_handshake_timeout
};

struct Delivery {
  // delivery.next_hop: "smtp://host:port" or "maildir:PATH"
  enum class Kind { Smtp, Maildir } kind = Kind::Maildir;
  Endpoint smtp_host;                          // when Kind::Smtp
  std::string maildir;                         // when Kind::Maildir
  std::string next_hop;                        // as written, for logs
  proto::TlsPolicy tls = proto::TlsPolicy::May;  // delivery.tls = "none"|"may"|"encrypt"|"verify"|"fingerprint"
  std::string tls_ca_file;                     // delivery.tls_ca_file (PEM); empty = the system's CAs (verify)
  std::vector<std::string> tls_fingerprints;   // delivery.tls_fingerprints: SHA-256 of the next hop's
                                               // certificate, 64 lower-case hex digits (fingerprint)
  std::string helo_name;                       // delivery.helo_name (default: smtp.hostname)
  std::size_t concurrency = 20;                // delivery.concurrency: parallel deliveries
  // delivery.max_loaded_size: spooled bytes loaded to sanitize and deliver at once (one message always may)
  std::size_t max_loaded_size = 64 * 1024 * 1024;
  std::size_t max_messages_per_connection = 100;  // delivery.max_messages_per_connection (reuse)
  Seconds connect_timeout{30};                 // delivery.connect_timeout
  Seconds command_timeout{300};                // delivery.command_timeout (each reply)
  Seconds retry_first{60};                     // delivery.retry_first
  double retry_factor = 2.0;                   // delivery.retry_factor
  Seconds retry_max{3600};                     // delivery.retry_max
  Seconds max_queue_lifetime{5 * 24 * 3600};   // delivery.max_queue_lifetime
  // delivery.bounce: "smtp://host:port" (bounce relay) or "dir:PATH" (dead-letter directory)
  std::string bounce;
  bool bounce_via_smtp = false;
  Endpoint bounce_host;
  std::string dead_letter_dir;
};

struct Spool {
  std::string dir = "var/spool";               // spool.dir
  bool fsync = true;                           // spool.fsync (false only for benchmarks of the cost)
  std::string key_file;                        // spool.key_file; empty = <dir>/spool.key
};

struct Quarantine {
  std::string dir = "var/quarantine";          // quarantine.dir: index, encrypted blobs
  std::string key_file;                        // quarantine.key_file; empty = <dir>/quarantine.key
  Seconds retention{90 * 24 * 3600};           // quarantine.retention: purge deadline per entry
  Seconds purge_interval{3600};                // quarantine.purge_interval: gateway's expiry sweep; 0 = off
  bool release_requires_approval = false;      // quarantine.release_requires_approval: two-person rule
  std::vector<std::string> approvers;          // quarantine.approvers: user names and "@group" names
  bool release_to_others = false;              // quarantine.release_to_others: --to beyond the original recipients
  std::string audit_log;                       // quarantine.audit_log; empty = <dir>/audit.log
  std::string audit_key_file;                  // quarantine.audit_key_file; empty = <dir>/audit.key
  // Who gets the notice when a message is held whole: each original recipient, the postmaster
  // instead, or nobody; notify_admin (if set) gets one as well, whatever notify says.
  enum class Notify { Recipients, Postmaster, None } notify = Notify::Recipients;  // quarantine.notify
  std::string notify_admin;                    // quarantine.notify_admin; empty = none
  std::string postmaster;                      // quarantine.postmaster (notices' From); filled in:
                                               // postmaster@<smtp.hostname> unless set
  std::string contact = "メール管理者 / your mail administrator";  // quarantine.contact: whom a notice says to ask
};

// The admin socket through which mugaictl's state-changing commands reach the gateway.
struct Admin {
  std::string socket;                          // admin.socket; "" in the file = <parent of quarantine.dir>/admin.sock
  std::string group;                           // admin.group; "" = the gateway's own group
};

struct Log {
  enum class Format { Text, Json } format = Format::Text;  // log.format
  // log.target; when unset, File if log.file is set, else Stderr
  enum class Target { Stderr, File, Syslog } target = Target::Stderr;
  std::string file;                            // log.file (target File)
  std::string syslog_facility = "mail";        // log.syslog_facility: mail, daemon, local0..local7
};

// The operator's HTTP endpoint: Prometheus metrics, liveness and readiness (gateway/metrics_server.hpp).
struct Metrics {
  bool enabled = true;                         // metrics.listen = "" turns it off
  Endpoint listen{"127.0.0.1", 9925};          // metrics.listen
  std::vector<std::string> client_networks{"127.0.0.0/8", "::1/128"};  // metrics.client_networks; empty = any
  Seconds ready_interval{60};                  // metrics.ready_interval: the next hop must have answered within it
  std::size_t max_connections = 16;            // metrics.max_connections: at once; a further one is closed unread
  std::size_t max_request_size = 8 * 1024;     // metrics.max_request_size: request line and headers, else 431
  Seconds timeout{10};                         // metrics.timeout: to read a request, and again to write the answer
};

struct Server {
  unsigned threads = 0;                        // server.threads; 0 = 16 + 2 per core
  Seconds shutdown_grace{30};                  // server.shutdown_grace: SIGTERM drain bound
};

// The sandboxed mugai-worker processes that run the pipeline (gateway/worker_pool.hpp).
struct Workers {
  unsigned count = 0;                          // workers.count; 0 = one per CPU core
  std::size_t max_messages = 1000;             // workers.max_messages: a worker is replaced after this many
  std::size_t memory = 1024 * 1024 * 1024;     // workers.memory: RLIMIT_AS of each worker
  Seconds timeout{60};                         // workers.timeout: wall clock per message, then SIGKILL
  unsigned cpu_seconds = 300;                  // workers.cpu_seconds: RLIMIT_CPU of each worker process
  std::string path;                            // workers.path; empty = mugai-worker beside the gateway
};

// LibreOffice, which office_render's documents are converted by ([render] office_*; office/convert.hpp).
// Started by the gateway (or mugaictl) in a sandbox of its own, never by a worker.
struct Office {
  unsigned concurrency = 2;                    // render.office_concurrency: conversions at once (~200 MB each)
  Seconds timeout{30};                         // render.office_timeout: wall clock per document, then SIGKILL;
                                               // less than workers.timeout, which it is charged to
  std::size_t memory = 2048ull * 1024 * 1024;  // render.office_memory: RLIMIT_AS of LibreOffice
  std::size_t max_output = 32 * 1024 * 1024;   // render.office_max_output: largest PDF taken back
  std::string program;                         // render.office_program; empty = Debian's soffice
  std::string bwrap;                           // render.office_bwrap; empty = /usr/bin/bwrap
};

// [files]: the watched folder between the segments (file 無害化). Off while `inbox` is empty.
struct Files {
  std::string inbox;                           // files.inbox: where the Internet side drops files
  std::string outbox;                          // files.outbox: where the LGWAN side reads safe results
  bool subfolders = false;                     // files.subfolders: inbox/<dept>/ → outbox/<dept>/
  Seconds settle{5};                           // files.settle: size and mtime unchanged this long
  Seconds scan_interval{2};                    // files.scan_interval
  std::size_t max_size = 25 * 1024 * 1024;     // files.max_size: larger files are refused (report only)
  std::size_t concurrency = 2;                 // files.concurrency: files being sanitized at once
};

struct Config {
  std::string source;  // file name or "<embedded default>"
  // "sha256:<hex>" of the settings as written (file and --set overrides, keys sorted); defaults are not
  // in it, they are fixed by the version. Recorded in the audit trail at each gateway start.
  std::string digest;
  Smtp smtp;
  Delivery delivery;
  Spool spool;
  Quarantine quarantine;
  Admin admin;
  Log log;
  Metrics metrics;
  Server server;
  Workers workers;
  Office office;
  Files files;
  sanitize::Policy sanitize;  // [sanitize]: limits, output form, rules; the notice template already read
  // sanitize.max_attempts: failed pipeline runs before the scheduler holds the original whole. The
  // gateway's, not the pipeline's (a retry policy is no part of a pure Policy).
  unsigned sanitize_max_attempts = 3;
  // archive.pair_window: how long a message whose archive needs a password waits for the password mail
  // (archive.encrypted = "pair"). The gateway's, like max_attempts: the pipeline only hears whether the
  // window is over.
  Seconds archive_pair_window{15 * 60};
};

// The largest input a worker is given: a message (smtp.max_message_size) or a file (files.max_size).
std::size_t largest_input(const Config& c);

// The embedded default (a demo: 127.0.0.1:2525, domain demo.mugai.test, maildir:var/maildir).
std::string_view embedded_default();

// `overrides` are "section.key=value" strings; value is parsed as TOML (`smtp.max_recipients=5`,
// `smtp.hostname="mx"`), falling back to a plain string when it is not valid TOML.
Expected<Config> load_file(const std::string& path, const std::vector<std::string>& overrides = {});
Expected<Config> load_string(std::string_view toml_text, std::string source_name,
                             const std::vector<std::string>& overrides = {});

// A policy file for `mugaictl sanitize --policy`: only a [sanitize] section, with the same keys,
// validation and error format as in the gateway configuration.
Expected<sanitize::Policy> load_policy_file(const std::string& path);

// True for the security settings only the gateway's own configuration decides (the two-person rule,
// approvers, notifications, where a release may go, the admin socket): `mugaictl --set` refuses them.
bool gateway_only(std::string_view key);

// Every "section.key" the loader accepts, in reference order; anything else in a file is an error.
// The example file and the reference in config/README.md are checked against this list.
std::vector<std::string_view> known_keys();

}  // namespace mugai::config
