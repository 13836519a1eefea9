// Fuzz target: an arbitrary message through sanitize_message(), the one pipeline the gateway runs.
// Oracle (issue 5): a delivered message passes the independent checker in fuzz/oracle.hpp; nothing
// removed goes unquarantined; a quarantined or failed message delivers nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/oracle.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/quarantine.hpp"

namespace {

using mugai::fuzz::fail;
using Verdict = mugai::sanitize::Outcome::Verdict;

// Fuzzing never writes files: the store only remembers what it was given.
class MemoryQuarantine final : public mugai::sanitize::QuarantineStore {
 public:
  mugai::Expected<std::string> put(std::string_view original, const mugai::sanitize::QuarantineRecord& record) override {
    ++puts;
    last_original = std::string(original);
    last_parts = record.parts.size();
    return std::string("Q") + std::to_string(puts);
  }
  std::size_t puts = 0;
  std::string last_original;
  std::size_t last_parts = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view msg(reinterpret_cast<const char*>(data), size);
  mugai::sanitize::MessageContext ctx;
  ctx.queue_id = "FUZZ1";
  ctx.gateway_hostname = "gw.fuzz.example";
  ctx.client_ip = "192.0.2.1";
  ctx.helo = "client.fuzz.example";
  ctx.mail_from = "sender@example.net";
  ctx.rcpt_to = {"user@example.org"};
  ctx.received_unix = 1700000000;
  mugai::sanitize::Policy policy;
  policy.limits.max_depth = 5;  // small, so short inputs reach the limits
  policy.limits.max_parts = 30;
  MemoryQuarantine store;

  const mugai::sanitize::Outcome out = mugai::sanitize::sanitize_message(msg, ctx, policy, store);
  switch (out.verdict) {
    case Verdict::Sanitized:
      mugai::fuzz::check_sanitized_message(out.message);
      if (!out.removed.empty() && (store.puts != 1 || out.quarantine_id.empty() || store.last_original != msg)) {
        fail("parts removed but the original was not quarantined", msg);
      }
      if (out.removed.empty() && store.puts != 0) fail("quarantined although nothing was removed", msg);
      break;
    case Verdict::Quarantined:
      if (!out.message.empty()) fail("quarantined message still delivers bytes", out.message);
      if (store.puts == 0 || store.last_original != msg || out.quarantine_id.empty()) {
        fail("quarantined verdict without the original in the store", msg);
      }
      break;
    case Verdict::Failed:
      if (!out.message.empty()) fail("failed pipeline still delivers bytes", out.message);
      break;
  }
  return 0;
}
