// Fuzz target: what a compromised worker could send back, through sanitize::wire::decode_outcome()
// and decode_convert_request(), the gateway's only readings of it. Input: one flag byte (bit 0: the
// message frame is non-empty; bit 1: the JSON is a conversion request), then the JSON. Oracle: no
// crash, no escaping exception; what decodes keeps the pipeline's invariants (a message only with the
// sanitized verdict, a record exactly when an id, rejected only when quarantined; a request names a
// known format) and round-trips through its encoder.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/oracle.hpp"
#include "sanitizers/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace wire = mugai::sanitize::wire;
  using Verdict = mugai::sanitize::Outcome::Verdict;
  if (size == 0) return 0;
  const std::string message = (data[0] & 1) ? "Subject: x\r\n\r\nbody\r\n" : "";
  const std::string_view json(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 2) {
    auto format = wire::decode_convert_request(json);
    if (!format) {
      if (format.error().message.empty()) mugai::fuzz::fail("a refusal without a reason", json);
      return 0;
    }
    const auto& known = mugai::sanitize::kOfficeFormats;
    if (std::find(known.begin(), known.end(), *format) == known.end()) mugai::fuzz::fail("an unknown format passed", json);
    auto again = wire::decode_convert_request(wire::encode_convert_request(*format));
    if (!again || *again != *format) mugai::fuzz::fail("request does not round-trip", json);
    return 0;
  }
  auto o = wire::decode_outcome(json, message);
  if (!o) {
    if (o.error().message.empty()) mugai::fuzz::fail("a refusal without a reason", json);
    return 0;
  }
  if ((o->verdict == Verdict::Sanitized) != !o->message.empty()) mugai::fuzz::fail("message without sanitized verdict", json);
  if (o->quarantine.has_value() != !o->quarantine_id.empty()) mugai::fuzz::fail("record and id disagree", json);
  if (o->rejected && o->verdict != Verdict::Quarantined) mugai::fuzz::fail("rejected but not quarantined", json);
  auto again = wire::decode_outcome(wire::encode_outcome(*o), o->message);
  if (!again || wire::encode_outcome(*again) != wire::encode_outcome(*o)) mugai::fuzz::fail("outcome does not round-trip", json);
  return 0;
}
