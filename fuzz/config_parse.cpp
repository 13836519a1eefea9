// Fuzz target: arbitrary text into the TOML config loader (what `mugaictl check-config` reads).
// Oracle: no crash and no exception escapes; a refusal always says why.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.hpp"
#include "fuzz/oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto config = mugai::config::load_string(text, "fuzz.toml");
  if (!config && config.error().message.empty()) mugai::fuzz::fail("config refused without a message", text);
  return 0;
}
