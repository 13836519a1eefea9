// One line per event, human-readable ("2026-11-22T01:02:03Z accept id=... from=<...>") or JSON lines
// (log.format = "json"), to stderr, a file or syslog (log.target). Thread-safe; each line is written with
// a single write(2) (or one syslog(3) call) so lines never interleave.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace mugai::log {

enum class Format { Text, Json };
enum class Target { Stderr, File, Syslog };

// Opens `path` for appending (Target::File) or the syslog connection under `facility` ("mail", "daemon",
// "local0".."local7"; Target::Syslog). Call once at start-up; defaults to text on stderr. False (errno
// set) when the file cannot be opened.
bool init(Format format, Target target, const std::string& path, std::string_view facility);

using Field = std::pair<std::string_view, std::string_view>;
void event(std::string_view name, std::initializer_list<Field> fields);

// Sees every event once it is written, on the thread that logged it, so it must not block. Set once at
// start-up, before other threads log; the admin service follows the delivery of releases this way.
using Observer = std::function<void(std::string_view name, std::initializer_list<Field> fields)>;
void observe(Observer observer);

}  // namespace mugai::log
