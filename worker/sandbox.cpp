// The worker's sandbox (see sandbox.hpp). The seccomp list is what poppler-cpp, fontconfig, freetype,
// libjpeg-turbo, libpng, mimetic, gumbo, libmagic and iconv were seen to call (strace of the worker on
// real mail with PDFs and Japanese text), nothing more: a missing call kills the worker on that message
// (it is then held in quarantine), an extra one widens what a compromised parser could do.
#include "worker/sandbox.hpp"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "worker/spawn.hpp"

namespace mugai::worker {

namespace {

constexpr rlim_t kMaxFds = 32;  // the channel, stderr, and fonts/CMaps poppler and fontconfig open

std::string errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOMEM: return "ENOMEM";
    case EUSERS: return "EUSERS";
    default: return std::strerror(err);
  }
}

Status set_limit(int resource, rlim_t soft, rlim_t hard, const char* name) {
  const rlimit rl{soft, hard};
  if (::setrlimit(resource, &rl) != 0) return Error{std::string("setrlimit ") + name + ": " + std::strerror(errno)};
  return Ok{};
}

// "net,mnt,ipc" unshared, or which were refused and why. Best effort: without them the worker still
// has no socket (seccomp) and no writable file.
std::string enter_namespaces() {
  std::string line = "namespaces";
  if (::geteuid() != 0 && ::unshare(CLONE_NEWUSER) != 0) {
    return line + " user,net,mnt,ipc refused (" + errno_name(errno) + ")";
  }
  struct Ns {
    int flag;
    const char* name;
  };
  constexpr Ns kNs[] = {{CLONE_NEWNET, "net"}, {CLONE_NEWNS, "mnt"}, {CLONE_NEWIPC, "ipc"}};
  std::string active, refused;
  int refused_errno = 0;
  for (const auto& ns : kNs) {
    if (::unshare(ns.flag) == 0) {
      active += (active.empty() ? "" : ",") + std::string(ns.name);
    } else {
      refused_errno = errno;
      refused += (refused.empty() ? "" : ",") + std::string(ns.name);
    }
  }
  if (!active.empty()) line += " " + active;
  if (!refused.empty()) line += (active.empty() ? " " : "; ") + refused + " refused (" + errno_name(refused_errno) + ")";
  return line;
}

class Filter {
 public:
  Filter() : ctx_(seccomp_init(SCMP_ACT_KILL_PROCESS)) {}
  ~Filter() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;

  template <typename... Args>
  void allow(int syscall, Args... conditions) {
    if (ctx_ == nullptr || rc_ != 0) return;
    const scmp_arg_cmp cmp[] = {conditions..., {}};
    rc_ = seccomp_rule_add_array(ctx_, SCMP_ACT_ALLOW, syscall, sizeof...(Args), cmp);
    if (rc_ != 0) failed_ = syscall;
  }
  Status load() {
    if (ctx_ == nullptr) return Error{"seccomp_init failed"};
    if (rc_ != 0) {
      char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, failed_);
      std::string n = name ? name : std::to_string(failed_);
      std::free(name);
      return Error{"seccomp rule for " + n + ": " + std::strerror(-rc_)};
    }
    if (int rc = seccomp_load(ctx_); rc != 0) return Error{std::string("seccomp_load: ") + std::strerror(-rc)};
    return Ok{};
  }

 private:
  scmp_filter_ctx ctx_;
  int rc_ = 0;
  int failed_ = 0;
};

Status load_seccomp(int channel_fd) {
  Filter f;
  // Reading what is already open or may be opened read-only; metadata; directory listings (fontconfig).
  for (int nr : {SCMP_SYS(read), SCMP_SYS(readv), SCMP_SYS(pread64), SCMP_SYS(preadv), SCMP_SYS(lseek),
                 SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(getdents64),
                 SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(access), SCMP_SYS(faccessat),
                 SCMP_SYS(faccessat2), SCMP_SYS(fadvise64), SCMP_SYS(fcntl)})
    f.allow(nr);
  // Files only ever for reading: any of these flags kills (RLIMIT_FSIZE 0 is a second lock).
  f.allow(SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0));
  // Writes only to the gateway and to the log.
  for (int nr : {SCMP_SYS(write), SCMP_SYS(writev)}) {
    f.allow(nr, SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(channel_fd)));
    f.allow(nr, SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(STDERR_FILENO)));
  }
