// Fuzz target: an arbitrary message through sanitize_message(), the one pipeline the gateway runs.
// Oracle (issue 5): a delivered message passes the independent checker in fuzz/oracle.hpp (artefacts
// included: PNG/JPEG/PDF holding nothing but pixels); every part the report lists as removed or
// replaced is in the quarantine record, under the id the caller gave; a quarantined or failed message
// delivers nothing. PDFs and images go to the real pdf_render and image_render with small render
// limits, so hostile bytes and names meet poppler, the decoders, the writers, the artefact checks and
// the multipart rebuild.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.hpp"
#include "fuzz/oracle.hpp"
#include "sanitizers/pipeline.hpp"

namespace {

using mugai::fuzz::fail;
using Verdict = mugai::sanitize::Outcome::Verdict;

mugai::sanitize::Policy fuzz_policy() {
  mugai::sanitize::Policy policy;  // the default rules: PDFs and images rendered, everything else by policy
  policy.limits.max_depth = 5;     // small, so short inputs reach the limits
  policy.limits.max_parts = 30;
  policy.render.max_pixels = 1 << 16;  // decoding stays fast; larger headers meet the size refusal
  policy.render.dpi = 36;
  policy.render.max_pages = 2;
  return policy;
}

// Parts the report says did not cross as they were, and artefacts it says were attached.
struct Listed {
  std::size_t held = 0;
  std::size_t artefacts = 0;
};

Listed listed_in_report(const std::string& report) {
  const auto r = mugai::json::parse(report);
  if (r.is_discarded() || !r.contains("parts")) fail("report is not the expected JSON", report);
  Listed l;
  for (const auto& p : r["parts"]) {
    const std::string decision = p.value("decision", "");
    // An archive and each of its entries are listed (their originals are only in the quarantine), an
    // entry (path "2:1") whose text was kept too.
    const bool entry = p.value("path", "").find(':') != std::string::npos;
    if (decision == "removed" || decision == "replaced" || decision == "unpacked" || (decision == "kept" && entry)) ++l.held;
    if (p.contains("artefacts")) l.artefacts += p["artefacts"].size();
  }
  return l;
}

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
  ctx.quarantine_id = "QFUZ-0001";
  static const mugai::sanitize::Policy policy = fuzz_policy();

  const mugai::sanitize::Outcome out = mugai::sanitize::sanitize_message(msg, ctx, policy);
  if (out.quarantine && out.quarantine_id != ctx.quarantine_id) fail("quarantine asked for under another id", out.quarantine_id);
  if (!out.quarantine && !out.quarantine_id.empty()) fail("a quarantine id without a record", out.quarantine_id);
  switch (out.verdict) {
    case Verdict::Sanitized: {
      const std::size_t attachments = mugai::fuzz::check_sanitized_message(out.message);
      const Listed listed = listed_in_report(out.report_json);
      const std::size_t recorded = out.quarantine ? out.quarantine->parts.size() : 0;
      if (listed.held != recorded) fail("parts removed or replaced but not in the quarantine record", out.report_json);
      if (listed.held > 0 && !out.quarantine) fail("parts removed but nothing to quarantine", msg);
      if (listed.artefacts != attachments) fail("attachments differ from the report's artefacts", out.report_json);
      // In the header only: the body may quote anything, this very field included.
      const std::string header = out.message.substr(0, out.message.find("\r\n\r\n") + 2);
      const bool cites = header.find("\r\nX-Mugai-Quarantine-Id: " + ctx.quarantine_id + "\r\n") != std::string::npos;
      if (cites != out.quarantine.has_value()) fail("X-Mugai-Quarantine-Id does not match what is quarantined", out.message);
      break;
    }
    case Verdict::Quarantined:
      if (!out.message.empty()) fail("quarantined message still delivers bytes", out.message);
      if (!out.quarantine) fail("quarantined verdict without a record to store the original with", msg);
      break;
    case Verdict::Failed:
    case Verdict::AwaitingPassword:
      if (!out.message.empty()) fail("failed or waiting pipeline still delivers bytes", out.message);
      if (out.quarantine) fail("failed or waiting pipeline asks to quarantine", msg);
      break;
  }
  return 0;
}
