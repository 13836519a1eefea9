// Worker start and exit reasons (see spawn.hpp). posix_spawn: safe from the gateway's many threads,
// and its file actions do the descriptor plumbing without code running between fork and exec.
#include "worker/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

extern char** environ;

namespace mugai::worker {

std::string default_path() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("mugai-worker") : (self.parent_path() / "mugai-worker").string();
}

Expected<Process> spawn(const std::string& path, const Limits& limits, bool pipe_stderr) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return Error{std::string("socketpair: ") + std::strerror(errno)};
  UniqueFd ours(pair[0]), theirs(pair[1]);
  UniqueFd log_read, log_write;
  if (pipe_stderr) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
    log_read.reset(p[0]);
    log_write.reset(p[1]);
  }
  // The argument strings outlive the spawn; argv points into them.
  std::vector<std::string> args = {path, "--memory=" + std::to_string(limits.memory),
                                   "--cpu-seconds=" + std::to_string(limits.cpu_seconds),
                                   "--max-frame=" + std::to_string(limits.max_frame)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (log_write) posix_spawn_file_actions_adddup2(&actions, log_write.get(), 2);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), kChannelFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, kChannelFd + 1);
  // A fresh signal mask and default dispositions: the gateway blocks or ignores some (SIGPIPE).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return Error{"cannot start " + path + ": " + std::strerror(err)};
  Process p;
  p.pid = pid;
  p.channel = std::move(ours);
  p.log = std::move(log_read);
  return p;
}

std::string describe_exit(int status, const Limits& limits) {
  if (WIFEXITED(status)) {
    switch (WEXITSTATUS(status)) {
      case kExitOutOfMemory: return "out of memory (workers.memory = " + size_text(limits.memory) + ")";
      case kExitProtocol: return "sanitizer failed: the worker refused the request";
      case kExitSandbox: return "sanitizer failed: the worker could not sandbox itself";
      case 127: return "sanitizer failed: the worker binary could not be run";
      default: return "sanitizer failed: worker exited with status " + std::to_string(WEXITSTATUS(status));
    }
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGXCPU)
      return "CPU time limit reached (workers.cpu_seconds = " + std::to_string(limits.cpu_seconds) + " s)";
    std::string text = "sanitizer failed: signal " + std::to_string(sig);
    if (sig == SIGSYS) return text + " (a system call the sandbox forbids)";
    const char* name = ::strsignal(sig);
    return name != nullptr ? text + " (" + name + ")" : text;
  }
  return "sanitizer failed: worker stopped (status " + std::to_string(status) + ")";
}

}  // namespace mugai::worker
