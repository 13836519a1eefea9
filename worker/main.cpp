// mugai-worker: the sandboxed process in which hostile mail is parsed. Started by the gateway (or by
// `mugaictl sanitize`) with the channel on fd 3; closes every other descriptor, loads fontconfig,
// sandboxes itself (sandbox.hpp) and only then reads: the policy once, then request after request,
// each answered with sanitize_message()'s outcome. An Office document is converted by asking the
// gateway over the same channel (the sandbox forbids starting LibreOffice here); the PDF it answers is
// rendered here like any other. It holds no key, no spool and no network; if it crashes, runs out of
// memory or time, only the message in hand is lost to it (the gateway holds it).
// `--check-sandbox` applies the same sandbox in a child per forbidden act and reports each act.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "render/prepare.hpp"
#include "sanitizers/file.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/wire.hpp"
#include "worker/channel.hpp"
#include "worker/sandbox.hpp"
#include "worker/spawn.hpp"

#if defined(MUGAI_SANITIZER_BUILD) && (defined(__SANITIZE_ADDRESS__) || defined(__clang__))
// LeakSanitizer needs ptrace and a thread, which seccomp forbids: leaks are checked in the unit tests
// and the gateway, where the same pipeline code runs unsandboxed.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

namespace {

using namespace mugai;

void log_line(const std::string& line) { std::fprintf(stderr, "mugai-worker: %s\n", line.c_str()); }

[[noreturn]] void out_of_memory() { ::_exit(worker::kExitOutOfMemory); }

bool parse_number(std::string_view arg, std::string_view name, std::uint64_t& out) {
  if (!arg.starts_with(name)) return false;
  const std::string_view v = arg.substr(name.size());
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size();
}

// office_render's converter: the request goes to the gateway, which runs LibreOffice in its own
// sandbox and answers with the PDF or why not. The answer is as untrusted as any PDF (rendered next);
// a broken channel is the host's failure, and the main loop then finds the channel broken too.
class ChannelConverter final : public sanitize::DocumentConverter {
 public:
  explicit ChannelConverter(worker::BlockingChannel& channel) : channel_(channel) {}

  Expected<std::string> to_pdf(std::string_view document, std::string_view format) const override {
    const std::string meta = sanitize::wire::encode_convert_request(format);
    if (auto st = channel_.send({{sanitize::wire::kConvert, meta}, {sanitize::wire::kConvertDocument, document}}); !st)
      return Error{st.error().message, kUnavailable};
    auto answer = channel_.receive();
    if (!answer || !*answer) return Error{"no answer to the conversion request", kUnavailable};
    if ((*answer)->type == sanitize::wire::kConverted) return std::move((*answer)->payload);
    if ((*answer)->type != sanitize::wire::kConvertFailed) return Error{"a wrong answer to the conversion request", kUnavailable};
    auto why = sanitize::wire::decode_convert_failure((*answer)->payload);
    if (!why) return Error{why.error().message, kUnavailable};
    return Error{why->reason, why->kind};
  }

