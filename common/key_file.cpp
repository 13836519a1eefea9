// Key files (see key_file.hpp). O_NOFOLLOW: a key path that is a symlink could point anywhere.
#include "common/key_file.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/durable_file.hpp"
#include "common/fd.hpp"

namespace mugai::keyfile {
namespace {

Expected<std::string> read_key(const std::string& path, std::string_view what, bool owner) {
  const std::string name = std::string(what) + " " + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return durable::errno_error("cannot open " + std::string(what), path);
  struct stat st {};
  std::string key(kKeyBytes, '\0');
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Error{name + " is not a regular file"};
  if (auto ok = durable::check_owner_and_mode(path, st, 077, what, owner); !ok) return ok.error();
  if (st.st_size != static_cast<off_t>(kKeyBytes) ||
      ::read(fd.get(), key.data(), kKeyBytes) != static_cast<ssize_t>(kKeyBytes)) {
    return Error{name + " must hold exactly " + std::to_string(kKeyBytes) + " bytes"};
  }
  return key;
}

}  // namespace

Expected<std::string> load(const std::string& path, std::string_view what, bool create) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    if (!create) {
      return Error{std::string(what) + " " + path +
                   " does not exist: the gateway creates it on first start (restore it from backup if it was lost)"};
    }
    std::string key(kKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(kKeyBytes)) != 1) {
      return Error{"no random bytes for the " + std::string(what)};
    }
    const auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      if (auto made = durable::make_dir(path.substr(0, slash), true); !made) return made.error();
    }
    auto written = durable::write_file(path + ".tmp" + std::to_string(::getpid()), path, {key}, true, false);
    if (!written && errno != EEXIST) return written.error();  // EEXIST: another process won the race
  }
  return read_key(path, what, create);
}

}  // namespace mugai::keyfile
