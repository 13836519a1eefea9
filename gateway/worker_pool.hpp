// The gateway's sandboxed sanitizers: workers.count mugai-worker processes, kept warm, each fed one
// message at a time over its socketpair. Guarantees: a message waits (FIFO) when every worker is
// busy; each message has workers.timeout, after which its worker is SIGKILLed; a worker that
// crashes, times out, runs out of memory or answers garbage costs only its message (the caller gets
// the reason and holds it) and is replaced by a fresh one at once; a worker is retired after
// workers.max_messages messages, or before its CPU budget (workers.cpu_seconds) could run out
// mid-message. A worker's request to convert an Office document is run by `convert` on a thread of
// its own, render.office_concurrency at once; the message's workers.timeout counts LibreOffice's time
// for its documents but not the wait for a free thread (a busy gateway must not time messages out).
// Runs on the event-loop thread only; every child is reaped (the pool's destructor kills and reaps
// those still running).
#pragma once

#include "gateway/net.hpp"

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "config/config.hpp"
#include "sanitizers/pipeline.hpp"
#include "worker/channel.hpp"
#include "worker/spawn.hpp"

namespace mugai::gateway {

class WorkerPool {
 public:
  // Error kinds of sanitize(): the message's own failure (hold it), or no worker could be had at all
  // (a gateway problem: retry the message later).
  enum ErrorKind : int { kMessageFailed = 1, kUnavailable = 2 };

  WorkerPool(asio::io_context& io, const config::Config& cfg, worker::ConvertFn convert);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts every worker; an Error when not even one can be started (e.g. the binary is missing).
  Status start();
  // The outcome of the pipeline on `message`, or an Error whose message is the reason to hold it for
  // ("timeout after 60 s", "sanitizer failed: signal 11 (Segmentation fault)", "out of memory ...").
  awaitable<Expected<sanitize::Outcome>> sanitize(const std::string& message, const sanitize::MessageContext& ctx);
  // For /readyz and the metrics: workers running, and those of them busy with a message.
  std::size_t alive() const { return all_.size(); }
  std::size_t busy() const { return all_.size() - idle_.size(); }

 private:
  struct Worker;
  using WorkerPtr = std::shared_ptr<Worker>;

  Expected<WorkerPtr> launch();
  awaitable<Expected<WorkerPtr>> acquire();
  void release(const WorkerPtr& w);
  void replace(const WorkerPtr& w);
  void wake_one();
  bool budget_spent(const Worker& w) const;
  awaitable<void> relay_log(WorkerPtr w);
  awaitable<int> reap(WorkerPtr w);
  // How long LibreOffice took, once the answer is sent.
  awaitable<Expected<std::chrono::steady_clock::duration>> answer_conversion(const WorkerPtr& w, proto::Frame meta,
                                                                             proto::Frame document);

  asio::io_context& io_;
  const config::Config& cfg_;
  worker::Limits limits_;
  std::string path_;
  std::string policy_json_;
  std::size_t count_ = 1;
  std::vector<WorkerPtr> idle_;
  std::vector<WorkerPtr> all_;  // every live worker, idle or busy
  std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
  worker::ConvertFn convert_;
  asio::thread_pool office_;  // render.office_concurrency threads: at most that many LibreOffice at once
};

}  // namespace mugai::gateway
