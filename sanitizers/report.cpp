// Report (see report.hpp): only values the walk and the rebuild produced; untrusted strings (names,
// types) are written through json::dump, which replaces bytes that are not UTF-8.
#include "sanitizers/report.hpp"

#include "common/json.hpp"

namespace mugai::sanitize {

std::string report_json(const ReportInput& in) {
  const Walk& walk = in.walk;
  const Outcome& out = in.outcome;
  json::Value parts = json::Value::array();
  for (const PartReport& p : walk.parts) {
    json::Value row = {{"path", p.path}, {"declared_type", p.declared_type}, {"detected_type", p.detected_type},
                       {"filename", p.filename}, {"decision", p.decision}, {"sanitizer", p.sanitizer},
                       {"size", p.size}, {"sha256", p.sha256}, {"reason", p.reason}, {"flags", p.flags},
                       {"pages", p.pages}, {"timing_us", p.timing_us}};
    if (!p.artefacts.empty()) {
      json::Value artefacts = json::Value::array();
      for (const auto& a : p.artefacts) {
        artefacts.push_back({{"content_type", a.content_type}, {"filename", a.filename}, {"size", a.size},
                             {"sha256", a.sha256}});
      }
      row["artefacts"] = std::move(artefacts);
    }
    parts.push_back(std::move(row));
  }
  json::Value breaches = json::Value::array();
  for (const auto& b : walk.breaches) breaches.push_back({{"limit", b.limit}, {"detail", b.detail}});
  const std::size_t replaced = count_replaced(walk);
  using Verdict = Outcome::Verdict;
  return json::dump({{"queue_id", in.ctx.queue_id},
                     {"verdict", out.verdict == Verdict::Sanitized ? "sanitized"
                                 : out.verdict == Verdict::Failed  ? "failed"
                                 : out.rejected                    ? "rejected"
                                                                   : "quarantined"},
                     {"reason", out.reason},
                     {"quarantine_id", out.quarantine_id},
                     {"output_charset", in.policy.output_charset},
                     {"timing_us", micros(Clock::now() - in.start)},
                     {"parts", std::move(parts)},
                     {"limit_breaches", std::move(breaches)},
                     {"header_notes", in.header_notes},
                     {"counts", {{"kept", walk.texts.size()}, {"replaced", replaced},
                                 {"removed", walk.held.size() - replaced}, {"attachments", walk.attachments.size()},
                                 {"replacement_chars", walk.replacement_chars},
                                 {"dropped_controls", walk.dropped_controls},
                                 {"unrepresentable_chars", in.unrepresentable}}}});
}

}  // namespace mugai::sanitize
