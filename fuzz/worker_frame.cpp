// Fuzz target: bytes on the gateway↔worker channel, split into reads as the input says, through
// proto::FrameDecoder. Input: one flag byte (the payload limit: flags × 4 bytes), one split byte, then
// the stream. Oracle: the frames and the verdict do not depend on the split; each frame's payload is
// within the limit and its tag valid; re-encoding the frames gives back a prefix of the stream.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/oracle.hpp"
#include "proto/worker_frame.hpp"

namespace {

using mugai::fuzz::fail;
constexpr std::uint8_t kMaxType = 5;

// Every frame decoded, re-encoded, and whether the stream broke.
struct Result {
  std::string frames;
  bool broken = false;
};

Result decode(mugai::proto::FrameDecoder& d, mugai::fuzz::FuzzInput* in, std::string_view whole, std::size_t max) {
  Result r;
  const auto take = [&] {
    while (auto f = d.next()) {
      if (f->type == 0 || f->type > kMaxType) fail("frame with an invalid tag", whole);
      if (f->payload.size() > max) fail("frame over the payload limit", whole);
      mugai::proto::append_frame(r.frames, f->type, f->payload);
    }
  };
  if (in != nullptr) {
    while (!in->empty()) {
      d.feed(in->chunk());
      take();
    }
  } else {
    d.feed(whole);
    take();
  }
  r.broken = d.error().has_value();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mugai::fuzz::FuzzInput in(data, size);
  const std::size_t max = std::size_t{in.flags_and_split()} * 4;
  const std::string_view stream = in.rest();

  mugai::proto::FrameDecoder split(max, kMaxType);
  const Result a = decode(split, &in, stream, max);
  mugai::proto::FrameDecoder whole(max, kMaxType);
  const Result b = decode(whole, nullptr, stream, max);
  if (a.frames != b.frames || a.broken != b.broken) fail("frames depend on how the bytes were split", stream);
  if (!stream.starts_with(a.frames)) fail("re-encoded frames are not a prefix of the stream", stream);
  if (!a.broken && split.idle() != (a.frames.size() == stream.size())) fail("idle() disagrees with the bytes left", stream);
  return 0;
}
