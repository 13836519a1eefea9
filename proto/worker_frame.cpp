// The worker channel's framing (see worker_frame.hpp).
#include "proto/worker_frame.hpp"

namespace mugai::proto {

std::array<char, kFrameHeader> frame_header(std::uint8_t type, std::size_t size) {
  const auto n = static_cast<std::uint32_t>(size);
  return {static_cast<char>(type), static_cast<char>(n >> 24), static_cast<char>(n >> 16),
          static_cast<char>(n >> 8), static_cast<char>(n)};
}

void append_frame(std::string& out, std::uint8_t type, std::string_view payload) {
  const auto header = frame_header(type, payload.size());
  out.append(header.data(), header.size());
  out.append(payload);
}

void FrameDecoder::feed(std::string_view bytes) {
  if (error_) return;
  // Consumed bytes are dropped before appending, so the buffer holds at most one frame and the
  // chunk just fed (never the history of the stream).
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<Frame> FrameDecoder::next() {
  if (error_ || buf_.size() - pos_ < kFrameHeader) return std::nullopt;
  const auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  const std::uint8_t type = h[0];
  const std::size_t size = (std::size_t{h[1]} << 24) | (std::size_t{h[2]} << 16) | (std::size_t{h[3]} << 8) | h[4];
  if (type == 0 || type > max_type_) {
    error_ = "unknown frame type " + std::to_string(type);
    return std::nullopt;
  }
  if (size > max_payload_) {
    error_ = "frame of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(max_payload_);
    return std::nullopt;
  }
  if (buf_.size() - pos_ - kFrameHeader < size) {
    buf_.reserve(pos_ + kFrameHeader + size);  // one allocation for a large payload, bounded above
    return std::nullopt;
  }
  Frame f;
  f.type = type;
  f.payload.assign(buf_, pos_ + kFrameHeader, size);
  pos_ += kFrameHeader + size;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return f;
}

}  // namespace mugai::proto
