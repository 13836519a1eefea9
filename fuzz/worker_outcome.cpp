// Fuzz target: what a compromised worker could send back, through sanitize::wire::decode_outcome(),
// the gateway's only reading of it. Input: one flag byte (bit 0: the message frame is non-empty),
// then the outcome JSON. Oracle: no crash, no escaping exception; what decodes keeps the pipeline's
// invariants (a message only with the sanitized verdict, a record exactly when an id, rejected only
// when quarantined) and round-trips through encode_outcome().
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
