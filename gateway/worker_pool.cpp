// The worker pool (see worker_pool.hpp). Each worker is a socketpair end (an Asio local socket, so a
// write to a dead worker is EPIPE rather than SIGPIPE), its stderr pipe relayed line by line to the
// log, and a frame decoder bounded by wire::max_frame. The policy goes with a worker's first request.
#include "gateway/worker_pool.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <thread>

#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "proto/worker_frame.hpp"
#include "sanitizers/wire.hpp"
#include "worker/channel.hpp"

namespace mugai::gateway {

namespace wire = sanitize::wire;

struct WorkerPool::Worker {
  Worker(asio::io_context& io, worker::Process p, std::size_t max_frame)
      : pid(p.pid), channel(io), log(io), decoder(max_frame, wire::kMaxTag) {
    channel.assign(asio::local::stream_protocol(), p.channel.release());
    log.assign(p.log.release());
  }
  pid_t pid;
  asio::local::stream_protocol::socket channel;
  asio::posix::stream_descriptor log;
  proto::FrameDecoder decoder;
  std::size_t messages = 0;
  bool policy_sent = false;
  bool reaped = false;
};

namespace {

// User plus system CPU seconds the process has used (/proc/PID/stat fields 14 and 15), or 0.
double cpu_used(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(stat.substr(paren + 1));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

WorkerPool::WorkerPool(asio::io_context& io, const config::Config& cfg, worker::ConvertFn convert)
    : io_(io),
      cfg_(cfg),
      limits_{cfg.workers.memory, cfg.workers.cpu_seconds, wire::max_frame(config::largest_input(cfg), cfg.sanitize)},
      path_(cfg.workers.path.empty() ? worker::default_path() : cfg.workers.path),
      policy_json_(wire::encode_policy(cfg.sanitize)),
      count_(cfg.workers.count ? cfg.workers.count : std::max(1u, std::thread::hardware_concurrency())),
      convert_(std::move(convert)),
      office_(cfg.office.concurrency) {}

WorkerPool::~WorkerPool() {
  // A conversion still running ends at its own deadline (render.office_timeout); its answer has no
  // one left to go to.
  office_.join();
  // Busy or idle, a worker holds nothing that must survive the gateway (the spool has the message).
  for (const auto& w : all_) {
    if (w->reaped) continue;
    ::kill(w->pid, SIGKILL);
    while (::waitpid(w->pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

Status WorkerPool::start() {
  for (std::size_t i = 0; i < count_; ++i) {
    auto w = launch();
    if (!w) return w.error();
    idle_.push_back(*w);
  }
  log::event("workers", {{"count", std::to_string(count_)}, {"path", path_},
                         {"memory", size_text(limits_.memory)},
                         {"timeout", std::to_string(cfg_.workers.timeout.count()) + "s"},
                         {"max_messages", std::to_string(cfg_.workers.max_messages)}});
  return Ok{};
}

Expected<WorkerPool::WorkerPtr> WorkerPool::launch() {
  auto p = worker::spawn(path_, limits_, true);
  if (!p) return Error{p.error().message, kUnavailable};
  auto w = std::make_shared<Worker>(io_, std::move(*p), limits_.max_frame);
  all_.push_back(w);
  asio::co_spawn(io_, relay_log(w), asio::detached);
  return w;
}

awaitable<Expected<WorkerPool::WorkerPtr>> WorkerPool::acquire() {
  for (;;) {
    if (!idle_.empty()) {
      WorkerPtr w = std::move(idle_.back());
      idle_.pop_back();
      co_return w;
    }
    // A replacement that could not be started earlier is tried again now.
    if (all_.size() < count_) {
      auto w = launch();
      if (w) co_return w;
      log::event("worker-error", {{"error", w.error().message}});
      if (all_.empty()) co_return w.error();
    }
    auto wait = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    waiters_.push_back(wait);
    error_code ec;
    co_await wait->async_wait(asio::redirect_error(asio::use_awaitable, ec));  // cancelled = woken
  }
}

void WorkerPool::wake_one() {
  if (waiters_.empty()) return;
  waiters_.front()->cancel();
  waiters_.pop_front();
}

bool WorkerPool::budget_spent(const Worker& w) const {
  if (w.messages >= cfg_.workers.max_messages) return true;
  // RLIMIT_CPU counts the whole process: retire it while a whole timeout's worth is still left, so
  // the limit never ends an innocent message late in a worker's life.
  const double left = static_cast<double>(limits_.cpu_seconds) - cpu_used(w.pid);
  return left < static_cast<double>(cfg_.workers.timeout.count());
}

void WorkerPool::release(const WorkerPtr& w) {
  if (budget_spent(*w)) {
    replace(w);
    return;
  }
  idle_.push_back(w);
  wake_one();
}

void WorkerPool::replace(const WorkerPtr& w) {
  all_.erase(std::remove(all_.begin(), all_.end(), w), all_.end());
  if (!w->reaped) {
    // A retired worker reads the end of its channel and exits; reaped in the background.
    error_code ignored;
    w->channel.close(ignored);
    asio::co_spawn(io_, reap(w), asio::detached);
  }
  log::event("worker-retired", {{"pid", std::to_string(w->pid)}, {"messages", std::to_string(w->messages)}});
  auto fresh = launch();
  if (fresh) {
    metrics::registry().worker_restarts.inc();
    idle_.push_back(*fresh);
  } else {
    log::event("worker-error", {{"error", fresh.error().message}});
  }
  wake_one();
}

awaitable<int> WorkerPool::reap(WorkerPtr w) {
  // The worker is ending (its channel closed, or it was killed); give it two seconds, then SIGKILL.
  asio::steady_timer tick(io_);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    const pid_t r = ::waitpid(w->pid, &status, WNOHANG);
    if (r == w->pid || (r < 0 && errno != EINTR)) {
      w->reaped = true;
      co_return status;
    }
    tick.expires_after(std::chrono::milliseconds(10));
    error_code ec;
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  ::kill(w->pid, SIGKILL);
  while (::waitpid(w->pid, &status, 0) < 0 && errno == EINTR) {
  }
  w->reaped = true;
  co_return status;
}

awaitable<void> WorkerPool::relay_log(WorkerPtr w) {
  const std::string pid = std::to_string(w->pid);
  std::vector<char> buf(4096);
  std::string pending;
  const auto emit = [&](std::string_view line) {
    if (line.starts_with("mugai-worker: ")) line.remove_prefix(14);
    log::event("worker", {{"pid", pid}, {"line", line}});
  };
  for (;;) {
    error_code ec;
    const std::size_t n = co_await w->log.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    pending.append(buf.data(), n);
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
      emit(std::string_view(pending).substr(0, nl));
    if (pending.size() > buf.size()) {  // a line without end is cut, never buffered without bound
      emit(pending);
      pending.clear();
    }
  }
  if (!pending.empty()) emit(pending);
  // Its stderr ends when the worker does. One that died idle (killed from outside) is replaced now,
  // before any message is sent to it; a busy one is sanitize()'s to account for.
  const auto idle = std::find(idle_.begin(), idle_.end(), w);
  if (idle != idle_.end() && !w->reaped) {
    idle_.erase(idle);
    const int status = co_await reap(w);
    log::event("worker-failed", {{"pid", pid}, {"while", "idle"}, {"reason", worker::describe_exit(status, limits_)}});
    metrics::registry().worker_crashes.inc();
    replace(w);
  }
}

awaitable<Expected<std::chrono::steady_clock::duration>> WorkerPool::answer_conversion(const WorkerPtr& w,
                                                                                     proto::Frame meta,
                                                                                     proto::Frame document) {
  auto request = worker::read_convert_request(std::move(meta), std::move(document));
  if (!request) co_return request.error();
  using Clock = std::chrono::steady_clock;
  const auto queued = Clock::now();
  Clock::time_point started;
  Expected<std::string> pdf = co_await run_blocking(office_, [&] {
    started = Clock::now();
    return worker::run_conversion(convert_, *request);
  });
  const Clock::duration took = Clock::now() - started;
  const auto ms = [](Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  // How long it waited for one of render.office_concurrency, and how long LibreOffice took.
  log::event("office", {{"pid", std::to_string(w->pid)}, {"format", request->format},
                        {"bytes", std::to_string(request->document.size())}, {"waited_ms", ms(started - queued)},
                        {"ms", ms(took)},
                        {"result", pdf ? "pdf of " + std::to_string(pdf->size()) + " bytes" : pdf.error().message}});
  const proto::Frame answer = worker::conversion_answer(std::move(pdf));
  const auto header = proto::frame_header(answer.type, answer.payload.size());
  const std::array<asio::const_buffer, 2> out{asio::buffer(header), asio::buffer(answer.payload)};
  error_code ec;
  co_await asio::async_write(w->channel, out, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{"writing the conversion answer: " + ec.message()};
  co_return took;
}

awaitable<Expected<sanitize::Outcome>> WorkerPool::sanitize(const std::string& message,
                                                           const sanitize::MessageContext& ctx) {
  auto got = co_await acquire();
  if (!got) co_return got.error();
  const WorkerPtr w = std::move(*got);

  // The frames go out gathered: the message bytes are not copied into a buffer of their own.
  const std::string context_json = wire::encode_context(ctx);
  std::vector<worker::FramePart> frames;
  if (!w->policy_sent) frames.emplace_back(wire::kPolicy, policy_json_);
  for (const auto& f : worker::request_frames(context_json, message)) frames.push_back(f);
  std::vector<std::array<char, proto::kFrameHeader>> headers;
  headers.reserve(frames.size());
  std::vector<asio::const_buffer> out;
  for (const auto& [type, payload] : frames) {
    headers.push_back(proto::frame_header(type, payload.size()));
    out.push_back(asio::buffer(headers.back()));
    out.push_back(asio::buffer(payload));
  }

  // The deadline covers writing the request and reading the outcome, and LibreOffice's time for the
  // message's documents: it stands still while a conversion runs and is then charged with what the
  // conversion took, not with the wait for a free LibreOffice. Shared state: the handler may run
  // after this frame is gone, and must not kill a pid that was reaped (and perhaps reused).
  struct Deadline {
    bool done = false;
    bool fired = false;
  };
  auto state = std::make_shared<Deadline>();
  asio::steady_timer deadline(io_);
  const auto arm = [&](asio::steady_timer::duration left) {
    deadline.expires_after(left);
    deadline.async_wait([state, pid = w->pid](error_code ec) {
      if (ec || state->done) return;
      state->fired = true;
      ::kill(pid, SIGKILL);
    });
  };
  arm(cfg_.workers.timeout);
  // Each part is converted at most once, so a worker asking for more than there can be parts is not
  // sanitizing this message: it only keeps LibreOffice from other messages.
  std::size_t conversions = 0;

  error_code ec;
  std::string problem;
  std::vector<proto::Frame> reply;
  co_await asio::async_write(w->channel, out, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) {
    w->policy_sent = true;
    std::vector<char> buf(64 * 1024);
    while (reply.size() < 2) {
      if (auto f = w->decoder.next()) {
        reply.push_back(std::move(*f));
        if (reply.size() == 2 && reply[0].type == wire::kConvert) {
          if (++conversions > cfg_.sanitize.limits.max_parts) {
            problem = "more conversion requests than the message can have parts (sanitize.max_parts)";
            break;
          }
          const auto left = deadline.expiry() - asio::steady_timer::clock_type::now();
          deadline.cancel();
          const auto took = co_await answer_conversion(w, std::move(reply[0]), std::move(reply[1]));
          reply.clear();
          if (!took) {
            problem = took.error().message;
            break;
          }
          arm(left - *took);  // spent: fires at once
        }
        continue;
      }
      if (w->decoder.error()) {
        problem = *w->decoder.error();
        break;
      }
      const std::size_t n =
          co_await w->channel.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      w->decoder.feed(std::string_view(buf.data(), n));
    }
    if (reply.size() == 2 && !w->decoder.idle()) problem = "bytes after the outcome";
  }
  state->done = true;
  deadline.cancel();

  if (reply.size() == 2 && problem.empty()) {
    auto outcome = worker::read_outcome(std::move(reply[0]), std::move(reply[1]), ctx.quarantine_id);
    if (outcome) {
      ++w->messages;
      release(w);
      co_return outcome;
    }
    problem = outcome.error().message;
  }
  // This worker is done for: a garbled reply means it cannot be trusted with another message.
  std::string reason;
  if (state->fired) {
    reason = "timeout after " + std::to_string(cfg_.workers.timeout.count()) + " s";
  } else if (!problem.empty()) {
    ::kill(w->pid, SIGKILL);
    reason = "sanitizer failed: malformed reply from the worker: " + problem;
  }
  const int status = co_await reap(w);
  if (reason.empty()) reason = worker::describe_exit(status, limits_);
  log::event("worker-failed", {{"pid", std::to_string(w->pid)}, {"queue_id", ctx.queue_id}, {"reason", reason}});
  (state->fired ? metrics::registry().worker_timeouts : metrics::registry().worker_crashes).inc();
  replace(w);
  co_return Error{reason, kMessageFailed};
}

}  // namespace mugai::gateway
