// Traffic facts (see traffic.hpp): the parts of a run's report, with the pages a renderer says it made.
#include "gateway/traffic.hpp"

#include <charconv>
#include <ctime>

#include "common/json.hpp"

namespace mugai::gateway {

namespace {
// pdf_render and office_render say "N of M page(s) rendered ..." in their reason; nothing else does.
std::int64_t rendered_pages(const std::string& reason) {
  const auto rendered = reason.find(" page(s) rendered");
  const auto at = rendered == std::string::npos ? rendered : reason.rfind(" of ", rendered);
  if (at == std::string::npos) return 0;
  std::size_t start = at;
  while (start > 0 && reason[start - 1] >= '0' && reason[start - 1] <= '9') --start;
  std::int64_t n = 0;
  std::from_chars(reason.data() + start, reason.data() + at, n);
  return n;
}

std::string text_of(const json::Value& row, const char* key) {
  const auto it = row.find(key);
  return it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

RunFacts run_facts(const SpoolEntry& entry, const sanitize::Outcome& outcome, std::string verdict, std::string ppap) {
  quarantine::TrafficRecord r{entry.id, entry.arrival_unix, static_cast<std::int64_t>(std::time(nullptr)),
                              entry.message.size(), std::move(verdict), outcome.reason, outcome.quarantine_id,
                              std::move(ppap), {}};
  return {std::move(r), outcome.report_json};
}

RunFacts held_facts(const SpoolEntry& entry, const std::string& reason, const std::string& quarantine_id) {
  quarantine::TrafficRecord r{entry.id, entry.arrival_unix, static_cast<std::int64_t>(std::time(nullptr)),
                              entry.message.size(), "quarantined", reason, quarantine_id, "", {}};
  return {std::move(r), ""};
}

quarantine::TrafficRecord traffic_record(RunFacts facts) {
  quarantine::TrafficRecord r = std::move(facts.record);
  const json::Value report = json::parse(facts.report_json);
  const auto parts = report.is_object() ? report.find("parts") : report.end();
  if (parts == report.end() || !parts->is_array()) return r;
  for (const auto& p : *parts) {
    if (!p.is_object()) continue;
    quarantine::TrafficPart part{text_of(p, "detected_type"), text_of(p, "decision"), text_of(p, "reason"),
                                 text_of(p, "sanitizer"), 0};
    if (part.decision == "container") continue;  // a multipart's leaves are counted, not the envelope around them
    part.pages = rendered_pages(part.reason);
    r.parts.push_back(std::move(part));
  }
  return r;
}

}  // namespace mugai::gateway
