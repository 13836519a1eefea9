// Fuzz target: bytes a local client sends to the gateway's admin socket, split into reads as the input
// says, through proto::admin::LineReader, then parse_request() and parse_response(). Input: one flag
// byte (bit 0: the real kMaxRequest bound, else 16 + flags/2 bytes), one split byte, then the stream.
// Oracle: the reader's verdict depends only on where the first LF is, never on how reads were split;
// a line holds no LF; whatever parses is within every bound and round-trips through encode().
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/oracle.hpp"
#include "proto/admin.hpp"

namespace {

namespace admin = mugai::proto::admin;
using mugai::fuzz::fail;

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

void check_request(const admin::Request& r, std::string_view line) {
  if (r.id.size() > admin::kMaxId || has_control(r.id)) fail("request id out of bounds", line);
  if (r.reason.size() > admin::kMaxText || has_control(r.reason)) fail("request reason out of bounds", line);
  if (r.to.size() > admin::kMaxRecipients) fail("too many recipients accepted", line);
  for (const auto& t : r.to) {
    if (t.empty() || t.size() > admin::kMaxAddress || has_control(t)) fail("recipient out of bounds", line);
  }
  if (r.older_than && (*r.older_than < 0 || *r.older_than > admin::kMaxAge)) fail("older_than out of range", line);
  using A = admin::Action;
  const bool on_entry = r.action != A::Purge && r.action != A::QueueList && r.action != A::QueueHold &&
                        r.action != A::QueueUnhold && r.action != A::QueueDelete && r.action != A::QueueFlush;
  if (on_entry && r.id.empty()) fail("an action on an entry without an id", line);
  const bool on_ids = r.action == A::QueueHold || r.action == A::QueueUnhold || r.action == A::QueueDelete;
  if (on_ids && r.ids.empty()) fail("a queue action on no message", line);
  if (r.ids.size() > admin::kMaxQueueIds) fail("too many queue ids accepted", line);
  for (const auto& id : r.ids) {
    if (id.empty() || id.size() > admin::kMaxId || has_control(id)) fail("queue id out of bounds", line);
  }
  if (r.limit && (*r.limit < 1 || *r.limit > admin::kMaxQueueRows)) fail("queue list limit out of range", line);
  const std::string wire = admin::encode(r);
  auto again = admin::parse_request(std::string_view(wire).substr(0, wire.size() - 1));
  if (!again || !(*again == r)) fail("request does not round-trip through encode()", wire);
}

void check_response(const admin::Response& r, std::string_view line) {
  const std::string wire = admin::encode(r);
  auto again = admin::parse_response(std::string_view(wire).substr(0, wire.size() - 1));
  if (!again || !(*again == r)) fail("response does not round-trip through encode()", line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mugai::fuzz::FuzzInput in(data, size);
  const std::uint8_t flags = in.flags_and_split();
  const std::string_view stream = in.rest();
  const std::size_t max = (flags & 1) ? admin::kMaxRequest : 16 + (flags >> 1);

  admin::LineReader reader(max);
  while (!in.empty() && reader.state() == admin::LineReader::State::NeedMore) reader.feed(in.chunk());

  const std::size_t lf = stream.find('\n');
  const std::size_t before_lf = std::min(lf, stream.size());
  using State = admin::LineReader::State;
  const State expected = before_lf >= max ? State::TooLong : lf != std::string_view::npos ? State::Line : State::NeedMore;
  if (reader.state() != expected) fail("line verdict depends on how the bytes were split", stream);
  if (reader.state() != State::Line) return 0;
  const std::string_view line = reader.line();
  if (line != stream.substr(0, lf)) fail("line is not the bytes before the first LF", line);

  if (auto r = admin::parse_request(line)) check_request(*r, line);
  if (auto r = admin::parse_response(line)) check_response(*r, line);
  return 0;
}
