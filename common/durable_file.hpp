// Crash-safe file creation shared by the spool, the quarantine and the maildir backend: a file is written under a
// temporary name, fsync'd, renamed into place and its directory fsync'd, so after a crash a final
// name either holds the complete content or does not exist.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>

#include "common/expected.hpp"

namespace mugai::durable {

// "<what> <path>: <strerror(errno)>", the shape of every I/O error message in gateway/.
Error errno_error(std::string_view what, const std::string& path);

// Creates `path` and any missing parents (mode 0700); each directory it creates is made durable by
// fsyncing its parent when `fsync` is set.
Status make_dir(const std::string& path, bool fsync);

// Writes every part to `fd` (one writev(2) in the common case), looping over short writes and
// EINTR. At most 8 parts. False with errno set on failure.
bool write_all(int fd, std::initializer_list<std::string_view> parts);

// "dir" of "dir/name"; "." for a bare name, "/" for "/name".
std::string parent_of(const std::string& path);

// Whether anything is at `path`, a dangling symlink included (lstat: never followed).
bool exists(const std::string& path);

// Removes `path`; one that is not there is no error.
Status unlink_if_exists(const std::string& path);

// The names in `dir` but "." and "..", in directory order.
Expected<std::vector<std::string>> list_dir(const std::string& dir);

// fsyncs a directory, making renames, creations and unlinks in it durable.
Status sync_dir(const std::string& path);

// Renames `from` to `to` atomically, failing (errno EEXIST) instead of replacing an existing `to`.
Status rename_noreplace(const std::string& from, const std::string& to);

// Writes the concatenation of `parts` to the new file `tmp_path` (one writev), fsyncs it, renames
// it to `final_path` and fsyncs final_path's directory. Without `replace`, an existing final_path
// is an error and is left untouched. On failure the temporary file is removed. `fsync` = false
// skips both fsyncs (only for measuring their cost).
Status write_file(const std::string& tmp_path, const std::string& final_path,
                  std::initializer_list<std::string_view> parts, bool fsync, bool replace);

// The end of write_file() for a file written piecewise through `fd` (which it closes in every case):
// fsyncs, closes, renames tmp_path to final_path and fsyncs the directory; on failure removes tmp_path.
Status commit_file(int fd, const std::string& tmp_path, const std::string& final_path, bool fsync, bool replace);

// Refuses what another local user could change under us (as `postfix check` does): `st` (of `path`)
// must have none of the `forbidden` mode bits (022: group/other write; 077: any group/other access) and,
// with `check_owner`, belong to the effective user or root. The error names the path and the fix.
Status check_owner_and_mode(const std::string& path, const struct stat& st, mode_t forbidden, std::string_view what,
                            bool check_owner = true);

// check_owner_and_mode() for a directory that must exist (spool, quarantine): not group- or
// world-writable, owned by us.
Status check_private_dir(const std::string& path, std::string_view what);

}  // namespace mugai::durable
