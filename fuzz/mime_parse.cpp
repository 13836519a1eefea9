// Fuzz target: arbitrary bytes through prescan() and, when it lets them pass, mimetic via
// parse_mime(). Oracle: mimetic does not throw, the limits hold exactly and the flat part list is a
// well-formed tree.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/oracle.hpp"
#include "sanitizers/mime.hpp"
#include "sanitizers/prescan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mugai::fuzz::fail;
  const std::string_view msg(reinterpret_cast<const char*>(data), size);
  mugai::sanitize::Limits limits;
  limits.max_depth = 5;  // small, so inputs of a few hundred bytes reach the limits
  limits.max_parts = 30;

  if (mugai::sanitize::prescan(msg, limits).breach) return 0;
  // parse_mime returns mimetic's exceptions as errors (an exception escaping it is a finding), and
  // the prescan refuses the shapes known to make mimetic throw (fuzz/regressions/mime_parse/): a
  // throw on input it let through is a finding too, and LeakSanitizer checks nothing leaked.
  const mugai::sanitize::ParsedMime parsed = mugai::sanitize::parse_mime(msg, limits);
  if (parsed.error.starts_with("MIME parser failed")) {
    fail("mimetic threw on input the prescan let through", parsed.error);
  }
  if (parsed.tree && parsed.breach) fail("parse_mime returned a tree and a breach", msg);
  if (!parsed.tree) {
    if (!parsed.breach && parsed.error.empty()) fail("parse_mime failed without saying why", msg);
    return 0;
  }
  const auto& parts = parsed.tree->parts;
  if (parts.empty() || parts.size() > limits.max_parts) fail("part count outside [1, max_parts]", msg);
  if (parts[0].path != "1" || parts[0].depth != 0) fail("root is not part 1 at depth 0", msg);
  std::vector<bool> has_parent(parts.size(), false);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (p.depth > limits.max_depth) fail("part deeper than max_depth", msg);
    if (!p.container && !p.children.empty()) fail("leaf part with children", msg);
    for (const std::size_t c : p.children) {
      if (c <= i || c >= parts.size()) fail("child index out of order or range", msg);
      if (has_parent[c]) fail("part with two parents", msg);
      has_parent[c] = true;
      if (parts[c].depth != p.depth + 1) fail("child depth is not parent depth + 1", msg);
      if (parts[c].path.rfind(p.path + ".", 0) != 0) fail("child path does not extend its parent's", msg);
    }
    for (const char ch : p.type) {
      if (ch >= 'A' && ch <= 'Z') fail("part type not lowercase", p.type);
    }
    if (!p.body.empty()) {
      volatile char touch = p.body.front();  // ASan: the view must point into live storage
      touch = p.body.back();
      (void)touch;
    }
  }
  return 0;
}
