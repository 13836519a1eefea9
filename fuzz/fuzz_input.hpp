// Turns one fuzz input into the decisions a driver needs (flags, then variable-sized chunks), so
// the fuzzer controls how bytes are split into reads without a second input channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mugai::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  // One byte of driver choices (0 when the input is exhausted).
  std::uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }

  // The next read: its length comes from a small generator seeded by `split`, so one seed byte
  // yields a whole pattern of splits (1 byte at a time, large pipelined writes, and mixes).
  std::string_view chunk() {
    state_ = state_ * 1103515245u + 12345u;
    const std::size_t max = (split_ & 0x3f) + 1;
    const std::size_t len = split_ & 0x80 ? rest_.size() : 1 + (state_ >> 16) % max;
    const std::string_view c = rest_.substr(0, len);
    rest_.remove_prefix(c.size());
    return c;
  }

  void set_split(std::uint8_t split) {
    split_ = split;
    state_ = split;
  }

  // The preamble of the targets that feed reads: a byte of the target's own flags, then the split
  // seed. Returns the flags.
  std::uint8_t flags_and_split() {
    const std::uint8_t flags = byte();
    set_split(byte());
    return flags;
  }
  bool empty() const { return rest_.empty(); }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
  std::uint8_t split_ = 0;
  std::uint32_t state_ = 0;
};

}  // namespace mugai::fuzz