 private:
  worker::BlockingChannel& channel_;
};

int serve(const worker::SandboxLimits& limits, std::size_t max_frame) {
  if (auto st = render::prepare(); !st) log_line("warning: " + st.error().message);
  auto sandbox = worker::apply_sandbox(limits, worker::kChannelFd);
  if (!sandbox) {
    log_line("cannot sandbox: " + sandbox.error().message);
    return worker::kExitSandbox;
  }
  log_line(*sandbox);

  worker::BlockingChannel channel(worker::kChannelFd, max_frame);
  const auto refuse = [](const std::string& why) {
    log_line("protocol error: " + why);
    return worker::kExitProtocol;
  };
  auto first = channel.receive();
  if (!first || !*first || (*first)->type != sanitize::wire::kPolicy)
    return refuse(first ? "expected the policy first" : first.error().message);
  auto policy = sanitize::wire::decode_policy((*first)->payload);
  if (!policy) return refuse(policy.error().message);
  const ChannelConverter converter(channel);
  policy->converter = &converter;

  for (;;) {
    auto meta = channel.receive();
    if (!meta) return refuse(meta.error().message);
    if (!*meta) return 0;  // the gateway closed the channel: retired
    auto bytes = channel.receive();
    if (!bytes || !*bytes) return refuse(bytes ? "a request without its message" : bytes.error().message);
    if ((*meta)->type != sanitize::wire::kContext || (*bytes)->type != sanitize::wire::kMessage)
      return refuse("expected a request");
    auto ctx = sanitize::wire::decode_context((*meta)->payload);
    if (!ctx) return refuse(ctx.error().message);
    const sanitize::Outcome outcome = ctx->file ? sanitize::sanitize_file((*bytes)->payload, *ctx, *policy)
                                                : sanitize::sanitize_message((*bytes)->payload, *ctx, *policy);
    const std::string outcome_json = sanitize::wire::encode_outcome(outcome);
    if (auto st = channel.send(worker::outcome_frames(outcome_json, outcome)); !st) return refuse(st.error().message);
  }
}

// ----- --check-sandbox: each forbidden act in its own sandboxed child -----

// Each returns 0 when the act succeeded, else the errno it failed with.
int act_write_file() {
  const std::string path = "/tmp/mugai-check-sandbox-" + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return errno;
  const bool wrote = ::write(fd, "x", 1) == 1;
  const int err = errno;
  ::close(fd);
  ::unlink(path.c_str());
  return wrote ? 0 : err;
}

int act_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return errno;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(9);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Getting a socket at all is the breach; the connect shows whether a network is there too.
  (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(fd);
  return 0;
}

int act_exec() {
  char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
  ::execve("/bin/true", argv, nullptr);
  return errno;  // execve returns only on failure; /bin/true would exit 0
}

int act_ptrace() { return ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0 ? 0 : errno; }

int act_fork() {
  const pid_t pid = ::fork();
  if (pid < 0) return errno;
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return 0;
}

struct Act {
  const char* name;
  int (*run)();
};
constexpr Act kActs[] = {{"write a file", act_write_file},
                         {"open a socket to 127.0.0.1", act_socket},
                         {"execve /bin/true", act_exec},
                         {"ptrace", act_ptrace},
                         {"fork", act_fork}};

// What a child's wait status says about the act it tried; `breached` is set when the act succeeded.
std::string act_result(int status, bool& breached) {
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) return "refused (killed by seccomp)";
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ) return "refused (killed by RLIMIT_FSIZE)";
  if (WIFSIGNALED(status)) return "refused (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
  if (WEXITSTATUS(status) == 0) {
    breached = true;
    return "ALLOWED";
  }
  if (WEXITSTATUS(status) == worker::kExitSandbox) {
    breached = true;
    return "not checked: the sandbox could not be applied";
  }
  return "refused (" + std::string(std::strerror(WEXITSTATUS(status))) + ")";
}

int check_sandbox(const worker::SandboxLimits& limits) {
  bool breached = false;
  for (std::size_t i = 0; i < std::size(kActs); ++i) {
    // The child reports its sandbox line on a pipe in the channel's place: the one descriptor
    // besides stderr the filter lets it write (stderr may be a file, which RLIMIT_FSIZE forbids).
    int report[2];
    if (::pipe(report) != 0) return 1;
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      // The very function production runs, then the act.
      ::dup2(report[1], worker::kChannelFd);
      if (!worker::close_other_fds(worker::kChannelFd)) ::_exit(worker::kExitSandbox);
      auto sandbox = worker::apply_sandbox(limits, worker::kChannelFd);
      const std::string line = (sandbox ? *sandbox : "cannot sandbox: " + sandbox.error().message) + "\n";
      (void)!::write(worker::kChannelFd, line.data(), line.size());
      ::close(worker::kChannelFd);
      if (!sandbox) ::_exit(worker::kExitSandbox);
      const int err = kActs[i].run();
      ::_exit(err == 0 ? 0 : err > 0 && err < 256 && err != worker::kExitSandbox ? err : 255);
    }
    ::close(report[1]);
    std::string line;
    char buf[512];
    for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(report[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (i == 0) std::printf("%s", line.c_str());
    std::printf("%s: %s\n", kActs[i].name, act_result(status, breached).c_str());
  }
  std::fflush(stdout);
  return breached ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  worker::SandboxLimits limits;
  std::uint64_t max_frame = 0, cpu = limits.cpu_seconds;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--check-sandbox") check = true;
    else if (parse_number(arg, "--memory=", limits.memory) || parse_number(arg, "--max-frame=", max_frame)) continue;
    else if (parse_number(arg, "--cpu-seconds=", cpu) && cpu > 0 && cpu < 1'000'000) limits.cpu_seconds = static_cast<unsigned>(cpu);
    else {
      std::fprintf(stderr, "usage: mugai-worker --memory=BYTES --cpu-seconds=N --max-frame=BYTES | --check-sandbox\n");
      return 2;
    }
  }
  if (check) return check_sandbox(limits);
  if (max_frame == 0) {
    log_line("--max-frame is required");
    return 2;
  }
  // If the gateway dies, so does its worker, even mid-message.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (auto st = worker::close_other_fds(worker::kChannelFd); !st) {
    log_line(st.error().message);
    return worker::kExitSandbox;
  }
  std::set_new_handler(out_of_memory);
  return serve(limits, static_cast<std::size_t>(max_frame));
}
