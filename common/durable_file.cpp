// Crash-safe file creation: tmp → fsync → rename → fsync dir (see durable_file.hpp). Every failure
// comes back as an Error naming the path; a failed write never leaves a partial file under its
// final name.
#include "common/durable_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mugai::durable {

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status unlink_if_exists(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("cannot remove", path);
  return Ok{};
}

Expected<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno_error("cannot list", dir);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

bool write_all(int fd, std::initializer_list<std::string_view> parts) {
  std::array<iovec, 8> iov{};
  if (parts.size() > iov.size()) {
    errno = EINVAL;
    return false;
  }
  int count = 0;
  for (auto part : parts) {
    if (part.empty()) continue;
    iov[count++] = {const_cast<char*>(part.data()), part.size()};
  }
  iovec* next = iov.data();
  while (count > 0) {
    ssize_t n = ::writev(fd, next, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    auto left = static_cast<std::size_t>(n);
    while (count > 0 && left >= next->iov_len) {
      left -= next->iov_len;
      ++next;
      --count;
    }
    if (count > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + left;
      next->iov_len -= left;
    }
  }
  return true;
}

Error errno_error(std::string_view what, const std::string& path) {
  std::string msg(what);
  msg += ' ';
  msg += path;
  msg += ": ";
  msg += std::strerror(errno);
  return Error{std::move(msg)};
}

Status make_dir(const std::string& path, bool fsync) {
  auto created = [&]() -> Status { return fsync ? sync_dir(parent_of(path)) : Status(Ok{}); };
  if (::mkdir(path.c_str(), 0700) == 0) return created();
  if (errno == ENOENT && parent_of(path) != path) {
    // A missing parent (a fresh "var/spool") is created the same way first.
    auto parent = make_dir(parent_of(path), fsync);
    if (!parent) return parent;
    if (::mkdir(path.c_str(), 0700) == 0) return created();
  }
  if (errno != EEXIST) return errno_error("cannot create directory", path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("cannot stat", path);
  if (!S_ISDIR(st.st_mode)) return Error{"not a directory: " + path};
  return Ok{};
}

// renameat2(RENAME_NOREPLACE) is atomic; file systems without it (EINVAL) get link+unlink, which
// keeps the no-overwrite guarantee.
Status rename_noreplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return Ok{};
  if (errno == EINVAL && ::link(from.c_str(), to.c_str()) == 0) {
    ::unlink(from.c_str());
    return Ok{};
  }
  return errno_error("cannot rename " + from + " to", to);
}

Status sync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open directory", path);
  int rc = ::fsync(fd);
  auto err = errno;
  ::close(fd);
  errno = err;
  if (rc != 0) return errno_error("cannot fsync directory", path);
  return Ok{};
}

Status commit_file(int fd, const std::string& tmp_path, const std::string& final_path, bool fsync, bool replace) {
  const char* failed = nullptr;
  int err = 0;
  if (fsync && ::fsync(fd) != 0) {
    failed = "cannot fsync";
    err = errno;
  }
  if (::close(fd) != 0 && failed == nullptr) {
    failed = "cannot close";  // NFS and some FUSE file systems report write errors only here
    err = errno;
  }
  if (failed == nullptr) {
    Status moved = Ok{};
    if (!replace) {
      moved = rename_noreplace(tmp_path, final_path);
    } else if (std::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
      moved = errno_error("cannot rename " + tmp_path + " to", final_path);
    }
    if (!moved) {
      ::unlink(tmp_path.c_str());
      return moved;
    }
    if (fsync) return sync_dir(parent_of(final_path));
    return Ok{};
  }
  ::unlink(tmp_path.c_str());
  errno = err;
  return errno_error(failed, tmp_path);
}

Status write_file(const std::string& tmp_path, const std::string& final_path,
                  std::initializer_list<std::string_view> parts, bool fsync, bool replace) {
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("cannot create", tmp_path);
  if (!write_all(fd, parts)) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp_path.c_str());
    errno = err;
    return errno_error("cannot write", tmp_path);
  }
  return commit_file(fd, tmp_path, final_path, fsync, replace);
}

Status check_owner_and_mode(const std::string& path, const struct stat& st, mode_t forbidden, std::string_view what,
                            bool check_owner) {
  const std::string name = std::string(what) + " " + path;
  if (check_owner && st.st_uid != ::geteuid() && st.st_uid != 0) {
    return Error{name + " is owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
                 std::to_string(::geteuid()) + " that mugai runs as (or root): that user could change it (chown " +
                 std::to_string(::geteuid()) + " " + path + ")"};
  }
  if ((st.st_mode & forbidden) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    const bool any = (forbidden & 044) != 0;
    return Error{name + " has mode " + mode + ": group and others must have no " + (any ? "access" : "write access") +
                 " (chmod " + (any ? "600 " : "go-w ") + path + ")"};
  }
  return Ok{};
}

Status check_private_dir(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("cannot stat " + std::string(what), path);
  if (!S_ISDIR(st.st_mode)) return Error{std::string(what) + " " + path + " is not a directory"};
  return check_owner_and_mode(path, st, 022, what);
}

}  // namespace mugai::durable