#ifdef MUGAI_SANITIZER_BUILD
  // UBSan's vptr check probes memory by writing it into a fresh pipe (sanitizer_common's
  // IsAccessibleMemoryRange), and ASan asks sigaltstack where the stack is whenever a longjmp
  // unwinds it (libjpeg's error exit in TurboJPEG): only in -DMUGAI_SANITIZE builds, and the log line
  // says so.
  f.allow(SCMP_SYS(pipe2));
  f.allow(SCMP_SYS(write));
  f.allow(SCMP_SYS(sigaltstack));
#endif
  // Memory. Executable mappings only of files (iconv loads a gconv module per charset on first use);
  // never executable anonymous memory, never a mapping turned executable later.
  for (int nr : {SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise)}) f.allow(nr);
  f.allow(SCMP_SYS(mmap), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  f.allow(SCMP_SYS(mmap), SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, 0));
  f.allow(SCMP_SYS(mprotect), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  // Time, randomness, identity, limits read (never set), the terminal check stdio makes, futexes
  // (single-threaded, but libstdc++ and glibc take locks), signals to itself (abort, raise), exit.
  for (int nr : {SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday), SCMP_SYS(time),
                 SCMP_SYS(getrandom), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
                 SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(futex),
                 SCMP_SYS(sched_yield), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
                 SCMP_SYS(exit), SCMP_SYS(exit_group)})
    f.allow(nr);
  f.allow(SCMP_SYS(prlimit64), SCMP_A2(SCMP_CMP_EQ, 0));
  f.allow(SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_EQ, TCGETS));
  f.allow(SCMP_SYS(tgkill), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid())));
  return f.load();
}

}  // namespace

Status close_other_fds(int keep_up_to) {
  if (::close_range(static_cast<unsigned>(keep_up_to) + 1, ~0u, 0) != 0)
    return Error{std::string("close_range: ") + std::strerror(errno)};
  return Ok{};
}

Expected<std::string> apply_sandbox(const SandboxLimits& limits, int channel_fd) {
  std::string line = "sandbox: fds closed; rlimits";
#ifdef MUGAI_SANITIZER_BUILD
  // AddressSanitizer reserves terabytes of shadow address space: RLIMIT_AS would stop it starting.
  line += " as=unlimited (sanitizer build)";
#else
  if (auto st = set_limit(RLIMIT_AS, limits.memory, limits.memory, "AS"); !st) return st.error();
  line += " as=" + size_text(limits.memory);
#endif
  const rlim_t cpu = limits.cpu_seconds;
  struct Row {
    int resource;
    rlim_t soft, hard;
    const char* name;
  };
  const Row rows[] = {{RLIMIT_CPU, cpu, cpu + 1, "CPU"}, {RLIMIT_FSIZE, 0, 0, "FSIZE"},
                      {RLIMIT_NOFILE, kMaxFds, kMaxFds, "NOFILE"}, {RLIMIT_NPROC, 0, 0, "NPROC"},
                      {RLIMIT_CORE, 0, 0, "CORE"}};
  for (const auto& r : rows)
    if (auto st = set_limit(r.resource, r.soft, r.hard, r.name); !st) return st.error();
  line += " cpu=" + std::to_string(cpu) + "s fsize=0 nofile=" + std::to_string(kMaxFds) + " nproc=0 core=0";
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error{std::string("no_new_privs: ") + std::strerror(errno)};
  line += "; no_new_privs; " + enter_namespaces();
  if (auto st = load_seccomp(channel_fd); !st) return st.error();
#ifdef MUGAI_SANITIZER_BUILD
  line += "; seccomp allowlist (kill; sanitizer build: also pipe2, sigaltstack and write to any fd)";
#else
  line += "; seccomp allowlist (kill)";
#endif
  return line;
}

}  // namespace mugai::worker
