// LibreOffice in bubblewrap (see convert.hpp). Guarantees: the child is always reaped and its sandbox gone
// before we return, the only writable host path is a private 0700 directory removed on every path out,
// and between fork and exec the child makes only async-signal-safe calls (the caller is multi-threaded).
#include "office/convert.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/fd.hpp"
#include "common/size_text.hpp"

namespace mugai::office {

namespace {

struct Format {
  std::string_view name;
  std::string_view filter;  // LibreOffice 7.4 import filter names (share/registry/{writer,calc,impress}.xcd)
};

// The macro-enabled forms get the VBA variants so their documents import as LibreOffice means them to;
// the macros are kept inert by the profile (MacroSecurityLevel 3, DisableMacrosExecution) and the sandbox.
constexpr Format kFormats[] = {
    {"docx", "MS Word 2007 XML"},
    {"docm", "MS Word 2007 XML VBA"},
    {"xlsx", "Calc MS Excel 2007 XML"},
    {"xlsm", "Calc MS Excel 2007 VBA XML"},
    {"pptx", "Impress MS PowerPoint 2007 XML"},
    {"pptm", "Impress MS PowerPoint 2007 XML VBA"},
    {"doc", "MS Word 97"},
    {"xls", "MS Excel 97"},
    {"ppt", "MS PowerPoint 97"},
    {"odt", "writer8"},
    {"ods", "calc8"},
    {"odp", "impress8"},
    {"rtf", "Rich Text Format"},
};

const Format* find_format(std::string_view name) {
  for (const auto& f : kFormats)
    if (f.name == name) return &f;
  return nullptr;
}

// A fresh profile per conversion: nothing one document leaves behind (macros, settings, recent files)
// reaches the next, and macros never run whatever the document asks for.
constexpr std::string_view kProfile = R"(<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="ShowTipOfTheDay" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="CrashReport" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Setup/Office"><prop oor:name="ooSetupLastVersion" oor:op="fuse"><value>7.4</value></prop></item>
</oor:items>
)";

// Fixed descriptor numbers inside the child, named in bwrap's arguments.
constexpr int kDocFd = 3;
constexpr int kProfileFd = 4;
constexpr int kInfoFd = 5;
constexpr int kExecErrorFd = 6;
constexpr rlim_t kMaxFds = 1024;  // soffice.bin maps fonts and libraries by the hundred; a fork bomb of files is not

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

Error refused(std::string message) { return Error{std::move(message), kDocumentRefused}; }
Error host(std::string message) { return Error{std::move(message), kHostFailure}; }

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Encrypted OOXML is a CFB (OLE2) container holding EncryptionInfo and EncryptedPackage, an encrypted
// PowerPoint 97 file one holding EncryptedSummary; LibreOffice could only ask for a password nobody types.
// The names sit in CFB directory entries as UTF-16LE. (Encrypted .doc/.xls carry only a flag inside
// their main stream; LibreOffice fails to load them without a password, which reads as "no PDF".)
bool encrypted_container(std::string_view doc) {
  static constexpr std::string_view kCfbMagic("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
  if (doc.substr(0, kCfbMagic.size()) != kCfbMagic) return false;
  auto utf16 = [](std::string_view ascii) {
    std::string out;
    for (char c : ascii) {
      out.push_back(c);
      out.push_back('\0');
    }
    return out;
  };
  return (contains(doc, utf16("EncryptionInfo")) && contains(doc, utf16("EncryptedPackage"))) ||
         contains(doc, utf16("EncryptedSummary"));
}

Expected<UniqueFd> memfd_with(const char* name, std::string_view bytes) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, name, MFD_CLOEXEC)));
  if (!fd) return host(errno_text("memfd_create", errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return host(errno_text("memfd write", errno));
    done += static_cast<std::size_t>(n);
  }
  // bwrap copies from the descriptor's offset to its end.
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return host(errno_text("memfd seek", errno));
  return fd;
}

