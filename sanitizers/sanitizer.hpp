// The one interface every sanitizer implements, and the registry that finds them by name. A
// sanitizer sees one decoded leaf part and either turns it into plain UTF-8 text or removes it with a
// reason; it never fails open. Adding one = a new file defining make_<name>() + one line in registry.cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace mugai::sanitize {

struct PartInfo {
  std::string_view path;           // "1.2"
  std::string_view declared_type;  // lowercase "type/subtype"
  std::string_view charset;        // as declared, may be empty
  std::string_view filename;       // raw, may be empty
};

struct Decision {
  enum class Action { KeepText, Remove };
  Action action = Action::Remove;
  std::string text;                   // KeepText: valid UTF-8, LF line ends, no other controls but TAB
  std::string reason;                 // Remove: why; KeepText: optional note (e.g. unknown charset)
  std::size_t replacement_chars = 0;  // U+FFFD inserted for undecodable bytes
  std::size_t dropped_controls = 0;

  static Decision keep(std::string text) { return Decision{Action::KeepText, std::move(text), {}, 0, 0}; }
  static Decision remove(std::string reason) { return Decision{Action::Remove, {}, std::move(reason), 0, 0}; }
};

class Sanitizer {
 public:
  virtual ~Sanitizer() = default;
  virtual std::string_view name() const = 0;
  virtual Decision sanitize(std::string_view untrusted_decoded, const PartInfo& info) const = 0;
};

// One factory per sanitizer file.
std::unique_ptr<Sanitizer> make_text_plain();
std::unique_ptr<Sanitizer> make_strip();

// The registered sanitizer called `name` with the default policy's settings, or nullptr. Instances
// live for the whole program. policy.hpp has the lookup that takes the policy's settings.
const Sanitizer* find_sanitizer(std::string_view name);

}  // namespace mugai::sanitize
