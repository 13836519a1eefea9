// Starting a sandboxed mugai-worker and naming how one ended: the one place the gateway's pool and
// `mugaictl sanitize` both use. The worker gets one end of a socketpair as fd kChannelFd and stdin and
// stdout on /dev/null; its stderr is either a pipe the caller reads (the gateway relays each line to
// its log) or the caller's own. Every other descriptor of the caller is closed in the child before exec.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/expected.hpp"
#include "common/fd.hpp"
#include "common/size_text.hpp"

namespace mugai::worker {

inline constexpr int kChannelFd = 3;
// The worker's own exit codes (anything else is a crash or a signal).
inline constexpr int kExitOutOfMemory = 70;  // operator new failed under RLIMIT_AS
inline constexpr int kExitProtocol = 71;     // the gateway's frames made no sense
inline constexpr int kExitSandbox = 72;      // a sandbox layer that must hold could not be applied

struct Limits {
  std::uint64_t memory = 1ull << 30;  // RLIMIT_AS (workers.memory)
  unsigned cpu_seconds = 300;         // RLIMIT_CPU (workers.cpu_seconds)
  std::size_t max_frame = 0;          // the largest frame either side sends (wire::max_frame)
};

struct Process {
  pid_t pid = -1;
  UniqueFd channel;  // the gateway's end of the socketpair (close-on-exec)
  UniqueFd log;      // read end of the worker's stderr, when asked for; else invalid
};

// mugai-worker next to the running executable (/proc/self/exe), where the build and the package put it.
std::string default_path();
// Starts `path` with the limits as arguments.
Expected<Process> spawn(const std::string& path, const Limits& limits, bool pipe_stderr);
// What a waitpid() status of a worker says, for reasons and logs: "signal 11 (Segmentation fault)",
// "out of memory (workers.memory = 64 MiB)", "CPU time limit reached (workers.cpu_seconds = 300 s)".
std::string describe_exit(int wait_status, const Limits& limits);

}  // namespace mugai::worker
