// Unit tests for the worker channel's framing: frames survive any chunking, and an oversized length or
// an unknown tag breaks the stream at once, before any payload is buffered for it.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proto/worker_frame.hpp"

namespace mugai::proto {
namespace {

std::vector<Frame> drain(FrameDecoder& d) {
  std::vector<Frame> out;
  while (auto f = d.next()) out.push_back(std::move(*f));
  return out;
}

TEST_CASE("frames round-trip through the decoder whatever the chunking") {
  std::string wire;
  append_frame(wire, 1, "policy");
  append_frame(wire, 2, "");
  append_frame(wire, 3, std::string(70'000, '\0') + "end");
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{4096}, wire.size()}) {
    FrameDecoder d(1 << 20, 3);
    std::vector<Frame> got;
    for (std::size_t i = 0; i < wire.size(); i += chunk) {
      d.feed(std::string_view(wire).substr(i, chunk));
      for (auto& f : drain(d)) got.push_back(std::move(f));
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0].type == 1);
    CHECK(got[0].payload == "policy");
    CHECK(got[1].type == 2);
    CHECK(got[1].payload.empty());
    CHECK(got[2].payload.size() == 70'003);
    CHECK(got[2].payload.ends_with("end"));
    CHECK(d.idle());
    CHECK_FALSE(d.error());
  }
}

TEST_CASE("the header is a tag and a big-endian length") {
  const auto h = frame_header(7, 0x01020304);
  CHECK(std::string(h.data(), h.size()) == std::string("\x07\x01\x02\x03\x04", 5));
}

TEST_CASE("a partial frame is not idle and yields nothing") {
  std::string wire;
  append_frame(wire, 1, "abc");
  FrameDecoder d(16, 1);
  d.feed(std::string_view(wire).substr(0, wire.size() - 1));
  CHECK_FALSE(d.next());
  CHECK_FALSE(d.idle());
  CHECK_FALSE(d.error());
}

TEST_CASE("a payload over the limit breaks the stream from its header alone") {
  FrameDecoder d(10, 3);
  std::string wire;
  append_frame(wire, 1, std::string(10, 'x'));  // exactly the limit: fine
  d.feed(wire);
  CHECK(drain(d).size() == 1);
  const auto huge = frame_header(1, 0xFFFF'FFFFu);
  d.feed(std::string_view(huge.data(), huge.size()));
  CHECK_FALSE(d.next());
  REQUIRE(d.error());
  CHECK(d.error()->find("exceeds the limit of 10") != std::string::npos);
  d.feed(wire);  // refused from now on
  CHECK_FALSE(d.next());
}

TEST_CASE("an unknown or zero tag is garbage") {
  for (std::uint8_t tag : {std::uint8_t{0}, std::uint8_t{4}, std::uint8_t{255}}) {
    FrameDecoder d(100, 3);
    std::string wire;
    append_frame(wire, tag, "x");
    d.feed(wire);
    CHECK_FALSE(d.next());
    REQUIRE(d.error());
    CHECK(d.error()->find("unknown frame type") != std::string::npos);
  }
}

}  // namespace
}  // namespace mugai::proto
