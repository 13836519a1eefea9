// The framing of the gateway↔worker channel: each frame is a 1-byte type tag, a 4-byte big-endian
// payload length and the payload. I/O-free. The decoder never holds more than one frame's worth of a
// bounded size plus the bytes it was fed: an oversized length or an unknown tag is an error at once,
// before anything is allocated for it, and after an error the decoder refuses everything.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mugai::proto {

inline constexpr std::size_t kFrameHeader = 5;
// The largest payload the 4-byte length can carry.
inline constexpr std::size_t kMaxFramePayload = 0xFFFF'FFFFu;

struct Frame {
  std::uint8_t type = 0;
  std::string payload;
};

// The 5 header bytes of a frame; the payload follows them on the wire (sent separately, no copy).
// `size` must be at most kMaxFramePayload.
std::array<char, kFrameHeader> frame_header(std::uint8_t type, std::size_t size);
// Appends a whole frame to `out`.
void append_frame(std::string& out, std::uint8_t type, std::string_view payload);

class FrameDecoder {
 public:
  // Tags 1..max_type are valid; a payload longer than `max_payload` is an error.
  FrameDecoder(std::size_t max_payload, std::uint8_t max_type) : max_payload_(max_payload), max_type_(max_type) {}

  // Takes the next bytes from the channel, any chunking. Ignored after an error.
  void feed(std::string_view bytes);
  // The next complete frame, or nullopt when more bytes are needed or the stream is broken (error()).
  std::optional<Frame> next();
  // Set once the stream is broken (oversize, unknown tag); stays set.
  const std::optional<std::string>& error() const { return error_; }
  // No partial frame is buffered: the stream may end here cleanly.
  bool idle() const { return pos_ == buf_.size(); }

 private:
  std::size_t max_payload_;
  std::uint8_t max_type_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first unconsumed byte in buf_
  std::optional<std::string> error_;
};

}  // namespace mugai::proto
