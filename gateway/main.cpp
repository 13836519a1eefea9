// mugai-gateway: the SMTP relay daemon. Loads and validates the config (embedded demo default when no
// --config), recovers the spool and settles interrupted quarantine releases, then serves SMTP, the
// admin socket and the watched folder (files.inbox) until SIGTERM/SIGINT, which drains and exits 0.
#include <utility>

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <thread>

#include "common/version.hpp"
#include "config/config.hpp"
#include "gateway/admin.hpp"
#include "gateway/admin_server.hpp"
#include "gateway/file_watch.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics_server.hpp"
#include "gateway/net.hpp"
#include "gateway/scheduler.hpp"
#include "gateway/server.hpp"
#include "gateway/spool.hpp"
#include "gateway/systemd.hpp"
#include "office/host.hpp"
#include "quarantine/store.hpp"

namespace {

constexpr const char* kUsage =
    "usage: mugai-gateway [--config FILE] [--set section.key=value]...\n"
    "  Without --config the embedded demo configuration is used (127.0.0.1:2525, maildir:var/maildir).\n";

// Expires quarantine entries past quarantine.retention at start and then every `every`, on the worker
// pool (SQLite and unlink block). Runs until the io_context stops; a failed run is logged and retried.
mugai::gateway::awaitable<void> expire_quarantine(mugai::gateway::asio::thread_pool& pool,
                                                  mugai::quarantine::QuarantineDb& store, std::chrono::seconds every) {
  namespace asio = mugai::gateway::asio;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto ids = co_await mugai::gateway::run_blocking_or_error(
        pool, [&store] { return store.purge(std::time(nullptr), std::nullopt, store.self(), /*audit_empty_run=*/false); });
    if (!ids) {
      mugai::log::event("quarantine-purge-error", {{"error", ids.error().message}});
    } else if (!ids->empty()) {
      mugai::log::event("quarantine-purge", {{"expired", std::to_string(ids->size())}});
    }
    timer.expires_after(every);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

int run(const mugai::config::Config& cfg) {
  using namespace mugai::gateway;
  using LogTarget = mugai::config::Log::Target;
  const auto log_target = cfg.log.target == LogTarget::File     ? mugai::log::Target::File
                          : cfg.log.target == LogTarget::Syslog ? mugai::log::Target::Syslog
                                                                : mugai::log::Target::Stderr;
  if (!mugai::log::init(cfg.log.format == mugai::config::Log::Format::Json ? mugai::log::Format::Json
                                                                           : mugai::log::Format::Text,
                        log_target, cfg.log.file, cfg.log.syslog_facility)) {
    std::cerr << "mugai-gateway: log.file: cannot open '" << cfg.log.file << "': " << std::strerror(errno) << "\n";
    return 1;
  }
  Spool spool(cfg.spool.dir, cfg.spool.fsync, cfg.spool.key_file);
  if (auto st = spool.open(); !st) {
    std::cerr << "mugai-gateway: spool.dir: " << st.error().message << "\n";
    return 1;
  }
  std::vector<std::string> problems;
  auto recovered = spool.recover(problems);
  for (const auto& p : problems) mugai::log::event("spool-corrupt", {{"problem", p}});
  mugai::log::event("recover", {{"messages", std::to_string(recovered.size())}});

  std::shared_ptr<ssl::context> server_tls;
  if (!cfg.smtp.tls_cert.empty()) {
    auto ctx = make_server_tls(cfg.smtp.tls_cert, cfg.smtp.tls_key);
    if (!ctx) {
      std::cerr << "mugai-gateway: " << ctx.error().message << "\n";
      return 1;
    }
    server_tls = *ctx;
  }
  auto client_tls = make_client_tls(cfg.delivery);
  if (!client_tls) {
    std::cerr << "mugai-gateway: " << client_tls.error().message << "\n";
    return 1;
  }

  // One event-loop thread does all network I/O (no strands, no races on sockets); fsync, the
  // quarantine store and maildir writes run on the thread pool so they never stall the loop
  // (sanitizing runs in the sandboxed worker processes, below).
  // The threads mostly wait in fsync; many of them let the filesystem batch journal commits, which is
  // what lets a durable spool keep up with Postfix (measured: 1 thread ≈ 90 accepts/s, 16 ≈ 3000).
  unsigned workers = cfg.server.threads ? cfg.server.threads : 16 + 2 * std::thread::hardware_concurrency();
  asio::io_context io;
  asio::thread_pool pool(workers);
  auto store_options = mugai::quarantine::store_options(cfg, true, {::geteuid(), "gateway"});
  // Every audit record's hash also goes to the log target, so a copy kept off the host can check the chain.
  store_options.on_audit = [](std::string_view event, const mugai::quarantine::AuditHead& head) {
    mugai::log::event("audit", {{"record", event}, {"seq", std::to_string(head.seq)}, {"sha256", head.sha256}});
  };
  auto quarantine = mugai::quarantine::QuarantineDb::open(std::move(store_options));
  if (!quarantine) {
    std::cerr << "mugai-gateway: quarantine: " << quarantine.error().message << "\n";
    return 1;
  }
  // The auditor's evidence of what ran: this version with these settings (config::Config::digest).
  if (auto st = (*quarantine)->audit("gateway-start", {{"version", std::string(mugai::version())}, {"config_digest", cfg.digest},
                                                       {"config", cfg.source}});
      !st) {
    std::cerr << "mugai-gateway: audit: " << st.error().message << "\n";
    return 1;
  }
  // Hostile bytes are parsed only in the sandboxed workers; without one the gateway does not start.
  // Office documents they ask to convert go to LibreOffice in a sandbox of its own, started here.
  WorkerPool sanitizers(io, cfg, mugai::office::converter(cfg.office));
  if (auto st = sanitizers.start(); !st) {
    std::cerr << "mugai-gateway: workers: " << st.error().message << "\n";
    return 1;
  }
  Scheduler scheduler(io, pool, sanitizers, cfg, spool, **quarantine, *client_tls);
  Server server(io, pool, cfg, spool, scheduler, server_tls);
  auto access = Access::resolve(cfg);
  if (!access) {
    std::cerr << "mugai-gateway: " << access.error().message << "\n";
    return 1;
  }
  AdminService admin(pool, cfg, **quarantine, spool, scheduler, sanitizers, *access);
  // Before the scheduler sees the queue: releases a crash interrupted are settled first.
  if (auto st = admin.recover(recovered); !st) {
    std::cerr << "mugai-gateway: quarantine releases: " << st.error().message << "\n";
    return 1;
  }
  AdminServer admin_server(io, cfg, admin, access->group());
  if (auto st = server.listen(); !st) {
    std::cerr << "mugai-gateway: " << st.error().message << "\n";
    return 1;
  }
  if (auto st = admin_server.listen(); !st) {
    std::cerr << "mugai-gateway: " << st.error().message << "\n";
    return 1;
  }
  MetricsServer metrics_server(io, pool, cfg, {server, scheduler, sanitizers, spool, *client_tls});
  if (auto st = metrics_server.listen(); !st) {
    std::cerr << "mugai-gateway: " << st.error().message << "\n";
    return 1;
  }
  // The watched folder: files go through the same workers and quarantine as mail.
  FileWatch file_watch(io, pool, cfg, sanitizers, **quarantine);
  if (auto st = file_watch.start(); !st) {
    std::cerr << "mugai-gateway: " << st.error().message << "\n";
    return 1;
  }
  mugai::log::observe([&admin](std::string_view name, std::initializer_list<mugai::log::Field> fields) {
    admin.on_log_event(name, fields);
  });
  server.start();
  admin_server.start();
  metrics_server.start();
  scheduler.start(recovered);
  // READY only now: a unit ordered after this one may send mail as soon as it is told.
  systemd::ready("accepting mail on " + std::to_string(cfg.smtp.listen.size()) + " address(es)");
  systemd::start_watchdog(io);
  if (cfg.quarantine.purge_interval.count() > 0) {
    asio::co_spawn(io, expire_quarantine(pool, **quarantine, cfg.quarantine.purge_interval), asio::detached);
  }

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](error_code ec, int sig) {
    if (ec) return;
    mugai::log::event("shutdown", {{"signal", sig == SIGTERM ? "TERM" : "INT"}, {"phase", "draining"}});
    systemd::stopping();
    admin_server.shutdown();
    metrics_server.shutdown();
    server.shutdown([&] {
      scheduler.stop([&] {
        file_watch.stop([&] {
          mugai::log::event("shutdown", {{"phase", "done"}});
          io.stop();
        });
      });
    });
  });
  // SIGPIPE would kill the daemon on a write to a closed peer; Asio reports EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  io.run();
  pool.join();
  mugai::log::observe(nullptr);  // nothing may reach `admin` once it is gone
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Messages (up to smtp.max_message_size) are loaded on the pool's threads: with glibc's adaptive
  // threshold each thread's arena would keep the largest one it ever freed (16 threads x 25 MB seen
  // in tests/bench/stream_bench.sh). A fixed threshold maps big buffers and gives them back on free.
  mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
  std::string config_path;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--set" && i + 1 < argc) {
      overrides.emplace_back(argv[++i]);
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "mugai-gateway: unknown argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  auto cfg = config_path.empty()
                 ? mugai::config::load_string(mugai::config::embedded_default(), "<embedded default>", overrides)
                 : mugai::config::load_file(config_path, overrides);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 1;
  }
  return run(*cfg);
}
