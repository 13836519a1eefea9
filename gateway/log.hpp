// One line per event, human-readable ("2026-11-22T01:02:03Z accept id=... from=<...>") or JSON lines
// (log.format = "json"). Thread-safe; each line is written with a single write(2) so lines never interleave.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace mugai::log {

enum class Format { Text, Json };

// Opens `path` for appending ("" = stderr). Call once at start-up; defaults to text on stderr.
bool init(Format format, const std::string& path);

using Field = std::pair<std::string_view, std::string_view>;
void event(std::string_view name, std::initializer_list<Field> fields);

// Sees every event once it is written, on the thread that logged it, so it must not block. Set once at
// start-up, before other threads log; the admin service follows the delivery of releases this way.
using Observer = std::function<void(std::string_view name, std::initializer_list<Field> fields)>;
void observe(Observer observer);

}  // namespace mugai::log
