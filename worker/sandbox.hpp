// The worker's sandbox, applied once before it reads its first byte from the gateway. Layers, in
// order: every descriptor but 0-2 and the channel closed; rlimits (address space, CPU, no file
// writes, few descriptors, no processes, no core); no_new_privs; new network, mount and IPC
// namespaces where the kernel allows; a seccomp allowlist whose default kills the process. Once
// applied nothing can be undone: no file can be opened for writing, no socket made, no program run.
#pragma once

#include <cstdint>
#include <string>

#include "common/expected.hpp"

namespace mugai::worker {

struct SandboxLimits {
  std::uint64_t memory = 1ull << 30;  // RLIMIT_AS
  unsigned cpu_seconds = 300;         // RLIMIT_CPU (soft; SIGXCPU), the hard limit one second later
};

// Closes every descriptor above `keep_up_to`; first thing the worker does, before loading anything.
Status close_other_fds(int keep_up_to);
// Applies every remaining layer and returns the line naming each layer active or refused. An Error
// when a layer that must hold (rlimits, no_new_privs, seccomp) could not be applied; namespaces are
// best effort (a container may refuse them) and only reported. `channel_fd` is the only descriptor
// besides stderr that may be written.
Expected<std::string> apply_sandbox(const SandboxLimits& limits, int channel_fd);

}  // namespace mugai::worker
