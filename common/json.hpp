// JSON through nlohmann-json, with the two choices every writer here needs made once: keys keep their
// insertion order (audit records and reports read top-down), and bytes that are not UTF-8 become
// U+FFFD instead of throwing, so any untrusted string can be written.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace mugai::json {

using Value = nlohmann::ordered_json;

inline std::string dump(const Value& v, int indent = -1) {
  return v.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parses without throwing; a discarded (is_discarded()) value on malformed input.
inline Value parse(std::string_view text) { return Value::parse(text, nullptr, false); }

}  // namespace mugai::json