// The private output directory, removed with whatever the sandbox left in it. A hostile converter could
// leave directories without search permission, so those are opened up before removal.
class OutDir {
 public:
  OutDir() {
    std::error_code ec;
    auto base = std::filesystem::temp_directory_path(ec);
    std::string tmpl = ((ec ? std::filesystem::path("/tmp") : base) / "mugai-office-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;  // mkdtemp makes it 0700
  }
  OutDir(const OutDir&) = delete;
  OutDir& operator=(const OutDir&) = delete;
  ~OutDir() {
    if (path_.empty()) return;
    std::error_code ec;
    if (std::filesystem::remove_all(path_, ec) != static_cast<std::uintmax_t>(-1) && !ec) return;
    open_up(path_);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  static void open_up(const std::string& dir) {
    ::chmod(dir.c_str(), 0700);
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code sec;
      if (it->is_directory(sec) && !it->is_symlink(sec)) open_up(it->path().string());
    }
  }
  std::string path_;
};

// Runs in the forked child of a multi-threaded process: async-signal-safe calls only, no allocation.
[[noreturn]] void exec_child(char* const* argv, char* const* envp, const char* path, int devnull, int err_w,
                             int doc, int profile, int info_w, int exec_err_w, const rlimit* limits) {
  // Our own process group and session: the deadline kills the group, and no terminal signal reaches us.
  ::setsid();
  // If the gateway dies, bwrap dies, and --die-with-parent takes the sandbox with it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Default dispositions and an empty mask: the gateway ignores SIGPIPE and blocks some signals.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Move every source above the targets first, so no dup2 overwrites a descriptor still to be moved.
  const int src[] = {devnull, devnull, err_w, doc, profile, info_w, exec_err_w};
  int high[7];
  for (int i = 0; i < 7; ++i) {
    high[i] = ::fcntl(src[i], F_DUPFD, 64);
    if (high[i] < 0) ::_exit(127);
  }
  for (int i = 0; i < 7; ++i)
    if (::dup2(high[i], i) < 0) ::_exit(127);
  ::fcntl(kExecErrorFd, F_SETFD, FD_CLOEXEC);  // closes on a successful exec: the parent sees EOF
  ::syscall(SYS_close_range, kExecErrorFd + 1, ~0u, 0);
  ::setrlimit(RLIMIT_AS, &limits[0]);
  ::setrlimit(RLIMIT_CORE, &limits[1]);
  ::setrlimit(RLIMIT_FSIZE, &limits[2]);
  ::setrlimit(RLIMIT_NOFILE, &limits[3]);
  ::execve(path, argv, envp);
  const int err = errno;
  ssize_t ignored = ::write(kExecErrorFd, &err, sizeof err);
  (void)ignored;
  ::_exit(127);
}

// Reads what is there without blocking; keeps at most `cap` bytes. False at EOF or error.
bool drain(int fd, std::string& into, std::size_t cap) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), cap - std::min(cap, into.size())));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

std::string first_line(std::string_view text) {
  const auto start = text.find_first_not_of("\r\n ");
  if (start == std::string_view::npos) return "no message";
  text.remove_prefix(start);
  return std::string(text.substr(0, text.find_first_of("\r\n")));
}

// Reads the PDF LibreOffice left in the output directory, refusing links, special files and oversize ones.
Expected<std::string> read_pdf(const std::string& path, std::size_t max_output) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return refused("LibreOffice produced no PDF");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return refused("LibreOffice produced no PDF");
  const std::string too_big = "PDF larger than " + size_text(max_output) + " (render.office_max_output)";
  if (static_cast<std::uint64_t>(st.st_size) > max_output) return refused(too_big);
  std::string pdf;
  pdf.resize(static_cast<std::size_t>(st.st_size) + 1);  // one more byte notices a file still growing
  std::size_t got = 0;
  while (got < pdf.size()) {
    const ssize_t n = ::read(fd.get(), pdf.data() + got, pdf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refused(errno_text("cannot read the PDF", errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_output) return refused(too_big);
  pdf.resize(got);
  if (pdf.compare(0, 5, "%PDF-") != 0) return refused("LibreOffice produced no PDF (the output is not a PDF)");
  return pdf;
}

}  // namespace

bool known_format(std::string_view format) { return find_format(format) != nullptr; }

Expected<std::string> convert_to_pdf(std::string_view document, std::string_view format, const OfficeLimits& limits) {
  const Format* fmt = find_format(format);
  if (fmt == nullptr) return refused("not an office format LibreOffice is allowed to open: " + std::string(format));
  if (encrypted_container(document)) return refused("password-protected document");
  if (::access(limits.bwrap.c_str(), X_OK) != 0)
    return host("cannot start bubblewrap: " + errno_text(limits.bwrap.c_str(), errno));
  // The sandbox sees the host's /usr at the same path, so the host path is the one it will run.
  if (::access(limits.soffice.c_str(), X_OK) != 0)
    return host("cannot start LibreOffice: " + errno_text(limits.soffice.c_str(), errno));

  OutDir out;
  if (out.path().empty()) return host(errno_text("cannot create a temporary directory", errno));
  auto doc_fd = memfd_with("mugai-office-doc", document);
  if (!doc_fd) return doc_fd.error();
  auto profile_fd = memfd_with("mugai-office-profile", kProfile);
  if (!profile_fd) return profile_fd.error();
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) return host(errno_text("/dev/null", errno));
  // Only our ends are non-blocking: LibreOffice's stderr must not fail with EAGAIN when we lag behind.
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return host(errno_text("pipe", errno));
  UniqueFd err_r(p[0]), err_w(p[1]);
  if (::pipe2(p, O_CLOEXEC) != 0) return host(errno_text("pipe", errno));
  UniqueFd info_r(p[0]), info_w(p[1]);
  if (::fcntl(err_r.get(), F_SETFL, O_NONBLOCK) != 0 || ::fcntl(info_r.get(), F_SETFL, O_NONBLOCK) != 0)
    return host(errno_text("fcntl", errno));
  if (::pipe2(p, O_CLOEXEC) != 0) return host(errno_text("pipe", errno));
  UniqueFd exec_r(p[0]), exec_w(p[1]);

  const std::string in_path = "/tmp/in." + std::string(fmt->name);
  // The tmpfs holds the document copy, the profile and LibreOffice's scratch files; it is host memory.
  const std::string tmp_size = std::to_string((512ull << 20) + 2 * document.size());
  std::vector<std::string> args = {
      limits.bwrap,
      "--unshare-all", "--unshare-net", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
      "--setenv", "HOME", "/tmp", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
      "--setenv", "SAL_USE_VCLPLUGIN", "svp",
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
      "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
      "--proc", "/proc", "--dev", "/dev",
      "--size", tmp_size, "--tmpfs", "/tmp",
      "--dir", "/tmp/profile", "--dir", "/tmp/profile/user",
      "--perms", "0600", "--file", std::to_string(kProfileFd), "/tmp/profile/user/registrymodifications.xcu",
      "--perms", "0400", "--file", std::to_string(kDocFd), in_path,
      "--bind", out.path(), "/out",
      "--info-fd", std::to_string(kInfoFd),
  };
  std::error_code ec;
  for (const char* dir : {"/etc/fonts", "/etc/libreoffice"}) {
    if (std::filesystem::is_directory(dir, ec)) {
      args.insert(args.end(), {"--ro-bind", dir, dir});
    }
  }
  args.insert(args.end(), {
      "--", limits.soffice, "-env:UserInstallation=file:///tmp/profile",
      "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck", "--invisible",
      "--convert-to", "pdf", "--outdir", "/out", "--infilter=" + std::string(fmt->filter), in_path});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char env_path[] = "PATH=/usr/bin:/bin";
  char* envp[] = {env_path, nullptr};
  const rlim_t fsize = static_cast<rlim_t>(limits.max_output) * 2 + (1 << 20);
  const rlimit rl[] = {{static_cast<rlim_t>(limits.memory), static_cast<rlim_t>(limits.memory)},
                       {0, 0},
                       {fsize, fsize},
                       {kMaxFds, kMaxFds}};

  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  const pid_t pid = ::fork();
  if (pid < 0) return host(errno_text("fork", errno));
  if (pid == 0)
    exec_child(argv.data(), envp, limits.bwrap.c_str(), devnull.get(), err_w.get(), doc_fd->get(),
               profile_fd->get(), info_w.get(), exec_w.get(), rl);
  err_w.reset();
  info_w.reset();
  exec_w.reset();

  // Until the pipes close and the child exits, or the deadline passes. The stderr pipe is held by
  // every process in the sandbox, so its EOF also says LibreOffice's own children are gone.
  std::string err_text, info_text;
  bool err_open = true, info_open = true, exited = false, timed_out = false;
  int status = 0;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  while (err_open || !exited) {
    if (!exited) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) exited = true;
      if (r < 0 && errno != EINTR) exited = true;  // cannot happen for our own child; do not spin
      if (exited) continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    pollfd fds[3];
    nfds_t n = 0;
    if (err_open) fds[n++] = {err_r.get(), POLLIN, 0};
    if (info_open) fds[n++] = {info_r.get(), POLLIN, 0};
    if (!exited && pidfd) fds[n++] = {pidfd.get(), POLLIN, 0};
    if (!exited && !pidfd) wait_ms = std::min<long long>(wait_ms, 50);  // no pidfd (old kernel): poll waitpid
    ::poll(fds, n, static_cast<int>(std::min<long long>(wait_ms, 1000)));
    if (err_open) err_open = drain(err_r.get(), err_text, 4096);
    if (info_open) info_open = drain(info_r.get(), info_text, 4096);
  }
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    if (!exited) {
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    // bwrap's death collapses the sandbox's PID namespace; wait (bounded) until its members let go of
    // the stderr pipe, so no LibreOffice outlives the call.
    const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (err_open && std::chrono::steady_clock::now() < grace) {
      pollfd fd{err_r.get(), POLLIN, 0};
      ::poll(&fd, 1, 100);
      err_open = drain(err_r.get(), err_text, 4096);
    }
    return refused("LibreOffice did not finish within " + std::to_string(limits.timeout.count()) +
                   " s (render.office_timeout)");
  }
  int exec_errno = 0;
  if (::read(exec_r.get(), &exec_errno, sizeof exec_errno) == static_cast<ssize_t>(sizeof exec_errno))
    return host("cannot start bubblewrap: " + errno_text(limits.bwrap.c_str(), exec_errno));
  // bwrap reports on --info-fd once the namespaces and mounts stand; silence there means the host
  // refused the sandbox, whatever the document is.
  if (info_text.find("child-pid") == std::string::npos)
    return host("cannot start bubblewrap: " + first_line(err_text));
  if (WIFSIGNALED(status))
    return refused("LibreOffice crashed (signal " + std::to_string(WTERMSIG(status)) + ")");
  // bwrap passes a signalled child on as 128 + the signal number.
  if (WIFEXITED(status) && WEXITSTATUS(status) > 128 && WEXITSTATUS(status) < 128 + NSIG)
    return refused("LibreOffice crashed (signal " + std::to_string(WEXITSTATUS(status) - 128) + ")");
  auto pdf = read_pdf(out.path() + "/in.pdf", limits.max_output);
  if (!pdf && WIFEXITED(status) && WEXITSTATUS(status) != 0 && pdf.error().message == "LibreOffice produced no PDF")
    return refused("LibreOffice produced no PDF (exit status " + std::to_string(WEXITSTATUS(status)) + ")");
  return pdf;
}

}  // namespace mugai::office
